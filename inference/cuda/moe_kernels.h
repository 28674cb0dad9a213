// The feed-forward block of a decode step for a few rows, as three launches: the router's top-k, the SiLU-gated
// activations of the chosen experts and the always-on MLP, and the down projections summed with the route
// weights. Expert weights are read in place from the stacks OcrModel::load makes.
#pragma once

#include <ATen/ATen.h>

#include <utility>

namespace folio::cuda {

// Router of each row of x [rows, H] (bf16) with the gate weights [E, H] (bf16, products and softmax in float32):
// the top_k experts by softmax score -> ids [rows, k] int64 and weights [rows, k] float32 (the scores,
// renormalised to sum 1 when `normalise`, times `scale`). arrivals: int32 [>= rows] on the GPU, zero before
// and after the call (the blocks of a row count themselves there); one per stream, reused across calls.
std::pair<at::Tensor, at::Tensor> routeTopK(const at::Tensor& x, const at::Tensor& gate, int top_k, bool normalise,
                                            double scale, const at::Tensor& arrivals);

// The always-on MLP of a layer: the shared experts of a MoE layer, or a dense layer's MLP.
struct AlwaysOnMlp {
  at::Tensor gate_proj, up_proj;  // [S, H] bf16
  at::Tensor down_proj;           // [H, S] bf16
};

// silu(gate . x) * (up . x) of each row's chosen experts (gate_up [E, 2I, H]: each expert's gate rows, then its
// up rows; ids [rows, k], or undefined for none) followed by the always-on MLP's S activations:
// -> [rows, k*I + S] bf16.
at::Tensor expertActivations(const at::Tensor& x, const at::Tensor& gate_up, const at::Tensor& ids,
                             const AlwaysOnMlp& mlp);

// sum_j weights[r, j] * (down[:, ids[r, j], :] . act[r, j]) + mlp.down_proj . act[r, shared part], float32
// [rows, H], from expertActivations' output; down [H, E, I].
at::Tensor expertOutputs(const at::Tensor& activations, const at::Tensor& down, const at::Tensor& ids,
                         const at::Tensor& weights, const AlwaysOnMlp& mlp);

// The dense path's activations (every expert on every row, for many rows): projected [rows, E, 2I] bf16, each
// expert's gate features then its up features (x times the whole gate_up stack), ids and weights [rows, k] from
// routeTopK -> [rows, E, I] bf16, silu(gate) * up * (the row's route weight of the expert, 0 if not chosen).
at::Tensor weightedSwiGlu(const at::Tensor& projected, const at::Tensor& ids, const at::Tensor& weights);

}  // namespace folio::cuda
