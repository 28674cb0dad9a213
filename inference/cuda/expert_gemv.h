// CUDA kernels beside the ops they speed up; the plain libtorch ops stay the CPU path and the reference.
#pragma once

#include <ATen/ATen.h>

namespace folio::cuda {

// Routed-expert matrix-vector products for single-token decoding, reading the chosen experts' weights in
// place (no gathered copy): out[j] = stacked[ids[j]] @ x[j] (or @ x[0] when x has one row).
// stacked [E, N, K] bf16, any expert and row strides (multiples of 8) but unit column stride, x [1 or k, K] bf16,
// ids [k] int64 on the GPU -> [k, N] bf16.
at::Tensor expertGemv(const at::Tensor& stacked, const at::Tensor& x, const at::Tensor& ids);

}  // namespace folio::cuda
