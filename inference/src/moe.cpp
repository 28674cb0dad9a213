#include "moe.h"

#include <folio/engine.h>

#include <sstream>

#ifdef FOLIO_HAVE_CUDA
#include "kernel_support.h"
#include "moe_kernels.h"
#endif

namespace folio {

namespace {

std::string shapeText(at::IntArrayRef shape) {
  std::ostringstream out;
  out << shape;
  return out.str();
}

// silu(gate) * up of every expert on every row of projected [T, E, 2I], times the row's route weight of the
// expert (0 when not chosen) -> [T, E, I] in projected's dtype. On a GPU in bf16: one kernel instead of a
// scatter and four element-wise passes, rounding once instead of after each op.
torch::Tensor weightedSwiGlu(const torch::Tensor& projected, const torch::Tensor& ids, const torch::Tensor& weights) {
#ifdef FOLIO_HAVE_CUDA
  if (cuda::kernelsFor(projected) && projected.scalar_type() == torch::kBFloat16)
    return cuda::weightedSwiGlu(projected, ids.contiguous(), weights.to(torch::kFloat32).contiguous());
#endif
  const auto rows = projected.size(0), experts = projected.size(1), inner = projected.size(2) / 2;
  const auto dense_weights = torch::zeros({rows, experts}, weights.options()).scatter(1, ids, weights);
  return (torch::silu(projected.narrow(2, 0, inner)) * projected.narrow(2, inner, inner) *
          dense_weights.unsqueeze(-1))
      .to(projected.scalar_type());
}

}  // namespace

const torch::Tensor& weightOfShape(const Weights& weights, const std::string& name,
                                   const std::vector<std::int64_t>& shape) {
  const torch::Tensor& t = weights.at(name);
  if (t.sizes() != at::IntArrayRef(shape))
    throw Error("tensor " + name + " has shape " + shapeText(t.sizes()) + ", expected " + shapeText(shape));
  return t;
}

Mlp Mlp::load(const Weights& weights, const std::string& prefix, int hidden, int intermediate) {
  return Mlp{LinearWeight::load(weights, prefix + "gate_proj.weight", {intermediate, hidden}),
             LinearWeight::load(weights, prefix + "up_proj.weight", {intermediate, hidden}),
             LinearWeight::load(weights, prefix + "down_proj.weight", {hidden, intermediate})};
}

torch::Tensor Mlp::forward(const torch::Tensor& x) const {
  namespace F = torch::nn::functional;
  return down_proj.forward(F::silu(gate_proj.forward(x)) * up_proj.forward(x));
}

Moe::Moe(const DecoderConfig& config, const Weights& weights, const std::string& prefix)
    : top_k_(config.num_experts_per_tok),
      norm_topk_prob_(config.norm_topk_prob),
      routed_scaling_factor_(config.routed_scaling_factor) {
  if (top_k_ <= 0 || top_k_ > config.n_routed_experts)
    throw Error("decoder config: num_experts_per_tok " + std::to_string(top_k_) + " not in 1.." +
                std::to_string(config.n_routed_experts));
  gate_ = weightOfShape(weights, prefix + "gate.weight", {config.n_routed_experts, config.hidden_size})
              .to(torch::kFloat32);
  for (int e = 0; e < config.n_routed_experts; ++e)
    experts_.push_back(Mlp::load(weights, prefix + "experts." + std::to_string(e) + ".", config.hidden_size,
                                 config.moe_intermediate_size));
  shared_experts_ = Mlp::load(weights, prefix + "shared_experts.", config.hidden_size,
                              config.moe_intermediate_size * config.n_shared_experts);
  stacked_gate_up_ = stackedExperts(weights, prefix + "experts.gate_up_proj.stacked");
  stacked_down_ = stackedExperts(weights, prefix + "experts.down_proj.stacked");
}

LinearWeight stackedExperts(const Weights& weights, const std::string& name) {
  return weights.contains(name) ? LinearWeight::at(weights, name) : LinearWeight{};
}

torch::Tensor routedExpertsDense(const torch::Tensor& x, const torch::Tensor& ids, const torch::Tensor& weights,
                                 const LinearWeight& gate_up, const LinearWeight& down) {
  namespace F = torch::nn::functional;
  const auto rows = x.size(0), experts = gate_up.weight.size(0), inner = gate_up.weight.size(1) / 2;
  const auto projected = gate_up.forward(x).view({rows, experts, 2 * inner});
  const auto activated = weightedSwiGlu(projected, ids, weights);
  return down.forward(activated.view({rows, experts * inner})).to(torch::kFloat32);
}

torch::Tensor Moe::forward(const torch::Tensor& x) const {
  const auto scores = torch::nn::functional::linear(x.to(torch::kFloat32), gate_).softmax(-1);
  auto [weights, expert_ids] = scores.topk(top_k_, -1);
  if (norm_topk_prob_) weights = weights / (weights.sum(-1, true) + 1e-20);
  weights = weights * routed_scaling_factor_;
  // On a GPU a long prompt picks nearly every expert: a few big GEMMs beat ~10 small launches per expert.
  const bool dense =
      stacked_gate_up_.weight.defined() && x.is_cuda() && expert_ids.numel() > 2 * stacked_gate_up_.weight.size(0);
  const auto routed = dense ? routedExpertsDense(x, expert_ids, weights, stacked_gate_up_, stacked_down_)
                            : routedExperts(x, expert_ids, weights);
  return routed + shared_experts_.forward(x);
}

torch::Tensor Moe::routedExperts(const torch::Tensor& x, const torch::Tensor& expert_ids,
                                 const torch::Tensor& expert_weights) const {
  // Sort the T*k (token, expert) routes by expert so each expert's tokens form one contiguous run.
  const auto flat_experts = expert_ids.flatten();
  const auto order = std::get<1>(flat_experts.sort(std::optional<bool>(true), 0));
  const auto tokens = order.div(top_k_, "floor");
  const auto route_weights = expert_weights.flatten().index_select(0, order).unsqueeze(1);  // float32
  // The run lengths come to the host once: the only synchronisation of the block.
  const auto counts = flat_experts.bincount({}, static_cast<std::int64_t>(experts_.size())).cpu();
  const auto* count = counts.data_ptr<std::int64_t>();

  // Summed in float32: the sum of the k weighted experts is added to the float32 residual stream.
  auto out = torch::zeros(x.sizes(), x.options().dtype(torch::kFloat32));
  std::int64_t begin = 0;
  for (std::size_t e = 0; e < experts_.size(); ++e) {
    if (count[e] == 0) continue;
    const auto rows = tokens.narrow(0, begin, count[e]);
    const auto y = experts_[e].forward(x.index_select(0, rows)).to(torch::kFloat32) * route_weights.narrow(0, begin, count[e]);
    out.index_add_(0, rows, y);
    begin += count[e];
  }
  return out;
}

}  // namespace folio
