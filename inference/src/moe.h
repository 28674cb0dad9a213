// The decoder's feed-forward blocks: the SiLU-gated MLP (dense layers, routed and shared experts) and the
// DeepSeek-V2 mixture of experts.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <string>
#include <vector>

#include "config.h"
#include "linear_weight.h"
#include "weights.h"

namespace folio {

// weights.at(name), checked to have `shape`. Throws folio::Error naming the tensor when absent or misshapen.
const torch::Tensor& weightOfShape(const Weights& weights, const std::string& name,
                                   const std::vector<std::int64_t>& shape);

// down_proj(silu(gate_proj(x)) * up_proj(x)), no biases.
struct Mlp {
  LinearWeight gate_proj;  // [intermediate, hidden]
  LinearWeight up_proj;    // [intermediate, hidden]
  LinearWeight down_proj;  // [hidden, intermediate]

  // prefix e.g. "model.layers.0.mlp." (tensors <prefix>gate_proj.weight, ...).
  static Mlp load(const Weights& weights, const std::string& prefix, int hidden, int intermediate);
  torch::Tensor forward(const torch::Tensor& x) const;  // [T, hidden] -> [T, hidden]
};

// The routed experts' weighted sum with every expert run on every row, each projection one GEMM over the
// stacked weights (unchosen experts weigh 0): on a GPU, faster than a per-expert loop once the rows pick most
// experts. gate_up [E, 2I, H] (each expert's gate rows, then its up rows), down [H, E, I]; x [T, H];
// ids / weights [T, k] -> [T, H] float32.
torch::Tensor routedExpertsDense(const torch::Tensor& x, const torch::Tensor& ids, const torch::Tensor& weights,
                                 const LinearWeight& gate_up, const LinearWeight& down);

// The stacks OcrModel::load makes (model.layers.N.mlp.experts.{gate_up,down}_proj.stacked), with their scales
// when 8-bit; undefined when absent.
LinearWeight stackedExperts(const Weights& weights, const std::string& name);

// Router mlp.gate -> softmax over the routed experts -> top-k (renormalised only when norm_topk_prob) times
// routed_scaling_factor weighs the chosen experts' outputs; the shared experts' MLP is added for every token.
class Moe {
 public:
  // prefix e.g. "model.layers.1.mlp.".
  Moe(const DecoderConfig& config, const Weights& weights, const std::string& prefix);
  torch::Tensor forward(const torch::Tensor& x) const;  // [T, hidden] -> [T, hidden] float32

 private:
  // Each expert runs once on the tokens routed to it (not all experts on all tokens).
  torch::Tensor routedExperts(const torch::Tensor& x, const torch::Tensor& expert_ids,
                              const torch::Tensor& expert_weights) const;

  torch::Tensor gate_;  // router [n_routed_experts, hidden], float32: routing is computed in float32
  LinearWeight stacked_gate_up_, stacked_down_;  // the stacks OcrModel::load makes, when present
  std::vector<Mlp> experts_;
  Mlp shared_experts_;
  int top_k_;
  bool norm_topk_prob_;
  double routed_scaling_factor_;
};

}  // namespace folio
