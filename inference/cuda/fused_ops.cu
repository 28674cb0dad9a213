#include "fused_ops.h"

#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAException.h>
#include <cuda_bf16.h>

#include <type_traits>
#include <vector>

#include "launch.cuh"
#include "rms_norm.cuh"
#include "warp_math.cuh"

namespace folio::cuda {
namespace {

__device__ void store(float* to, float v) { *to = v; }
__device__ void store(__nv_bfloat16* to, float v) { *to = __float2bfloat16(v); }

// One block per row; x is updated in place (each element by the thread that read it).
template <typename X, typename Delta>
__global__ void addRmsNormKernel(X* __restrict__ x, const Delta* __restrict__ delta,
                                 const __nv_bfloat16* __restrict__ weight, __nv_bfloat16* __restrict__ out, int hidden,
                                 float eps) {
  letNextKernelStart();
  waitForPreviousKernel();
  const long long offset = static_cast<long long>(blockIdx.x) * hidden;
  X* row = x + offset;
  const Delta* row_delta = delta != nullptr ? delta + offset : nullptr;
  residualRmsNormRow(row, row_delta, weight, hidden, eps, [&](int i, float v, __nv_bfloat16 h) {
    if (row_delta != nullptr) store(row + i, v);
    out[offset + i] = h;
  });
}

template <typename X, typename Delta>
void launchAddRmsNorm(at::Tensor& x, const Delta* delta, const at::Tensor& weight, at::Tensor& out, double eps) {
  launchOverlapped(addRmsNormKernel<X, Delta>, x.size(0), kNormThreads, 0, reinterpret_cast<X*>(x.data_ptr()), delta,
                   reinterpret_cast<const __nv_bfloat16*>(weight.data_ptr()),
                   reinterpret_cast<__nv_bfloat16*>(out.data_ptr()), static_cast<int>(x.size(1)),
                   static_cast<float>(eps));
}

constexpr int kLayerNormWarps = 8;  // rows per block
constexpr int kLayerNormWords = kLayerNormMaxWidth / 8 / kWarpSize;  // 16-byte words per lane

struct LayerNormRows {
  const __nv_bfloat16* x;
  const __nv_bfloat16* delta;  // null: no residual step
  const __nv_bfloat16 *weight, *bias;
  int width;  // C
  float eps;
  long long rows;  // rows of the launch: x's, or the padded windows' when normed is written in windows
  __nv_bfloat16 *sum, *normed;
  // The grid [B, H, W, C] and its windows (window 0: none): `across` x `down` windows a grid.
  int grid_h, grid_w, window, across, down;
  bool delta_in_windows, normed_in_windows;
};

// The row of grid token (b, y, x) in the window layout.
__device__ long long windowRow(const LayerNormRows& p, long long b, int y, int x) {
  return ((b * p.down + y / p.window) * p.across + x / p.window) * p.window * p.window + (y % p.window) * p.window +
         x % p.window;
}

// One warp per row, held in registers: the residual step (rounded to bf16 like libtorch's add), then the mean
// and the variance about it (two passes over the registers), then the normalised row.
__global__ void addLayerNormKernel(LayerNormRows p) {
  const long long row = static_cast<long long>(blockIdx.x) * kLayerNormWarps + threadIdx.x / kWarpSize;
  if (row >= p.rows) return;
  const int lane = threadIdx.x % kWarpSize, words = p.width / 8;
  long long token = row;  // the row of x
  if (p.normed_in_windows) {
    const int area = p.window * p.window;
    const long long window = row / area;
    const int y = static_cast<int>(window / p.across % p.down) * p.window + static_cast<int>(row % area) / p.window;
    const int x = static_cast<int>(window % p.across) * p.window + static_cast<int>(row % p.window);
    if (y >= p.grid_h || x >= p.grid_w) {  // padding
      auto* zeros = reinterpret_cast<uint4*>(p.normed + row * p.width);
      for (int w = lane; w < words; w += kWarpSize) zeros[w] = make_uint4(0, 0, 0, 0);
      return;
    }
    token = (window / (p.across * p.down) * p.grid_h + y) * p.grid_w + x;
  }
  long long delta_row = token;
  if (p.delta_in_windows) {
    const long long b = token / (static_cast<long long>(p.grid_h) * p.grid_w);
    delta_row = windowRow(p, b, static_cast<int>(token / p.grid_w % p.grid_h), static_cast<int>(token % p.grid_w));
  }
  const auto* x = reinterpret_cast<const uint4*>(p.x + token * p.width);
  const auto* delta = p.delta == nullptr ? nullptr : reinterpret_cast<const uint4*>(p.delta + delta_row * p.width);
  auto* sum = reinterpret_cast<uint4*>(p.sum + token * p.width);
  float v[kLayerNormWords][8];
  float total = 0.f;
#pragma unroll
  for (int j = 0; j < kLayerNormWords; ++j) {
    const int w = lane + j * kWarpSize;
    if (w >= words) continue;
    unpackBf16x8(x[w], v[j]);
    if (delta != nullptr) {
      float d[8];
      unpackBf16x8(delta[w], d);
#pragma unroll
      for (int t = 0; t < 8; ++t) v[j][t] = __bfloat162float(__float2bfloat16(v[j][t] + d[t]));
      sum[w] = packBf16x8(v[j]);
    }
#pragma unroll
    for (int t = 0; t < 8; ++t) total += v[j][t];
  }
  const float mean = warpSum(total) / p.width;
  float squares = 0.f;
#pragma unroll
  for (int j = 0; j < kLayerNormWords; ++j)
    if (lane + j * kWarpSize < words)
#pragma unroll
      for (int t = 0; t < 8; ++t) squares += (v[j][t] - mean) * (v[j][t] - mean);
  const float rstd = rsqrtf(warpSum(squares) / p.width + p.eps);
  const auto* weight = reinterpret_cast<const uint4*>(p.weight);
  const auto* bias = reinterpret_cast<const uint4*>(p.bias);
  auto* normed = reinterpret_cast<uint4*>(p.normed + (p.normed_in_windows ? row : token) * p.width);
#pragma unroll
  for (int j = 0; j < kLayerNormWords; ++j) {
    const int w = lane + j * kWarpSize;
    if (w >= words) continue;
    float g[8], b[8], out[8];
    unpackBf16x8(weight[w], g);
    unpackBf16x8(bias[w], b);
#pragma unroll
    for (int t = 0; t < 8; ++t) out[t] = (v[j][t] - mean) * rstd * g[t] + b[t];
    normed[w] = packBf16x8(out);
  }
}

constexpr int kElementwiseThreads = 256;

// One thread per 16-byte word: t = bf16(1.702 x), s = bf16(sigmoid(t)), bf16(x * s), as libtorch's mul, sigmoid
// and mul give them one after the other.
__global__ void quickGeluKernel(const uint4* __restrict__ x, uint4* __restrict__ out, long long words) {
  const long long i = static_cast<long long>(blockIdx.x) * kElementwiseThreads + threadIdx.x;
  if (i >= words) return;
  float v[8];
  unpackBf16x8(x[i], v);
#pragma unroll
  for (int t = 0; t < 8; ++t) {
    const float scaled = __bfloat162float(__float2bfloat16(1.702f * v[t]));
    const float gate = __bfloat162float(__float2bfloat16(1.f / (1.f + expf(-scaled))));
    v[t] *= gate;
  }
  out[i] = packBf16x8(v);
}

bool isBf16(const at::Tensor& t) { return t.is_cuda() && t.scalar_type() == at::kBFloat16; }

}  // namespace

NormedSum addLayerNorm(const at::Tensor& x, const at::Tensor& delta, const at::Tensor& weight, const at::Tensor& bias,
                       double eps, int window, bool delta_in_windows, bool normed_in_windows) {
  const auto width = x.size(-1);
  TORCH_CHECK(isBf16(x) && x.is_contiguous() && width % 8 == 0 && width <= kLayerNormMaxWidth,
              "addLayerNorm: x must be contiguous bf16 [..., C] on the GPU, C a multiple of 8 up to ", kLayerNormMaxWidth);
  TORCH_CHECK(isBf16(weight) && isBf16(bias) && weight.is_contiguous() && bias.is_contiguous() &&
                  weight.numel() == width && bias.numel() == width,
              "addLayerNorm: weight and bias must be contiguous bf16 [C] beside x");
  LayerNormRows p{};
  p.rows = x.numel() / width;
  std::vector<std::int64_t> windowed;
  if (delta_in_windows || normed_in_windows) {
    TORCH_CHECK(window > 0 && x.dim() == 4, "addLayerNorm: windows need a window size and x as a grid [B, H, W, C]");
    p.grid_h = static_cast<int>(x.size(1));
    p.grid_w = static_cast<int>(x.size(2));
    p.window = window;
    p.across = (p.grid_w + window - 1) / window;
    p.down = (p.grid_h + window - 1) / window;
    windowed = {x.size(0) * p.down * p.across, window, window, width};
  }
  NormedSum out{x, normed_in_windows ? at::empty(windowed, x.options()) : at::empty_like(x)};
  if (delta.defined()) {
    TORCH_CHECK(isBf16(delta) && delta.is_contiguous() && delta.device() == x.device() &&
                    (delta_in_windows ? delta.sizes() == at::IntArrayRef(windowed) : delta.sizes() == x.sizes()),
                "addLayerNorm: delta must be contiguous bf16 shaped like x (or like its windows)");
    out.sum = at::empty_like(x);
    p.delta = reinterpret_cast<const __nv_bfloat16*>(delta.data_ptr());
  }
  p.x = reinterpret_cast<const __nv_bfloat16*>(x.data_ptr());
  p.weight = reinterpret_cast<const __nv_bfloat16*>(weight.data_ptr());
  p.bias = reinterpret_cast<const __nv_bfloat16*>(bias.data_ptr());
  p.width = static_cast<int>(width);
  p.eps = static_cast<float>(eps);
  p.sum = reinterpret_cast<__nv_bfloat16*>(out.sum.data_ptr());
  p.normed = reinterpret_cast<__nv_bfloat16*>(out.normed.data_ptr());
  p.delta_in_windows = delta_in_windows;
  p.normed_in_windows = normed_in_windows;
  if (normed_in_windows) p.rows = out.normed.numel() / width;
  if (p.rows == 0) return out;
  const auto blocks = (p.rows + kLayerNormWarps - 1) / kLayerNormWarps;
  addLayerNormKernel<<<static_cast<unsigned>(blocks), kLayerNormWarps * kWarpSize, 0,
                       at::cuda::getCurrentCUDAStream()>>>(p);
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  return out;
}

at::Tensor quickGelu(const at::Tensor& x) {
  TORCH_CHECK(isBf16(x) && x.is_contiguous() && x.numel() % 8 == 0,
              "quickGelu: x must be contiguous bf16 on the GPU with a multiple of 8 elements");
  auto out = at::empty_like(x);
  const auto words = x.numel() / 8;
  if (words == 0) return out;
  quickGeluKernel<<<static_cast<unsigned>((words + kElementwiseThreads - 1) / kElementwiseThreads),
                    kElementwiseThreads, 0, at::cuda::getCurrentCUDAStream()>>>(
      reinterpret_cast<const uint4*>(x.data_ptr()), reinterpret_cast<uint4*>(out.data_ptr()), words);
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  return out;
}

namespace {

// Block per row: the table row of the row's id, widened to float32 in 16-byte words.
// The 8 values of a word of a table row as float32: bf16, or int8 times the row's scale.
__device__ inline void unpackRow8(const uint4& word, float, float* v) { unpackBf16x8(word, v); }
__device__ inline void unpackRow8(const uint2& word, float scale, float* v) {
  const auto* q = reinterpret_cast<const std::int8_t*>(&word);
#pragma unroll
  for (int t = 0; t < 8; ++t) v[t] = static_cast<float>(q[t]) * scale;
}

template <typename W>
__global__ void embeddingRowsKernel(const W* __restrict__ table, const float* __restrict__ scales,
                                    const long long* __restrict__ ids, int width, float* __restrict__ out) {
  letNextKernelStart();
  waitForPreviousKernel();
  const long long id = ids[blockIdx.x];
  const auto* row = reinterpret_cast<const WordOf<W>*>(table + id * width);
  const float scale = rowScale(scales, id);
  auto* result = reinterpret_cast<float4*>(out + static_cast<long long>(blockIdx.x) * width);
  for (int w = threadIdx.x; w < width / 8; w += blockDim.x) {
    float v[8];
    unpackRow8(row[w], scale, v);
    result[2 * w] = make_float4(v[0], v[1], v[2], v[3]);
    result[2 * w + 1] = make_float4(v[4], v[5], v[6], v[7]);
  }
}

}  // namespace

at::Tensor embeddingRows(const LinearWeight& embedding, const at::Tensor& ids) {
  const auto& table = embedding.weight;
  const bool eight_bit = embedding.quantized();
  TORCH_CHECK(table.is_cuda() && table.scalar_type() == (eight_bit ? at::kChar : at::kBFloat16) && table.dim() == 2 &&
                  table.is_contiguous() && table.size(1) % 8 == 0 && aligned16(table),
              "embeddingRows: the table must be contiguous bf16 or int8 [V, H] on the GPU, H a multiple of 8");
  TORCH_CHECK(!eight_bit || (embedding.scale.scalar_type() == at::kFloat && embedding.scale.is_contiguous() &&
                             embedding.scale.numel() == table.size(0)),
              "embeddingRows: an 8-bit table needs a float32 scale per row");
  TORCH_CHECK(ids.scalar_type() == at::kLong && ids.dim() == 1 && ids.is_contiguous() && ids.device() == table.device(),
              "embeddingRows: ids must be contiguous int64 [rows] beside the table");
  auto out = at::empty({ids.size(0), table.size(1)}, table.options().dtype(at::kFloat));
  if (ids.size(0) == 0) return out;
  const auto go = [&](auto* rows) {
    launchOverlapped(embeddingRowsKernel<std::remove_const_t<std::remove_pointer_t<decltype(rows)>>>,
                     static_cast<unsigned>(ids.size(0)), 128, 0, rows,
                     eight_bit ? embedding.scale.data_ptr<float>() : nullptr,
                     reinterpret_cast<const long long*>(ids.data_ptr<int64_t>()), static_cast<int>(table.size(1)),
                     out.data_ptr<float>());
  };
  if (eight_bit)
    go(reinterpret_cast<const std::int8_t*>(table.data_ptr()));
  else
    go(reinterpret_cast<const __nv_bfloat16*>(table.data_ptr()));
  return out;
}

at::Tensor addRmsNorm(at::Tensor& x, const at::Tensor& delta, const at::Tensor& weight, double eps) {
  const bool float_x = x.scalar_type() == at::kFloat;
  TORCH_CHECK(x.is_cuda() && x.dim() == 2 && x.is_contiguous() && (float_x || x.scalar_type() == at::kBFloat16),
              "addRmsNorm: x must be contiguous float32 or bf16 [rows, H] on the GPU");
  TORCH_CHECK(weight.scalar_type() == at::kBFloat16 && weight.numel() == x.size(1), "addRmsNorm: weight must be bf16 [H]");
  auto out = at::empty(x.sizes(), x.options().dtype(at::kBFloat16));
  if (!delta.defined()) {
    if (float_x)
      launchAddRmsNorm<float>(x, static_cast<const float*>(nullptr), weight, out, eps);
    else
      launchAddRmsNorm<__nv_bfloat16>(x, static_cast<const float*>(nullptr), weight, out, eps);
    return out;
  }
  TORCH_CHECK(float_x, "addRmsNorm: a residual step needs the float32 stream");
  TORCH_CHECK(delta.sizes() == x.sizes() && delta.is_contiguous() && delta.device() == x.device(),
              "addRmsNorm: delta must be contiguous and shaped like x");
  if (delta.scalar_type() == at::kFloat)
    launchAddRmsNorm<float>(x, delta.data_ptr<float>(), weight, out, eps);
  else if (delta.scalar_type() == at::kBFloat16)
    launchAddRmsNorm<float>(x, reinterpret_cast<const __nv_bfloat16*>(delta.data_ptr()), weight, out, eps);
  else
    TORCH_CHECK(false, "addRmsNorm: delta must be float32 or bf16");
  return out;
}

}  // namespace folio::cuda
