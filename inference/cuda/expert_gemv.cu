#include "expert_gemv.h"

#include <ATen/cuda/CUDAContext.h>
#include <cuda_bf16.h>

namespace folio::cuda {
namespace {

constexpr int kWarps = 8;  // rows per block, one warp per row

// One warp computes one output row: a dot product of K bf16 weights with K bf16 inputs, 8 values per 16-byte
// load, accumulated in float32. Memory-bound: every weight byte is read once.
__global__ void expertGemvKernel(const __nv_bfloat16* __restrict__ stacked, const __nv_bfloat16* __restrict__ x,
                                 const long long* __restrict__ ids, __nv_bfloat16* __restrict__ out, int n_rows,
                                 int k, long long expert_stride, long long row_stride, long long x_row_stride) {
  const int j = blockIdx.y;
  const int row = blockIdx.x * kWarps + threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  if (row >= n_rows) return;
  const auto* w = reinterpret_cast<const uint4*>(stacked + ids[j] * expert_stride + row * row_stride);
  const auto* v = reinterpret_cast<const uint4*>(x + j * x_row_stride);
  float sum = 0.f;
  for (int i = lane; i < k / 8; i += 32) {
    const uint4 wp = w[i];
    const uint4 vp = v[i];
    const auto* w2 = reinterpret_cast<const __nv_bfloat162*>(&wp);
    const auto* v2 = reinterpret_cast<const __nv_bfloat162*>(&vp);
#pragma unroll
    for (int t = 0; t < 4; ++t) {
      const float2 a = __bfloat1622float2(w2[t]);
      const float2 b = __bfloat1622float2(v2[t]);
      sum += a.x * b.x + a.y * b.y;
    }
  }
#pragma unroll
  for (int offset = 16; offset > 0; offset /= 2) sum += __shfl_xor_sync(0xffffffffu, sum, offset);
  if (lane == 0) out[static_cast<long long>(j) * n_rows + row] = __float2bfloat16(sum);
}

}  // namespace

at::Tensor expertGemv(const at::Tensor& stacked, const at::Tensor& x, const at::Tensor& ids) {
  TORCH_CHECK(stacked.is_cuda() && stacked.scalar_type() == at::kBFloat16 && stacked.dim() == 3 &&
                  stacked.stride(2) == 1 && stacked.stride(0) % 8 == 0 && stacked.stride(1) % 8 == 0 &&
                  stacked.storage_offset() % 8 == 0,
              "expertGemv: stacked weights must be bf16 [E,N,K] on the GPU with 16-byte aligned rows");
  const auto n_rows = stacked.size(1), k = stacked.size(2), top_k = ids.size(0);
  TORCH_CHECK(k % 8 == 0, "expertGemv: K must be a multiple of 8");
  TORCH_CHECK(x.scalar_type() == at::kBFloat16 && x.is_contiguous() && x.size(-1) == k &&
                  (x.size(0) == 1 || x.size(0) == top_k), "expertGemv: x must be contiguous bf16 [1 or k, K]");
  TORCH_CHECK(ids.scalar_type() == at::kLong && ids.is_contiguous(), "expertGemv: ids must be int64");
  auto out = at::empty({top_k, n_rows}, x.options());
  const dim3 grid((n_rows + kWarps - 1) / kWarps, top_k);
  expertGemvKernel<<<grid, kWarps * 32, 0, at::cuda::getCurrentCUDAStream()>>>(
      reinterpret_cast<const __nv_bfloat16*>(stacked.data_ptr()), reinterpret_cast<const __nv_bfloat16*>(x.data_ptr()),
      reinterpret_cast<const long long*>(ids.data_ptr<std::int64_t>()),
      reinterpret_cast<__nv_bfloat16*>(out.data_ptr()), static_cast<int>(n_rows), static_cast<int>(k),
      stacked.stride(0), stacked.stride(1), x.size(0) == 1 ? 0 : k);
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  return out;
}

}  // namespace folio::cuda
