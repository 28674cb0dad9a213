// Fused per-token kernels for the CUDA graph decoder: each replaces a chain of small libtorch ops with one
// launch and rounds to bf16 where the eager decoder does (once, at the end), so results match it.
#pragma once

#include <ATen/ATen.h>

namespace folio::cuda {

// The residual step and the RMSNorm that follows it: x += delta (when defined; float32 or bf16 [rows, H]), then
// returns bf16(weight * x * rsqrt(mean(x^2) + eps)) computed in float32. x is float32 [rows, H] (updated in
// place) or, without delta, bf16.
at::Tensor addRmsNorm(at::Tensor& x, const at::Tensor& delta, const at::Tensor& weight, double eps);

// RoPE on q and k [rows, heads * D] (bf16, rows may be strided, e.g. views of one q|k|v projection) for row t at
// position[t] ([rows] int64 on the GPU) with cos/sin tables [positions, D] (float32): q is rotated in place, the
// rotated k and v are written to position[t] of row t of the KV cache keys / values [rows, heads, capacity, D].
void ropeAndAppendKv(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const at::Tensor& cos,
                     const at::Tensor& sin, const at::Tensor& position, at::Tensor& keys, at::Tensor& values);

}  // namespace folio::cuda
