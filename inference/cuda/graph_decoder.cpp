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

GraphDecoder::GraphDecoder(const DecoderConfig& config, const Weights& weights, int batch, int capacity)
    : config_(config),
      embed_tokens_(weights.at("model.embed_tokens.weight")),
      cache_(config, capacity > 0 ? std::min(capacity, config.max_position_embeddings) : config.max_position_embeddings,
             embed_tokens_.device(), embed_tokens_.scalar_type(), batch),
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
      layer.experts_gate_up = weights.at(p + "mlp.experts.gate_up_proj.stacked");
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
  inputs_ = torch::zeros({2, batch}, on_gpu);
  token_ = inputs_[0];
  position_ = inputs_[1];
  for (int b = 0; b < batch; ++b) slots_.push_back(cache_.slot(b));
}

// Router softmax -> top-k experts per row, their SiLU MLPs weighted, plus the shared experts; float32 out.
torch::Tensor GraphDecoder::moe(const Layer& layer, const torch::Tensor& h) const {
  const auto scores = F::linear(h.to(torch::kFloat32), layer.router).softmax(-1);
  auto [route_weights, ids] = scores.topk(config_.num_experts_per_tok, -1);
  if (config_.norm_topk_prob) route_weights = route_weights / (route_weights.sum(-1, true) + 1e-20);
  route_weights = route_weights * config_.routed_scaling_factor;
  // Few rows pick few experts: read just those (pairs may repeat an expert). Many rows pick most of them: read
  // every expert once as big GEMMs and let the zero route weights drop the unchosen ones.
  const bool few_routes = ids.numel() <= layer.experts_gate_up.size(0) / 2;
  const auto routed = few_routes ? routedExpertsByPair(layer, h, ids, route_weights)
                                 : routedExpertsDense(h, ids, route_weights, layer.experts_gate_up, layer.experts_down);
  return routed + layer.mlp.forward(h);
}

// One in-place GEMV per (row, chosen expert) pair: h [B, H], ids / weights [B, k] -> [B, H] float32.
torch::Tensor GraphDecoder::routedExpertsByPair(const Layer& layer, const torch::Tensor& h, const torch::Tensor& ids,
                                                const torch::Tensor& weights) const {
  const auto rows = h.size(0), k = ids.size(1), inner = layer.experts_gate_up.size(1) / 2;
  const auto expert_ids = ids.reshape({-1});
  const auto x = rows == 1 ? h : h.repeat_interleave(k, 0);  // the row of every pair
  const auto gate_up = expertGemv(layer.experts_gate_up, x, expert_ids);  // [B*k, 2I]
  const auto activated = F::silu(gate_up.narrow(1, 0, inner)) * gate_up.narrow(1, inner, inner);
  const auto routed = expertGemv(layer.experts_down.transpose(0, 1), activated.contiguous(), expert_ids);  // [B*k, H]
  return (routed.to(torch::kFloat32) * weights.reshape({-1, 1})).view({rows, k, -1}).sum(1);
}

torch::Tensor GraphDecoder::layerForward(const Layer& layer, int index, const torch::Tensor& x, int bucket) {
  const std::int64_t rows = x.size(0), heads = config_.num_attention_heads, head_dim = config_.head_dim();
  const auto h = rmsNorm(x, layer.input_layernorm, config_.rms_norm_eps);
  auto q = F::linear(h, layer.q_proj);
  auto k = F::linear(h, layer.k_proj);
  applyRopeInPlace(q.view({rows * heads, head_dim}), k.view({rows * heads, head_dim}), rope_cos_, rope_sin_,
                   position_);
  const auto v = F::linear(h, layer.v_proj);
  auto& keys = cache_.keys(index);
  auto& values = cache_.values(index);
  keys.view({-1, head_dim}).index_copy_(0, kv_rows_, k.view({rows * heads, head_dim}));
  values.view({-1, head_dim}).index_copy_(0, kv_rows_, v.view({rows * heads, head_dim}));
  const auto attn = torch::scaled_dot_product_attention(q.view({rows, heads, 1, head_dim}), keys.narrow(2, 0, bucket),
                                                        values.narrow(2, 0, bucket), visible_);
  auto out = x + F::linear(attn.view({rows, config_.hidden_size}), layer.o_proj);
  const auto normed = rmsNorm(out, layer.post_attention_layernorm, config_.rms_norm_eps);
  return out + (layer.moe ? moe(layer, normed) : layer.mlp.forward(normed));
}

void GraphDecoder::forward(int bucket) {
  const auto rows = token_.size(0);
  const auto heads = config_.num_attention_heads;
  // Row b attends over the bucket's first positions up to its own (one mask for all layers), and writes its
  // keys at (b, head, position[b]) of every layer's cache.
  visible_ = (torch::arange(bucket, position_.options()).view({1, bucket}) <= position_.view({rows, 1}))
                 .view({rows, 1, 1, bucket});
  kv_rows_ = torch::arange(rows * heads, position_.options()) * cache_.capacity() +
             position_.repeat_interleave(heads);
  auto x = embed_tokens_.index_select(0, token_).to(torch::kFloat32);  // [B, H], the float32 residual stream
  for (int i = 0; i < static_cast<int>(layers_.size()); ++i) x = layerForward(layers_[i], i, x, bucket);
  logits_ = logitsOf(rmsNorm(x, norm_, config_.rms_norm_eps), lm_head_);
}

// Attention reads keys up to the current length rounded up to a multiple of 256: one graph per bucket, and at
// most 255 masked positions read per step (with 64 pages in flight attention is a third of the step).
int GraphDecoder::bucketFor(int length, int capacity) {
  constexpr int kStep = 256;
  return std::min((length + kStep - 1) / kStep * kStep, capacity);
}

torch::Tensor GraphDecoder::step(std::int64_t token) { return step({token}, {true}).view({-1}); }

torch::Tensor GraphDecoder::step(const std::vector<std::int64_t>& tokens, const std::vector<bool>& active) {
  const int rows = batch();
  if (static_cast<int>(tokens.size()) != rows || static_cast<int>(active.size()) != rows)
    throw Error("decoder: a step takes one token per slot (" + std::to_string(rows) + ")");
  std::vector<std::int64_t> inputs(tokens);
  int longest = 0;
  for (int b = 0; b < rows; ++b) {
    if (slots_[b].length() >= capacity()) throw Error("decoder: the KV cache of slot " + std::to_string(b) + " is full");
    inputs.push_back(slots_[b].length());
    longest = std::max(longest, slots_[b].length() + 1);
  }
  inputs_.copy_(torch::tensor(inputs, torch::kInt64).view({2, rows}));  // one copy: tokens, then positions
  const int bucket = bucketFor(longest, capacity());
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
  for (int b = 0; b < rows; ++b) {
    if (active[b])
      slots_[b].advance(1);
    else
      slots_[b].reset();
  }
  return it->second.logits;
}

}  // namespace folio::cuda
