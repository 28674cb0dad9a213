#include "graph_decoder.h"

#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>
#include <folio/engine.h>

#include "decoder.h"
#include "expert_gemv.h"
#include "fused_ops.h"

namespace folio::cuda {
namespace F = torch::nn::functional;
namespace {

std::string layerPrefix(int layer) { return "model.layers." + std::to_string(layer) + "."; }

Mlp mlpAt(const Weights& weights, const std::string& prefix) {
  return Mlp{weights.at(prefix + "gate_proj.weight"), weights.at(prefix + "up_proj.weight"),
             weights.at(prefix + "down_proj.weight")};
}

}  // namespace

GraphDecoder::GraphDecoder(const DecoderConfig& config, const Weights& weights)
    : config_(config),
      embed_tokens_(weights.at("model.embed_tokens.weight")),
      cache_(config, config.max_position_embeddings, embed_tokens_.device(), embed_tokens_.scalar_type()),
      pool_(at::cuda::graph_pool_handle()) {
  if (!embed_tokens_.is_cuda() || embed_tokens_.scalar_type() != torch::kBFloat16)
    throw Error("the CUDA graph decoder needs bf16 weights on the GPU");
  norm_ = weights.at("model.norm.weight");
  lm_head_ = weights.at("lm_head.weight");
  for (int i = 0; i < config.num_hidden_layers; ++i) {
    const auto p = layerPrefix(i);
    Layer layer;
    layer.input_layernorm = weights.at(p + "input_layernorm.weight");
    layer.post_attention_layernorm = weights.at(p + "post_attention_layernorm.weight");
    layer.q_proj = weights.at(p + "self_attn.q_proj.weight");
    layer.k_proj = weights.at(p + "self_attn.k_proj.weight");
    layer.v_proj = weights.at(p + "self_attn.v_proj.weight");
    layer.o_proj = weights.at(p + "self_attn.o_proj.weight");
    layer.moe = i >= config.first_k_dense_replace;
    if (layer.moe) {
      layer.router = weights.at(p + "mlp.gate.weight").to(torch::kFloat32);
      layer.experts_gate = weights.at(p + "mlp.experts.gate_proj.stacked");
      layer.experts_up = weights.at(p + "mlp.experts.up_proj.stacked");
      layer.experts_down = weights.at(p + "mlp.experts.down_proj.stacked");
      layer.mlp = mlpAt(weights, p + "mlp.shared_experts.");
    } else {
      layer.mlp = mlpAt(weights, p + "mlp.");
    }
    layers_.push_back(std::move(layer));
  }
  auto [cos, sin] = ropeTables(config);
  rope_cos_ = cos.to(embed_tokens_.device());
  rope_sin_ = sin.to(embed_tokens_.device());
  const auto on_gpu = torch::TensorOptions().device(embed_tokens_.device()).dtype(torch::kInt64);
  token_ = torch::zeros({1}, on_gpu);
  position_ = torch::zeros({1}, on_gpu);
}

// Router softmax -> top-k experts, their SiLU MLPs read in place by the expert GEMV kernel, plus the shared experts.
torch::Tensor GraphDecoder::moe(const Layer& layer, const torch::Tensor& h) const {
  const auto scores = F::linear(h.to(torch::kFloat32), layer.router).softmax(-1);
  auto [route_weights, ids] = scores.topk(config_.num_experts_per_tok, -1);
  if (config_.norm_topk_prob) route_weights = route_weights / (route_weights.sum(-1, true) + 1e-20);
  route_weights = route_weights * config_.routed_scaling_factor;
  const auto expert_ids = ids.view({-1});
  const auto activated = F::silu(expertGemv(layer.experts_gate, h, expert_ids)) *
                         expertGemv(layer.experts_up, h, expert_ids);             // [k, I]
  const auto routed = expertGemv(layer.experts_down, activated, expert_ids);    // [k, H]
  const auto weighted = (routed.to(torch::kFloat32) * route_weights.view({-1, 1})).sum(0, true);
  return weighted + layer.mlp.forward(h);  // float32, for the residual stream
}

torch::Tensor GraphDecoder::layerForward(const Layer& layer, int index, const torch::Tensor& x, int bucket) {
  const std::int64_t heads = config_.num_attention_heads, head_dim = config_.head_dim();
  const auto h = rmsNorm(x, layer.input_layernorm, config_.rms_norm_eps);
  const auto toHeads = [&](const torch::Tensor& t) { return t.view({1, heads, 1, head_dim}); };
  auto q = F::linear(h, layer.q_proj);
  auto k = F::linear(h, layer.k_proj);
  applyRopeInPlace(q.view({heads, head_dim}), k.view({heads, head_dim}), rope_cos_, rope_sin_, position_);
  q = toHeads(q);
  k = toHeads(k);
  const auto v = toHeads(F::linear(h, layer.v_proj));
  auto& keys = cache_.keys(index);
  auto& values = cache_.values(index);
  keys.index_copy_(2, position_, k);
  values.index_copy_(2, position_, v);
  const auto attn = torch::scaled_dot_product_attention(q, keys.narrow(2, 0, bucket), values.narrow(2, 0, bucket),
                                                        visible_);
  auto out = x + F::linear(attn.view({1, config_.hidden_size}), layer.o_proj);
  const auto normed = rmsNorm(out, layer.post_attention_layernorm, config_.rms_norm_eps);
  return out + (layer.moe ? moe(layer, normed) : layer.mlp.forward(normed));
}

void GraphDecoder::forward(int bucket) {
  // Attend over the bucket's first positions; those after the current one are masked out (one mask for all layers).
  visible_ = (torch::arange(bucket, position_.options()) <= position_).view({1, 1, 1, bucket});
  auto x = embed_tokens_.index_select(0, token_).to(torch::kFloat32);  // [1, H], the float32 residual stream
  for (int i = 0; i < static_cast<int>(layers_.size()); ++i) x = layerForward(layers_[i], i, x, bucket);
  logits_ = logitsOf(rmsNorm(x, norm_, config_.rms_norm_eps), lm_head_).view({-1});
}

// Attention reads keys up to a power-of-two bucket (at least 512) of the current length: one graph per bucket.
int GraphDecoder::bucketFor(int length, int capacity) {
  int bucket = 512;
  while (bucket < length) bucket *= 2;
  return std::min(bucket, capacity);
}

torch::Tensor GraphDecoder::step(std::int64_t token) {
  const int position = cache_.length();
  if (position >= cache_.capacity()) throw Error("decoder: the KV cache is full");
  token_.fill_(token);
  position_.fill_(position);
  const int bucket = bucketFor(position + 1, cache_.capacity());
  auto it = graphs_.find(bucket);
  if (it == graphs_.end()) {
    // Warm up on a side stream (cuBLAS workspaces, allocator), then capture the same body.
    // Capture needs a side stream; synchronising first and after is fine for a once-per-bucket event.
    c10::cuda::device_synchronize();
    auto stream = c10::cuda::getStreamFromPool();
    {
      c10::cuda::CUDAStreamGuard guard(stream);
      forward(bucket);
      Captured captured;
      captured.graph = std::make_unique<at::cuda::CUDAGraph>();
      captured.graph->capture_begin(pool_);
      forward(bucket);
      captured.graph->capture_end();
      captured.logits = logits_;
      it = graphs_.emplace(bucket, std::move(captured)).first;
    }
    c10::cuda::device_synchronize();
  }
  it->second.graph->replay();
  cache_.advance(1);
  return it->second.logits;
}

}  // namespace folio::cuda
