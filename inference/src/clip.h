// CLIP ViT-L of DeepSeek-OCR's DeepEncoder (`model.vision_model.*`). Its own patch embedding is unused: the SAM
// features are the patch sequence, behind a class token, with the position embedding resized to their grid.
#pragma once

#include <torch/torch.h>

#include <string>
#include <vector>

#include "config.h"
#include "weights.h"

namespace folio {

class Clip {
 public:
  // Takes `prefix`embeddings.class_embedding, embeddings.position_embedding.weight, pre_layrnorm.*,
  // transformer.layers.<i>.* from `weights` (their device and dtype). Throws folio::Error naming a missing
  // tensor or one whose shape disagrees with `config`.
  Clip(const ClipConfig& config, const Weights& weights, const std::string& prefix = "model.vision_model.");

  // sam_features [B, width, h, w] -> hidden states [B, 1 + h*w, width] (class token first, no final norm).
  torch::Tensor forward(const torch::Tensor& sam_features) const;

 private:
  struct Layer {
    torch::Tensor layer_norm1_weight, layer_norm1_bias, layer_norm2_weight, layer_norm2_bias;
    torch::Tensor qkv_proj_weight, qkv_proj_bias, out_proj_weight, out_proj_bias;
    torch::Tensor fc1_weight, fc1_bias, fc2_weight, fc2_bias;
  };

  torch::Tensor embeddings(const torch::Tensor& sam_features) const;
  torch::Tensor layerForward(const Layer& layer, torch::Tensor& x, const torch::Tensor& pending) const;
  torch::Tensor selfAttention(const Layer& layer, const torch::Tensor& x) const;

  ClipConfig config_;
  torch::Tensor class_embedding_;     // [width]
  torch::Tensor position_embedding_;  // [1 + G*G, width] for the trained grid G = image_size / patch_size
  torch::Tensor pre_layrnorm_weight_, pre_layrnorm_bias_;
  std::vector<Layer> layers_;
};

}  // namespace folio
