#include "decode_attention.h"

#include <ATen/cuda/CUDAContext.h>

#include <cmath>

#include "launch.cuh"
#include "warp_math.cuh"

namespace folio::cuda {
namespace {

constexpr int kChunk = 32;  // positions per block: one per lane when a warp takes the chunk's softmax
constexpr int kThreads = 128;
constexpr int kWarps = kThreads / kWarpSize;
constexpr int kDimsPerLane = 32;  // a lane reads 32 elements (four 16-byte words) of a key
constexpr int kWordsPerLane = kDimsPerLane / 8;
constexpr int kMaxChunks = 256;   // 8192 positions
constexpr int kMergeBatch = 16;   // chunk partials the merging block loads at once
static_assert(kChunk == kWarpSize, "a warp holds the chunk's scores one per lane");

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

// How a block of kThreads lays out a chunk of positions for head size D. Scores: a key is read by kLanesPerKey
// neighbouring lanes (lane part p takes words p, p + kLanesPerKey, ...: the lanes of a key read it contiguously),
// kKeyPasses rounds of kWarps * kKeysPerWarp keys. Values: kDimGroups threads read a position's row (16 bytes
// each), kGroups positions at once, kValueSteps rounds.
template <int D>
struct ChunkLayout {
  static constexpr int kLanesPerKey = D / kDimsPerLane;
  static constexpr int kKeysPerWarp = kWarpSize / kLanesPerKey;
  static constexpr int kKeyPasses = (kChunk + kWarps * kKeysPerWarp - 1) / (kWarps * kKeysPerWarp);
  static constexpr int kDimGroups = D / 8;
  static constexpr int kGroups = kThreads / kDimGroups;
  static constexpr int kValueSteps = kChunk / kGroups;
  static constexpr int kDimsPerThread = (D + kThreads - 1) / kThreads;
  static_assert(D % kDimsPerLane == 0 && kWarpSize % kLanesPerKey == 0, "D must be 32 times a power of two");
  static_assert(kThreads % kDimGroups == 0 && kChunk % kGroups == 0, "a value row must split over the block");

  __device__ static int keyPosition(int pass, int warp, int lane) {
    return pass * kWarps * kKeysPerWarp + warp * kKeysPerWarp + lane / kLanesPerKey;
  }
  __device__ static int keyWord(int lane, int i) { return lane % kLanesPerKey + i * kLanesPerKey; }
};

// Element d of a head rotated by RoPE at the table row (cos, sin): x[d] cos + rotate_half(x)[d] sin.
__device__ float rotated(const __nv_bfloat16* head, int d, int head_dim, float c, float s) {
  const int half = head_dim / 2;
  const float partner = d < half ? -__bfloat162float(head[d + half]) : __bfloat162float(head[d - half]);
  return __bfloat162float(head[d]) * c + partner * s;
}

// The head's output from its `chunks` partials (first_slot.. of the partial arrays, written by other blocks, so
// read past L1): out = sum_c e^(m_c - M) o_c / sum_c e^(m_c - M) l_c. Every thread folds the chunks in batches
// whose loads are all in flight together (one L2 round trip a batch), rescaling what it has as the maximum grows.
template <int D>
__device__ void mergeChunks(const Pointers& p, long long first_slot, int chunks, long long out_offset) {
  for (int d = threadIdx.x; d < D; d += kThreads) {
    float maximum = -INFINITY, total = 0.f, value = 0.f;
    for (int base = 0; base < chunks; base += kMergeBatch) {
      float m[kMergeBatch], l[kMergeBatch], o[kMergeBatch];
#pragma unroll
      for (int c = 0; c < kMergeBatch; ++c) {
        const bool valid = base + c < chunks;
        const long long slot = first_slot + base + c;
        m[c] = valid ? __ldcg(p.partial_max + slot) : -INFINITY;
        l[c] = valid ? __ldcg(p.partial_sum + slot) : 0.f;
        o[c] = valid ? __ldcg(p.partial_out + slot * D + d) : 0.f;
      }
      float batch_max = maximum;
#pragma unroll
      for (int c = 0; c < kMergeBatch; ++c) batch_max = fmaxf(batch_max, m[c]);
      const float rescale = __expf(maximum - batch_max);
      total *= rescale;
      value *= rescale;
#pragma unroll
      for (int c = 0; c < kMergeBatch; ++c) {
        const float factor = __expf(m[c] - batch_max);
        total += factor * l[c];
        value += factor * o[c];
      }
      maximum = batch_max;
    }
    p.out[out_offset + d] = __float2bfloat16(value / total);
  }
}

// blockIdx.x: row * heads + head, blockIdx.y: chunk. Before waiting for the projection, a block loads its
// chunk's cached keys and values into registers (earlier steps wrote them) and the RoPE row of the new position.
// After: it rotates the head's query into shared memory; the block whose chunk holds the new position also
// rotates the new key, appends it and the value to the cache and uses them from shared memory. Each chunk leaves
// its maximum score, its sum of exp(score - maximum) and its unnormalised output (float32); the head's last
// chunk merges them (a head of one chunk writes its output at once).
template <int D>
__global__ void __launch_bounds__(kThreads) decodeAttentionKernel(Pointers p, int heads, int capacity, float scale) {
  using L = ChunkLayout<D>;
  __shared__ __align__(16) __nv_bfloat16 query[D], new_key[D], new_value[D];
  __shared__ float weight[kChunk];
  __shared__ float group_out[L::kGroups][D];
  __shared__ bool last;
  const int row = blockIdx.x / heads, head = blockIdx.x % heads;
  const int first = blockIdx.y * kChunk;
  const int warp = threadIdx.x / kWarpSize, lane = threadIdx.x % kWarpSize;
  const int dims = threadIdx.x % L::kDimGroups, group = threadIdx.x / L::kDimGroups;
  const long long head_base = (static_cast<long long>(row) * heads + head) * capacity * D;
  const auto* chunk_keys = p.keys + head_base + static_cast<long long>(first) * D;
  const auto* chunk_values = p.values + head_base + static_cast<long long>(first) * D;
  // The position is a step input (copied in before the step); no kernel of the step writes the cached positions.
  const int at = static_cast<int>(p.position[row]), length = at + 1;
  const int count = max(0, min(kChunk, length - first));
  uint4 key_words[L::kKeyPasses][kWordsPerLane], value_words[L::kValueSteps];
#pragma unroll
  for (int pass = 0; pass < L::kKeyPasses; ++pass) {
    const int pos = L::keyPosition(pass, warp, lane);
    if (pos < count && first + pos != at) {
      const auto* key = reinterpret_cast<const uint4*>(chunk_keys + static_cast<long long>(pos) * D);
#pragma unroll
      for (int i = 0; i < kWordsPerLane; ++i) key_words[pass][i] = key[L::keyWord(lane, i)];
    }
  }
#pragma unroll
  for (int step = 0; step < L::kValueSteps; ++step) {
    const int pos = group + step * L::kGroups;
    if (pos < count && first + pos != at)
      value_words[step] = reinterpret_cast<const uint4*>(chunk_values + static_cast<long long>(pos) * D)[dims];
  }
  float rope_cos[L::kDimsPerThread], rope_sin[L::kDimsPerThread];
#pragma unroll
  for (int j = 0; j < L::kDimsPerThread; ++j) {
    const int d = threadIdx.x + j * kThreads;
    if (count > 0 && d < D) {
      rope_cos[j] = p.cos[static_cast<long long>(at) * D + d];
      rope_sin[j] = p.sin[static_cast<long long>(at) * D + d];
    }
  }
  letNextKernelStart();
  waitForPreviousKernel();
  if (count == 0) return;
  const bool appends = at < first + kChunk;
  const auto* q_head = p.q + row * p.q_stride + head * D;
  const auto* k_head = p.k + row * p.k_stride + head * D;
  const auto* v_head = p.v + row * p.v_stride + head * D;
#pragma unroll
  for (int j = 0; j < L::kDimsPerThread; ++j) {
    const int d = threadIdx.x + j * kThreads;
    if (d >= D) break;
    query[d] = __float2bfloat16(rotated(q_head, d, D, rope_cos[j], rope_sin[j]));
    if (appends) {
      const long long cached = head_base + static_cast<long long>(at) * D + d;
      new_key[d] = __float2bfloat16(rotated(k_head, d, D, rope_cos[j], rope_sin[j]));
      new_value[d] = v_head[d];
      p.keys[cached] = new_key[d];
      p.values[cached] = new_value[d];
    }
  }
  __syncthreads();

#pragma unroll
  for (int pass = 0; pass < L::kKeyPasses; ++pass) {
    const int pos = L::keyPosition(pass, warp, lane);
    const bool is_new = first + pos == at;
    float score = 0.f;
    if (pos < count) {
#pragma unroll
      for (int i = 0; i < kWordsPerLane; ++i) {
        const int word = L::keyWord(lane, i);
        const uint4 key = is_new ? reinterpret_cast<const uint4*>(new_key)[word] : key_words[pass][i];
        score += dot8(key, reinterpret_cast<const uint4*>(query)[word]);
      }
    }
    for (int offset = L::kLanesPerKey / 2; offset > 0; offset /= 2) score += __shfl_xor_sync(0xffffffffu, score, offset);
    if (lane % L::kLanesPerKey == 0 && pos < count) weight[pos] = score * scale;
  }
  __syncthreads();

  // Every warp takes the chunk's softmax itself (one position per lane) and hands each value its weight by shuffle.
  const float score = lane < count ? weight[lane] : -INFINITY;
  const float maximum = warpMax(score);
  const float exp_score = lane < count ? __expf(score - maximum) : 0.f;
  const float sum = warpSum(exp_score);
  float out[8] = {};
#pragma unroll
  for (int step = 0; step < L::kValueSteps; ++step) {
    const int pos = group + step * L::kGroups;
    const float w = __shfl_sync(0xffffffffu, exp_score, pos);
    if (pos < count) {
      const uint4 packed = first + pos == at ? reinterpret_cast<const uint4*>(new_value)[dims] : value_words[step];
      float v[8];
      unpackBf16x8(packed, v);
#pragma unroll
      for (int t = 0; t < 8; ++t) out[t] += w * v[t];
    }
  }
#pragma unroll
  for (int t = 0; t < 8; ++t) group_out[group][dims * 8 + t] = out[t];
  __syncthreads();

  const int chunks = (length + kChunk - 1) / kChunk;
  const long long out_offset = (static_cast<long long>(row) * heads + head) * D;
  const long long slot = static_cast<long long>(blockIdx.x) * gridDim.y + blockIdx.y;
  for (int d = threadIdx.x; d < D; d += kThreads) {
    float total = 0.f;
#pragma unroll
    for (int g = 0; g < L::kGroups; ++g) total += group_out[g][d];
    if (chunks == 1)
      p.out[out_offset + d] = __float2bfloat16(total / sum);
    else
      p.partial_out[slot * D + d] = total;
  }
  if (chunks == 1) return;
  if (threadIdx.x == 0) {
    p.partial_max[slot] = maximum;
    p.partial_sum[slot] = sum;
  }

  // The head's last chunk to get here merges (the counter is reset for the next launch).
  __threadfence();
  __syncthreads();
  if (threadIdx.x == 0) last = atomicAdd(&p.arrivals[blockIdx.x], 1u) == static_cast<unsigned>(chunks - 1);
  __syncthreads();
  if (!last) return;
  if (threadIdx.x == 0) p.arrivals[blockIdx.x] = 0;
  mergeChunks<D>(p, static_cast<long long>(blockIdx.x) * gridDim.y, chunks, out_offset);
}

}  // namespace

bool decodeAttentionSupports(int head_dim) { return head_dim == 64 || head_dim == 128 || head_dim == 256; }

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
  TORCH_CHECK(decodeAttentionSupports(static_cast<int>(head_dim)), "decodeAttention: head size ", head_dim,
              " is not 64, 128 or 256");
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
  const float scale = 1.f / std::sqrt(static_cast<float>(head_dim));
  const dim3 grid(rows * heads, chunks);
  const auto launch = [&](auto kernel) { launchOverlapped(kernel, grid, kThreads, 0, p, static_cast<int>(heads), static_cast<int>(capacity), scale); };
  if (head_dim == 64)
    launch(decodeAttentionKernel<64>);
  else if (head_dim == 128)
    launch(decodeAttentionKernel<128>);
  else
    launch(decodeAttentionKernel<256>);
  return out;
}

}  // namespace folio::cuda
