#include "fused_ops.h"

#include <ATen/cuda/CUDAContext.h>
#include <cuda_bf16.h>

namespace folio::cuda {
namespace {

constexpr int kThreads = 256;

__device__ float blockSum(float value) {
  __shared__ float partial[kThreads / 32];
  for (int offset = 16; offset > 0; offset /= 2) value += __shfl_xor_sync(0xffffffffu, value, offset);
  if (threadIdx.x % 32 == 0) partial[threadIdx.x / 32] = value;
  __syncthreads();
  float total = 0.f;
  for (int w = 0; w < kThreads / 32; ++w) total += partial[w];
  return total;
}

__device__ float toFloat(float v) { return v; }
__device__ float toFloat(__nv_bfloat16 v) { return __bfloat162float(v); }

template <typename In>
__global__ void rmsNormKernel(const In* __restrict__ x, const __nv_bfloat16* __restrict__ weight,
                              __nv_bfloat16* __restrict__ out, int hidden, float eps) {
  const In* row = x + static_cast<long long>(blockIdx.x) * hidden;
  auto* out_row = out + static_cast<long long>(blockIdx.x) * hidden;
  float squares = 0.f;
  for (int i = threadIdx.x; i < hidden; i += kThreads) {
    const float v = toFloat(row[i]);
    squares += v * v;
  }
  const float scale = rsqrtf(blockSum(squares) / hidden + eps);
  for (int i = threadIdx.x; i < hidden; i += kThreads)
    out_row[i] = __float2bfloat16(__bfloat162float(weight[i]) * toFloat(row[i]) * scale);
}

// blockIdx.x: head row (token * heads_per_token + head), blockIdx.y: 0 = q, 1 = k. Each thread writes one
// element; the block reads its head first.
__global__ void ropeKernel(__nv_bfloat16* __restrict__ q, __nv_bfloat16* __restrict__ k,
                           const float* __restrict__ cos, const float* __restrict__ sin,
                           const long long* __restrict__ position, int heads_per_token, int head_dim) {
  auto* x = (blockIdx.y == 0 ? q : k) + static_cast<long long>(blockIdx.x) * head_dim;
  const long long row = position[blockIdx.x / heads_per_token] * head_dim;
  const int d = threadIdx.x;
  const int half = head_dim / 2;
  const float value = __bfloat162float(x[d]);
  const float rotated = d < half ? -__bfloat162float(x[d + half]) : __bfloat162float(x[d - half]);
  __syncthreads();  // every element of the head is read before any is overwritten
  x[d] = __float2bfloat16(value * cos[row + d] + rotated * sin[row + d]);
}

}  // namespace

at::Tensor rmsNorm(const at::Tensor& x, const at::Tensor& weight, double eps) {
  const bool float_input = x.scalar_type() == at::kFloat;
  TORCH_CHECK(x.is_cuda() && (float_input || x.scalar_type() == at::kBFloat16) && x.is_contiguous() && x.dim() == 2,
              "rmsNorm: x must be contiguous float32 or bf16 [rows, H] on the GPU");
  TORCH_CHECK(weight.scalar_type() == at::kBFloat16 && weight.numel() == x.size(1), "rmsNorm: weight must be bf16 [H]");
  auto out = at::empty(x.sizes(), x.options().dtype(at::kBFloat16));
  const auto stream = at::cuda::getCurrentCUDAStream();
  const auto* w = reinterpret_cast<const __nv_bfloat16*>(weight.data_ptr());
  auto* o = reinterpret_cast<__nv_bfloat16*>(out.data_ptr());
  const int hidden = static_cast<int>(x.size(1));
  if (float_input)
    rmsNormKernel<<<x.size(0), kThreads, 0, stream>>>(x.data_ptr<float>(), w, o, hidden, static_cast<float>(eps));
  else
    rmsNormKernel<<<x.size(0), kThreads, 0, stream>>>(reinterpret_cast<const __nv_bfloat16*>(x.data_ptr()), w, o,
                                                      hidden, static_cast<float>(eps));
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  return out;
}

void applyRopeInPlace(const at::Tensor& q, const at::Tensor& k, const at::Tensor& cos, const at::Tensor& sin,
                      const at::Tensor& position) {
  TORCH_CHECK(q.is_contiguous() && k.is_contiguous() && q.sizes() == k.sizes() && q.scalar_type() == at::kBFloat16,
              "applyRopeInPlace: q and k must be contiguous bf16 of one shape");
  const auto head_dim = q.size(-1);
  TORCH_CHECK(head_dim % 2 == 0 && head_dim <= 1024 && cos.size(-1) == head_dim, "applyRopeInPlace: bad head_dim");
  TORCH_CHECK(cos.scalar_type() == at::kFloat && sin.scalar_type() == at::kFloat, "applyRopeInPlace: float32 tables");
  const auto heads = q.numel() / head_dim;
  TORCH_CHECK(position.scalar_type() == at::kLong && heads % position.numel() == 0,
              "applyRopeInPlace: one int64 position per token");
  ropeKernel<<<dim3(heads, 2), head_dim, 0, at::cuda::getCurrentCUDAStream()>>>(
      reinterpret_cast<__nv_bfloat16*>(q.data_ptr()), reinterpret_cast<__nv_bfloat16*>(k.data_ptr()),
      cos.data_ptr<float>(), sin.data_ptr<float>(),
      reinterpret_cast<const long long*>(position.data_ptr<int64_t>()), static_cast<int>(heads / position.numel()),
      static_cast<int>(head_dim));
  C10_CUDA_KERNEL_LAUNCH_CHECK();
}

}  // namespace folio::cuda
