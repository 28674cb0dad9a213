#include "argmax_rows.h"

#include <ATen/cuda/CUDAContext.h>

#include "launch.cuh"
#include "warp_math.cuh"

namespace folio::cuda {
namespace {

constexpr int kSlices = 64;  // blocks per row in the first pass
constexpr int kThreads = 256;

struct Best {
  float value;
  int index;
};

__device__ Best better(Best a, Best b) {
  return (b.value > a.value || (b.value == a.value && b.index < a.index)) ? b : a;
}

__device__ Best warpBest(Best best) {
  for (int offset = kWarpSize / 2; offset > 0; offset /= 2) {
    const Best other{__shfl_xor_sync(0xffffffffu, best.value, offset),
                     __shfl_xor_sync(0xffffffffu, best.index, offset)};
    best = better(best, other);
  }
  return best;
}

__device__ Best blockBest(Best best) {
  __shared__ Best partial[kThreads / kWarpSize];
  best = warpBest(best);
  if (threadIdx.x % kWarpSize == 0) partial[threadIdx.x / kWarpSize] = best;
  __syncthreads();
  best = partial[0];
  for (int w = 1; w < kThreads / kWarpSize; ++w) best = better(best, partial[w]);
  return best;
}

// Grid (rows, kSlices): the best of one slice of a row.
__global__ void sliceBestKernel(const float* __restrict__ logits, int vocab, float* __restrict__ slice_value,
                                int* __restrict__ slice_index) {
  letNextKernelStart();
  waitForPreviousKernel();
  const int row = blockIdx.x, slice = blockIdx.y;
  const int per_slice = (vocab + kSlices - 1) / kSlices;
  const int begin = slice * per_slice, end = min(vocab, begin + per_slice);
  const float* values = logits + static_cast<long long>(row) * vocab;
  Best best{-INFINITY, vocab};
  for (int i = begin + threadIdx.x; i < end; i += kThreads) best = better(best, Best{values[i], i});
  best = blockBest(best);
  if (threadIdx.x == 0) {
    slice_value[row * kSlices + slice] = best.value;
    slice_index[row * kSlices + slice] = best.index;
  }
}

// One warp per row over its kSlices candidates.
__global__ void rowBestKernel(const float* __restrict__ slice_value, const int* __restrict__ slice_index, int vocab,
                              long long* __restrict__ out, long long* __restrict__ next_inputs) {
  letNextKernelStart();
  waitForPreviousKernel();
  const int row = blockIdx.x, lane = threadIdx.x;
  Best best{-INFINITY, vocab};
  for (int s = lane; s < kSlices; s += kWarpSize)
    best = better(best, Best{slice_value[row * kSlices + s], slice_index[row * kSlices + s]});
  best = warpBest(best);
  // A row of NaN or -inf only: libtorch would answer 0 or the NaN's index; any valid index will do here.
  if (lane != 0) return;
  out[row] = best.index < vocab ? best.index : 0;
  if (next_inputs != nullptr) {
    next_inputs[row] = out[row];
    next_inputs[gridDim.x + row] += 1;
  }
}

}  // namespace

at::Tensor argmaxRows(const at::Tensor& logits, const at::Tensor& next_inputs) {
  TORCH_CHECK(logits.is_cuda() && logits.scalar_type() == at::kFloat && logits.dim() == 2 && logits.is_contiguous() &&
                  logits.size(1) > 0 && logits.size(1) < (1ll << 31),
              "argmaxRows: logits must be contiguous float32 [rows, V] on the GPU");
  const auto rows = logits.size(0);
  TORCH_CHECK(!next_inputs.defined() || (next_inputs.scalar_type() == at::kLong && next_inputs.is_contiguous() &&
                                         next_inputs.sizes() == at::IntArrayRef({2, rows}) &&
                                         next_inputs.device() == logits.device()),
              "argmaxRows: next inputs must be contiguous int64 [2, rows] beside the logits");
  const auto vocab = static_cast<int>(logits.size(1));
  auto slice_value = at::empty({rows, kSlices}, logits.options());
  auto slice_index = at::empty({rows, kSlices}, logits.options().dtype(at::kInt));
  auto out = at::empty({rows}, logits.options().dtype(at::kLong));
  launchOverlapped(sliceBestKernel, dim3(rows, kSlices), kThreads, 0, logits.data_ptr<float>(), vocab,
                   slice_value.data_ptr<float>(), slice_index.data_ptr<int>());
  launchOverlapped(rowBestKernel, rows, kWarpSize, 0, slice_value.data_ptr<float>(), slice_index.data_ptr<int>(), vocab,
                   reinterpret_cast<long long*>(out.data_ptr<int64_t>()),
                   next_inputs.defined() ? reinterpret_cast<long long*>(next_inputs.data_ptr<int64_t>()) : nullptr);
  return out;
}

}  // namespace folio::cuda
