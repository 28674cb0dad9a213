#include "sam.h"

#include <folio/engine.h>

#include <algorithm>
#include <cmath>
#include <sstream>

namespace folio {
namespace F = torch::nn::functional;

namespace {

constexpr double kNormEps = 1e-6;  // SAM's LayerNorm and LayerNorm2d (fixed by the architecture)

std::string shapeText(c10::IntArrayRef shape) {
  std::ostringstream out;
  out << shape;
  return out.str();
}

torch::Tensor layerNorm(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias) {
  return F::layer_norm(x, F::LayerNormFuncOptions({x.size(-1)}).weight(weight).bias(bias).eps(kNormEps));
}

// LayerNorm over the channels of a [B,C,H,W] map.
torch::Tensor layerNorm2d(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias) {
  auto centred = x - x.mean(1, true);
  auto variance = centred.pow(2).mean(1, true);
  auto normalised = centred / torch::sqrt(variance + kNormEps);
  return weight.reshape({-1, 1, 1}) * normalised + bias.reshape({-1, 1, 1});
}

// The relative-position table for `size` query and key positions along one axis: [size, size, head_dim], entry
// (i, j) = rel_pos[i - j + size - 1]. A table trained for another size is first resized linearly (upstream
// get_rel_pos; queries and keys always have the same size here).
torch::Tensor relativePositions(const torch::Tensor& rel_pos, std::int64_t size) {
  const std::int64_t length = 2 * size - 1;
  torch::Tensor table = rel_pos;
  if (rel_pos.size(0) != length) {
    auto rows_last = rel_pos.to(torch::kFloat32).t().unsqueeze(0);  // [1, head_dim, L]
    auto resized = F::interpolate(rows_last, F::InterpolateFuncOptions()
                                                 .size(std::vector<std::int64_t>{length})
                                                 .mode(torch::kLinear)
                                                 .align_corners(false));
    table = resized.squeeze(0).t().to(rel_pos.dtype());
  }
  auto positions = torch::arange(size, torch::TensorOptions().dtype(torch::kLong).device(rel_pos.device()));
  auto index = positions.unsqueeze(1) - positions.unsqueeze(0) + (size - 1);
  return table.index_select(0, index.flatten()).reshape({size, size, -1});
}

// Splits [B,H,W,C] into [B*nWindows, ws, ws, C], zero-padding H and W up to multiples of ws.
torch::Tensor windowPartition(const torch::Tensor& x, std::int64_t ws) {
  const auto B = x.size(0), H = x.size(1), W = x.size(2), C = x.size(3);
  const auto pad_h = (ws - H % ws) % ws, pad_w = (ws - W % ws) % ws;
  auto padded = (pad_h || pad_w) ? F::pad(x, F::PadFuncOptions({0, 0, 0, pad_w, 0, pad_h})) : x;
  const auto Hp = H + pad_h, Wp = W + pad_w;
  return padded.reshape({B, Hp / ws, ws, Wp / ws, ws, C}).permute({0, 1, 3, 2, 4, 5}).reshape({-1, ws, ws, C});
}

// Inverse of windowPartition: back to [B,H,W,C], padding dropped.
torch::Tensor windowUnpartition(const torch::Tensor& windows, std::int64_t ws, std::int64_t H, std::int64_t W) {
  const auto Hp = (H + ws - 1) / ws * ws, Wp = (W + ws - 1) / ws * ws;
  const auto B = windows.size(0) / ((Hp / ws) * (Wp / ws));
  auto x = windows.reshape({B, Hp / ws, Wp / ws, ws, ws, -1}).permute({0, 1, 3, 2, 4, 5}).reshape({B, Hp, Wp, -1});
  return x.slice(1, 0, H).slice(2, 0, W);
}

}  // namespace

torch::Tensor visionWeight(const Weights& weights, const std::string& name, const std::vector<std::int64_t>& shape) {
  const torch::Tensor& t = weights.at(name);
  if (t.sizes() != c10::IntArrayRef(shape))
    throw Error("tensor " + name + " has shape " + shapeText(t.sizes()) + ", expected " + shapeText(shape));
  return t;
}

torch::Tensor linearRows(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias) {
  auto sizes = x.sizes().vec();
  sizes.back() = weight.size(0);
  return F::linear(x.reshape({-1, x.size(-1)}), weight, bias).view(sizes);
}

torch::Tensor resizePositionGrid(const torch::Tensor& grid, std::int64_t height, std::int64_t width) {
  if (grid.size(2) == height && grid.size(3) == width) return grid;
  auto resized = F::interpolate(grid.to(torch::kFloat32), F::InterpolateFuncOptions()
                                                               .size(std::vector<std::int64_t>{height, width})
                                                               .mode(torch::kBicubic)
                                                               .align_corners(false)
                                                               .antialias(true));
  return resized.to(grid.dtype());
}

Sam::Sam(const SamConfig& config, const Weights& weights, const std::string& prefix) : config_(config) {
  const std::int64_t width = config.width, head_dim = config.width / config.heads;
  const std::int64_t mlp_dim = static_cast<std::int64_t>(config.width * config.mlp_ratio);
  const std::int64_t grid = config.image_size / config.patch_size;
  const std::int64_t neck = config.neck_channels;
  if (config.downsample_channels.size() != 2)
    throw Error("SAM config: downsample_channels needs 2 entries (net_2, net_3)");

  patch_embed_weight_ =
      visionWeight(weights, prefix + "patch_embed.proj.weight", {width, 3, config.patch_size, config.patch_size});
  patch_embed_bias_ = visionWeight(weights, prefix + "patch_embed.proj.bias", {width});
  pos_embed_ = visionWeight(weights, prefix + "pos_embed", {1, grid, grid, width});

  for (int i = 0; i < config.layers; ++i) {
    const std::string p = prefix + "blocks." + std::to_string(i) + ".";
    const bool global = std::find(config.global_attn_indexes.begin(), config.global_attn_indexes.end(), i) !=
                        config.global_attn_indexes.end();
    Block b;
    b.window_size = global ? 0 : config.window_size;
    const std::int64_t rel_len = 2 * (global ? grid : config.window_size) - 1;
    b.norm1_weight = visionWeight(weights, p + "norm1.weight", {width});
    b.norm1_bias = visionWeight(weights, p + "norm1.bias", {width});
    b.norm2_weight = visionWeight(weights, p + "norm2.weight", {width});
    b.norm2_bias = visionWeight(weights, p + "norm2.bias", {width});
    b.qkv_weight = visionWeight(weights, p + "attn.qkv.weight", {3 * width, width});
    b.qkv_bias = visionWeight(weights, p + "attn.qkv.bias", {3 * width});
    b.proj_weight = visionWeight(weights, p + "attn.proj.weight", {width, width});
    b.proj_bias = visionWeight(weights, p + "attn.proj.bias", {width});
    b.rel_pos_h = visionWeight(weights, p + "attn.rel_pos_h", {rel_len, head_dim});
    b.rel_pos_w = visionWeight(weights, p + "attn.rel_pos_w", {rel_len, head_dim});
    b.lin1_weight = visionWeight(weights, p + "mlp.lin1.weight", {mlp_dim, width});
    b.lin1_bias = visionWeight(weights, p + "mlp.lin1.bias", {mlp_dim});
    b.lin2_weight = visionWeight(weights, p + "mlp.lin2.weight", {width, mlp_dim});
    b.lin2_bias = visionWeight(weights, p + "mlp.lin2.bias", {width});
    blocks_.push_back(std::move(b));
  }

  neck_conv1_ = visionWeight(weights, prefix + "neck.0.weight", {neck, width, 1, 1});
  neck_norm1_weight_ = visionWeight(weights, prefix + "neck.1.weight", {neck});
  neck_norm1_bias_ = visionWeight(weights, prefix + "neck.1.bias", {neck});
  neck_conv2_ = visionWeight(weights, prefix + "neck.2.weight", {neck, neck, 3, 3});
  neck_norm2_weight_ = visionWeight(weights, prefix + "neck.3.weight", {neck});
  neck_norm2_bias_ = visionWeight(weights, prefix + "neck.3.bias", {neck});
  const std::int64_t mid = config.downsample_channels[0], out = config.downsample_channels[1];
  net_2_ = visionWeight(weights, prefix + "net_2.weight", {mid, neck, 3, 3});
  net_3_ = visionWeight(weights, prefix + "net_3.weight", {out, mid, 3, 3});
}

torch::Tensor Sam::forward(const torch::Tensor& images) const {
  if (images.dim() != 4 || images.size(1) != 3 || images.size(2) % config_.patch_size ||
      images.size(3) % config_.patch_size)
    throw Error("SAM input must be [B,3,S,S] with S a multiple of " + std::to_string(config_.patch_size) +
                ", got " + shapeText(images.sizes()));
  auto x = patchEmbed(images.to(patch_embed_weight_.options()));
  for (const Block& block : blocks_) x = blockForward(block, x);
  return neckForward(x);
}

// Patches -> [B, g, g, width] plus the absolute position embedding resized to the grid.
torch::Tensor Sam::patchEmbed(const torch::Tensor& images) const {
  auto x = F::conv2d(images, patch_embed_weight_,
                     F::Conv2dFuncOptions().bias(patch_embed_bias_).stride(config_.patch_size));
  x = x.permute({0, 2, 3, 1});
  auto pos = resizePositionGrid(pos_embed_.permute({0, 3, 1, 2}), x.size(1), x.size(2)).permute({0, 2, 3, 1});
  // Contiguous [B, g, g, width]: the sum would keep the convolution's channel-first memory order, and every
  // later add and LayerNorm of the residual stream would then run on strided memory.
  return (x + pos).contiguous();
}

torch::Tensor Sam::blockForward(const Block& block, const torch::Tensor& x) const {
  auto h = layerNorm(x, block.norm1_weight, block.norm1_bias);
  if (block.window_size > 0) {
    const auto H = h.size(1), W = h.size(2);
    h = windowUnpartition(attention(block, windowPartition(h, block.window_size)), block.window_size, H, W);
  } else {
    h = attention(block, h);
  }
  auto residual = x + h;
  auto mlp = layerNorm(residual, block.norm2_weight, block.norm2_bias);
  mlp = linearRows(mlp, block.lin1_weight, block.lin1_bias);
  mlp = linearRows(F::gelu(mlp), block.lin2_weight, block.lin2_bias);
  return residual + mlp;
}

// Multi-head self-attention over [B,H,W,C] with the decomposed relative-position bias (MViTv2):
//   logits[(y,x),(y',x')] = scale·q(y,x)·k(y',x') + q(y,x)·Rh[y,y'] + q(y,x)·Rw[x,x']   (q unscaled in the bias).
// The bias is never materialised (it would be [HW, HW] per head: 6400² at Large). Its two terms are dot products
// with one-hot key features instead: q' = [scale·q, q·Rh[y,:], q·Rw[x,:]] and k' = [k, onehot(y'), onehot(x')],
// so q'·k' is exactly the biased logit and one fused attention kernel (scale 1) does the rest.
torch::Tensor Sam::attention(const Block& block, const torch::Tensor& x) const {
  const auto B = x.size(0), H = x.size(1), W = x.size(2), C = x.size(3);
  const std::int64_t heads = config_.heads, head_dim = C / heads;
  // q, k, v as [B, heads, H, W, head_dim] views of the projection (no copies).
  const auto qkv = linearRows(x, block.qkv_weight, block.qkv_bias).view({B, H, W, 3, heads, head_dim});
  const auto q = qkv.select(3, 0).permute({0, 3, 1, 2, 4}), k = qkv.select(3, 1).permute({0, 3, 1, 2, 4}),
             v = qkv.select(3, 2).permute({0, 3, 1, 2, 4});
  // Fused attention kernels want a head size that is a multiple of 8: q', k' and v are zero-padded alike.
  const auto features = head_dim + H + W, width = features + (8 - features % 8) % 8;
  const auto on = x.options();
  auto q_aug = torch::empty({B, heads, H, W, width}, on), k_aug = torch::empty_like(q_aug),
       v_aug = torch::empty_like(q_aug);
  auto q_scaled = q_aug.narrow(-1, 0, head_dim);
  torch::mul_out(q_scaled, q, torch::scalar_tensor(1.0 / std::sqrt(static_cast<double>(head_dim))));
  const auto rel_h = torch::einsum("bnhwc,hkc->bnhwk", {q, relativePositions(block.rel_pos_h, H)});  // q·Rh[y,:]
  const auto rel_w = torch::einsum("bnhwc,wkc->bnhwk", {q, relativePositions(block.rel_pos_w, W)});  // q·Rw[x,:]
  q_aug.narrow(-1, head_dim, H).copy_(rel_h);
  q_aug.narrow(-1, head_dim + H, W).copy_(rel_w);
  k_aug.narrow(-1, 0, head_dim).copy_(k);
  k_aug.narrow(-1, head_dim, H).copy_(torch::eye(H, on).view({H, 1, H}));  // key (y', x'): one-hot y'
  k_aug.narrow(-1, head_dim + H, W).copy_(torch::eye(W, on).view({1, W, W}));  // one-hot x'
  v_aug.narrow(-1, 0, head_dim).copy_(v);
  v_aug.narrow(-1, head_dim, width - head_dim).zero_();
  if (width > features) {
    q_aug.narrow(-1, features, width - features).zero_();
    k_aug.narrow(-1, features, width - features).zero_();
  }
  const auto sequence = [&](const torch::Tensor& t) { return t.view({B, heads, H * W, width}); };
  auto out = at::scaled_dot_product_attention(sequence(q_aug), sequence(k_aug), sequence(v_aug), {}, 0.0, false, 1.0)
                 .narrow(-1, 0, head_dim);  // [B, heads, HW, head_dim]
  out = out.view({B, heads, H, W, head_dim}).permute({0, 2, 3, 1, 4}).reshape({B, H, W, C});
  return linearRows(out, block.proj_weight, block.proj_bias);
}

torch::Tensor Sam::neckForward(const torch::Tensor& x) const {
  auto y = F::conv2d(x.permute({0, 3, 1, 2}), neck_conv1_);
  y = layerNorm2d(y, neck_norm1_weight_, neck_norm1_bias_);
  y = F::conv2d(y, neck_conv2_, F::Conv2dFuncOptions().padding(1));
  y = layerNorm2d(y, neck_norm2_weight_, neck_norm2_bias_);
  y = F::conv2d(y, net_2_, F::Conv2dFuncOptions().stride(2).padding(1));
  return F::conv2d(y, net_3_, F::Conv2dFuncOptions().stride(2).padding(1));
}

}  // namespace folio
