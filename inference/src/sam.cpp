#include "sam.h"

#include <folio/engine.h>

#include <algorithm>
#include <cmath>
#include <sstream>

#ifdef FOLIO_HAVE_CUDA
#include "fused_ops.h"
#include "kernel_support.h"
#include "sam_features.h"
#endif

namespace folio {
namespace F = torch::nn::functional;

namespace {

constexpr double kNormEps = 1e-6;  // SAM's LayerNorm and LayerNorm2d (fixed by the architecture)

std::string shapeText(c10::IntArrayRef shape) {
  std::ostringstream out;
  out << shape;
  return out.str();
}

// LayerNorm over the channels of a [B,C,H,W] map.
torch::Tensor layerNorm2d(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias) {
  auto centred = x - x.mean(1, true);
  auto variance = centred.pow(2).mean(1, true);
  auto normalised = centred / torch::sqrt(variance + kNormEps);
  return weight.reshape({-1, 1, 1}) * normalised + bias.reshape({-1, 1, 1});
}

// The relative-position table of one axis for `size` query and key positions: 2*size-1 rows, row i for the
// offset i - (size - 1). A table trained for another size is resized linearly (upstream get_rel_pos).
torch::Tensor resizedRelativeTable(const torch::Tensor& rel_pos, std::int64_t size) {
  const std::int64_t length = 2 * size - 1;
  if (rel_pos.size(0) == length) return rel_pos;
  auto rows_last = rel_pos.to(torch::kFloat32).t().unsqueeze(0);  // [1, head_dim, L]
  auto resized = F::interpolate(rows_last, F::InterpolateFuncOptions()
                                               .size(std::vector<std::int64_t>{length})
                                               .mode(torch::kLinear)
                                               .align_corners(false));
  return resized.squeeze(0).t().to(rel_pos.dtype());
}

// The relative positions for `size` query and key positions along one axis: [size, size, head_dim], entry
// (i, j) = table[i - j + size - 1].
torch::Tensor relativePositions(const torch::Tensor& rel_pos, std::int64_t size) {
  auto positions = torch::arange(size, torch::TensorOptions().dtype(torch::kLong).device(rel_pos.device()));
  auto index = positions.unsqueeze(1) - positions.unsqueeze(0) + (size - 1);
  return resizedRelativeTable(rel_pos, size).index_select(0, index.flatten()).reshape({size, size, -1});
}

// The width of q' and k' for a head size and an H x W grid: D + H + W, padded to a multiple of 8 (fused attention
// kernels want one).
std::int64_t featureWidth(std::int64_t head_dim, std::int64_t H, std::int64_t W) {
  const auto features = head_dim + H + W;
  return features + (8 - features % 8) % 8;
}

#ifdef FOLIO_HAVE_CUDA
// The CUDA path of samQueryKeyFeatures: each query's products with both tables as one GEMM per head (reading q
// in place from the projection), then one kernel lays out q' and k' (the relative-position terms are gathered
// from the products by offset).
QueryKeyFeatures queryKeyFeaturesByKernel(const torch::Tensor& qkv, const torch::Tensor& rel_pos_h,
                                          const torch::Tensor& rel_pos_w) {
  const auto H = qkv.size(1), W = qkv.size(2), heads = qkv.size(4), head_dim = qkv.size(5);
  auto tables = torch::cat({resizedRelativeTable(rel_pos_h, H), resizedRelativeTable(rel_pos_w, W)});
  tables = F::pad(tables, F::PadFuncOptions({0, 0, 0, (8 - tables.size(0) % 8) % 8}));  // aligned GEMM rows
  // [heads, B*H*W, D] view of q (rows 3C apart) times [heads, D, columns] -> [heads, B*H*W, columns].
  const auto q = qkv.select(3, 0).flatten(0, 2).transpose(0, 1);
  const auto products = torch::bmm(q, tables.t().unsqueeze(0).expand({heads, -1, -1}).contiguous());
  auto [q_aug, k_aug] = cuda::samQueryKeyFeatures(qkv.contiguous(), products, featureWidth(head_dim, H, W),
                                                  1.0 / std::sqrt(static_cast<double>(head_dim)));
  return {q_aug, k_aug};
}
#endif

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

torch::Tensor windowPartition(const torch::Tensor& x, std::int64_t ws) {
  const auto B = x.size(0), H = x.size(1), W = x.size(2), C = x.size(3);
  const auto pad_h = (ws - H % ws) % ws, pad_w = (ws - W % ws) % ws;
  auto padded = (pad_h || pad_w) ? F::pad(x, F::PadFuncOptions({0, 0, 0, pad_w, 0, pad_h})) : x;
  const auto Hp = H + pad_h, Wp = W + pad_w;
  return padded.reshape({B, Hp / ws, ws, Wp / ws, ws, C}).permute({0, 1, 3, 2, 4, 5}).reshape({-1, ws, ws, C});
}

torch::Tensor windowUnpartition(const torch::Tensor& windows, std::int64_t ws, std::int64_t H, std::int64_t W) {
  const auto Hp = (H + ws - 1) / ws * ws, Wp = (W + ws - 1) / ws * ws;
  const auto B = windows.size(0) / ((Hp / ws) * (Wp / ws));
  auto x = windows.reshape({B, Hp / ws, Wp / ws, ws, ws, -1}).permute({0, 1, 3, 2, 4, 5}).reshape({B, Hp, Wp, -1});
  return x.slice(1, 0, H).slice(2, 0, W);
}

NormedSum addLayerNorm(const torch::Tensor& x, const torch::Tensor& delta, const torch::Tensor& weight,
                       const torch::Tensor& bias, double eps, int window, bool delta_in_windows,
                       bool normed_in_windows) {
#ifdef FOLIO_HAVE_CUDA
  const auto bf16 = [](const torch::Tensor& t) { return cuda::kernelsFor(t) && t.scalar_type() == torch::kBFloat16; };
  if (bf16(x) && bf16(weight) && bf16(bias) && (!delta.defined() || (bf16(delta) && delta.is_contiguous())) &&
      x.is_contiguous() && x.size(-1) % 8 == 0 && x.size(-1) <= cuda::kLayerNormMaxWidth) {
    auto [sum, normed] = cuda::addLayerNorm(x, delta, weight, bias, eps, window, delta_in_windows, normed_in_windows);
    return {sum, normed};
  }
#endif
  auto sum = x;
  if (delta.defined()) sum = x + (delta_in_windows ? windowUnpartition(delta, window, x.size(1), x.size(2)) : delta);
  auto normed = F::layer_norm(sum, F::LayerNormFuncOptions({x.size(-1)}).weight(weight).bias(bias).eps(eps));
  return {sum, normed_in_windows ? windowPartition(normed, window) : normed};
}

QueryKeyFeatures samQueryKeyFeaturesByOps(const torch::Tensor& qkv, const torch::Tensor& rel_pos_h,
                                          const torch::Tensor& rel_pos_w) {
  const auto H = qkv.size(1), W = qkv.size(2), head_dim = qkv.size(5);
  const auto q = qkv.select(3, 0), k = qkv.select(3, 1);  // [B, H, W, heads, head_dim]
  const auto features = head_dim + H + W, width = featureWidth(head_dim, H, W);
  const auto on = qkv.options();
  auto q_aug = torch::empty({qkv.size(0), H, W, qkv.size(4), width}, on), k_aug = torch::empty_like(q_aug);
  auto q_scaled = q_aug.narrow(-1, 0, head_dim);
  torch::mul_out(q_scaled, q, torch::scalar_tensor(1.0 / std::sqrt(static_cast<double>(head_dim))));
  q_aug.narrow(-1, head_dim, H).copy_(torch::einsum("bhwnc,hkc->bhwnk", {q, relativePositions(rel_pos_h, H)}));
  q_aug.narrow(-1, head_dim + H, W).copy_(torch::einsum("bhwnc,wkc->bhwnk", {q, relativePositions(rel_pos_w, W)}));
  k_aug.narrow(-1, 0, head_dim).copy_(k);
  k_aug.narrow(-1, head_dim, H).copy_(torch::eye(H, on).view({H, 1, 1, H}));  // key (y', x'): one-hot y'
  k_aug.narrow(-1, head_dim + H, W).copy_(torch::eye(W, on).view({1, W, 1, W}));  // one-hot x'
  if (width > features) {
    q_aug.narrow(-1, features, width - features).zero_();
    k_aug.narrow(-1, features, width - features).zero_();
  }
  return {q_aug, k_aug};
}

QueryKeyFeatures samQueryKeyFeatures(const torch::Tensor& qkv, const torch::Tensor& rel_pos_h,
                                     const torch::Tensor& rel_pos_w) {
#ifdef FOLIO_HAVE_CUDA
  if (cuda::kernelsFor(qkv) && qkv.scalar_type() == torch::kBFloat16 && qkv.size(5) % 8 == 0)
    return queryKeyFeaturesByKernel(qkv, rel_pos_h, rel_pos_w);
#endif
  return samQueryKeyFeaturesByOps(qkv, rel_pos_h, rel_pos_w);
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
  torch::Tensor pending;  // a block's MLP output: the next block adds it to x together with its first LayerNorm
  for (const Block& block : blocks_) pending = blockForward(block, x, pending);
  return neckForward(pending.defined() ? x + pending : x);
}

// Patches -> [B, g, g, width] plus the absolute position embedding resized to the grid. The patch embedding is a
// convolution whose stride is its kernel size, i.e. one linear map of each flattened 3 x p x p patch: run as a
// GEMM over the patches (cuDNN's convolution kernel for this shape took 0.28 ms of a 6.8 ms Base pass on an H200).
torch::Tensor Sam::patchEmbed(const torch::Tensor& images) const {
  const auto B = images.size(0), p = static_cast<std::int64_t>(config_.patch_size);
  const auto rows = images.size(2) / p, columns = images.size(3) / p;
  const auto patches = images.reshape({B, 3, rows, p, columns, p}).permute({0, 2, 4, 1, 3, 5}).reshape({B, rows, columns, 3 * p * p});
  const auto x = linearRows(patches, patch_embed_weight_.reshape({patch_embed_weight_.size(0), -1}), patch_embed_bias_);
  auto pos = resizePositionGrid(pos_embed_.permute({0, 3, 1, 2}), rows, columns).permute({0, 2, 3, 1});
  // Contiguous [B, g, g, width]: every later add and LayerNorm of the residual stream runs on it.
  return (x + pos).contiguous();
}

// One pre-LN block on the residual stream x: first adds the previous block's MLP output `pending` to x (with
// norm1), then the attention's output (with norm2); returns this block's MLP output, still to be added. A
// windowed block's attention runs on the grid cut into windows: norm1 writes its output so, and norm2 reads the
// attention's output so.
torch::Tensor Sam::blockForward(const Block& block, torch::Tensor& x, const torch::Tensor& pending) const {
  const int window = block.window_size;
  const bool windowed = window > 0;
  const auto [stream, h] = addLayerNorm(x, pending, block.norm1_weight, block.norm1_bias, kNormEps, window, false, windowed);
  auto [residual, mlp] = addLayerNorm(stream, attention(block, h), block.norm2_weight, block.norm2_bias, kNormEps,
                                      window, windowed, false);
  x = residual;
  mlp = linearRows(mlp, block.lin1_weight, block.lin1_bias);
  return linearRows(F::gelu(mlp), block.lin2_weight, block.lin2_bias);
}

// Multi-head self-attention over [B,H,W,C] with the decomposed relative-position bias (MViTv2):
//   logits[(y,x),(y',x')] = scale·q(y,x)·k(y',x') + q(y,x)·Rh[y,y'] + q(y,x)·Rw[x,x']   (q unscaled in the bias).
// The bias is never materialised (it would be [HW, HW] per head: 6400² at Large): q' and k'
// (samQueryKeyFeatures) carry it as one-hot key features, so one fused attention kernel (scale 1) does the rest.
torch::Tensor Sam::attention(const Block& block, const torch::Tensor& x) const {
  const auto B = x.size(0), H = x.size(1), W = x.size(2), C = x.size(3);
  const std::int64_t heads = config_.heads, head_dim = C / heads;
  // Token-major [B, H, W, 3, heads, head_dim]: q, k and v are views of the projection.
  const auto qkv = linearRows(x, block.qkv_weight, block.qkv_bias).view({B, H, W, 3, heads, head_dim});
  const auto [q_aug, k_aug] = samQueryKeyFeatures(qkv, block.rel_pos_h, block.rel_pos_w);
  const auto v = qkv.select(3, 2);
  // [B, heads, HW, d] views of token-major [B, H, W, heads, d] tensors: the attention's output follows q's
  // layout, and token-major is what the output projection reads (no transposition on the way out).
  const auto sequence = [&](const torch::Tensor& t) { return t.view({B, H * W, heads, t.size(-1)}).transpose(1, 2); };
  // On a GPU the memory-efficient attention takes v at its own head size, as a view of the projection; the CPU's
  // fused kernel wants one head size for q, k and v, so there v is zero-padded to the width of q' and k'.
  torch::Tensor values = v;
  if (!x.is_cuda()) {
    values = torch::zeros_like(q_aug);
    values.narrow(-1, 0, head_dim).copy_(v);
  }
  auto out = at::scaled_dot_product_attention(sequence(q_aug), sequence(k_aug), sequence(values), {}, 0.0, false, 1.0)
                 .narrow(-1, 0, head_dim);  // [B, heads, HW, head_dim]
  out = out.transpose(1, 2).reshape({B, H, W, C});
  return linearRows(out, block.proj_weight, block.proj_bias);
}

namespace {

// A bias-free 2-D convolution that never goes to cuDNN: cuDNN builds an execution plan for every new input shape
// (every new number of views in a batch), which a user pays on each new page layout (a first page on an H200 spent
// 154 ms in cuDNN's convolutions); ATen's own convolution (im2col + GEMM) needs no plan.
torch::Tensor convolution(const torch::Tensor& x, const torch::Tensor& weight, std::int64_t stride, std::int64_t padding) {
  return at::_convolution(x, weight, {}, {stride, stride}, {padding, padding}, {1, 1}, /*transposed=*/false, {0, 0},
                          /*groups=*/1, /*benchmark=*/false, /*deterministic=*/false, /*cudnn_enabled=*/false,
                          /*allow_tf32=*/false);
}

}  // namespace

torch::Tensor Sam::neckForward(const torch::Tensor& x) const {
  auto y = convolution(x.permute({0, 3, 1, 2}), neck_conv1_, 1, 0);
  y = layerNorm2d(y, neck_norm1_weight_, neck_norm1_bias_);
  y = convolution(y, neck_conv2_, 1, 1);
  y = layerNorm2d(y, neck_norm2_weight_, neck_norm2_bias_);
  y = convolution(y, net_2_, 2, 1);
  return convolution(y, net_3_, 2, 1);
}

}  // namespace folio
