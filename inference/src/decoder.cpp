#include "decoder.h"

#include <folio/engine.h>

namespace folio {

namespace F = torch::nn::functional;

namespace {

std::string layerPrefix(int layer) { return "model.layers." + std::to_string(layer) + "."; }

bool isDense(const DecoderConfig& config, int layer) { return layer < config.first_k_dense_replace; }

void checkConfig(const DecoderConfig& c) {
  const auto fail = [](const std::string& what) { throw Error("decoder config: " + what); };
  if (c.vocab_size <= 0 || c.hidden_size <= 0 || c.num_hidden_layers <= 0 || c.num_attention_heads <= 0 ||
      c.max_position_embeddings <= 0)
    fail("sizes must be positive");
  if (c.hidden_size % c.num_attention_heads != 0 || c.head_dim() % 2 != 0)
    fail("hidden_size " + std::to_string(c.hidden_size) + " does not split into " +
         std::to_string(c.num_attention_heads) + " heads of even size");
  if (c.num_key_value_heads != c.num_attention_heads)
    fail("only multi-head attention is supported (num_key_value_heads " + std::to_string(c.num_key_value_heads) +
         " != num_attention_heads " + std::to_string(c.num_attention_heads) + ")");
}

}  // namespace

// RoPE angles position * theta^(-2i/head_dim) for every position, as cos and sin [positions, head_dim] with
// the half-dimension frequencies repeated (the rotate-half layout). Computed in float32 like the reference.
std::pair<torch::Tensor, torch::Tensor> ropeTables(int positions, int head_dim, double theta) {
  const auto f32 = torch::TensorOptions().dtype(torch::kFloat32);
  const auto inv_freq = 1.0 / torch::pow(theta, torch::arange(0, head_dim, 2, f32) / head_dim);
  const auto freqs = torch::outer(torch::arange(positions, f32), inv_freq);
  const auto angles = torch::cat({freqs, freqs}, -1);
  return {angles.cos(), angles.sin()};
}

std::pair<torch::Tensor, torch::Tensor> ropeTables(const DecoderConfig& c) {
  return ropeTables(c.max_position_embeddings, c.head_dim(), c.rope_theta);
}

torch::Tensor rotateHalf(const torch::Tensor& x) {
  const auto half = x.size(-1) / 2;
  return torch::cat({-x.narrow(-1, half, half), x.narrow(-1, 0, half)}, -1);
}

torch::Tensor rmsNorm(const torch::Tensor& x, const torch::Tensor& weight, double eps) {
  const auto xf = x.to(torch::kFloat32);
  return (weight.to(torch::kFloat32) * xf * torch::rsqrt(xf.pow(2).mean(-1, true) + eps)).to(weight.scalar_type());
}

torch::Tensor applyRope(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin) {
  return (x * cos + rotateHalf(x) * sin).to(x.scalar_type());
}

torch::Tensor logitsOf(const torch::Tensor& normed, const LinearWeight& lm_head) { return lm_head.forwardFloat32(normed); }

Decoder::Decoder(const DecoderConfig& config, const Weights& weights) : config_(config) {
  checkConfig(config);
  const std::int64_t hidden = config.hidden_size;
  norm_ = weightOfShape(weights, "model.norm.weight", {hidden});  // first: it gives device() and dtype()
  embed_tokens_ = LinearWeight::load(weights, "model.embed_tokens.weight", {config.vocab_size, hidden});
  for (int i = 0; i < config.num_hidden_layers; ++i) {
    const auto p = layerPrefix(i);
    const auto projection = [&](const char* name) {
      return LinearWeight::load(weights, p + "self_attn." + name + ".weight", {hidden, hidden});
    };
    Layer layer;
    layer.input_layernorm = weightOfShape(weights, p + "input_layernorm.weight", {hidden});
    layer.self_attn = {projection("q_proj"), projection("k_proj"), projection("v_proj"), projection("o_proj")};
    layer.post_attention_layernorm = weightOfShape(weights, p + "post_attention_layernorm.weight", {hidden});
    if (isDense(config, i))
      layer.dense_mlp = Mlp::load(weights, p + "mlp.", config.hidden_size, config.intermediate_size);
    else
      layer.moe.emplace(config, weights, p + "mlp.");
    layers_.push_back(std::move(layer));
  }
  lm_head_ = LinearWeight::load(weights, "lm_head.weight", {config.vocab_size, hidden});
  auto [cos, sin] = ropeTables(config);
  rope_cos_ = cos.to(device());
  rope_sin_ = sin.to(device());
}

torch::Tensor Decoder::embed(const torch::Tensor& ids) const {
  if (ids.dim() != 1 || ids.scalar_type() != torch::kInt64)
    throw Error("decoder: token ids must be a 1-D int64 tensor");
  if (ids.numel() > 0) {
    const auto lowest = ids.min().item<std::int64_t>();
    const auto highest = ids.max().item<std::int64_t>();
    if (lowest < 0 || highest >= config_.vocab_size)
      throw Error("decoder: token id " + std::to_string(lowest < 0 ? lowest : highest) + " outside the vocabulary of " +
                  std::to_string(config_.vocab_size));
  }
  const auto on_device = ids.to(device());
  const auto rows = embed_tokens_.weight.index_select(0, on_device);
  if (!embed_tokens_.quantized()) return rows;
  return rows.to(torch::kFloat32) * embed_tokens_.scale.index_select(0, on_device).unsqueeze(1);
}

torch::Tensor Decoder::rmsNorm(const torch::Tensor& x, const torch::Tensor& weight) const {
  return folio::rmsNorm(x, weight, config_.rms_norm_eps);
}

torch::Tensor Decoder::applyRope(const torch::Tensor& x, int start) const {
  // x [1, heads, n, head_dim] at positions start .. start+n-1.
  const auto n = x.size(2);
  return folio::applyRope(x, rope_cos_.narrow(0, start, n), rope_sin_.narrow(0, start, n));
}

// Self-attention over the cached positions plus x's [B, rows, hidden] (one sequence per cache row), for the
// queries of rows first_query.. only (the keys and values of every row are cached).
// Returns [B, rows - first_query, hidden].
torch::Tensor Decoder::attention(const Layer& layer, int layer_index, const torch::Tensor& x, int first_query,
                                 KvCache& cache) const {
  const int start = cache.length();
  const std::int64_t sequences = x.size(0), rows = x.size(1);
  const std::int64_t queries = rows - first_query;
  const std::int64_t heads = config_.num_attention_heads;
  const std::int64_t head_dim = config_.head_dim();
  const auto toHeads = [&](const torch::Tensor& t, std::int64_t n) {  // [B, n, hidden] -> [B, heads, n, head_dim]
    return t.view({sequences, n, heads, head_dim}).transpose(1, 2);
  };
  const auto& w = layer.self_attn;
  const auto q = applyRope(toHeads(w.q_proj.forward(x.narrow(1, first_query, queries)), queries), start + first_query);
  const auto k = applyRope(toHeads(w.k_proj.forward(x), rows), start);
  const auto v = toHeads(w.v_proj.forward(x), rows);
  const auto [keys, values] = cache.append(layer_index, k, v);

  // Causal: the query at position p sees keys 0..p. A single query at the newest position sees every key.
  std::optional<torch::Tensor> mask;
  bool is_causal = false;
  if (queries > 1 && start == 0 && first_query == 0) {
    is_causal = true;
  } else if (queries > 1) {
    const auto key_positions = torch::arange(start + rows, torch::TensorOptions().device(x.device()));
    const auto query_positions = key_positions.narrow(0, start + first_query, queries).unsqueeze(1);
    mask = key_positions.unsqueeze(0) <= query_positions;
  }
  const auto out = torch::scaled_dot_product_attention(q, keys, values, mask, 0.0, is_causal);
  return w.o_proj.forward(out.transpose(1, 2).reshape({sequences, queries, config_.hidden_size}));
}

torch::Tensor Decoder::forward(const torch::Tensor& x, KvCache& cache) const {
  const bool one_sequence = x.dim() == 2;
  const std::int64_t sequences = one_sequence ? 1 : x.size(0);
  if ((x.dim() != 2 && x.dim() != 3) || x.size(-2) < 1 || x.size(-1) != config_.hidden_size ||
      sequences != cache.batch())
    throw Error("decoder: input must be [L >= 1, " + std::to_string(config_.hidden_size) + "] embeddings, or [" +
                std::to_string(cache.batch()) + ", L, " + std::to_string(config_.hidden_size) +
                "] for a cache of that many rows");
  const std::int64_t rows = x.size(-2);
  if (cache.length() + rows > config_.max_position_embeddings)
    throw Error("decoder: " + std::to_string(cache.length() + rows) + " positions exceed max_position_embeddings " +
                std::to_string(config_.max_position_embeddings));
  if (cache.length() + rows > cache.capacity())
    throw Error("decoder: " + std::to_string(cache.length() + rows) + " positions exceed the KV cache's " +
                std::to_string(cache.capacity()));

  // The residual stream stays float32 in every dtype: only matmul inputs are rounded to the weights' dtype.
  auto h = x.to(device(), torch::kFloat32).view({sequences, rows, config_.hidden_size});
  for (int i = 0; i < static_cast<int>(layers_.size()); ++i) {
    const Layer& layer = layers_[i];
    // Only the last position's logits are wanted, so the last layer computes every row's keys and values but
    // the rest (query, attention output, MLP) for the last row alone.
    const bool last = i + 1 == static_cast<int>(layers_.size());
    const int first_query = last ? static_cast<int>(h.size(1) - 1) : 0;
    h = h.narrow(1, first_query, h.size(1) - first_query) +
        attention(layer, i, rmsNorm(h, layer.input_layernorm), first_query, cache);
    const auto normed = rmsNorm(h, layer.post_attention_layernorm).view({-1, config_.hidden_size});
    const auto mlp = layer.dense_mlp ? layer.dense_mlp->forward(normed) : layer.moe->forward(normed);
    h = h + mlp.view(h.sizes());
  }
  cache.advance(static_cast<int>(rows));
  const auto normed = rmsNorm(h, norm_).view({sequences, config_.hidden_size});
  const auto logits = logitsOf(normed, lm_head_);  // [B, vocab]
  return one_sequence ? logits.squeeze(0) : logits;
}

}  // namespace folio
