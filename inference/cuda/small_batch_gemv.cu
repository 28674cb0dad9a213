#include "small_batch_gemv.h"

#include <ATen/cuda/CUDAContext.h>

#include <type_traits>

#include "launch.cuh"
#include "rms_norm.cuh"

namespace folio::cuda {
namespace {

constexpr int kWarpsPerBlock = 8;
constexpr int kMaxSegments = 4;

struct Segments {
  const void* weights[kMaxSegments];  // bf16, or int8 (the kernel's W)
  const float* scales[kMaxSegments];  // int8: a scale per row; bf16: null
  int first_feature[kMaxSegments + 1];  // segment s holds output features first_feature[s] .. first_feature[s+1]-1
  int count;
};

constexpr int kMaxNormedK = 2048;  // normalised rows are kept in shared memory
static_assert(kWarpsPerBlock * kWarpSize == kNormThreads, "a block normalises its input rows itself");

// The GEMV's input: bf16 rows x, or (kNormed) the residual step and RMSNorm that start a decoder block:
// stream + delta normalised by norm_weight, which every block computes into shared memory (block 0 writes the
// new stream out when there is a delta).
template <typename Delta>
struct GemvInput {
  const __nv_bfloat16* x;
  const float* stream;
  const Delta* delta;  // may be null
  const __nv_bfloat16* norm_weight;
  float eps;
  float* stream_out;
};

// One warp per output feature: the warp's weight row (W: bf16 or int8) is loaded before the kernel waits for its
// input (launch.cuh).
template <int kRows, bool kNormed, typename Delta, typename W>
__global__ void smallBatchGemvKernel(Segments segments, GemvInput<Delta> in, int rows, int k, int features,
                                     __nv_bfloat16* __restrict__ out) {
  __shared__ __align__(16) __nv_bfloat16 normed[kNormed ? kRows * kMaxNormedK : 8];
  const int feature = blockIdx.x * kWarpsPerBlock + threadIdx.x / kWarpSize;
  const int lane = threadIdx.x % kWarpSize;
  const int chunks = k / 8;
  const bool valid = feature < features;
  const W* w = nullptr;
  float scale = 1.f;
  LaneRowWords<kHeldWords, W> held;
  if (valid) {
    int s = 0;
    while (feature >= segments.first_feature[s + 1]) ++s;
    const int row = feature - segments.first_feature[s];
    w = static_cast<const W*>(segments.weights[s]) + static_cast<long long>(row) * k;
    scale = rowScale(segments.scales[s], row);
    held.load(w, chunks, lane);
  }
  letNextKernelStart();
  waitForPreviousKernel();
  const __nv_bfloat16* x = in.x;
  if constexpr (kNormed) {
    for (int r = 0; r < rows; ++r) {
      const long long offset = static_cast<long long>(r) * k;
      residualRmsNormRow(in.stream + offset, in.delta != nullptr ? in.delta + offset : nullptr, in.norm_weight, k,
                         in.eps, [&](int i, float v, __nv_bfloat16 h) {
                           normed[offset + i] = h;
                           if (blockIdx.x == 0 && in.delta != nullptr) in.stream_out[offset + i] = v;
                         });
    }
    __syncthreads();
    x = normed;
  }
  if (!valid) return;
#pragma unroll
  for (int r = 0; r < kRows; ++r) {
    if (r >= rows) break;
    const float total = scale * warpSum(held.dot(w, x + static_cast<long long>(r) * k, chunks, lane));
    if (lane == 0) out[static_cast<long long>(r) * features + feature] = __float2bfloat16(total);
  }
}

template <bool kNormed, typename Delta, typename W>
void launchRowsOf(const Segments& segments, const GemvInput<Delta>& in, int rows, int k, int features, at::Tensor& out) {
  const int blocks = (features + kWarpsPerBlock - 1) / kWarpsPerBlock;
  auto* result = reinterpret_cast<__nv_bfloat16*>(out.data_ptr());
  const auto go = [&](auto kernel) {
    launchOverlapped(kernel, blocks, kWarpsPerBlock * kWarpSize, 0, segments, in, rows, k, features, result);
  };
  if (rows == 1)
    go(smallBatchGemvKernel<1, kNormed, Delta, W>);
  else if (rows == 2)
    go(smallBatchGemvKernel<2, kNormed, Delta, W>);
  else if (rows <= 4)
    go(smallBatchGemvKernel<4, kNormed, Delta, W>);
  else
    go(smallBatchGemvKernel<8, kNormed, Delta, W>);
}

template <bool kNormed, typename Delta>
void launchRows(const Segments& segments, const GemvInput<Delta>& in, int rows, int k, int features, at::Tensor& out) {
  if (segments.scales[0] != nullptr)
    launchRowsOf<kNormed, Delta, std::int8_t>(segments, in, rows, k, features, out);
  else
    launchRowsOf<kNormed, Delta, __nv_bfloat16>(segments, in, rows, k, features, out);
}

Segments segmentsOf(const std::vector<LinearWeight>& weights, std::int64_t k, const at::Device& device) {
  TORCH_CHECK(!weights.empty() && weights.size() <= kMaxSegments, "smallBatchLinear: 1..", kMaxSegments, " weights");
  Segments segments{};
  segments.count = static_cast<int>(weights.size());
  for (int s = 0; s < segments.count; ++s) {
    const auto& w = weights[s].weight;
    const bool eight_bit = weights[s].quantized();
    TORCH_CHECK(eight_bit == weights.front().quantized(), "smallBatchLinear: weights all bf16 or all 8-bit");
    TORCH_CHECK(w.scalar_type() == (eight_bit ? at::kChar : at::kBFloat16) && w.dim() == 2 && w.size(1) == k &&
                    w.is_contiguous() && aligned16(w) && w.device() == device,
                "smallBatchLinear: weights must be contiguous bf16 or int8 [N, K] beside x");
    if (eight_bit) {
      const auto& scale = weights[s].scale;
      TORCH_CHECK(scale.scalar_type() == at::kFloat && scale.is_contiguous() && scale.numel() == w.size(0) &&
                      scale.device() == device,
                  "smallBatchLinear: an 8-bit weight needs a float32 scale per row");
      segments.scales[s] = scale.data_ptr<float>();
    }
    segments.weights[s] = w.data_ptr();
    segments.first_feature[s + 1] = segments.first_feature[s] + static_cast<int>(w.size(0));
  }
  for (int s = segments.count + 1; s <= kMaxSegments; ++s) segments.first_feature[s] = segments.first_feature[s - 1];
  return segments;
}

void checkRows(std::int64_t rows, std::int64_t k) {
  TORCH_CHECK(rows >= 1 && rows <= kSmallBatchMaxRows && k % 8 == 0, "smallBatchLinear: 1..", kSmallBatchMaxRows,
              " rows of a multiple of 8 features");
}

}  // namespace

at::Tensor smallBatchLinear(const at::Tensor& x, const std::vector<LinearWeight>& weights) {
  TORCH_CHECK(x.is_cuda() && x.scalar_type() == at::kBFloat16 && x.dim() == 2 && x.is_contiguous() && aligned16(x),
              "smallBatchLinear: x must be contiguous bf16 [rows, K] on the GPU");
  const auto rows = x.size(0), k = x.size(1);
  checkRows(rows, k);
  const auto segments = segmentsOf(weights, k, x.device());
  const int features = segments.first_feature[segments.count];
  auto out = at::empty({rows, features}, x.options());
  GemvInput<float> in{reinterpret_cast<const __nv_bfloat16*>(x.data_ptr())};
  launchRows<false>(segments, in, static_cast<int>(rows), static_cast<int>(k), features, out);
  return out;
}

NormedLinear smallBatchNormedLinear(const at::Tensor& stream, const at::Tensor& delta, const at::Tensor& norm_weight,
                                    double eps, const std::vector<LinearWeight>& weights) {
  TORCH_CHECK(stream.is_cuda() && stream.scalar_type() == at::kFloat && stream.dim() == 2 && stream.is_contiguous(),
              "smallBatchNormedLinear: the stream must be contiguous float32 [rows, K] on the GPU");
  const auto rows = stream.size(0), k = stream.size(1);
  checkRows(rows, k);
  TORCH_CHECK(k <= kMaxNormedK, "smallBatchNormedLinear: at most ", kMaxNormedK, " features");
  TORCH_CHECK(norm_weight.scalar_type() == at::kBFloat16 && norm_weight.numel() == k && norm_weight.is_contiguous(),
              "smallBatchNormedLinear: the norm weight must be bf16 [K]");
  TORCH_CHECK(!delta.defined() || (delta.sizes() == stream.sizes() && delta.is_contiguous() &&
                                   delta.device() == stream.device() &&
                                   (delta.scalar_type() == at::kFloat || delta.scalar_type() == at::kBFloat16)),
              "smallBatchNormedLinear: delta must be float32 or bf16, contiguous and shaped like the stream");
  const auto segments = segmentsOf(weights, k, stream.device());
  const int features = segments.first_feature[segments.count];
  NormedLinear result{at::empty({rows, features}, stream.options().dtype(at::kBFloat16)),
                      delta.defined() ? at::empty_like(stream) : stream};
  const auto launch = [&](auto* delta_data) {
    using Delta = std::remove_const_t<std::remove_pointer_t<decltype(delta_data)>>;
    GemvInput<Delta> in{nullptr,
                        stream.data_ptr<float>(),
                        delta_data,
                        reinterpret_cast<const __nv_bfloat16*>(norm_weight.data_ptr()),
                        static_cast<float>(eps),
                        result.stream.data_ptr<float>()};
    launchRows<true>(segments, in, static_cast<int>(rows), static_cast<int>(k), features, result.out);
  };
  if (!delta.defined() || delta.scalar_type() == at::kFloat)
    launch(delta.defined() ? delta.data_ptr<float>() : static_cast<float*>(nullptr));
  else
    launch(reinterpret_cast<const __nv_bfloat16*>(delta.data_ptr()));
  return result;
}

}  // namespace folio::cuda
