#include "qwen2_encoder.h"

#include <folio/engine.h>

#include "decoder.h"
#include "model_tensors.h"
#include "sam.h"

namespace folio {

torch::Tensor hybridAttentionMask(std::int64_t m, torch::Device device) {
  const auto positions = torch::arange(2 * m, torch::TensorOptions().device(device));
  const auto rows = positions.unsqueeze(1), columns = positions.unsqueeze(0);
  // Every row sees the image tokens; a query row also sees the queries up to itself.
  return (columns < m) | ((rows >= m) & (columns <= rows));
}

Qwen2Encoder::Qwen2Encoder(const Qwen2EncoderConfig& config, const SamConfig& sam, const Weights& weights)
    : config_(config) {
  const std::int64_t width = config.hidden_size;
  const std::int64_t kv = static_cast<std::int64_t>(config.kv_heads) * config.head_dim();
  const auto p = qwen2EncoderPrefix();
  for (int i = 0; i < config.layers; ++i) {
    const auto l = p + "layers." + std::to_string(i) + ".";
    const auto w = [&](const std::string& name, std::vector<std::int64_t> shape) {
      return weightOfShape(weights, l + name, shape);
    };
    layers_.push_back({w("input_layernorm.weight", {width}), w("post_attention_layernorm.weight", {width}),
                       w("self_attn.q_proj.weight", {width, width}), w("self_attn.q_proj.bias", {width}),
                       w("self_attn.k_proj.weight", {kv, width}), w("self_attn.k_proj.bias", {kv}),
                       w("self_attn.v_proj.weight", {kv, width}), w("self_attn.v_proj.bias", {kv}),
                       w("self_attn.o_proj.weight", {width, width}),
                       Mlp::load(weights, l + "mlp.", config.hidden_size, config.intermediate_size)});
  }
  norm_ = weightOfShape(weights, p + "norm.weight", {width});
  std::int64_t most = 0;
  for (const int view : {kOcr2TileSize, sam.image_size}) {
    const auto count = ocr2QueryCount(view, sam);
    queries_[count] = weightOfShape(weights, queryTableName(view), {count, width});
    most = std::max(most, count);
  }
  // One position range over the image tokens and the queries that follow them.
  auto [cos, sin] = ropeTables(static_cast<int>(2 * most), config.head_dim(), config.rope_theta);
  rope_cos_ = cos.to(norm_.device());
  rope_sin_ = sin.to(norm_.device());
}

const torch::Tensor& Qwen2Encoder::queries(std::int64_t m) const {
  const auto found = queries_.find(m);
  if (found == queries_.end())
    throw Error("DeepSeek-OCR-2 encoder: no query table for a view of " + std::to_string(m) +
                " positions (it has tables for 768 tiles and the 1024 global view only)");
  return found->second;
}

torch::Tensor Qwen2Encoder::attention(const Layer& layer, const torch::Tensor& x, const torch::Tensor& mask,
                                      const torch::Tensor& cos, const torch::Tensor& sin) const {
  const std::int64_t views = x.size(0), rows = x.size(1), head_dim = config_.head_dim();
  const auto toHeads = [&](const torch::Tensor& t, std::int64_t heads) {  // [B, rows, heads*hd] -> [B, heads, rows, hd]
    return t.view({views, rows, heads, head_dim}).transpose(1, 2);
  };
  const auto q = applyRope(toHeads(linearRows(x, layer.q_weight, layer.q_bias), config_.heads), cos, sin);
  auto k = applyRope(toHeads(linearRows(x, layer.k_weight, layer.k_bias), config_.kv_heads), cos, sin);
  auto v = toHeads(linearRows(x, layer.v_weight, layer.v_bias), config_.kv_heads);
  // Grouped-query attention: kv head g serves query heads g*group .. g*group + group-1.
  const std::int64_t group = config_.heads / config_.kv_heads;
  k = k.repeat_interleave(group, 1);
  v = v.repeat_interleave(group, 1);
  const auto out = torch::scaled_dot_product_attention(q, k, v, mask);
  return torch::nn::functional::linear(out.transpose(1, 2).reshape({views, rows, config_.hidden_size}),
                                       layer.o_weight);
}

torch::Tensor Qwen2Encoder::forward(const torch::Tensor& image_tokens) const {
  const std::int64_t views = image_tokens.size(0), m = image_tokens.size(1), width = config_.hidden_size;
  if (image_tokens.dim() != 3 || image_tokens.size(2) != width)
    throw Error("DeepSeek-OCR-2 encoder: input must be [views, positions, " + std::to_string(width) + "]");
  const auto& query_table = queries(m);
  // The residual stream stays float32 in every dtype: only matmul inputs are rounded to the weights' dtype.
  auto x = torch::cat({image_tokens.to(torch::kFloat32),
                       query_table.to(torch::kFloat32).unsqueeze(0).expand({views, m, width})},
                      1);
  const auto mask = hybridAttentionMask(m, x.device());
  const auto cos = rope_cos_.narrow(0, 0, 2 * m), sin = rope_sin_.narrow(0, 0, 2 * m);
  const auto eps = config_.rms_norm_eps;
  for (const Layer& layer : layers_) {
    x = x + attention(layer, rmsNorm(x, layer.input_layernorm, eps), mask, cos, sin);
    const auto normed = rmsNorm(x, layer.post_attention_layernorm, eps);
    x = x + layer.mlp.forward(normed.view({-1, width})).view(x.sizes());
  }
  return rmsNorm(x.narrow(1, m, m), norm_, eps);
}

}  // namespace folio
