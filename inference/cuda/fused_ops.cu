#include "fused_ops.h"

#include <ATen/cuda/CUDAContext.h>
#include <cuda_bf16.h>

#include "launch.cuh"
#include "rms_norm.cuh"

namespace folio::cuda {
namespace {

__device__ void store(float* to, float v) { *to = v; }
__device__ void store(__nv_bfloat16* to, float v) { *to = __float2bfloat16(v); }

// One block per row; x is updated in place (each element by the thread that read it).
template <typename X, typename Delta>
__global__ void addRmsNormKernel(X* __restrict__ x, const Delta* __restrict__ delta,
                                 const __nv_bfloat16* __restrict__ weight, __nv_bfloat16* __restrict__ out, int hidden,
                                 float eps) {
  letNextKernelStart();
  waitForPreviousKernel();
  const long long offset = static_cast<long long>(blockIdx.x) * hidden;
  X* row = x + offset;
  const Delta* row_delta = delta != nullptr ? delta + offset : nullptr;
  residualRmsNormRow(row, row_delta, weight, hidden, eps, [&](int i, float v, __nv_bfloat16 h) {
    if (row_delta != nullptr) store(row + i, v);
    out[offset + i] = h;
  });
}

template <typename X, typename Delta>
void launchAddRmsNorm(at::Tensor& x, const Delta* delta, const at::Tensor& weight, at::Tensor& out, double eps) {
  launchOverlapped(addRmsNormKernel<X, Delta>, x.size(0), kNormThreads, 0, reinterpret_cast<X*>(x.data_ptr()), delta,
                   reinterpret_cast<const __nv_bfloat16*>(weight.data_ptr()),
                   reinterpret_cast<__nv_bfloat16*>(out.data_ptr()), static_cast<int>(x.size(1)),
                   static_cast<float>(eps));
}

}  // namespace

at::Tensor addRmsNorm(at::Tensor& x, const at::Tensor& delta, const at::Tensor& weight, double eps) {
  const bool float_x = x.scalar_type() == at::kFloat;
  TORCH_CHECK(x.is_cuda() && x.dim() == 2 && x.is_contiguous() && (float_x || x.scalar_type() == at::kBFloat16),
              "addRmsNorm: x must be contiguous float32 or bf16 [rows, H] on the GPU");
  TORCH_CHECK(weight.scalar_type() == at::kBFloat16 && weight.numel() == x.size(1), "addRmsNorm: weight must be bf16 [H]");
  auto out = at::empty(x.sizes(), x.options().dtype(at::kBFloat16));
  if (!delta.defined()) {
    if (float_x)
      launchAddRmsNorm<float>(x, static_cast<const float*>(nullptr), weight, out, eps);
    else
      launchAddRmsNorm<__nv_bfloat16>(x, static_cast<const float*>(nullptr), weight, out, eps);
    return out;
  }
  TORCH_CHECK(float_x, "addRmsNorm: a residual step needs the float32 stream");
  TORCH_CHECK(delta.sizes() == x.sizes() && delta.is_contiguous() && delta.device() == x.device(),
              "addRmsNorm: delta must be contiguous and shaped like x");
  if (delta.scalar_type() == at::kFloat)
    launchAddRmsNorm<float>(x, delta.data_ptr<float>(), weight, out, eps);
  else if (delta.scalar_type() == at::kBFloat16)
    launchAddRmsNorm<float>(x, reinterpret_cast<const __nv_bfloat16*>(delta.data_ptr()), weight, out, eps);
  else
    TORCH_CHECK(false, "addRmsNorm: delta must be float32 or bf16");
  return out;
}

}  // namespace folio::cuda
