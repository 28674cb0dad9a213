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

// The 8 bf16 values of a 16-byte word as float32, and back (rounded to nearest).
__device__ inline void unpackBf16x8(const uint4& word, float* v) {
  const auto* pairs = reinterpret_cast<const __nv_bfloat162*>(&word);
#pragma unroll
  for (int t = 0; t < 4; ++t) {
    const float2 f = __bfloat1622float2(pairs[t]);
    v[2 * t] = f.x;
    v[2 * t + 1] = f.y;
  }
}

__device__ inline uint4 packBf16x8(const float* v) {
  uint4 word;
  auto* pairs = reinterpret_cast<__nv_bfloat162*>(&word);
#pragma unroll
  for (int t = 0; t < 4; ++t) pairs[t] = __floats2bfloat162_rn(v[2 * t], v[2 * t + 1]);
  return word;
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

// This lane's words of a weight row (words lane, lane+32, ..., at most kWords of them), held in registers: loaded
// before a kernel waits for its inputs (launch.cuh), so the weight reads overlap the kernel before it.
template <int kWords>
struct LaneRowWords {
  uint4 word[kWords];

  __device__ void load(const __nv_bfloat16* __restrict__ row, int chunks, int lane) {
    const auto* w = reinterpret_cast<const uint4*>(row);
#pragma unroll
    for (int j = 0; j < kWords; ++j)
      if (lane + j * kWarpSize < chunks) word[j] = w[lane + j * kWarpSize];
  }
  // This lane's share of the dot product of the row load() was given with a bf16 vector (lane i takes words i,
  // i+32, ...; warpSum() of the shares is the dot product): the held words, then any words past them.
  __device__ float dot(const __nv_bfloat16* __restrict__ row, const __nv_bfloat16* __restrict__ vector, int chunks,
                       int lane) const {
    const auto* w = reinterpret_cast<const uint4*>(row);
    const auto* v = reinterpret_cast<const uint4*>(vector);
    float sum = 0.f;
#pragma unroll
    for (int j = 0; j < kWords; ++j)
      if (lane + j * kWarpSize < chunks) sum += dot8(word[j], v[lane + j * kWarpSize]);
    for (int i = lane + kWords * kWarpSize; i < chunks; i += kWarpSize) sum += dot8(w[i], v[i]);
    return sum;
  }
};

// Words a lane holds in registers: rows of up to 1280 bf16 values, the decoder's hidden size (longer rows read
// the rest after the wait). More would cost registers, and so the occupancy the expert kernels need.
constexpr int kHeldWords = 5;

__device__ inline float silu(float x) { return x / (1.f + __expf(-x)); }

// One warp's SiLU-gated activation silu(gate_row . x) * (up_row . x) from the rows' held words (every lane gets
// it): the unit of the expert kernels and of the shared experts computed beside the router.
template <int kWords>
__device__ inline float swiGluActivation(const LaneRowWords<kWords>& gate, const __nv_bfloat16* __restrict__ gate_row,
                                         const LaneRowWords<kWords>& up, const __nv_bfloat16* __restrict__ up_row,
                                         const __nv_bfloat16* __restrict__ x, int chunks, int lane) {
  const float g = warpSum(gate.dot(gate_row, x, chunks, lane));
  return silu(g) * warpSum(up.dot(up_row, x, chunks, lane));
}

}  // namespace folio::cuda
