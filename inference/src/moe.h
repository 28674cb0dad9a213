// The decoder's feed-forward blocks: the SiLU-gated MLP (dense layers, routed and shared experts) and the
// DeepSeek-V2 mixture of experts.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <string>
#include <vector>

#include "config.h"
#include "weights.h"

namespace folio {

// weights.at(name), checked to have `shape`. Throws folio::Error naming the tensor when absent or misshapen.
const torch::Tensor& weightOfShape(const Weights& weights, const std::string& name,
                                   const std::vector<std::int64_t>& shape);

// down_proj(silu(gate_proj(x)) * up_proj(x)), no biases.
struct Mlp {
  torch::Tensor gate_proj;  // [intermediate, hidden]
  torch::Tensor up_proj;    // [intermediate, hidden]
  torch::Tensor down_proj;  // [hidden, intermediate]

  // prefix e.g. "model.layers.0.mlp." (tensors <prefix>gate_proj.weight, ...).
  static Mlp load(const Weights& weights, const std::string& prefix, int hidden, int intermediate);
  torch::Tensor forward(const torch::Tensor& x) const;  // [T, hidden] -> [T, hidden]
};

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
  std::vector<Mlp> experts_;
  Mlp shared_experts_;
  int top_k_;
  bool norm_topk_prob_;
  double routed_scaling_factor_;
};

}  // namespace folio
