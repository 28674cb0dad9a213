#include "sam_features.h"

#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAException.h>
#include <cuda_bf16.h>

#include "warp_math.cuh"

namespace folio::cuda {
namespace {

constexpr int kThreads = 256;
constexpr int kWordElements = 8;  // one 16-byte word of bf16

struct FeatureShape {
  int heads, head_dim, height, width;  // width: W, tokens per grid row
  int features_width;                  // the width of a q' / k' row
  int product_columns;                 // (2H - 1) + (2W - 1), padded
  long long rows;                      // B * H * W * heads
  float scale;
};

// Element e >= head_dim of a query's feature row: its relative-position products, then zeros.
__device__ __nv_bfloat16 queryPositionalElement(const __nv_bfloat16* products, const FeatureShape& s, int e, int y,
                                                int x) {
  const int i = e - s.head_dim;
  if (i < s.height) return products[y - i + s.height - 1];
  const int j = i - s.height;
  if (j < s.width) return products[2 * s.height - 1 + x - j + s.width - 1];
  return __float2bfloat16(0.f);
}

// Element e >= head_dim of a key's feature row: one-hot of its row, one-hot of its column, then zeros.
__device__ __nv_bfloat16 keyPositionalElement(const FeatureShape& s, int e, int y, int x) {
  const int i = e - s.head_dim;
  const bool hot = i < s.height ? i == y : i - s.height < s.width && i - s.height == x;
  return __float2bfloat16(hot ? 1.f : 0.f);
}

// One thread per 16-byte word of a (token, head) row of q' and of k'.
__global__ void samQueryKeyFeaturesKernel(const __nv_bfloat16* __restrict__ qkv,
                                          const __nv_bfloat16* __restrict__ products, FeatureShape s,
                                          __nv_bfloat16* __restrict__ q_out, __nv_bfloat16* __restrict__ k_out) {
  const int words = s.features_width / kWordElements;
  const long long index = static_cast<long long>(blockIdx.x) * kThreads + threadIdx.x;
  if (index >= s.rows * words) return;
  const long long row = index / words;
  const int first = static_cast<int>(index % words) * kWordElements;
  const int head = static_cast<int>(row % s.heads);
  const long long token = row / s.heads;
  const int x = static_cast<int>(token % s.width), y = static_cast<int>(token / s.width % s.height);
  const long long channels = static_cast<long long>(s.heads) * s.head_dim;
  const auto* q = qkv + token * 3 * channels + head * s.head_dim;
  const auto* k = q + channels;
  uint4 q_word, k_word;
  auto* q_pairs = reinterpret_cast<__nv_bfloat162*>(&q_word);
  auto* k_pairs = reinterpret_cast<__nv_bfloat162*>(&k_word);
  if (first < s.head_dim) {  // D is a multiple of 8: the word lies in q and k
    float v[kWordElements];
    unpackBf16x8(*reinterpret_cast<const uint4*>(q + first), v);
#pragma unroll
    for (int t = 0; t < kWordElements; ++t) v[t] *= s.scale;
    q_word = packBf16x8(v);
    k_word = *reinterpret_cast<const uint4*>(k + first);
  } else {
    const long long tokens = s.rows / s.heads;
    const auto* row_products = products + (head * tokens + token) * s.product_columns;
#pragma unroll
    for (int t = 0; t < kWordElements / 2; ++t) {
      const int e = first + 2 * t;
      q_pairs[t] = __halves2bfloat162(queryPositionalElement(row_products, s, e, y, x),
                                      queryPositionalElement(row_products, s, e + 1, y, x));
      k_pairs[t] = __halves2bfloat162(keyPositionalElement(s, e, y, x), keyPositionalElement(s, e + 1, y, x));
    }
  }
  *reinterpret_cast<uint4*>(q_out + row * s.features_width + first) = q_word;
  *reinterpret_cast<uint4*>(k_out + row * s.features_width + first) = k_word;
}

}  // namespace

std::pair<at::Tensor, at::Tensor> samQueryKeyFeatures(const at::Tensor& qkv, const at::Tensor& products,
                                                      std::int64_t width, double scale) {
  TORCH_CHECK(qkv.is_cuda() && qkv.scalar_type() == at::kBFloat16 && qkv.dim() == 6 && qkv.is_contiguous() &&
                  qkv.size(3) == 3 && qkv.size(5) % kWordElements == 0,
              "samQueryKeyFeatures: qkv must be contiguous bf16 [B, H, W, 3, heads, D] on the GPU, D % 8 == 0");
  const auto B = qkv.size(0), H = qkv.size(1), W = qkv.size(2), heads = qkv.size(4), head_dim = qkv.size(5);
  const auto rows = B * H * W * heads;
  TORCH_CHECK(products.scalar_type() == at::kBFloat16 && products.is_contiguous() && products.dim() == 3 &&
                  products.size(0) == heads && products.size(1) == B * H * W &&
                  products.size(2) >= 2 * H - 1 + 2 * W - 1 && products.device() == qkv.device(),
              "samQueryKeyFeatures: products must be contiguous bf16 [heads, B*H*W, >= 2H-1 + 2W-1] beside qkv");
  TORCH_CHECK(width % kWordElements == 0 && width >= head_dim + H + W,
              "samQueryKeyFeatures: the feature width must be a multiple of 8 of at least D + H + W");
  auto q_out = at::empty({B, H, W, heads, width}, qkv.options()), k_out = at::empty_like(q_out);
  if (rows == 0) return {q_out, k_out};
  const FeatureShape shape{static_cast<int>(heads), static_cast<int>(head_dim), static_cast<int>(H),
                           static_cast<int>(W), static_cast<int>(width), static_cast<int>(products.size(2)), rows,
                           static_cast<float>(scale)};
  const auto blocks = (rows * (width / kWordElements) + kThreads - 1) / kThreads;
  samQueryKeyFeaturesKernel<<<static_cast<unsigned>(blocks), kThreads, 0, at::cuda::getCurrentCUDAStream()>>>(
      reinterpret_cast<const __nv_bfloat16*>(qkv.data_ptr()), reinterpret_cast<const __nv_bfloat16*>(products.data_ptr()),
      shape, reinterpret_cast<__nv_bfloat16*>(q_out.data_ptr()), reinterpret_cast<__nv_bfloat16*>(k_out.data_ptr()));
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  return {q_out, k_out};
}

}  // namespace folio::cuda
