// Fused single-token kernels for the CUDA graph decoder: each replaces a chain of small libtorch ops with one
// launch and rounds to bf16 at the same points as the eager decoder (once, at the end), so results match it.
#pragma once

#include <ATen/ATen.h>

namespace folio::cuda {

// RMSNorm of each row of x [rows, H] (float32 or bf16): bf16(weight * x * rsqrt(mean(x^2) + eps)), in float32.
at::Tensor rmsNorm(const at::Tensor& x, const at::Tensor& weight, double eps);

// RoPE in place on q and k [tokens * heads, D] (bf16), token t at the position read from position[t] ([tokens]
// int64 on the GPU), with cos/sin tables [positions, D] (float32): bf16(x*cos + rotate_half(x)*sin).
void applyRopeInPlace(const at::Tensor& q, const at::Tensor& k, const at::Tensor& cos, const at::Tensor& sin,
                      const at::Tensor& position);

}  // namespace folio::cuda
