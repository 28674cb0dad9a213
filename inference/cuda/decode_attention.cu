#include "decode_attention.h"

#include <ATen/cuda/CUDAContext.h>

#include <cmath>

#include "warp_math.cuh"

namespace folio::cuda {
namespace {

constexpr int kChunk = 32;  // positions per block
constexpr int kThreads = 128;
constexpr int kWarps = kThreads / kWarpSize;
constexpr int kDimsPerLane = 32;  // a lane reads 32 elements (four 16-byte words) of a key

// blockIdx.x: row * heads + head, blockIdx.y: chunk. A key is read by head_dim / 32 neighbouring lanes, so a warp
// scores 32 / (head_dim / 32) positions at once with all its loads in flight. Writes the chunk's maximum score,
// its sum of exp(score - maximum) and its unnormalised output (sum of exp(score - maximum) * value), float32.
__global__ void chunkAttentionKernel(const __nv_bfloat16* __restrict__ q, long long q_stride,
                                     const __nv_bfloat16* __restrict__ keys, const __nv_bfloat16* __restrict__ values,
                                     const long long* __restrict__ position, int heads, int capacity, int head_dim,
                                     float scale, float* __restrict__ partial_max, float* __restrict__ partial_sum,
                                     float* __restrict__ partial_out) {
  __shared__ float weight[kChunk];
  const int row = blockIdx.x / heads, head = blockIdx.x % heads;
  const int length = static_cast<int>(position[row]) + 1;
  const int first = blockIdx.y * kChunk;
  if (first >= length) return;
  const int count = min(kChunk, length - first);
  const int warp = threadIdx.x / kWarpSize, lane = threadIdx.x % kWarpSize;
  const int lanes_per_key = head_dim / kDimsPerLane, keys_per_warp = kWarpSize / lanes_per_key;
  const int part = lane % lanes_per_key;  // which 32 elements of the head this lane reads

  uint4 query[kDimsPerLane / 8];
  const auto* q_part = reinterpret_cast<const uint4*>(q + row * q_stride + head * head_dim + part * kDimsPerLane);
#pragma unroll
  for (int i = 0; i < kDimsPerLane / 8; ++i) query[i] = q_part[i];

  const long long head_base = (static_cast<long long>(row) * heads + head) * capacity * head_dim;
  for (int base = warp * keys_per_warp; base < count; base += kWarps * keys_per_warp) {
    const int p = base + lane / lanes_per_key;
    float score = 0.f;
    if (p < count) {
      const auto* key = reinterpret_cast<const uint4*>(keys + head_base + static_cast<long long>(first + p) * head_dim +
                                                       part * kDimsPerLane);
#pragma unroll
      for (int i = 0; i < kDimsPerLane / 8; ++i) score += dot8(key[i], query[i]);
    }
    for (int offset = lanes_per_key / 2; offset > 0; offset /= 2) score += __shfl_xor_sync(0xffffffffu, score, offset);
    if (part == 0 && p < count) weight[p] = score * scale;
  }
  __syncthreads();

  const long long slot = static_cast<long long>(blockIdx.x) * gridDim.y + blockIdx.y;
  if (warp == 0) {
    float maximum = -INFINITY;
    for (int p = lane; p < count; p += kWarpSize) maximum = fmaxf(maximum, weight[p]);
    maximum = warpMax(maximum);
    float sum = 0.f;
    for (int p = lane; p < count; p += kWarpSize) {
      weight[p] = __expf(weight[p] - maximum);
      sum += weight[p];
    }
    sum = warpSum(sum);
    if (lane == 0) {
      partial_max[slot] = maximum;
      partial_sum[slot] = sum;
    }
  }
  __syncthreads();

  // Values: a thread reads 8 elements (16 bytes) of every groups-th position; the groups are summed in
  // shared memory. head_dim / 8 divides kThreads for every supported head size.
  __shared__ float group_out[kThreads * 8];
  const int dim_groups = head_dim / 8, groups = kThreads / dim_groups;
  const int dims = threadIdx.x % dim_groups, group = threadIdx.x / dim_groups;
  float out[8] = {};
  const auto* value_base = values + head_base + static_cast<long long>(first) * head_dim + dims * 8;
#pragma unroll 4
  for (int p = group; p < count; p += groups) {
    const uint4 packed = *reinterpret_cast<const uint4*>(value_base + static_cast<long long>(p) * head_dim);
    const auto* pairs = reinterpret_cast<const __nv_bfloat162*>(&packed);
#pragma unroll
    for (int t = 0; t < 4; ++t) {
      const float2 v = __bfloat1622float2(pairs[t]);
      out[2 * t] += weight[p] * v.x;
      out[2 * t + 1] += weight[p] * v.y;
    }
  }
#pragma unroll
  for (int i = 0; i < 8; ++i) group_out[group * head_dim + dims * 8 + i] = out[i];
  __syncthreads();
  for (int d = threadIdx.x; d < head_dim; d += kThreads) {
    float sum = 0.f;
    for (int g = 0; g < groups; ++g) sum += group_out[g * head_dim + d];
    partial_out[slot * head_dim + d] = sum;
  }
}

// Reduces one value per thread over the block with `op`; every thread gets the result.
template <typename Op>
__device__ float blockReduce(float value, Op op) {
  __shared__ float partial[kWarps];
  for (int offset = kWarpSize / 2; offset > 0; offset /= 2) value = op(value, __shfl_xor_sync(0xffffffffu, value, offset));
  __syncthreads();  // partial may still be read by a previous call
  if (threadIdx.x % kWarpSize == 0) partial[threadIdx.x / kWarpSize] = value;
  __syncthreads();
  value = partial[0];
  for (int w = 1; w < kWarps; ++w) value = op(value, partial[w]);
  return value;
}

// blockIdx.x: row * heads + head. Merges the row's chunks: out = sum_c e^(m_c - M) o_c / sum_c e^(m_c - M) l_c,
// the chunks' factors computed in parallel and kept in shared memory (chunks_per_head floats).
__global__ void mergeChunksKernel(const float* __restrict__ partial_max, const float* __restrict__ partial_sum,
                                  const float* __restrict__ partial_out, const long long* __restrict__ position,
                                  int heads, int head_dim, int chunks_per_head, __nv_bfloat16* __restrict__ out) {
  extern __shared__ float factor[];
  const int row = blockIdx.x / heads, head = blockIdx.x % heads;
  const int chunks = (static_cast<int>(position[row]) + kChunk) / kChunk;  // ceil((position + 1) / kChunk)
  const long long first_slot = static_cast<long long>(blockIdx.x) * chunks_per_head;
  float maximum = -INFINITY;
  for (int c = threadIdx.x; c < chunks; c += kThreads) maximum = fmaxf(maximum, partial_max[first_slot + c]);
  maximum = blockReduce(maximum, [](float a, float b) { return fmaxf(a, b); });
  float total = 0.f;
  for (int c = threadIdx.x; c < chunks; c += kThreads) {
    factor[c] = __expf(partial_max[first_slot + c] - maximum);
    total += factor[c] * partial_sum[first_slot + c];
  }
  total = blockReduce(total, [](float a, float b) { return a + b; });  // its barriers also publish factor[]
  for (int d = threadIdx.x; d < head_dim; d += kThreads) {
    float value = 0.f;
#pragma unroll 4
    for (int c = 0; c < chunks; ++c) value += factor[c] * partial_out[(first_slot + c) * head_dim + d];
    out[(static_cast<long long>(row) * heads + head) * head_dim + d] = __float2bfloat16(value / total);
  }
}

}  // namespace

at::Tensor decodeAttention(const at::Tensor& q, const at::Tensor& keys, const at::Tensor& values,
                           const at::Tensor& position, int positions_bound) {
  TORCH_CHECK(keys.dim() == 4 && keys.is_contiguous() && values.is_contiguous() && keys.sizes() == values.sizes() &&
                  keys.scalar_type() == at::kBFloat16 && values.scalar_type() == at::kBFloat16,
              "decodeAttention: the cache must be contiguous bf16 [rows, heads, capacity, D]");
  const auto rows = keys.size(0), heads = keys.size(1), capacity = keys.size(2), head_dim = keys.size(3);
  TORCH_CHECK(q.scalar_type() == at::kBFloat16 && q.dim() == 2 && q.size(0) == rows && q.size(1) == heads * head_dim &&
                  q.stride(1) == 1,
              "decodeAttention: q must be bf16 [rows, heads * D] with unit column stride");
  TORCH_CHECK(head_dim % kDimsPerLane == 0 && kWarpSize % (head_dim / kDimsPerLane) == 0 &&
                  reinterpret_cast<std::uintptr_t>(q.data_ptr()) % 16 == 0 && q.stride(0) % 8 == 0,
              "decodeAttention: head size must be 32 times a power of two up to 1024, q 16-byte aligned");
  TORCH_CHECK(position.scalar_type() == at::kLong && position.numel() == rows && position.is_contiguous(),
              "decodeAttention: one int64 position per row");
  TORCH_CHECK(positions_bound >= 1 && positions_bound <= capacity, "decodeAttention: bound outside the cache");
  const int chunks = (positions_bound + kChunk - 1) / kChunk;
  const auto f32 = q.options().dtype(at::kFloat);
  auto partial_max = at::empty({rows * heads * chunks}, f32);
  auto partial_sum = at::empty({rows * heads * chunks}, f32);
  auto partial_out = at::empty({rows * heads * chunks, head_dim}, f32);
  auto out = at::empty({rows, heads * head_dim}, q.options());
  const auto stream = at::cuda::getCurrentCUDAStream();
  const auto* pos = reinterpret_cast<const long long*>(position.data_ptr<int64_t>());
  chunkAttentionKernel<<<dim3(rows * heads, chunks), kThreads, 0, stream>>>(
      reinterpret_cast<const __nv_bfloat16*>(q.data_ptr()), q.stride(0),
      reinterpret_cast<const __nv_bfloat16*>(keys.data_ptr()), reinterpret_cast<const __nv_bfloat16*>(values.data_ptr()),
      pos, static_cast<int>(heads), static_cast<int>(capacity), static_cast<int>(head_dim),
      1.f / std::sqrt(static_cast<float>(head_dim)), partial_max.data_ptr<float>(), partial_sum.data_ptr<float>(),
      partial_out.data_ptr<float>());
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  mergeChunksKernel<<<rows * heads, kThreads, chunks * sizeof(float), stream>>>(
      partial_max.data_ptr<float>(), partial_sum.data_ptr<float>(), partial_out.data_ptr<float>(), pos,
      static_cast<int>(heads), static_cast<int>(head_dim), chunks, reinterpret_cast<__nv_bfloat16*>(out.data_ptr()));
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  return out;
}

}  // namespace folio::cuda
