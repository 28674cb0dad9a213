// The residual step and RMSNorm of one row by one block of kNormThreads threads, shared by the kernels that
// start a decoder block (addRmsNorm, and the MoE router, which normalises its row itself instead of waiting for
// a separate launch). Every caller computes bit-identical values.
#pragma once

#include <cuda_bf16.h>

#include "warp_math.cuh"

namespace folio::cuda {

constexpr int kNormThreads = 256;

__device__ inline float blockSumOfNormThreads(float value) {
  __shared__ float partial[kNormThreads / kWarpSize];
  value = warpSum(value);
  __syncthreads();  // a previous call's partial[] may still be being read
  if (threadIdx.x % kWarpSize == 0) partial[threadIdx.x / kWarpSize] = value;
  __syncthreads();
  float total = 0.f;
  for (int w = 0; w < kNormThreads / kWarpSize; ++w) total += partial[w];
  return total;
}

__device__ inline float toFloat(float v) { return v; }
__device__ inline float toFloat(__nv_bfloat16 v) { return __bfloat162float(v); }

// v = x[i] + delta[i] (delta may be null) for i < hidden, then put(i, v, bf16(weight[i] * v * rsqrt(mean(v^2) +
// eps))) for each i, by the thread that read x[i] and delta[i] (so put may overwrite x[i] in place).
template <typename X, typename Delta, typename Put>
__device__ void residualRmsNormRow(const X* x, const Delta* __restrict__ delta, const __nv_bfloat16* __restrict__ weight,
                                   int hidden, float eps, Put put) {
  const auto residual = [&](int i) { return delta != nullptr ? toFloat(x[i]) + toFloat(delta[i]) : toFloat(x[i]); };
  float squares = 0.f;
  for (int i = threadIdx.x; i < hidden; i += kNormThreads) {
    const float v = residual(i);
    squares += v * v;
  }
  const float scale = rsqrtf(blockSumOfNormThreads(squares) / hidden + eps);
  for (int i = threadIdx.x; i < hidden; i += kNormThreads) {
    const float v = residual(i);
    put(i, v, __float2bfloat16(__bfloat162float(weight[i]) * v * scale));
  }
}

}  // namespace folio::cuda
