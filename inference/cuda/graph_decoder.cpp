#include "graph_decoder.h"

#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>
#include <folio/engine.h>

#include "decode_attention.h"
#include "decoder.h"
#include "fused_ops.h"
#include "small_batch_gemv.h"

namespace folio::cuda {
namespace F = torch::nn::functional;
namespace {

std::string layerPrefix(int layer) { return "model.layers." + std::to_string(layer) + "."; }

AlwaysOnMlp mlpAt(const Weights& weights, const std::string& prefix) {
  return AlwaysOnMlp{weights.at(prefix + "gate_proj.weight"), weights.at(prefix + "up_proj.weight"),
                     weights.at(prefix + "down_proj.weight")};
}

// x times the weights (stacked along the output features), through the small-batch GEMV for a few rows (cuBLAS
// is latency-bound there), else cuBLAS.
torch::Tensor project(const torch::Tensor& x, const std::vector<torch::Tensor>& weights) {
  if (x.size(0) <= kSmallBatchMaxRows) return smallBatchLinear(x, weights);
  std::vector<torch::Tensor> parts;
  for (const auto& w : weights) parts.push_back(F::linear(x, w));
  return parts.size() == 1 ? parts.front() : torch::cat(parts, 1);
}

// The SiLU-gated MLP as three cuBLAS GEMMs: for many rows, where each weight row is read once for all of them.
torch::Tensor mlpByCublas(const AlwaysOnMlp& mlp, const torch::Tensor& h) {
  return F::linear(F::silu(F::linear(h, mlp.gate_proj)) * F::linear(h, mlp.up_proj), mlp.down_proj);
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
      layer.router = weights.at(p + "mlp.gate.weight");
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
  router_arrivals_ = torch::zeros({batch}, on_gpu.dtype(torch::kInt32));
  token_ = inputs_[0];
  position_ = inputs_[1];
  for (int b = 0; b < batch; ++b) slots_.push_back(cache_.slot(b));
}

bool GraphDecoder::supports(const DecoderConfig& c) {
  const int lanes_per_key = c.head_dim() / 32;  // decodeAttention's layout
  return c.hidden_size % 8 == 0 && c.head_dim() % 32 == 0 && lanes_per_key <= 32 && 32 % lanes_per_key == 0 &&
         c.intermediate_size % 8 == 0 &&
         c.moe_intermediate_size % 8 == 0 && c.n_routed_experts <= 256 && c.num_experts_per_tok <= 16;
}

bool GraphDecoder::fewRoutes(const Layer& layer, std::int64_t rows) const {
  return rows * config_.num_experts_per_tok <= layer.experts_gate_up.size(0) / 2;
}

// The layer's MLP, or its MoE (router softmax -> top-k experts per row, their SiLU MLPs weighted, plus the
// shared experts): [B, H] float32 or bf16, to be added to the residual stream.
torch::Tensor GraphDecoder::feedForward(const Layer& layer, const torch::Tensor& h) const {
  const auto rows = h.size(0);
  const auto& mlp = layer.mlp;
  if (!layer.moe) {
    if (rows > kSmallBatchMaxRows / 2) return mlpByCublas(mlp, h);
    return expertOutputs(expertActivations(h, {}, {}, mlp), {}, {}, {}, mlp);
  }
  const auto [ids, weights] = routeTopK(h, layer.router, config_.num_experts_per_tok, config_.norm_topk_prob,
                                        config_.routed_scaling_factor, router_arrivals_);
  if (fewRoutes(layer, rows))
    return expertOutputs(expertActivations(h, layer.experts_gate_up, ids, mlp), layer.experts_down, ids, weights, mlp);
  // Many rows choose nearly every expert: all experts on all rows as two GEMMs over the stacks, the unchosen
  // experts' activations zeroed.
  const auto experts = layer.experts_gate_up.size(0), inner = layer.experts_gate_up.size(1) / 2;
  const auto projected =
      F::linear(h, layer.experts_gate_up.view({experts * 2 * inner, -1})).view({rows, experts, 2 * inner});
  const auto activated = weightedSwiGlu(projected, ids, weights).view({rows, experts * inner});
  const auto routed = F::linear(activated, layer.experts_down.view({-1, experts * inner})).to(torch::kFloat32);
  return routed + mlpByCublas(mlp, h);
}

std::array<torch::Tensor, 3> GraphDecoder::projectQkv(const Layer& layer, const torch::Tensor& h) const {
  const auto hidden = config_.hidden_size;
  const auto qkv = project(h, {layer.q_proj, layer.k_proj, layer.v_proj});  // [B, 3H]
  return {qkv.narrow(1, 0, hidden), qkv.narrow(1, hidden, hidden), qkv.narrow(1, 2 * hidden, hidden)};
}

torch::Tensor GraphDecoder::layerForward(const Layer& layer, int index, torch::Tensor& x, const torch::Tensor& pending,
                                         int bucket) {
  const auto h = addRmsNorm(x, pending, layer.input_layernorm, config_.rms_norm_eps);
  const auto [q, k, v] = projectQkv(layer, h);
  auto& keys = cache_.keys(index);
  auto& values = cache_.values(index);
  ropeAndAppendKv(q, k, v, rope_cos_, rope_sin_, position_, keys, values);
  const auto attention = decodeAttention(q, keys, values, position_, bucket);
  const auto normed = addRmsNorm(x, project(attention, {layer.o_proj}), layer.post_attention_layernorm,
                                 config_.rms_norm_eps);
  return feedForward(layer, normed);
}

void GraphDecoder::forward(int bucket) {
  auto x = embed_tokens_.index_select(0, token_).to(torch::kFloat32);  // [B, H], the float32 residual stream
  torch::Tensor pending;
  for (int i = 0; i < static_cast<int>(layers_.size()); ++i) pending = layerForward(layers_[i], i, x, pending, bucket);
  logits_ = logitsOf(addRmsNorm(x, pending, norm_, config_.rms_norm_eps), lm_head_);
}

// Attention reads each row's own positions; the longest row's length rounded up to a multiple of 256 sizes its
// grid (blocks past a row's length exit at once): one graph per bucket instead of one per length.
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
