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
  torch::Tensor blockForward(const Block& block, const torch::Tensor& x) const;
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

// Resizes a [1, C, h, w] grid of position embeddings to (height, width) as upstream does: bicubic with
// antialiasing, computed in float32, returned in the input dtype. Unchanged when the size already matches.
torch::Tensor resizePositionGrid(const torch::Tensor& grid, std::int64_t height, std::int64_t width);

}  // namespace folio
