// Device helpers shared by the decode kernels: warp reductions and dot products of weight rows (bf16, or the
// int8 of 8-bit models, linear_weight.h) with bf16 vectors, 8 values a word.
#pragma once

#include <cuda_bf16.h>

#include <cstdint>

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

// The 8 int8 weights of an 8-byte word times 8 bf16 values, in float32; the row's scale is applied once per row by
// the caller.
__device__ inline float dot8(const uint2& q, const uint4& b) {
  const auto* b2 = reinterpret_cast<const __nv_bfloat162*>(&b);
  const auto* w = reinterpret_cast<const std::int8_t*>(&q);
  float sum = 0.f;
#pragma unroll
  for (int t = 0; t < 4; ++t) {
    const float2 y = __bfloat1622float2(b2[t]);
    sum += static_cast<float>(w[2 * t]) * y.x + static_cast<float>(w[2 * t + 1]) * y.y;
  }
  return sum;
}

// The word that holds 8 weights of a row: 16 bytes of bf16, 8 bytes of int8.
template <typename W>
struct WeightWord;
template <>
struct WeightWord<__nv_bfloat16> {
  using type = uint4;
};
template <>
struct WeightWord<std::int8_t> {
  using type = uint2;
};
template <typename W>
using WordOf = typename WeightWord<W>::type;

// A row's scale: the 8-bit format's float32 scale of that output feature, 1 for bf16 weights (no scales).
__device__ inline float rowScale(const float* __restrict__ scales, long long row) {
  return scales != nullptr ? scales[row] : 1.f;
}

// This lane's words of a weight row (words lane, lane+32, ..., at most kWords of them), held in registers: loaded
// before a kernel waits for its inputs (launch.cuh), so the weight reads overlap the kernel before it.
template <int kWords, typename W = __nv_bfloat16>
struct LaneRowWords {
  WordOf<W> word[kWords];

  __device__ void load(const W* __restrict__ row, int chunks, int lane) {
    const auto* w = reinterpret_cast<const WordOf<W>*>(row);
#pragma unroll
    for (int j = 0; j < kWords; ++j)
      if (lane + j * kWarpSize < chunks) word[j] = w[lane + j * kWarpSize];
  }
  // This lane's share of the dot product of the row load() was given with a bf16 vector (lane i takes words i,
  // i+32, ...; warpSum() of the shares is the dot product): the held words, then any words past them.
  __device__ float dot(const W* __restrict__ row, const __nv_bfloat16* __restrict__ vector, int chunks,
                       int lane) const {
    const auto* w = reinterpret_cast<const WordOf<W>*>(row);
    const auto* v = reinterpret_cast<const uint4*>(vector);
    float sum = 0.f;
#pragma unroll
    for (int j = 0; j < kWords; ++j)
      if (lane + j * kWarpSize < chunks) sum += dot8(word[j], v[lane + j * kWarpSize]);
    for (int i = lane + kWords * kWarpSize; i < chunks; i += kWarpSize) sum += dot8(w[i], v[i]);
    return sum;
  }
};

// Words a lane holds in registers: rows of up to 1280 values, the decoder's hidden size (longer rows read the rest
// after the wait). More would cost registers, and so the occupancy the expert kernels need.
constexpr int kHeldWords = 5;

__device__ inline float silu(float x) { return x / (1.f + __expf(-x)); }

// One warp's SiLU-gated activation silu(gate_row . x) * (up_row . x) from the rows' held words (every lane gets
// it), each product times its row's scale (1 for bf16): the unit of the expert kernels and of the shared experts
// computed beside the router.
template <int kWords, typename W>
__device__ inline float swiGluActivation(const LaneRowWords<kWords, W>& gate, const W* __restrict__ gate_row,
                                         float gate_scale, const LaneRowWords<kWords, W>& up,
                                         const W* __restrict__ up_row, float up_scale,
                                         const __nv_bfloat16* __restrict__ x, int chunks, int lane) {
  const float g = gate_scale * warpSum(gate.dot(gate_row, x, chunks, lane));
  return silu(g) * (up_scale * warpSum(up.dot(up_row, x, chunks, lane)));
}

}  // namespace folio::cuda
