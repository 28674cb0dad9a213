// Greedy decoding's arg-max over the vocabulary, in two short launches instead of libtorch's single-block
// reduction (37 us for one row of 129280 logits in the decode profile, 3% of a token).
#pragma once

#include <ATen/ATen.h>

namespace folio::cuda {

// logits [rows, V] float32 on the GPU (contiguous rows) -> [rows] int64: each row's first index of its maximum.
// With next_inputs (int64 [2, rows]: tokens, then positions) the picks also become the tokens and every position
// moves on by one: the inputs of a decoding step that feeds the picks back.
at::Tensor argmaxRows(const at::Tensor& logits, const at::Tensor& next_inputs = {});

}  // namespace folio::cuda
