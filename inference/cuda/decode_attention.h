// The attention block of a decode step after the q|k|v projection, as one launch: RoPE on each row's new query
// and key, the rotated key and the value appended to the row's KV cache, and attention of the query over only
// the positions the row has (0 .. position[row]) instead of a padded bucket behind a mask. Flash-decoding: the
// positions are split into chunks that run in parallel; the last chunk of a head to finish merges the chunks'
// softmax partials. A chunk's cached keys and values are loaded while the projection before it still runs.
#pragma once

#include <ATen/ATen.h>

namespace folio::cuda {

struct AttentionStep {
  at::Tensor q, k, v;       // [rows, heads * D] bf16, unit column stride (rows may be strided: one projection)
  at::Tensor cos, sin;      // RoPE tables [positions, D] float32
  at::Tensor position;      // [rows] int64: row r's new token sits at position[r]
  at::Tensor keys, values;  // the KV cache [rows, heads, capacity, D] bf16, appended to in place
};

// softmax(q' k'^T / sqrt(D)) v over positions 0 .. position[r] of each row, q' and k' rotated, as [rows, heads * D]
// bf16 computed in float32, for D = 64, 128 or 256 (decodeAttentionSupports). positions_bound: an upper bound of
// position + 1 over the rows (it sizes the grid; chunks past a row's length exit at once). arrivals: int32
// [>= rows * heads] on the GPU, zero before and after the call; reused across calls on one stream.
at::Tensor decodeAttention(const AttentionStep& step, int positions_bound, const at::Tensor& arrivals);
bool decodeAttentionSupports(int head_dim);

}  // namespace folio::cuda
