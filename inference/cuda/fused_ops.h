// Residual steps fused with the norm that follows them, one launch where libtorch needs a chain of ops: the CUDA
// graph decoder's RMSNorm (rounding to bf16 where the eager decoder does, once, at the end, so results match it)
// and the vision encoders' LayerNorm.
#pragma once

#include <ATen/ATen.h>

#include "linear_weight.h"

namespace folio::cuda {

// The decoder's input rows: table[ids] widened to float32 (8-bit: times each row's scale), [rows, H] (ids int64
// [rows], valid indices: the CUDA graph decoder's step inputs, checked on the host). One launch instead of a
// gather and a cast.
at::Tensor embeddingRows(const LinearWeight& table, const at::Tensor& ids);

// The residual step and the RMSNorm that follows it: x += delta (when defined; float32 or bf16 [rows, H]), then
// returns bf16(weight * x * rsqrt(mean(x^2) + eps)) computed in float32. x is float32 [rows, H] (updated in
// place) or, without delta, bf16.
at::Tensor addRmsNorm(at::Tensor& x, const at::Tensor& delta, const at::Tensor& weight, double eps);

// The vision encoders' residual step and the LayerNorm that follows it, bf16: sum = bf16(x + delta) as libtorch's
// add rounds it, normed = bf16(weight * (sum - mean) * rsqrt(var + eps) + bias) over the last dimension, in
// float32. x contiguous [..., C], C a multiple of 8 up to kLayerNormMaxWidth; delta (optional) contiguous, shaped
// like x. Without delta, sum is x itself. SAM's windowed blocks (window > 0, x a grid [B, H, W, C]) read and
// write their side in windows of window x window tokens, [B * ceil(H/ws) * ceil(W/ws), ws, ws, C] with the grid
// zero-padded (Sam's windowPartition): delta_in_windows takes delta in that layout, normed_in_windows writes
// normed so (zeros for the padding), which saves the partition and its inverse as separate copies.
struct NormedSum {
  at::Tensor sum, normed;
};
NormedSum addLayerNorm(const at::Tensor& x, const at::Tensor& delta, const at::Tensor& weight, const at::Tensor& bias,
                       double eps, int window = 0, bool delta_in_windows = false, bool normed_in_windows = false);
constexpr int kLayerNormMaxWidth = 1024;

// CLIP's quick GELU x * sigmoid(1.702 x) of a contiguous bf16 tensor in one pass, rounding to bf16 after each
// step as the three libtorch ops it replaces do.
at::Tensor quickGelu(const at::Tensor& x);

}  // namespace folio::cuda
