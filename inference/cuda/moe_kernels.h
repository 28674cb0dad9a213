// The feed-forward block of a decode step for a few rows, as three launches: the residual step, RMSNorm and the
// router's top-k, the SiLU-gated activations of the chosen experts and the always-on MLP, and the down
// projections summed with the route weights. Expert weights are read in place from the stacks OcrModel::load makes.
#pragma once

#include <ATen/ATen.h>

#include <utility>

#include "linear_weight.h"

namespace folio::cuda {

// How the router weighs its choice: the top_k experts by softmax score, their scores renormalised to sum 1 when
// `normalise`, times `scale`.
struct RouterConfig {
  int top_k = 1;
  bool normalise = false;
  double scale = 1.0;
};

// The always-on MLP of a layer: the shared experts of a MoE layer, or a dense layer's MLP. All weights of a call
// (these and the routed experts' stacks) are bf16, or all 8-bit (linear_weight.h).
struct AlwaysOnMlp {
  LinearWeight gate_proj, up_proj;  // [S, H]
  LinearWeight down_proj;           // [H, S]
};

struct NormedRoute {
  at::Tensor x;        // the residual stream after the step, float32 [rows, H]
  at::Tensor h;        // the MoE block's input, bf16 [rows, H]
  at::Tensor ids;      // [rows, k] int64
  at::Tensor weights;  // [rows, k] float32
  at::Tensor activations;  // when the shared experts were given: [rows, k*I + S] bf16, the last S filled
};

// The residual step into a MoE block, its RMSNorm and its router in one launch: x + delta (x float32 [rows, H],
// delta float32 or bf16, x itself not modified) -> route.x; h = bf16(norm_weight * rmsnorm(route.x)) as
// addRmsNorm gives it; the router's logits of h with the gate weights [E, H] (bf16, products and softmax in
// float32) -> the top-k ids and weights. arrivals: int32 [>= rows] on the GPU, zero before and after the call
// (the blocks of a row count themselves there); one per stream, reused across calls. With `shared` (the
// layer's shared experts; expert_inner: a routed expert's I), the same launch also computes the shared experts'
// activations of h beside the router, into route.activations after the k*I places routedActivations fills.
NormedRoute addRmsNormRouteTopK(const at::Tensor& x, const at::Tensor& delta, const at::Tensor& norm_weight,
                                double eps, const at::Tensor& gate, const RouterConfig& config,
                                const at::Tensor& arrivals, const AlwaysOnMlp* shared = nullptr,
                                int expert_inner = 0);

// silu(gate . x) * (up . x) of each row's chosen experts (gate_up [E, 2I, H]: each expert's gate rows, then its
// up rows, 8-bit scales [E, 2I]; ids [rows, k], or undefined for none) followed by the always-on MLP's S
// activations: -> [rows, k*I + S] bf16.
at::Tensor expertActivations(const at::Tensor& x, const LinearWeight& gate_up, const at::Tensor& ids,
                             const AlwaysOnMlp& mlp);

// expertActivations' output for route.h from the route's own: fills the chosen experts' part of
// route.activations (whose shared part addRmsNormRouteTopK wrote) and returns it.
at::Tensor routedActivations(const NormedRoute& route, const LinearWeight& gate_up, const AlwaysOnMlp& mlp);

// sum_j weights[r, j] * (down[:, ids[r, j], :] . act[r, j]) + mlp.down_proj . act[r, shared part], float32
// [rows, H], from expertActivations' output; down [H, E, I] (8-bit scales [H, E]).
at::Tensor expertOutputs(const at::Tensor& activations, const LinearWeight& down, const at::Tensor& ids,
                         const at::Tensor& weights, const AlwaysOnMlp& mlp);

// The dense path's activations (every expert on every row, for many rows): projected [rows, E, 2I] bf16, each
// expert's gate features then its up features (x times the whole gate_up stack), ids and weights [rows, k] from
// addRmsNormRouteTopK -> [rows, E, I] bf16, silu(gate) * up * (the row's route weight of the expert, 0 if not chosen).
at::Tensor weightedSwiGlu(const at::Tensor& projected, const at::Tensor& ids, const at::Tensor& weights);

}  // namespace folio::cuda
