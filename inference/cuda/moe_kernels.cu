#include "moe_kernels.h"

#include <ATen/cuda/CUDAContext.h>

#include "warp_math.cuh"

namespace folio::cuda {
namespace {

constexpr int kRouterWarps = 8;  // experts per block
constexpr int kMaxExperts = 256;
constexpr int kMaxTopK = 16;
constexpr int kWarpsPerBlock = 8;
constexpr int kOutputThreads = 128;

// Grid (rows, ceil(E / kRouterWarps)): one warp per router logit, so the 64 logits of a row are read by 64 warps
// in parallel. The row's last block to finish (counted in arrivals[row], which it resets for the next launch)
// takes the softmax and picks the top k by repeated arg-max (lower index first on ties).
__global__ void routeTopKKernel(const __nv_bfloat16* __restrict__ x, const __nv_bfloat16* __restrict__ gate,
                                int experts, int hidden, int top_k, bool normalise, float scale,
                                float* __restrict__ logits, unsigned int* __restrict__ arrivals,
                                long long* __restrict__ ids, float* __restrict__ weights) {
  __shared__ float score[kMaxExperts];
  __shared__ bool last;
  const int r = blockIdx.x, warp = threadIdx.x / kWarpSize, lane = threadIdx.x % kWarpSize;
  const int e = blockIdx.y * kRouterWarps + warp;
  float* row_logits = logits + static_cast<long long>(r) * experts;
  if (e < experts) {
    const float logit = warpSum(laneRowDot(gate + static_cast<long long>(e) * hidden,
                                           x + static_cast<long long>(r) * hidden, hidden / 8, lane));
    if (lane == 0) row_logits[e] = logit;
  }
  __threadfence();
  __syncthreads();
  if (threadIdx.x == 0) last = atomicAdd(&arrivals[r], 1u) == gridDim.y - 1;
  __syncthreads();
  if (!last || warp != 0) return;
  if (lane == 0) arrivals[r] = 0;
  for (int i = lane; i < experts; i += kWarpSize) score[i] = __ldcg(row_logits + i);
  __syncwarp();
  float maximum = -INFINITY;
  for (int i = lane; i < experts; i += kWarpSize) maximum = fmaxf(maximum, score[i]);
  maximum = warpMax(maximum);
  float total = 0.f;
  for (int i = lane; i < experts; i += kWarpSize) total += __expf(score[i] - maximum);
  total = warpSum(total);
  float chosen_weight[kMaxTopK];
  int chosen_id[kMaxTopK];
  float chosen_total = 0.f;
  for (int j = 0; j < top_k; ++j) {
    float best = -INFINITY;
    int best_id = experts;
    for (int i = lane; i < experts; i += kWarpSize)
      if (score[i] > best) best = score[i], best_id = i;
    for (int offset = kWarpSize / 2; offset > 0; offset /= 2) {
      const float other = __shfl_xor_sync(0xffffffffu, best, offset);
      const int other_id = __shfl_xor_sync(0xffffffffu, best_id, offset);
      if (other > best || (other == best && other_id < best_id)) best = other, best_id = other_id;
    }
    chosen_id[j] = best_id;
    chosen_weight[j] = __expf(best - maximum) / total;
    chosen_total += chosen_weight[j];
    __syncwarp();
    if (lane == 0) score[best_id] = -INFINITY;
    __syncwarp();
  }
  if (lane != 0) return;
  const float factor = normalise ? scale / (chosen_total + 1e-20f) : scale;
  for (int j = 0; j < top_k; ++j) {
    ids[static_cast<long long>(r) * top_k + j] = chosen_id[j];
    weights[static_cast<long long>(r) * top_k + j] = chosen_weight[j] * factor;
  }
}

struct ActivationLayout {
  const __nv_bfloat16* gate_up;  // routed stack [E, 2I, H]
  long long expert_stride;       // E's stride of the stack
  int inner;                     // I
  const __nv_bfloat16* shared_gate;
  const __nv_bfloat16* shared_up;  // [S, H] each
  int shared_inner;                // S
  int top_k;                       // routed pairs per row (0 for a dense layer)
};

// One warp per activation: row r's unit u < k*I is expert ids[r, u / I]'s unit u % I, the rest the shared MLP's.
__global__ void expertActivationsKernel(ActivationLayout layout, const __nv_bfloat16* __restrict__ x,
                                        const long long* __restrict__ ids, int rows, int hidden,
                                        __nv_bfloat16* __restrict__ out) {
  const int per_row = layout.top_k * layout.inner + layout.shared_inner;
  const long long unit = static_cast<long long>(blockIdx.x) * kWarpsPerBlock + threadIdx.x / kWarpSize;
  const int lane = threadIdx.x % kWarpSize;
  if (unit >= static_cast<long long>(rows) * per_row) return;
  const int r = static_cast<int>(unit / per_row), u = static_cast<int>(unit % per_row);
  const __nv_bfloat16 *gate_row, *up_row;
  if (u < layout.top_k * layout.inner) {
    const long long expert = ids[static_cast<long long>(r) * layout.top_k + u / layout.inner];
    gate_row = layout.gate_up + expert * layout.expert_stride + static_cast<long long>(u % layout.inner) * hidden;
    up_row = gate_row + static_cast<long long>(layout.inner) * hidden;
  } else {
    const long long i = u - layout.top_k * layout.inner;
    gate_row = layout.shared_gate + i * hidden;
    up_row = layout.shared_up + i * hidden;
  }
  const auto* v = x + static_cast<long long>(r) * hidden;
  const float g = warpSum(laneRowDot(gate_row, v, hidden / 8, lane));
  const float up = warpSum(laneRowDot(up_row, v, hidden / 8, lane));
  if (lane == 0) out[unit] = __float2bfloat16(silu(g) * up);
}

struct OutputLayout {
  const __nv_bfloat16* down;  // routed stack [H, E, I]
  long long feature_stride, expert_stride;
  int inner;
  const __nv_bfloat16* shared_down;  // [H, S]
  int shared_inner;
  int top_k;
};

// Grid (H, rows): the block of one (output feature, row) splits the feature's weights over its threads in
// 16-byte chunks, the chosen experts' down rows first, then the shared MLP's: ~900 chunks in flight per block.
__global__ void expertOutputsKernel(OutputLayout layout, const __nv_bfloat16* __restrict__ activations,
                                    const long long* __restrict__ ids, const float* __restrict__ route_weights,
                                    int hidden, float* __restrict__ out) {
  __shared__ float partial[kOutputThreads / kWarpSize];
  const int feature = blockIdx.x, r = blockIdx.y;
  const int per_row = layout.top_k * layout.inner + layout.shared_inner;
  const auto* act = reinterpret_cast<const uint4*>(activations + static_cast<long long>(r) * per_row);
  const int expert_chunks = layout.inner / 8;
  const int routed_chunks = layout.top_k * expert_chunks;
  const int chunks = routed_chunks + layout.shared_inner / 8;
  const auto* shared_row = reinterpret_cast<const uint4*>(
      layout.shared_down + static_cast<long long>(feature) * layout.shared_inner);
  float sum = 0.f;
#pragma unroll 4
  for (int c = threadIdx.x; c < chunks; c += kOutputThreads) {
    if (c < routed_chunks) {
      const long long pair = static_cast<long long>(r) * layout.top_k + c / expert_chunks;
      const auto* down_row = reinterpret_cast<const uint4*>(layout.down + feature * layout.feature_stride +
                                                            ids[pair] * layout.expert_stride);
      sum += route_weights[pair] * dot8(down_row[c % expert_chunks], act[c]);
    } else {
      sum += dot8(shared_row[c - routed_chunks], act[c]);
    }
  }
  sum = warpSum(sum);
  if (threadIdx.x % kWarpSize == 0) partial[threadIdx.x / kWarpSize] = sum;
  __syncthreads();
  if (threadIdx.x == 0) {
    float total = 0.f;
    for (int w = 0; w < kOutputThreads / kWarpSize; ++w) total += partial[w];
    out[static_cast<long long>(r) * hidden + feature] = total;
  }
}

// Block per (row, expert) of the dense path: route weight w of the expert for the row (0 when not chosen),
// then silu(gate) * up * w over its I features in 16-byte words; an unchosen expert only writes zeros.
__global__ void weightedSwiGluKernel(const __nv_bfloat16* __restrict__ projected, const long long* __restrict__ ids,
                                     const float* __restrict__ route_weights, int experts, int inner, int top_k,
                                     __nv_bfloat16* __restrict__ out) {
  const int r = blockIdx.x / experts, e = blockIdx.x % experts;
  float w = 0.f;
  for (int j = 0; j < top_k; ++j)
    if (ids[static_cast<long long>(r) * top_k + j] == e) w += route_weights[static_cast<long long>(r) * top_k + j];
  const auto* gate = reinterpret_cast<const uint4*>(projected + static_cast<long long>(blockIdx.x) * 2 * inner);
  const auto* up = gate + inner / 8;
  auto* result = reinterpret_cast<uint4*>(out + static_cast<long long>(blockIdx.x) * inner);
  for (int i = threadIdx.x; i < inner / 8; i += blockDim.x) {
    uint4 word = make_uint4(0, 0, 0, 0);
    if (w != 0.f) {
      const uint4 g = gate[i], u = up[i];
      const auto* g2 = reinterpret_cast<const __nv_bfloat162*>(&g);
      const auto* u2 = reinterpret_cast<const __nv_bfloat162*>(&u);
      auto* o2 = reinterpret_cast<__nv_bfloat162*>(&word);
#pragma unroll
      for (int t = 0; t < 4; ++t) {
        const float2 gf = __bfloat1622float2(g2[t]), uf = __bfloat1622float2(u2[t]);
        o2[t] = __floats2bfloat162_rn(silu(gf.x) * uf.x * w, silu(gf.y) * uf.y * w);
      }
    }
    result[i] = word;
  }
}

bool aligned16(const at::Tensor& t) { return reinterpret_cast<std::uintptr_t>(t.data_ptr()) % 16 == 0; }

void checkBf16(const at::Tensor& t, const char* what) {
  TORCH_CHECK(t.is_cuda() && t.scalar_type() == at::kBFloat16 && aligned16(t), what,
              " must be 16-byte aligned bf16 on the GPU");
}

void checkMlp(const AlwaysOnMlp& mlp, std::int64_t hidden) {
  for (const auto* t : {&mlp.gate_proj, &mlp.up_proj, &mlp.down_proj}) {
    checkBf16(*t, "the always-on MLP's weights");
    TORCH_CHECK(t->is_contiguous() && t->size(0) % 8 == 0 && t->size(1) % 8 == 0,
                "the always-on MLP's weights must be contiguous with sizes multiple of 8");
  }
  TORCH_CHECK(mlp.gate_proj.size(1) == hidden && mlp.up_proj.sizes() == mlp.gate_proj.sizes() &&
                  mlp.down_proj.size(0) == hidden && mlp.down_proj.size(1) == mlp.gate_proj.size(0),
              "the always-on MLP's weights do not fit the hidden size");
}

int topKOf(const at::Tensor& ids) { return ids.defined() ? static_cast<int>(ids.size(1)) : 0; }

const long long* idsPointer(const at::Tensor& ids) {
  return ids.defined() ? reinterpret_cast<const long long*>(ids.data_ptr<int64_t>()) : nullptr;
}

}  // namespace

std::pair<at::Tensor, at::Tensor> routeTopK(const at::Tensor& x, const at::Tensor& gate, int top_k, bool normalise,
                                            double scale, const at::Tensor& arrivals) {
  checkBf16(x, "routeTopK: x");
  checkBf16(gate, "routeTopK: the router");
  TORCH_CHECK(x.dim() == 2 && x.is_contiguous() && gate.dim() == 2 && gate.is_contiguous() && gate.size(1) == x.size(1),
              "routeTopK: x [rows, H] and router [E, H] contiguous");
  const auto rows = x.size(0), experts = gate.size(0), hidden = x.size(1);
  TORCH_CHECK(experts <= kMaxExperts && top_k >= 1 && top_k <= kMaxTopK && top_k <= experts,
              "routeTopK: at most ", kMaxExperts, " experts and 1..", kMaxTopK, " chosen");
  TORCH_CHECK(hidden % 8 == 0, "routeTopK: H must be a multiple of 8");
  TORCH_CHECK(arrivals.scalar_type() == at::kInt && arrivals.numel() >= rows && arrivals.device() == x.device(),
              "routeTopK: arrivals must be a zeroed int32 [rows] beside x");
  auto ids = at::empty({rows, top_k}, x.options().dtype(at::kLong));
  auto weights = at::empty({rows, top_k}, x.options().dtype(at::kFloat));
  auto logits = at::empty({rows, experts}, x.options().dtype(at::kFloat));
  const dim3 grid(rows, (experts + kRouterWarps - 1) / kRouterWarps);
  routeTopKKernel<<<grid, kRouterWarps * kWarpSize, 0, at::cuda::getCurrentCUDAStream()>>>(
      reinterpret_cast<const __nv_bfloat16*>(x.data_ptr()), reinterpret_cast<const __nv_bfloat16*>(gate.data_ptr()),
      static_cast<int>(experts), static_cast<int>(hidden), top_k, normalise, static_cast<float>(scale),
      logits.data_ptr<float>(), reinterpret_cast<unsigned int*>(arrivals.data_ptr<int>()),
      reinterpret_cast<long long*>(ids.data_ptr<int64_t>()), weights.data_ptr<float>());
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  return {ids, weights};
}

at::Tensor expertActivations(const at::Tensor& x, const at::Tensor& gate_up, const at::Tensor& ids,
                             const AlwaysOnMlp& mlp) {
  checkBf16(x, "expertActivations: x");
  TORCH_CHECK(x.dim() == 2 && x.is_contiguous() && x.size(1) % 8 == 0, "expertActivations: x must be [rows, H], H % 8 == 0");
  const auto rows = x.size(0), hidden = x.size(1);
  checkMlp(mlp, hidden);
  ActivationLayout layout{};
  layout.shared_gate = reinterpret_cast<const __nv_bfloat16*>(mlp.gate_proj.data_ptr());
  layout.shared_up = reinterpret_cast<const __nv_bfloat16*>(mlp.up_proj.data_ptr());
  layout.shared_inner = static_cast<int>(mlp.gate_proj.size(0));
  layout.top_k = topKOf(ids);
  if (layout.top_k > 0) {
    checkBf16(gate_up, "expertActivations: the expert stack");
    TORCH_CHECK(gate_up.dim() == 3 && gate_up.size(2) == hidden && gate_up.stride(2) == 1 && gate_up.stride(1) == hidden &&
                    gate_up.size(1) % 16 == 0 && gate_up.stride(0) % 8 == 0,
                "expertActivations: the expert stack must be [E, 2I, H] with contiguous rows");
    TORCH_CHECK(ids.scalar_type() == at::kLong && ids.is_contiguous() && ids.dim() == 2 && ids.size(0) == rows,
                "expertActivations: ids must be int64 [rows, k]");
    layout.gate_up = reinterpret_cast<const __nv_bfloat16*>(gate_up.data_ptr());
    layout.expert_stride = gate_up.stride(0);
    layout.inner = static_cast<int>(gate_up.size(1) / 2);
  }
  const long long units = rows * (static_cast<long long>(layout.top_k) * layout.inner + layout.shared_inner);
  auto out = at::empty({rows, layout.top_k * layout.inner + layout.shared_inner}, x.options());
  const auto blocks = (units + kWarpsPerBlock - 1) / kWarpsPerBlock;
  expertActivationsKernel<<<blocks, kWarpsPerBlock * kWarpSize, 0, at::cuda::getCurrentCUDAStream()>>>(
      layout, reinterpret_cast<const __nv_bfloat16*>(x.data_ptr()), idsPointer(ids), static_cast<int>(rows),
      static_cast<int>(hidden), reinterpret_cast<__nv_bfloat16*>(out.data_ptr()));
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  return out;
}

at::Tensor expertOutputs(const at::Tensor& activations, const at::Tensor& down, const at::Tensor& ids,
                         const at::Tensor& weights, const AlwaysOnMlp& mlp) {
  checkBf16(activations, "expertOutputs: activations");
  const auto hidden = mlp.down_proj.size(0);
  checkMlp(mlp, hidden);
  OutputLayout layout{};
  layout.shared_down = reinterpret_cast<const __nv_bfloat16*>(mlp.down_proj.data_ptr());
  layout.shared_inner = static_cast<int>(mlp.down_proj.size(1));
  layout.top_k = topKOf(ids);
  const auto rows = activations.size(0);
  if (layout.top_k > 0) {
    checkBf16(down, "expertOutputs: the expert stack");
    TORCH_CHECK(down.dim() == 3 && down.size(0) == hidden && down.stride(2) == 1 && down.size(2) % 8 == 0 &&
                    down.stride(1) % 8 == 0 && down.stride(0) % 8 == 0,
                "expertOutputs: the expert stack must be [H, E, I] with 16-byte aligned rows");
    TORCH_CHECK(weights.scalar_type() == at::kFloat && weights.is_contiguous() && weights.sizes() == ids.sizes(),
                "expertOutputs: route weights must be float32 shaped like ids");
    layout.down = reinterpret_cast<const __nv_bfloat16*>(down.data_ptr());
    layout.feature_stride = down.stride(0);
    layout.expert_stride = down.stride(1);
    layout.inner = static_cast<int>(down.size(2));
  }
  TORCH_CHECK(activations.dim() == 2 && activations.is_contiguous() &&
                  activations.size(1) == static_cast<long long>(layout.top_k) * layout.inner + layout.shared_inner,
              "expertOutputs: activations must be expertActivations' output");
  auto out = at::empty({rows, hidden}, activations.options().dtype(at::kFloat));
  expertOutputsKernel<<<dim3(hidden, rows), kOutputThreads, 0, at::cuda::getCurrentCUDAStream()>>>(
      layout, reinterpret_cast<const __nv_bfloat16*>(activations.data_ptr()), idsPointer(ids),
      layout.top_k > 0 ? weights.data_ptr<float>() : nullptr, static_cast<int>(hidden), out.data_ptr<float>());
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  return out;
}

at::Tensor weightedSwiGlu(const at::Tensor& projected, const at::Tensor& ids, const at::Tensor& weights) {
  checkBf16(projected, "weightedSwiGlu: the projections");
  TORCH_CHECK(projected.dim() == 3 && projected.is_contiguous() && projected.size(2) % 16 == 0,
              "weightedSwiGlu: projections must be contiguous [rows, E, 2I] with I a multiple of 8");
  const auto rows = projected.size(0), experts = projected.size(1), inner = projected.size(2) / 2;
  TORCH_CHECK(ids.scalar_type() == at::kLong && ids.is_contiguous() && ids.dim() == 2 && ids.size(0) == rows &&
                  weights.scalar_type() == at::kFloat && weights.is_contiguous() && weights.sizes() == ids.sizes(),
              "weightedSwiGlu: ids int64 and weights float32, both [rows, k]");
  auto out = at::empty({rows, experts, inner}, projected.options());
  if (rows == 0) return out;
  weightedSwiGluKernel<<<static_cast<unsigned>(rows * experts), 128, 0, at::cuda::getCurrentCUDAStream()>>>(
      reinterpret_cast<const __nv_bfloat16*>(projected.data_ptr()), idsPointer(ids), weights.data_ptr<float>(),
      static_cast<int>(experts), static_cast<int>(inner), static_cast<int>(ids.size(1)),
      reinterpret_cast<__nv_bfloat16*>(out.data_ptr()));
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  return out;
}

}  // namespace folio::cuda
