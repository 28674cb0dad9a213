// Attention of one new query per row over that row's cached keys, reading only the positions the row has
// (0 .. position[row]) instead of a padded bucket behind a mask (flash-decoding: the positions are split into
// chunks that run in parallel, then their softmax partials are merged).
#pragma once

#include <ATen/ATen.h>

namespace folio::cuda {

// q [rows, heads * D] bf16 (rows may be strided; D = 32 times a power of two), keys / values [rows, heads, capacity, D] bf16, position [rows]
// int64 (row r attends over positions 0 .. position[r]), positions_bound: an upper bound of position + 1 over the
// rows (it sizes the grid; chunks past a row's length exit at once). Returns softmax(q k^T / sqrt(D)) v as
// [rows, heads * D] bf16, computed in float32.
at::Tensor decodeAttention(const at::Tensor& q, const at::Tensor& keys, const at::Tensor& values,
                           const at::Tensor& position, int positions_bound);

}  // namespace folio::cuda
