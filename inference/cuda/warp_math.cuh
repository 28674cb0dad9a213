// Device helpers shared by the decode kernels: warp reductions and bf16 dot products over 16-byte loads.
#pragma once

#include <cuda_bf16.h>

namespace folio::cuda {

constexpr int kWarpSize = 32;

__device__ inline float warpSum(float value) {
#pragma unroll
  for (int offset = kWarpSize / 2; offset > 0; offset /= 2) value += __shfl_xor_sync(0xffffffffu, value, offset);
  return value;
}

__device__ inline float warpMax(float value) {
#pragma unroll
  for (int offset = kWarpSize / 2; offset > 0; offset /= 2)
    value = fmaxf(value, __shfl_xor_sync(0xffffffffu, value, offset));
  return value;
}

// The dot product of 8 bf16 pairs held in two 16-byte words, in float32.
__device__ inline float dot8(const uint4& a, const uint4& b) {
  const auto* a2 = reinterpret_cast<const __nv_bfloat162*>(&a);
  const auto* b2 = reinterpret_cast<const __nv_bfloat162*>(&b);
  float sum = 0.f;
#pragma unroll
  for (int t = 0; t < 4; ++t) {
    const float2 x = __bfloat1622float2(a2[t]);
    const float2 y = __bfloat1622float2(b2[t]);
    sum += x.x * y.x + x.y * y.y;
  }
  return sum;
}

// This lane's share of the dot product of a bf16 row with a bf16 vector, both `chunks` 16-byte words long
// (lane i takes words i, i+32, ...); warpSum() of the shares is the dot product. Memory-bound kernels are
// built from it: one warp per weight row, every weight byte read once.
__device__ inline float laneRowDot(const __nv_bfloat16* __restrict__ row, const __nv_bfloat16* __restrict__ vector,
                                   int chunks, int lane) {
  const auto* w = reinterpret_cast<const uint4*>(row);
  const auto* v = reinterpret_cast<const uint4*>(vector);
  float sum = 0.f;
#pragma unroll 4
  for (int i = lane; i < chunks; i += kWarpSize) sum += dot8(w[i], v[i]);
  return sum;
}

__device__ inline float silu(float x) { return x / (1.f + __expf(-x)); }

}  // namespace folio::cuda
