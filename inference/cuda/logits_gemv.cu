#include "logits_gemv.h"

#include <ATen/cuda/CUDAContext.h>

#include "launch.cuh"
#include "warp_math.cuh"

namespace folio::cuda {
namespace {

constexpr int kThreads = 256;
constexpr int kWarps = kThreads / kWarpSize;
constexpr int kBlocksPerSm = 2;
// Weight rows a warp has in flight: as many as fit about 64 registers of held words.
__host__ __device__ constexpr int rowsAtOnce(int words) { return words <= 4 ? 4 : 15 / words; }

// Each warp takes groups of kRowsAtOnce rows, gridDim.x * kWarps * kRowsAtOnce rows apart; lane i holds words
// i, i + 32, ... of each row (kWords of them). The next group's loads are issued as soon as the current group's
// products are taken, so they are in flight while the warp reduces and stores. The first group is loaded before
// the wait for x.
template <int kWords, typename W>
__global__ void __launch_bounds__(kThreads, kBlocksPerSm)
    logitsGemvKernel(const uint4* __restrict__ x, const WordOf<W>* __restrict__ weight,
                     const float* __restrict__ scales, int rows, int chunks, float* __restrict__ out) {
  constexpr int kRowsAtOnce = rowsAtOnce(kWords);
  const int lane = threadIdx.x % kWarpSize;
  const int stride = gridDim.x * kWarps * kRowsAtOnce;
  int first = (blockIdx.x * kWarps + threadIdx.x / kWarpSize) * kRowsAtOnce;
  WordOf<W> held[kRowsAtOnce][kWords];
  const auto load = [&](int group) {
#pragma unroll
    for (int r = 0; r < kRowsAtOnce; ++r)
#pragma unroll
      for (int j = 0; j < kWords; ++j) {
        const int chunk = lane + j * kWarpSize;
        if (group + r < rows && chunk < chunks) held[r][j] = weight[static_cast<long long>(group + r) * chunks + chunk];
      }
  };
  load(first);
  letNextKernelStart();
  waitForPreviousKernel();
  uint4 input[kWords];
#pragma unroll
  for (int j = 0; j < kWords; ++j)
    if (lane + j * kWarpSize < chunks) input[j] = x[lane + j * kWarpSize];
  for (; first < rows; first += stride) {
    float sum[kRowsAtOnce];
#pragma unroll
    for (int r = 0; r < kRowsAtOnce; ++r) {
      sum[r] = 0.f;
#pragma unroll
      for (int j = 0; j < kWords; ++j)
        if (lane + j * kWarpSize < chunks) sum[r] += dot8(held[r][j], input[j]);
    }
    if (first + stride < rows) load(first + stride);
#pragma unroll
    for (int r = 0; r < kRowsAtOnce; ++r) {
      const float total = warpSum(sum[r]);
      if (lane == 0 && first + r < rows) out[first + r] = rowScale(scales, first + r) * total;
    }
  }
}

template <int kWords, typename W>
void launchWordsOf(const at::Tensor& x, const LinearWeight& weight, at::Tensor& out) {
  const int rows = static_cast<int>(weight.weight.size(0)), chunks = static_cast<int>(weight.weight.size(1) / 8);
  const int groups = (rows + rowsAtOnce(kWords) - 1) / rowsAtOnce(kWords);
  const int sms = at::cuda::getCurrentDeviceProperties()->multiProcessorCount;
  const int blocks = std::max(1, std::min(sms * kBlocksPerSm, (groups + kWarps - 1) / kWarps));
  launchOverlapped(logitsGemvKernel<kWords, W>, blocks, kThreads, 0, reinterpret_cast<const uint4*>(x.data_ptr()),
                   reinterpret_cast<const WordOf<W>*>(weight.weight.data_ptr()),
                   weight.quantized() ? weight.scale.data_ptr<float>() : nullptr, rows, chunks, out.data_ptr<float>());
}

template <int kWords>
void launchWords(const at::Tensor& x, const LinearWeight& weight, at::Tensor& out) {
  if (weight.quantized())
    launchWordsOf<kWords, std::int8_t>(x, weight, out);
  else
    launchWordsOf<kWords, __nv_bfloat16>(x, weight, out);
}

}  // namespace

at::Tensor logitsGemv(const at::Tensor& x, const LinearWeight& linear) {
  TORCH_CHECK(x.is_cuda() && x.scalar_type() == at::kBFloat16 && x.dim() == 2 && x.size(0) == 1 && x.is_contiguous() &&
                  aligned16(x),
              "logitsGemv: x must be one contiguous bf16 row [1, K] on the GPU");
  const auto& weight = linear.weight;
  TORCH_CHECK(weight.scalar_type() == (linear.quantized() ? at::kChar : at::kBFloat16) && weight.dim() == 2 &&
                  weight.is_contiguous() && aligned16(weight) && weight.device() == x.device() &&
                  weight.size(1) == x.size(1),
              "logitsGemv: the weight must be contiguous bf16 or int8 [N, K] beside x");
  TORCH_CHECK(!linear.quantized() || (linear.scale.scalar_type() == at::kFloat && linear.scale.is_contiguous() &&
                                      linear.scale.numel() == weight.size(0)),
              "logitsGemv: an 8-bit weight needs a float32 scale per row");
  const auto k = x.size(1);
  TORCH_CHECK(k % 8 == 0 && k <= kLogitsMaxK && weight.size(0) < (1ll << 31),
              "logitsGemv: K must be a multiple of 8 up to ", kLogitsMaxK);
  auto out = at::empty({1, weight.size(0)}, x.options().dtype(at::kFloat));
  switch ((k / 8 + kWarpSize - 1) / kWarpSize) {
    case 1: launchWords<1>(x, linear, out); break;
    case 2: launchWords<2>(x, linear, out); break;
    case 3: launchWords<3>(x, linear, out); break;
    case 4: launchWords<4>(x, linear, out); break;
    case 5: launchWords<5>(x, linear, out); break;
    case 6: launchWords<6>(x, linear, out); break;
    case 7: launchWords<7>(x, linear, out); break;
    default: launchWords<8>(x, linear, out); break;
  }
  return out;
}

}  // namespace folio::cuda
