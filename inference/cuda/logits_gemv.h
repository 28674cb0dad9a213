// The lm_head of a batch-1 decoding step: 129280 logits from 331 MB of weights, the largest single read of a
// step. cuBLAS's GEMV for it is launched plainly (no overlap with the kernel before it) and ran at 4.2 TB/s on
// the H200; this kernel streams the rows with several in flight per warp and starts loading before its input
// is ready.
#pragma once

#include <ATen/ATen.h>

#include "linear_weight.h"

namespace folio::cuda {

// x [1, K] bf16 times weight [N, K] (bf16 or 8-bit; contiguous, K a multiple of 8 up to kLogitsMaxK) -> [1, N]
// float32, accumulated in float32.
at::Tensor logitsGemv(const at::Tensor& x, const LinearWeight& weight);
constexpr int kLogitsMaxK = 2048;

}  // namespace folio::cuda
