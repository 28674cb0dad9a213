// Matrix-vector products for decoding a few rows at once, where cuBLAS is launch- and latency-bound (its
// small GEMVs ran at under 1 TB/s in the decode profile): one warp per output feature reads the weight row once
// for all rows.
#pragma once

#include <ATen/ATen.h>

#include <vector>

#include "linear_weight.h"

namespace folio::cuda {

constexpr int kSmallBatchMaxRows = 8;

// x [rows <= kSmallBatchMaxRows, K] bf16 times the weights stacked along the output features (e.g. q, k and v
// projections [N_i, K], contiguous; all bf16 or all 8-bit) without copying them: -> [rows, sum N_i] bf16,
// accumulated in float32.
at::Tensor smallBatchLinear(const at::Tensor& x, const std::vector<LinearWeight>& weights);

struct NormedLinear {
  at::Tensor out;     // [rows, sum N_i] bf16
  at::Tensor stream;  // the residual stream after the step
};

// The residual step and RMSNorm that start a decoder block, then smallBatchLinear of the normalised rows, in one
// launch (every block normalises the rows itself): stream float32 [rows, K] + delta (float32 or bf16; undefined:
// none) -> the new stream (stream itself when there is no delta, else a new tensor; stream is not modified),
// normalised by norm_weight as addRmsNorm does -> times the weights -> out. K <= 2048.
NormedLinear smallBatchNormedLinear(const at::Tensor& stream, const at::Tensor& delta, const at::Tensor& norm_weight,
                                    double eps, const std::vector<LinearWeight>& weights);

}  // namespace folio::cuda
