// Matrix-vector products for decoding a few rows at once, where cuBLAS is launch- and latency-bound (its
// small GEMVs ran at under 1 TB/s in the decode profile): one warp per output feature reads the weight row once
// for all rows.
#pragma once

#include <ATen/ATen.h>

#include <vector>

namespace folio::cuda {

constexpr int kSmallBatchMaxRows = 8;

// x [rows <= kSmallBatchMaxRows, K] bf16 times the weights stacked along the output features (e.g. q, k and v
// projections [N_i, K] bf16, contiguous) without copying them: -> [rows, sum N_i] bf16, accumulated in float32.
at::Tensor smallBatchLinear(const at::Tensor& x, const std::vector<at::Tensor>& weights);

}  // namespace folio::cuda
