// The query and key features of SAM's attention with the decomposed relative-position bias (Sam::attention) in
// one launch, where libtorch needs a chain of strided copies, fills and einsum operand copies (~80 us a block of
// a Base page on an H200).
#pragma once

#include <ATen/ATen.h>

#include <utility>

namespace folio::cuda {

// From the token-major projection qkv [B, H, W, 3, heads, D] (contiguous bf16, D a multiple of 8) and the
// products of each query with the two relative-position tables, products [heads, B*H*W, columns] bf16
// (column j < 2H-1: q . table_h[j], then 2W-1 columns q . table_w[j]):
//   q' = [scale * q, q . table_h[y - i + H - 1] for i < H, q . table_w[x - i + W - 1] for i < W, 0 ...]
//   k' = [k, onehot(y), onehot(x), 0 ...]
// as bf16 [B, H, W, heads, width] each; width: a multiple of 8, at least D + H + W.
std::pair<at::Tensor, at::Tensor> samQueryKeyFeatures(const at::Tensor& qkv, const at::Tensor& products,
                                                      std::int64_t width, double scale);

}  // namespace folio::cuda
