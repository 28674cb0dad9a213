#include "clip.h"

#include <folio/engine.h>

#include "sam.h"

#ifdef FOLIO_HAVE_CUDA
#include "fused_ops.h"
#include "kernel_support.h"
#endif

namespace folio {
namespace F = torch::nn::functional;

namespace {

constexpr double kNormEps = 1e-5;  // CLIP's pre_layrnorm and layer norms (fixed by the architecture)

torch::Tensor quickGelu(const torch::Tensor& x) {
#ifdef FOLIO_HAVE_CUDA
  if (cuda::kernelsFor(x) && x.scalar_type() == torch::kBFloat16 && x.is_contiguous() && x.numel() % 8 == 0)
    return cuda::quickGelu(x);  // one pass instead of three
#endif
  return x * torch::sigmoid(1.702 * x);
}

}  // namespace

Clip::Clip(const ClipConfig& config, const Weights& weights, const std::string& prefix) : config_(config) {
  const std::int64_t width = config.width;
  const std::int64_t mlp_dim = static_cast<std::int64_t>(config.width * config.mlp_ratio);
  const std::int64_t grid = config.image_size / config.patch_size;

  class_embedding_ = visionWeight(weights, prefix + "embeddings.class_embedding", {width});
  position_embedding_ =
      visionWeight(weights, prefix + "embeddings.position_embedding.weight", {grid * grid + 1, width});
  pre_layrnorm_weight_ = visionWeight(weights, prefix + "pre_layrnorm.weight", {width});
  pre_layrnorm_bias_ = visionWeight(weights, prefix + "pre_layrnorm.bias", {width});

  for (int i = 0; i < config.layers; ++i) {
    const std::string p = prefix + "transformer.layers." + std::to_string(i) + ".";
    Layer l;
    l.layer_norm1_weight = visionWeight(weights, p + "layer_norm1.weight", {width});
    l.layer_norm1_bias = visionWeight(weights, p + "layer_norm1.bias", {width});
    l.layer_norm2_weight = visionWeight(weights, p + "layer_norm2.weight", {width});
    l.layer_norm2_bias = visionWeight(weights, p + "layer_norm2.bias", {width});
    l.qkv_proj_weight = visionWeight(weights, p + "self_attn.qkv_proj.weight", {3 * width, width});
    l.qkv_proj_bias = visionWeight(weights, p + "self_attn.qkv_proj.bias", {3 * width});
    l.out_proj_weight = visionWeight(weights, p + "self_attn.out_proj.weight", {width, width});
    l.out_proj_bias = visionWeight(weights, p + "self_attn.out_proj.bias", {width});
    l.fc1_weight = visionWeight(weights, p + "mlp.fc1.weight", {mlp_dim, width});
    l.fc1_bias = visionWeight(weights, p + "mlp.fc1.bias", {mlp_dim});
    l.fc2_weight = visionWeight(weights, p + "mlp.fc2.weight", {width, mlp_dim});
    l.fc2_bias = visionWeight(weights, p + "mlp.fc2.bias", {width});
    layers_.push_back(std::move(l));
  }
}

torch::Tensor Clip::forward(const torch::Tensor& sam_features) const {
  if (sam_features.dim() != 4 || sam_features.size(1) != config_.width)
    throw Error("CLIP input must be SAM features [B," + std::to_string(config_.width) + ",h,w]");
  auto x = addLayerNorm(embeddings(sam_features), {}, pre_layrnorm_weight_, pre_layrnorm_bias_, kNormEps).normed;
  torch::Tensor pending;  // a layer's MLP output: the next layer adds it to x together with its first LayerNorm
  for (const Layer& layer : layers_) pending = layerForward(layer, x, pending);
  return pending.defined() ? x + pending : x;
}

// [class_embedding, SAM features in row-major order] + position embedding (the patch rows bicubic-resized to
// the feature grid; the class row kept).
torch::Tensor Clip::embeddings(const torch::Tensor& sam_features) const {
  const auto B = sam_features.size(0), h = sam_features.size(2), w = sam_features.size(3);
  const std::int64_t grid = config_.image_size / config_.patch_size;
  auto patches = sam_features.to(class_embedding_.options()).flatten(2).transpose(1, 2);  // [B, h*w, width]
  auto class_token = class_embedding_.reshape({1, 1, -1}).expand({B, 1, -1});
  auto patch_grid = position_embedding_.slice(0, 1).reshape({1, grid, grid, -1}).permute({0, 3, 1, 2});
  auto patch_positions = resizePositionGrid(patch_grid, h, w).permute({0, 2, 3, 1}).reshape({h * w, -1});
  auto positions = torch::cat({position_embedding_.slice(0, 0, 1), patch_positions}, 0);
  return torch::cat({class_token, patches}, 1) + positions.unsqueeze(0);
}

// One pre-LN layer on the residual stream x: first adds the previous layer's MLP output `pending` to x (with
// layer_norm1), then the attention's output (with layer_norm2); returns this layer's MLP output, still to be added.
torch::Tensor Clip::layerForward(const Layer& layer, torch::Tensor& x, const torch::Tensor& pending) const {
  const auto [stream, normed] = addLayerNorm(x, pending, layer.layer_norm1_weight, layer.layer_norm1_bias, kNormEps);
  auto [h, mlp] = addLayerNorm(stream, selfAttention(layer, normed), layer.layer_norm2_weight,
                               layer.layer_norm2_bias, kNormEps);
  x = h;
  mlp = linearRows(mlp, layer.fc1_weight, layer.fc1_bias);
  return linearRows(quickGelu(mlp), layer.fc2_weight, layer.fc2_bias);
}

torch::Tensor Clip::selfAttention(const Layer& layer, const torch::Tensor& x) const {
  const auto B = x.size(0), T = x.size(1), C = x.size(2);
  const std::int64_t heads = config_.heads, head_dim = C / heads;
  auto qkv = linearRows(x, layer.qkv_proj_weight, layer.qkv_proj_bias).reshape({B, T, 3, heads, head_dim});
  qkv = qkv.permute({2, 0, 3, 1, 4});  // [3, B, heads, T, head_dim]
  auto out = at::scaled_dot_product_attention(qkv[0], qkv[1], qkv[2]);
  out = out.transpose(1, 2).reshape({B, T, C});
  return linearRows(out, layer.out_proj_weight, layer.out_proj_bias);
}

}  // namespace folio
