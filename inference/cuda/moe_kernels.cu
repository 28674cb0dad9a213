#include "moe_kernels.h"

#include <ATen/cuda/CUDAContext.h>

#include <type_traits>

#include "launch.cuh"
#include "rms_norm.cuh"
#include "warp_math.cuh"

namespace folio::cuda {
namespace {

constexpr int kRouterWarps = 8;  // experts per block
constexpr int kMaxExperts = 256;
constexpr int kMaxTopK = 16;
constexpr int kWarpsPerBlock = 8;
constexpr int kOutputThreads = 128;

constexpr int kMaxHidden = 4096;  // the normalised row is kept in shared memory
static_assert(kRouterWarps * kWarpSize == kNormThreads, "the router's blocks normalise their row themselves");

template <typename Delta>
struct RouterArgs {
  const float* x;  // the residual stream [rows, H] before the step
  const Delta* delta;
  const __nv_bfloat16* norm_weight;
  float eps;
  const __nv_bfloat16* gate;  // [E, H]
  int experts, hidden, top_k;
  bool normalise;
  float scale;
  float* x_out;                // x + delta
  __nv_bfloat16* h_out;        // the normalised rows
  float* logits;               // [rows, E] scratch
  unsigned int* arrivals;      // [rows]
  long long* ids;              // [rows, k]
  float* weights;              // [rows, k]
  int router_blocks;           // blocks per row that compute router logits; the rest compute shared experts
  const void *shared_gate, *shared_up;  // [S, H] each (the kernel's W), when shared experts are computed here
  const float *shared_gate_scale, *shared_up_scale;  // 8-bit: [S] each; bf16: null
  int shared_inner;                                  // S
  __nv_bfloat16* activations;  // [rows, k*I + S]: the shared experts' activations go after the k*I routed ones
  int activation_stride, routed_units;  // k*I + S and k*I
};

// Grid (rows, router_blocks + shared blocks): in the first ceil(E / kRouterWarps) blocks of a row one warp per
// router logit, so the 64 logits of a row are read by 64 warps in parallel; in the others (if any) one warp per
// shared-expert activation, silu(gate . h) * (up . h), which needs no routing and so runs beside the router's
// serial top-k instead of after it. Each warp holds its weight rows in registers before the wait. Every block
// first takes its row's residual step and RMSNorm into shared memory (the blocks of column 0 also write them
// out). The row's last router block to finish (counted in arrivals[row], which it resets for the next launch)
// takes the softmax and picks the top k by repeated arg-max (lower index first on ties). The router's rows are
// bf16 in either format; the shared experts' are W.
template <typename Delta, typename W>
__global__ void normRouteTopKKernel(RouterArgs<Delta> a) {
  __shared__ __align__(16) __nv_bfloat16 h[kMaxHidden];
  const int experts = a.experts, top_k = a.top_k, chunks = a.hidden / 8;
  const int r = blockIdx.x, warp = threadIdx.x / kWarpSize, lane = threadIdx.x % kWarpSize;
  const bool routes = static_cast<int>(blockIdx.y) < a.router_blocks;
  const int e = blockIdx.y * kRouterWarps + warp;                           // router blocks
  const int unit = (blockIdx.y - a.router_blocks) * kRouterWarps + warp;  // shared-expert blocks
  const W *first_row = nullptr, *second_row = nullptr;
  const __nv_bfloat16* router_row = nullptr;
  LaneRowWords<kHeldWords, W> first, second;
  // bf16 models hold the router's row in `first` (the registers a shared-expert warp uses for its gate row),
  // 8-bit ones in words of their own.
  constexpr bool kRouterInFirst = std::is_same_v<W, __nv_bfloat16>;
  LaneRowWords<kHeldWords> router_words;
  if (routes && e < experts) {
    router_row = a.gate + static_cast<long long>(e) * a.hidden;
    if constexpr (kRouterInFirst)
      first.load(router_row, chunks, lane);
    else
      router_words.load(router_row, chunks, lane);
  } else if (!routes && unit < a.shared_inner) {
    first_row = static_cast<const W*>(a.shared_gate) + static_cast<long long>(unit) * a.hidden;
    second_row = static_cast<const W*>(a.shared_up) + static_cast<long long>(unit) * a.hidden;
    first.load(first_row, chunks, lane);
    second.load(second_row, chunks, lane);
  }
  letNextKernelStart();
  waitForPreviousKernel();
  const long long offset = static_cast<long long>(r) * a.hidden;
  const bool writes = blockIdx.y == 0;
  residualRmsNormRow(a.x + offset, a.delta + offset, a.norm_weight, a.hidden, a.eps,
                     [&](int i, float v, __nv_bfloat16 normed) {
                       h[i] = normed;
                       if (writes) {
                         a.x_out[offset + i] = v;
                         a.h_out[offset + i] = normed;
                       }
                     });
  __syncthreads();
  if (!routes) {
    if (unit >= a.shared_inner) return;
    const float activation = swiGluActivation(first, first_row, rowScale(a.shared_gate_scale, unit), second, second_row,
                                              rowScale(a.shared_up_scale, unit), h, chunks, lane);
    if (lane == 0)
      a.activations[static_cast<long long>(r) * a.activation_stride + a.routed_units + unit] =
          __float2bfloat16(activation);
    return;
  }
  float* row_logits = a.logits + static_cast<long long>(r) * experts;
  if (e < experts) {
    float share;
    if constexpr (kRouterInFirst)
      share = first.dot(router_row, h, chunks, lane);
    else
      share = router_words.dot(router_row, h, chunks, lane);
    const float logit = warpSum(share);
    if (lane == 0) row_logits[e] = logit;
  }
  __shared__ float score[kMaxExperts];
  __shared__ bool last;
  __threadfence();
  __syncthreads();
  if (threadIdx.x == 0) last = atomicAdd(&a.arrivals[r], 1u) == static_cast<unsigned>(a.router_blocks - 1);
  __syncthreads();
  if (!last || warp != 0) return;
  if (lane == 0) a.arrivals[r] = 0;
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
  const float factor = a.normalise ? a.scale / (chosen_total + 1e-20f) : a.scale;
  for (int j = 0; j < top_k; ++j) {
    a.ids[static_cast<long long>(r) * top_k + j] = chosen_id[j];
    a.weights[static_cast<long long>(r) * top_k + j] = chosen_weight[j] * factor;
  }
}

struct ActivationLayout {
  bool shared_done;         // the shared experts' activations are already in `out` (the router wrote them)
  const void* gate_up;      // routed stack [E, 2I, H] (the kernel's W)
  long long expert_stride;  // E's stride of the stack
  const float* gate_up_scale;     // 8-bit: [E, 2I]; bf16: null
  long long scale_expert_stride;  // E's stride of the scales
  int inner;                      // I
  const void* shared_gate;
  const void* shared_up;  // [S, H] each
  const float *shared_gate_scale, *shared_up_scale;  // 8-bit: [S] each
  int shared_inner;                                  // S
  int top_k;                                         // routed pairs per row (0 for a dense layer)
};

// One warp per activation: row r's unit u < k*I is expert ids[r, u / I]'s unit u % I, the rest the shared MLP's
// (skipped when shared_done).
template <typename W>
__global__ void expertActivationsKernel(ActivationLayout layout, const __nv_bfloat16* __restrict__ x,
                                        const long long* __restrict__ ids, int rows, int hidden,
                                        __nv_bfloat16* __restrict__ out) {
  const int row_stride = layout.top_k * layout.inner + layout.shared_inner;
  const int per_row = layout.shared_done ? layout.top_k * layout.inner : row_stride;
  const long long unit = static_cast<long long>(blockIdx.x) * kWarpsPerBlock + threadIdx.x / kWarpSize;
  const int lane = threadIdx.x % kWarpSize, chunks = hidden / 8;
  const bool valid = unit < static_cast<long long>(rows) * per_row;
  const int r = static_cast<int>(unit / per_row), u = static_cast<int>(unit % per_row);
  const bool routed = u < layout.top_k * layout.inner;
  const W *gate_row = nullptr, *up_row = nullptr;
  float gate_scale = 1.f, up_scale = 1.f;
  LaneRowWords<kHeldWords, W> gate_words, up_words;
  if (valid && !routed) {  // the always-on MLP's rows are known before the router has run
    const long long i = u - layout.top_k * layout.inner;
    gate_row = static_cast<const W*>(layout.shared_gate) + i * hidden;
    up_row = static_cast<const W*>(layout.shared_up) + i * hidden;
    gate_scale = rowScale(layout.shared_gate_scale, i);
    up_scale = rowScale(layout.shared_up_scale, i);
    gate_words.load(gate_row, chunks, lane);
    up_words.load(up_row, chunks, lane);
  }
  letNextKernelStart();
  waitForPreviousKernel();
  if (!valid) return;
  if (routed) {
    const long long expert = ids[static_cast<long long>(r) * layout.top_k + u / layout.inner];
    const long long expert_unit = u % layout.inner;
    gate_row = static_cast<const W*>(layout.gate_up) + expert * layout.expert_stride + expert_unit * hidden;
    up_row = gate_row + static_cast<long long>(layout.inner) * hidden;
    if (layout.gate_up_scale != nullptr) {
      gate_scale = layout.gate_up_scale[expert * layout.scale_expert_stride + expert_unit];
      up_scale = layout.gate_up_scale[expert * layout.scale_expert_stride + layout.inner + expert_unit];
    }
    gate_words.load(gate_row, chunks, lane);
    up_words.load(up_row, chunks, lane);
  }
  const float activation = swiGluActivation(gate_words, gate_row, gate_scale, up_words, up_row, up_scale,
                                            x + static_cast<long long>(r) * hidden, chunks, lane);
  if (lane == 0) out[static_cast<long long>(r) * row_stride + u] = __float2bfloat16(activation);
}

struct OutputLayout {
  const void* down;  // routed stack [H, E, I] (the kernel's W)
  long long feature_stride, expert_stride;
  const float* down_scale;  // 8-bit: [H, E]; bf16: null
  long long scale_feature_stride, scale_expert_stride;
  int inner;
  const void* shared_down;         // [H, S]
  const float* shared_down_scale;  // 8-bit: [H]
  int shared_inner;
  int top_k;
};

// Grid (H, rows): the block of one (output feature, row) splits the feature's weights over its threads in
// chunks of 8 weights: the shared MLP's down row (held in registers before the wait: no router needed for it), then
// the chosen experts' rows: ~900 chunks in flight per block.
template <typename W>
__global__ void expertOutputsKernel(OutputLayout layout, const __nv_bfloat16* __restrict__ activations,
                                    const long long* __restrict__ ids, const float* __restrict__ route_weights,
                                    int hidden, float* __restrict__ out) {
  __shared__ float partial[kOutputThreads / kWarpSize];
  constexpr int kHeld = 4;  // shared-expert words per thread held in registers (the decoder needs 2)
  const int feature = blockIdx.x, r = blockIdx.y;
  const int per_row = layout.top_k * layout.inner + layout.shared_inner;
  const int expert_chunks = layout.inner / 8;
  const int routed_chunks = layout.top_k * expert_chunks;
  const int shared_chunks = layout.shared_inner / 8;
  const auto* shared_row = reinterpret_cast<const WordOf<W>*>(
      static_cast<const W*>(layout.shared_down) + static_cast<long long>(feature) * layout.shared_inner);
  WordOf<W> held[kHeld];
#pragma unroll
  for (int j = 0; j < kHeld; ++j)
    if (threadIdx.x + j * kOutputThreads < shared_chunks) held[j] = shared_row[threadIdx.x + j * kOutputThreads];
  letNextKernelStart();
  waitForPreviousKernel();
  const auto* act = reinterpret_cast<const uint4*>(activations + static_cast<long long>(r) * per_row);
  const auto* shared_act = act + routed_chunks;
  float shared_sum = 0.f;
#pragma unroll
  for (int j = 0; j < kHeld; ++j)
    if (threadIdx.x + j * kOutputThreads < shared_chunks)
      shared_sum += dot8(held[j], shared_act[threadIdx.x + j * kOutputThreads]);
  for (int c = threadIdx.x + kHeld * kOutputThreads; c < shared_chunks; c += kOutputThreads)
    shared_sum += dot8(shared_row[c], shared_act[c]);
  float sum = rowScale(layout.shared_down_scale, feature) * shared_sum;
#pragma unroll 4
  for (int c = threadIdx.x; c < routed_chunks; c += kOutputThreads) {
    const long long pair = static_cast<long long>(r) * layout.top_k + c / expert_chunks;
    const long long expert = ids[pair];
    const auto* down_row = reinterpret_cast<const WordOf<W>*>(static_cast<const W*>(layout.down) +
                                                              feature * layout.feature_stride +
                                                              expert * layout.expert_stride);
    float weight = route_weights[pair];
    if (layout.down_scale != nullptr)
      weight *= layout.down_scale[feature * layout.scale_feature_stride + expert * layout.scale_expert_stride];
    sum += weight * dot8(down_row[c % expert_chunks], act[c]);
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
  letNextKernelStart();
  waitForPreviousKernel();
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
      float g[8], u[8];
      unpackBf16x8(gate[i], g);
      unpackBf16x8(up[i], u);
#pragma unroll
      for (int t = 0; t < 8; ++t) g[t] = silu(g[t]) * u[t] * w;
      word = packBf16x8(g);
    }
    result[i] = word;
  }
}

void checkBf16(const at::Tensor& t, const char* what) {
  TORCH_CHECK(t.is_cuda() && t.scalar_type() == at::kBFloat16 && aligned16(t), what,
              " must be 16-byte aligned bf16 on the GPU");
}

// A weight the kernels read in place: bf16, or int8 with a float32 scale per row (`eight_bit`, which every
// weight of a call shares).
void checkWeight(const LinearWeight& w, bool eight_bit, const char* what) {
  TORCH_CHECK(w.quantized() == eight_bit, what, ": the weights of one call must be all bf16 or all 8-bit");
  if (!eight_bit) return checkBf16(w.weight, what);
  TORCH_CHECK(w.weight.is_cuda() && w.weight.scalar_type() == at::kChar && aligned16(w.weight), what,
              " must be 16-byte aligned int8 on the GPU");
  TORCH_CHECK(w.scale.scalar_type() == at::kFloat && w.scale.device() == w.weight.device() &&
                  w.scale.sizes() == w.weight.sizes().slice(0, w.weight.dim() - 1),
              what, ": an 8-bit weight needs a float32 scale per row");
}

void checkMlp(const AlwaysOnMlp& mlp, std::int64_t hidden) {
  const bool eight_bit = mlp.gate_proj.quantized();
  for (const auto* w : {&mlp.gate_proj, &mlp.up_proj, &mlp.down_proj}) {
    checkWeight(*w, eight_bit, "the always-on MLP's weights");
    const auto& t = w->weight;
    TORCH_CHECK(t.is_contiguous() && t.size(0) % 8 == 0 && t.size(1) % 8 == 0 && (!eight_bit || w->scale.is_contiguous()),
                "the always-on MLP's weights must be contiguous with sizes multiple of 8");
  }
  TORCH_CHECK(mlp.gate_proj.weight.size(1) == hidden && mlp.up_proj.weight.sizes() == mlp.gate_proj.weight.sizes() &&
                  mlp.down_proj.weight.size(0) == hidden && mlp.down_proj.weight.size(1) == mlp.gate_proj.weight.size(0),
              "the always-on MLP's weights do not fit the hidden size");
}

const float* scaleOf(const LinearWeight& w) { return w.quantized() ? w.scale.data_ptr<float>() : nullptr; }

int topKOf(const at::Tensor& ids) { return ids.defined() ? static_cast<int>(ids.size(1)) : 0; }

const long long* idsPointer(const at::Tensor& ids) {
  return ids.defined() ? reinterpret_cast<const long long*>(ids.data_ptr<int64_t>()) : nullptr;
}

}  // namespace

NormedRoute addRmsNormRouteTopK(const at::Tensor& x, const at::Tensor& delta, const at::Tensor& norm_weight,
                                double eps, const at::Tensor& gate, const RouterConfig& config,
                                const at::Tensor& arrivals, const AlwaysOnMlp* shared, int expert_inner) {
  TORCH_CHECK(x.is_cuda() && x.scalar_type() == at::kFloat && x.dim() == 2 && x.is_contiguous(),
              "addRmsNormRouteTopK: x must be the contiguous float32 stream [rows, H] on the GPU");
  TORCH_CHECK(delta.sizes() == x.sizes() && delta.is_contiguous() && delta.device() == x.device() &&
                  (delta.scalar_type() == at::kFloat || delta.scalar_type() == at::kBFloat16),
              "addRmsNormRouteTopK: delta must be float32 or bf16, contiguous and shaped like x");
  checkBf16(gate, "addRmsNormRouteTopK: the router");
  checkBf16(norm_weight, "addRmsNormRouteTopK: the norm weight");
  const auto rows = x.size(0), experts = gate.size(0), hidden = x.size(1);
  TORCH_CHECK(gate.dim() == 2 && gate.is_contiguous() && gate.size(1) == hidden && norm_weight.numel() == hidden,
              "addRmsNormRouteTopK: router [E, H] contiguous and norm weight [H]");
  TORCH_CHECK(experts <= kMaxExperts && config.top_k >= 1 && config.top_k <= kMaxTopK && config.top_k <= experts,
              "addRmsNormRouteTopK: at most ", kMaxExperts, " experts and 1..", kMaxTopK, " chosen");
  TORCH_CHECK(hidden % 8 == 0 && hidden <= kMaxHidden, "addRmsNormRouteTopK: H must be a multiple of 8 up to ",
              kMaxHidden);
  TORCH_CHECK(arrivals.scalar_type() == at::kInt && arrivals.numel() >= rows && arrivals.device() == x.device(),
              "addRmsNormRouteTopK: arrivals must be a zeroed int32 [rows] beside x");
  NormedRoute route{at::empty_like(x), at::empty(x.sizes(), x.options().dtype(at::kBFloat16)),
                    at::empty({rows, config.top_k}, x.options().dtype(at::kLong)),
                    at::empty({rows, config.top_k}, x.options())};
  const int router_blocks = static_cast<int>((experts + kRouterWarps - 1) / kRouterWarps);
  int shared_inner = 0, shared_blocks = 0;
  if (shared != nullptr) {
    checkMlp(*shared, hidden);
    TORCH_CHECK(expert_inner > 0 && expert_inner % 8 == 0, "addRmsNormRouteTopK: the routed experts' size must be a multiple of 8");
    shared_inner = static_cast<int>(shared->gate_proj.weight.size(0));
    shared_blocks = (shared_inner + kRouterWarps - 1) / kRouterWarps;
    route.activations = at::empty({rows, config.top_k * expert_inner + shared_inner}, route.h.options());
  }
  auto logits = at::empty({rows, experts}, x.options());
  const dim3 grid(rows, router_blocks + shared_blocks);
  const auto launch = [&](auto* delta_data) {
    using Delta = std::remove_const_t<std::remove_pointer_t<decltype(delta_data)>>;
    RouterArgs<Delta> args{x.data_ptr<float>(),
                           delta_data,
                           reinterpret_cast<const __nv_bfloat16*>(norm_weight.data_ptr()),
                           static_cast<float>(eps),
                           reinterpret_cast<const __nv_bfloat16*>(gate.data_ptr()),
                           static_cast<int>(experts),
                           static_cast<int>(hidden),
                           config.top_k,
                           config.normalise,
                           static_cast<float>(config.scale),
                           route.x.data_ptr<float>(),
                           reinterpret_cast<__nv_bfloat16*>(route.h.data_ptr()),
                           logits.data_ptr<float>(),
                           reinterpret_cast<unsigned int*>(arrivals.data_ptr<int>()),
                           reinterpret_cast<long long*>(route.ids.data_ptr<int64_t>()),
                           route.weights.data_ptr<float>(),
                           router_blocks,
                           shared ? shared->gate_proj.weight.data_ptr() : nullptr,
                           shared ? shared->up_proj.weight.data_ptr() : nullptr,
                           shared ? scaleOf(shared->gate_proj) : nullptr,
                           shared ? scaleOf(shared->up_proj) : nullptr,
                           shared_inner,
                           shared ? reinterpret_cast<__nv_bfloat16*>(route.activations.data_ptr()) : nullptr,
                           config.top_k * expert_inner + shared_inner,
                           config.top_k * expert_inner};
    if (shared != nullptr && shared->gate_proj.quantized())
      launchOverlapped(normRouteTopKKernel<Delta, std::int8_t>, grid, kNormThreads, 0, args);
    else
      launchOverlapped(normRouteTopKKernel<Delta, __nv_bfloat16>, grid, kNormThreads, 0, args);
  };
  if (delta.scalar_type() == at::kFloat)
    launch(delta.data_ptr<float>());
  else
    launch(reinterpret_cast<const __nv_bfloat16*>(delta.data_ptr()));
  return route;
}

namespace {

// The layout of expertActivations' output for x, the routed stack and ids (undefined: a dense layer's MLP only).
ActivationLayout activationLayout(const at::Tensor& x, const LinearWeight& routed, const at::Tensor& ids,
                                  const AlwaysOnMlp& mlp) {
  checkBf16(x, "expertActivations: x");
  TORCH_CHECK(x.dim() == 2 && x.is_contiguous() && x.size(1) % 8 == 0, "expertActivations: x must be [rows, H], H % 8 == 0");
  const auto rows = x.size(0), hidden = x.size(1);
  checkMlp(mlp, hidden);
  ActivationLayout layout{};
  layout.shared_gate = mlp.gate_proj.weight.data_ptr();
  layout.shared_up = mlp.up_proj.weight.data_ptr();
  layout.shared_gate_scale = scaleOf(mlp.gate_proj);
  layout.shared_up_scale = scaleOf(mlp.up_proj);
  layout.shared_inner = static_cast<int>(mlp.gate_proj.weight.size(0));
  layout.top_k = topKOf(ids);
  if (layout.top_k > 0) {
    checkWeight(routed, mlp.gate_proj.quantized(), "expertActivations: the expert stack");
    const auto& gate_up = routed.weight;
    TORCH_CHECK(gate_up.dim() == 3 && gate_up.size(2) == hidden && gate_up.stride(2) == 1 && gate_up.stride(1) == hidden &&
                    gate_up.size(1) % 16 == 0 && gate_up.stride(0) % 8 == 0,
                "expertActivations: the expert stack must be [E, 2I, H] with contiguous rows");
    TORCH_CHECK(ids.scalar_type() == at::kLong && ids.is_contiguous() && ids.dim() == 2 && ids.size(0) == rows,
                "expertActivations: ids must be int64 [rows, k]");
    layout.gate_up = gate_up.data_ptr();
    layout.expert_stride = gate_up.stride(0);
    if (routed.quantized()) {
      TORCH_CHECK(routed.scale.stride(1) == 1, "expertActivations: the expert stack's scales must be [E, 2I] rows");
      layout.gate_up_scale = routed.scale.data_ptr<float>();
      layout.scale_expert_stride = routed.scale.stride(0);
    }
    layout.inner = static_cast<int>(gate_up.size(1) / 2);
  }
  return layout;
}

void launchActivations(const ActivationLayout& layout, const at::Tensor& x, const at::Tensor& ids, at::Tensor& out) {
  const auto rows = x.size(0);
  const long long per_row = static_cast<long long>(layout.top_k) * layout.inner + (layout.shared_done ? 0 : layout.shared_inner);
  const auto blocks = (rows * per_row + kWarpsPerBlock - 1) / kWarpsPerBlock;
  if (blocks == 0) return;
  const auto go = [&](auto kernel) {
    launchOverlapped(kernel, static_cast<unsigned>(blocks), kWarpsPerBlock * kWarpSize, 0, layout,
                     reinterpret_cast<const __nv_bfloat16*>(x.data_ptr()), idsPointer(ids), static_cast<int>(rows),
                     static_cast<int>(x.size(1)), reinterpret_cast<__nv_bfloat16*>(out.data_ptr()));
  };
  if (layout.shared_gate_scale != nullptr)
    go(expertActivationsKernel<std::int8_t>);
  else
    go(expertActivationsKernel<__nv_bfloat16>);
}

}  // namespace

at::Tensor expertActivations(const at::Tensor& x, const LinearWeight& gate_up, const at::Tensor& ids,
                             const AlwaysOnMlp& mlp) {
  const auto layout = activationLayout(x, gate_up, ids, mlp);
  auto out = at::empty({x.size(0), layout.top_k * layout.inner + layout.shared_inner}, x.options());
  launchActivations(layout, x, ids, out);
  return out;
}

at::Tensor routedActivations(const NormedRoute& route, const LinearWeight& gate_up, const AlwaysOnMlp& mlp) {
  auto layout = activationLayout(route.h, gate_up, route.ids, mlp);
  layout.shared_done = true;
  auto out = route.activations;
  TORCH_CHECK(out.defined() && out.scalar_type() == at::kBFloat16 && out.is_contiguous() &&
                  out.sizes() == at::IntArrayRef({route.h.size(0), layout.top_k * layout.inner + layout.shared_inner}),
              "routedActivations: the route carries no shared-expert activations of this layout");
  launchActivations(layout, route.h, route.ids, out);
  return out;
}

at::Tensor expertOutputs(const at::Tensor& activations, const LinearWeight& routed, const at::Tensor& ids,
                         const at::Tensor& weights, const AlwaysOnMlp& mlp) {
  checkBf16(activations, "expertOutputs: activations");
  const auto hidden = mlp.down_proj.weight.size(0);
  checkMlp(mlp, hidden);
  OutputLayout layout{};
  layout.shared_down = mlp.down_proj.weight.data_ptr();
  layout.shared_down_scale = scaleOf(mlp.down_proj);
  layout.shared_inner = static_cast<int>(mlp.down_proj.weight.size(1));
  layout.top_k = topKOf(ids);
  const auto rows = activations.size(0);
  if (layout.top_k > 0) {
    checkWeight(routed, mlp.down_proj.quantized(), "expertOutputs: the expert stack");
    const auto& down = routed.weight;
    TORCH_CHECK(down.dim() == 3 && down.size(0) == hidden && down.stride(2) == 1 && down.size(2) % 8 == 0 &&
                    down.stride(1) % 8 == 0 && down.stride(0) % 8 == 0,
                "expertOutputs: the expert stack must be [H, E, I] with 16-byte aligned rows");
    TORCH_CHECK(weights.scalar_type() == at::kFloat && weights.is_contiguous() && weights.sizes() == ids.sizes(),
                "expertOutputs: route weights must be float32 shaped like ids");
    layout.down = down.data_ptr();
    layout.feature_stride = down.stride(0);
    layout.expert_stride = down.stride(1);
    if (routed.quantized()) {
      layout.down_scale = routed.scale.data_ptr<float>();
      layout.scale_feature_stride = routed.scale.stride(0);
      layout.scale_expert_stride = routed.scale.stride(1);
    }
    layout.inner = static_cast<int>(down.size(2));
  }
  TORCH_CHECK(activations.dim() == 2 && activations.is_contiguous() &&
                  activations.size(1) == static_cast<long long>(layout.top_k) * layout.inner + layout.shared_inner,
              "expertOutputs: activations must be expertActivations' output");
  auto out = at::empty({rows, hidden}, activations.options().dtype(at::kFloat));
  const auto go = [&](auto kernel) {
    launchOverlapped(kernel, dim3(hidden, rows), kOutputThreads, 0, layout,
                     reinterpret_cast<const __nv_bfloat16*>(activations.data_ptr()), idsPointer(ids),
                     layout.top_k > 0 ? weights.data_ptr<float>() : nullptr, static_cast<int>(hidden),
                     out.data_ptr<float>());
  };
  if (layout.shared_down_scale != nullptr)
    go(expertOutputsKernel<std::int8_t>);
  else
    go(expertOutputsKernel<__nv_bfloat16>);
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
  launchOverlapped(
      weightedSwiGluKernel, static_cast<unsigned>(rows * experts), 128, 0, reinterpret_cast<const __nv_bfloat16*>(projected.data_ptr()), idsPointer(ids), weights.data_ptr<float>(),
      static_cast<int>(experts), static_cast<int>(inner), static_cast<int>(ids.size(1)),
      reinterpret_cast<__nv_bfloat16*>(out.data_ptr()));
  return out;
}

}  // namespace folio::cuda
