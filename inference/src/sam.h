// SAM ViT-B image encoder of DeepSeek-OCR's DeepEncoder (`model.sam_model.*`): patch embedding, absolute
// position embedding, 12 pre-LN blocks (windowed or global attention with decomposed relative positions),
// the neck and two stride-2 convolutions (net_2, net_3) that shrink the patch grid by 4.
#pragma once

#include <torch/torch.h>

#include <string>
#include <vector>

#include "config.h"
#include "weights.h"

namespace folio {

class Sam {
 public:
  // Takes `prefix`patch_embed.*, pos_embed, blocks.<i>.*, neck.*, net_2, net_3 from `weights` (their device and
  // dtype). Throws folio::Error naming a missing tensor or one whose shape disagrees with `config`.
  Sam(const SamConfig& config, const Weights& weights, const std::string& prefix = "model.sam_model.");

  // images [B,3,S,S] normalised, S a multiple of patch_size -> features [B, downsample_channels.back(), S/64, S/64].
  torch::Tensor forward(const torch::Tensor& images) const;

 private:
  struct Block {
    torch::Tensor norm1_weight, norm1_bias, norm2_weight, norm2_bias;
    torch::Tensor qkv_weight, qkv_bias, proj_weight, proj_bias;
    torch::Tensor rel_pos_h, rel_pos_w;  // [2*L-1, head_dim] for the trained side L (window or full grid)
    torch::Tensor lin1_weight, lin1_bias, lin2_weight, lin2_bias;
    int window_size = 0;  // 0: global attention
  };

  torch::Tensor patchEmbed(const torch::Tensor& images) const;
  torch::Tensor blockForward(const Block& block, torch::Tensor& x, const torch::Tensor& pending) const;
  torch::Tensor attention(const Block& block, const torch::Tensor& x) const;
  torch::Tensor neckForward(const torch::Tensor& x) const;

  SamConfig config_;
  torch::Tensor patch_embed_weight_, patch_embed_bias_;
  torch::Tensor pos_embed_;  // [1, G, G, width] for the trained grid G = image_size / patch_size
  std::vector<Block> blocks_;
  torch::Tensor neck_conv1_, neck_norm1_weight_, neck_norm1_bias_;
  torch::Tensor neck_conv2_, neck_norm2_weight_, neck_norm2_bias_;
  torch::Tensor net_2_, net_3_;
};

// Shared by the vision modules: the tensor `name` from `weights`, checked to have `shape`.
torch::Tensor visionWeight(const Weights& weights, const std::string& name, const std::vector<std::int64_t>& shape);

// F::linear over the last dimension as one 2-D GEMM, so that the bias is added inside the GEMM (libtorch adds it
// in a separate pass over the output when the input has more than two dimensions).
torch::Tensor linearRows(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias);

// The query and key features of SAM's attention with the decomposed relative-position bias, from the token-major
// projection qkv [B, H, W, 3, heads, D]: q' = [scale·q, q·Rh[y, :], q·Rw[x, :], 0...] and k' = [k, onehot(y),
// onehot(x), 0...], each [B, H, W, heads, width] (width: D + H + W padded to a multiple of 8), so that q'·k' is
// the biased logit. rel_pos_h / rel_pos_w: the block's tables (resized when trained for another size).
struct QueryKeyFeatures {
  torch::Tensor q, k;
};
QueryKeyFeatures samQueryKeyFeatures(const torch::Tensor& qkv, const torch::Tensor& rel_pos_h,
                                     const torch::Tensor& rel_pos_w);
// The same from libtorch ops only: the CPU's path and the reference of the CUDA kernel (folio-kernel-check).
QueryKeyFeatures samQueryKeyFeaturesByOps(const torch::Tensor& qkv, const torch::Tensor& rel_pos_h,
                                          const torch::Tensor& rel_pos_w);

// Splits a grid [B, H, W, C] into windows [B * nWindows, ws, ws, C] (row-major windows), zero-padding H and W
// up to multiples of ws; windowUnpartition is its inverse, the padding dropped.
torch::Tensor windowPartition(const torch::Tensor& x, std::int64_t ws);
torch::Tensor windowUnpartition(const torch::Tensor& windows, std::int64_t ws, std::int64_t H, std::int64_t W);

// x + delta (delta undefined: x itself) and its LayerNorm over the last dimension, as {sum, normed}; the sum is
// rounded to x's dtype before the norm, as the separate ops round it. SAM's windowed blocks (window > 0, x a grid
// [B, H, W, C]) give delta as windows (delta_in_windows) or take normed as windows (normed_in_windows), as
// windowPartition lays them out. On the GPU in bf16 one kernel (cuda::addLayerNorm): no separate add, partition
// or unpartition passes.
struct NormedSum {
  torch::Tensor sum, normed;
};
NormedSum addLayerNorm(const torch::Tensor& x, const torch::Tensor& delta, const torch::Tensor& weight,
                       const torch::Tensor& bias, double eps, int window = 0, bool delta_in_windows = false,
                       bool normed_in_windows = false);

// Resizes a [1, C, h, w] grid of position embeddings to (height, width) as upstream does: bicubic with
// antialiasing, computed in float32, returned in the input dtype. Unchanged when the size already matches.
torch::Tensor resizePositionGrid(const torch::Tensor& grid, std::int64_t height, std::int64_t width);

}  // namespace folio
