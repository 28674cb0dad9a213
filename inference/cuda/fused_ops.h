// The residual step and RMSNorm of the CUDA graph decoder as one launch (libtorch needs a chain of small ops),
// rounding to bf16 where the eager decoder does (once, at the end), so results match it.
#pragma once

#include <ATen/ATen.h>

namespace folio::cuda {

// The residual step and the RMSNorm that follows it: x += delta (when defined; float32 or bf16 [rows, H]), then
// returns bf16(weight * x * rsqrt(mean(x^2) + eps)) computed in float32. x is float32 [rows, H] (updated in
// place) or, without delta, bf16.
at::Tensor addRmsNorm(at::Tensor& x, const at::Tensor& delta, const at::Tensor& weight, double eps);

}  // namespace folio::cuda
