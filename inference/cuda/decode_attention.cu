#include "decode_attention.h"

#include <ATen/cuda/CUDAContext.h>

#include <cmath>

#include "launch.cuh"
#include "warp_math.cuh"

namespace folio::cuda {
namespace {

constexpr int kChunk = 32;  // positions per block
constexpr int kThreads = 128;
constexpr int kWarps = kThreads / kWarpSize;
constexpr int kDimsPerLane = 32;  // a lane reads 32 elements (four 16-byte words) of a key
constexpr int kMaxHeadDim = kWarpSize * kDimsPerLane;
constexpr int kMaxChunks = 256;  // 8192 positions

struct Pointers {
  const __nv_bfloat16 *q, *k, *v;
  long long q_stride, k_stride, v_stride;
  const float *cos, *sin;
  const long long* position;
  // Written and read back within the kernel: no __restrict__ / read-only cache for the KV cache.
  __nv_bfloat16 *keys, *values;
  float *partial_max, *partial_sum, *partial_out;  // per (row, head, chunk)
  unsigned int* arrivals;                          // per (row, head)
  __nv_bfloat16* out;
};

// Asks L2 for `elements` bf16 values of keys and of values from `offset` on, one 128-byte line per thread.
__device__ void prefetchChunkToL2(const __nv_bfloat16* keys, const __nv_bfloat16* values, long long offset,
                                  int elements) {
  constexpr int kLineElements = 64;
  const int lines = elements / kLineElements;
  for (int line = threadIdx.x; line < 2 * lines; line += kThreads) {
    const auto* base = line < lines ? keys : values;
    const auto* address = base + offset + static_cast<long long>(line % lines) * kLineElements;
    asm volatile("prefetch.global.L2 [%0];" ::"l"(address));
  }
}

// Element d of a head rotated by RoPE at the table row (cos, sin): x[d] cos + rotate_half(x)[d] sin.
__device__ float rotated(const __nv_bfloat16* head, int d, int head_dim, float c, float s) {
  const int half = head_dim / 2;
  const float partner = d < half ? -__bfloat162float(head[d + half]) : __bfloat162float(head[d - half]);
  return __bfloat162float(head[d]) * c + partner * s;
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

// The head's output from its `chunks` partials (first_slot.. of the partial arrays, written by other blocks, so
// read past L1): out = sum_c e^(m_c - M) o_c / sum_c e^(m_c - M) l_c.
__device__ void mergeChunks(const Pointers& p, long long first_slot, int chunks, int head_dim, long long out_offset) {
  __shared__ float factor[kMaxChunks];
  float maximum = -INFINITY;
  for (int c = threadIdx.x; c < chunks; c += kThreads) maximum = fmaxf(maximum, __ldcg(p.partial_max + first_slot + c));
  maximum = blockReduce(maximum, [](float a, float b) { return fmaxf(a, b); });
  float total = 0.f;
  for (int c = threadIdx.x; c < chunks; c += kThreads) {
    factor[c] = __expf(__ldcg(p.partial_max + first_slot + c) - maximum);
    total += factor[c] * __ldcg(p.partial_sum + first_slot + c);
  }
  total = blockReduce(total, [](float a, float b) { return a + b; });  // its barriers also publish factor[]
  for (int d = threadIdx.x; d < head_dim; d += kThreads) {
    float value = 0.f;
#pragma unroll 4
    for (int c = 0; c < chunks; ++c) value += factor[c] * __ldcg(p.partial_out + (first_slot + c) * head_dim + d);
    p.out[out_offset + d] = __float2bfloat16(value / total);
  }
}

// blockIdx.x: row * heads + head, blockIdx.y: chunk. Every block rotates the head's query into shared memory;
// the block whose chunk holds the new position also appends the rotated key and the value to the cache first
// (its own threads read them back after the barrier). A key is read by head_dim / 32 neighbouring lanes, so a
// warp scores 32 / (head_dim / 32) positions at once with all its loads in flight. Each chunk leaves its maximum
// score, its sum of exp(score - maximum) and its unnormalised output (float32); the head's last chunk merges.
__global__ void decodeAttentionKernel(Pointers p, int heads, int capacity, int head_dim, float scale) {
  __shared__ __align__(16) __nv_bfloat16 query[kMaxHeadDim];
  __shared__ float weight[kChunk];
  __shared__ bool last;
  const int row = blockIdx.x / heads, head = blockIdx.x % heads;
  const int first = blockIdx.y * kChunk;
  const long long head_base = (static_cast<long long>(row) * heads + head) * capacity * head_dim;
  // The chunk's cached keys and values into L2 while the projection before this kernel finishes. The position is
  // a step input (copied in before the step), and a prefetch is only a hint, so reading it early is harmless.
  if (first + kChunk <= capacity && min(static_cast<long long>(p.position[row]), capacity - 1LL) >= first)
    prefetchChunkToL2(p.keys, p.values, head_base + static_cast<long long>(first) * head_dim, kChunk * head_dim);
  letNextKernelStart();
  waitForPreviousKernel();
  const int at = static_cast<int>(p.position[row]), length = at + 1;
  if (first >= length) return;
  const int count = min(kChunk, length - first);
  const bool appends = at < first + kChunk;
  const auto* q_head = p.q + row * p.q_stride + head * head_dim;
  const auto* k_head = p.k + row * p.k_stride + head * head_dim;
  const auto* v_head = p.v + row * p.v_stride + head * head_dim;
  for (int d = threadIdx.x; d < head_dim; d += kThreads) {
    const float c = p.cos[static_cast<long long>(at) * head_dim + d], s = p.sin[static_cast<long long>(at) * head_dim + d];
    query[d] = __float2bfloat16(rotated(q_head, d, head_dim, c, s));
    if (appends) {
      const long long cached = head_base + static_cast<long long>(at) * head_dim + d;
      p.keys[cached] = __float2bfloat16(rotated(k_head, d, head_dim, c, s));
      p.values[cached] = v_head[d];
    }
  }
  __syncthreads();

  const int warp = threadIdx.x / kWarpSize, lane = threadIdx.x % kWarpSize;
  const int lanes_per_key = head_dim / kDimsPerLane, keys_per_warp = kWarpSize / lanes_per_key;
  const int part = lane % lanes_per_key;  // which 32 elements of the head this lane reads
  uint4 q_words[kDimsPerLane / 8];
  const auto* q_part = reinterpret_cast<const uint4*>(query + part * kDimsPerLane);
#pragma unroll
  for (int i = 0; i < kDimsPerLane / 8; ++i) q_words[i] = q_part[i];
  for (int base = warp * keys_per_warp; base < count; base += kWarps * keys_per_warp) {
    const int pos = base + lane / lanes_per_key;
    float score = 0.f;
    if (pos < count) {
      const auto* key = reinterpret_cast<const uint4*>(p.keys + head_base + static_cast<long long>(first + pos) * head_dim +
                                                       part * kDimsPerLane);
#pragma unroll
      for (int i = 0; i < kDimsPerLane / 8; ++i) score += dot8(key[i], q_words[i]);
    }
    for (int offset = lanes_per_key / 2; offset > 0; offset /= 2) score += __shfl_xor_sync(0xffffffffu, score, offset);
    if (part == 0 && pos < count) weight[pos] = score * scale;
  }
  __syncthreads();

  const long long slot = static_cast<long long>(blockIdx.x) * gridDim.y + blockIdx.y;
  if (warp == 0) {
    float maximum = -INFINITY;
    for (int i = lane; i < count; i += kWarpSize) maximum = fmaxf(maximum, weight[i]);
    maximum = warpMax(maximum);
    float sum = 0.f;
    for (int i = lane; i < count; i += kWarpSize) {
      weight[i] = __expf(weight[i] - maximum);
      sum += weight[i];
    }
    sum = warpSum(sum);
    if (lane == 0) {
      p.partial_max[slot] = maximum;
      p.partial_sum[slot] = sum;
    }
  }
  __syncthreads();

  // Values: a thread reads 8 elements (16 bytes) of every groups-th position; the groups are summed in
  // shared memory. head_dim / 8 divides kThreads for every supported head size.
  __shared__ float group_out[kThreads * 8];
  const int dim_groups = head_dim / 8, groups = kThreads / dim_groups;
  const int dims = threadIdx.x % dim_groups, group = threadIdx.x / dim_groups;
  float out[8] = {};
  const auto* value_base = p.values + head_base + static_cast<long long>(first) * head_dim + dims * 8;
#pragma unroll 4
  for (int i = group; i < count; i += groups) {
    const uint4 packed = *reinterpret_cast<const uint4*>(value_base + static_cast<long long>(i) * head_dim);
    const auto* pairs = reinterpret_cast<const __nv_bfloat162*>(&packed);
#pragma unroll
    for (int t = 0; t < 4; ++t) {
      const float2 v = __bfloat1622float2(pairs[t]);
      out[2 * t] += weight[i] * v.x;
      out[2 * t + 1] += weight[i] * v.y;
    }
  }
#pragma unroll
  for (int i = 0; i < 8; ++i) group_out[group * head_dim + dims * 8 + i] = out[i];
  __syncthreads();
  for (int d = threadIdx.x; d < head_dim; d += kThreads) {
    float sum = 0.f;
    for (int g = 0; g < groups; ++g) sum += group_out[g * head_dim + d];
    p.partial_out[slot * head_dim + d] = sum;
  }

  // The head's last chunk to get here merges (the counter is reset for the next launch).
  const int chunks = (length + kChunk - 1) / kChunk;
  __threadfence();
  __syncthreads();
  if (threadIdx.x == 0) last = atomicAdd(&p.arrivals[blockIdx.x], 1u) == static_cast<unsigned>(chunks - 1);
  __syncthreads();
  if (!last) return;
  if (threadIdx.x == 0) p.arrivals[blockIdx.x] = 0;
  mergeChunks(p, static_cast<long long>(blockIdx.x) * gridDim.y, chunks, head_dim,
              (static_cast<long long>(row) * heads + head) * head_dim);
}

}  // namespace

at::Tensor decodeAttention(const AttentionStep& step, int positions_bound, const at::Tensor& arrivals) {
  const auto &keys = step.keys, &values = step.values;
  TORCH_CHECK(keys.dim() == 4 && keys.is_contiguous() && values.is_contiguous() && keys.sizes() == values.sizes() &&
                  keys.scalar_type() == at::kBFloat16 && values.scalar_type() == at::kBFloat16,
              "decodeAttention: the cache must be contiguous bf16 [rows, heads, capacity, D]");
  const auto rows = keys.size(0), heads = keys.size(1), capacity = keys.size(2), head_dim = keys.size(3);
  for (const auto* t : {&step.q, &step.k, &step.v})
    TORCH_CHECK(t->scalar_type() == at::kBFloat16 && t->dim() == 2 && t->size(0) == rows &&
                    t->size(1) == heads * head_dim && t->stride(1) == 1,
                "decodeAttention: q, k and v must be bf16 [rows, heads * D] with unit column stride");
  TORCH_CHECK(head_dim % kDimsPerLane == 0 && head_dim <= kMaxHeadDim && kWarpSize % (head_dim / kDimsPerLane) == 0,
              "decodeAttention: the head size must be 32 times a power of two up to ", kMaxHeadDim);
  TORCH_CHECK(step.cos.size(-1) == head_dim && step.sin.size(-1) == head_dim && step.cos.scalar_type() == at::kFloat &&
                  step.sin.scalar_type() == at::kFloat && step.cos.is_contiguous() && step.sin.is_contiguous() &&
                  step.cos.size(0) >= capacity && step.sin.size(0) >= capacity,
              "decodeAttention: float32 cos/sin tables [positions >= capacity, D]");
  TORCH_CHECK(step.position.scalar_type() == at::kLong && step.position.numel() == rows &&
                  step.position.is_contiguous(),
              "decodeAttention: one int64 position per row");
  TORCH_CHECK(positions_bound >= 1 && positions_bound <= capacity && positions_bound <= kMaxChunks * kChunk,
              "decodeAttention: bound outside the cache (at most ", kMaxChunks * kChunk, " positions)");
  TORCH_CHECK(arrivals.scalar_type() == at::kInt && arrivals.numel() >= rows * heads && arrivals.device() == keys.device(),
              "decodeAttention: arrivals must be a zeroed int32 [rows * heads] beside the cache");
  const int chunks = (positions_bound + kChunk - 1) / kChunk;
  const auto f32 = keys.options().dtype(at::kFloat);
  auto partial_max = at::empty({rows * heads * chunks}, f32);
  auto partial_sum = at::empty({rows * heads * chunks}, f32);
  auto partial_out = at::empty({rows * heads * chunks, head_dim}, f32);
  auto out = at::empty({rows, heads * head_dim}, keys.options());
  const auto bf16 = [](const at::Tensor& t) { return reinterpret_cast<__nv_bfloat16*>(t.data_ptr()); };
  Pointers p{bf16(step.q), bf16(step.k), bf16(step.v), step.q.stride(0), step.k.stride(0), step.v.stride(0),
             step.cos.data_ptr<float>(), step.sin.data_ptr<float>(),
             reinterpret_cast<const long long*>(step.position.data_ptr<int64_t>()), bf16(keys), bf16(values),
             partial_max.data_ptr<float>(), partial_sum.data_ptr<float>(), partial_out.data_ptr<float>(),
             reinterpret_cast<unsigned int*>(arrivals.data_ptr<int>()), bf16(out)};
  launchOverlapped(decodeAttentionKernel, dim3(rows * heads, chunks), kThreads, 0, p, static_cast<int>(heads),
                   static_cast<int>(capacity), static_cast<int>(head_dim), 1.f / std::sqrt(static_cast<float>(head_dim)));
  return out;
}

}  // namespace folio::cuda
