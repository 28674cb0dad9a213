#include "small_batch_gemv.h"

#include <ATen/cuda/CUDAContext.h>

#include "warp_math.cuh"

namespace folio::cuda {
namespace {

constexpr int kWarpsPerBlock = 8;
constexpr int kMaxSegments = 4;

struct Segments {
  const __nv_bfloat16* weights[kMaxSegments];
  int first_feature[kMaxSegments + 1];  // segment s holds output features first_feature[s] .. first_feature[s+1]-1
  int count;
};

template <int kRows>
__global__ void smallBatchGemvKernel(Segments segments, const __nv_bfloat16* __restrict__ x, int rows, int k,
                                     int features, __nv_bfloat16* __restrict__ out) {
  const int feature = blockIdx.x * kWarpsPerBlock + threadIdx.x / kWarpSize;
  const int lane = threadIdx.x % kWarpSize;
  if (feature >= features) return;
  int s = 0;
  while (feature >= segments.first_feature[s + 1]) ++s;
  const auto* w = reinterpret_cast<const uint4*>(segments.weights[s] +
                                                  static_cast<long long>(feature - segments.first_feature[s]) * k);
  const auto* v = reinterpret_cast<const uint4*>(x);
  const int chunks = k / 8;
  float sum[kRows] = {};
#pragma unroll 2
  for (int i = lane; i < chunks; i += kWarpSize) {
    const uint4 weight = w[i];
#pragma unroll
    for (int r = 0; r < kRows; ++r)
      if (r < rows) sum[r] += dot8(weight, v[r * chunks + i]);
  }
#pragma unroll
  for (int r = 0; r < kRows; ++r) {
    if (r >= rows) break;
    const float total = warpSum(sum[r]);
    if (lane == 0) out[static_cast<long long>(r) * features + feature] = __float2bfloat16(total);
  }
}

template <int kRows>
void launch(const Segments& segments, const at::Tensor& x, int features, at::Tensor& out) {
  const int blocks = (features + kWarpsPerBlock - 1) / kWarpsPerBlock;
  smallBatchGemvKernel<kRows><<<blocks, kWarpsPerBlock * kWarpSize, 0, at::cuda::getCurrentCUDAStream()>>>(
      segments, reinterpret_cast<const __nv_bfloat16*>(x.data_ptr()), static_cast<int>(x.size(0)),
      static_cast<int>(x.size(1)), features, reinterpret_cast<__nv_bfloat16*>(out.data_ptr()));
  C10_CUDA_KERNEL_LAUNCH_CHECK();
}

bool aligned16(const at::Tensor& t) { return reinterpret_cast<std::uintptr_t>(t.data_ptr()) % 16 == 0; }

}  // namespace

at::Tensor smallBatchLinear(const at::Tensor& x, const std::vector<at::Tensor>& weights) {
  TORCH_CHECK(x.is_cuda() && x.scalar_type() == at::kBFloat16 && x.dim() == 2 && x.is_contiguous() && aligned16(x),
              "smallBatchLinear: x must be contiguous bf16 [rows, K] on the GPU");
  const auto rows = x.size(0), k = x.size(1);
  TORCH_CHECK(rows >= 1 && rows <= kSmallBatchMaxRows && k % 8 == 0, "smallBatchLinear: 1..",
              kSmallBatchMaxRows, " rows of a multiple of 8 features");
  TORCH_CHECK(!weights.empty() && weights.size() <= kMaxSegments, "smallBatchLinear: 1..", kMaxSegments, " weights");
  Segments segments{};
  segments.count = static_cast<int>(weights.size());
  for (int s = 0; s < segments.count; ++s) {
    const auto& w = weights[s];
    TORCH_CHECK(w.scalar_type() == at::kBFloat16 && w.dim() == 2 && w.size(1) == k && w.is_contiguous() &&
                    aligned16(w) && w.device() == x.device(),
                "smallBatchLinear: weights must be contiguous bf16 [N, K] beside x");
    segments.weights[s] = reinterpret_cast<const __nv_bfloat16*>(w.data_ptr());
    segments.first_feature[s + 1] = segments.first_feature[s] + static_cast<int>(w.size(0));
  }
  for (int s = segments.count + 1; s <= kMaxSegments; ++s) segments.first_feature[s] = segments.first_feature[s - 1];
  const int features = segments.first_feature[segments.count];
  auto out = at::empty({rows, features}, x.options());
  if (rows == 1)
    launch<1>(segments, x, features, out);
  else if (rows == 2)
    launch<2>(segments, x, features, out);
  else if (rows <= 4)
    launch<4>(segments, x, features, out);
  else
    launch<8>(segments, x, features, out);
  return out;
}

}  // namespace folio::cuda
