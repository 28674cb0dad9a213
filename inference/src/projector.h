// The linear projector (`model.projector.layers.*`) from the vision features of each image position to the
// decoder's hidden size: in DeepSeek-OCR the CLIP output (class token dropped) concatenated with the SAM feature,
// in DeepSeek-OCR-2 the encoder's query output.
#pragma once

#include <torch/torch.h>

#include <string>

#include "config.h"
#include "weights.h"

namespace folio {

class Projector {
 public:
  // Throws folio::Error naming a missing tensor or one whose shape disagrees with `config`.
  Projector(const ProjectorConfig& config, const Weights& weights, const std::string& prefix = "model.projector.");

  // features [B, T, input_dim] -> [B, T, n_embed].
  torch::Tensor forward(const torch::Tensor& features) const;
  // DeepSeek-OCR: clip [B, 1+T, C1], sam [B, C2, h, w] with T = h*w, C1 + C2 = input_dim -> [B, T, n_embed].
  torch::Tensor forward(const torch::Tensor& clip, const torch::Tensor& sam) const;

 private:
  ProjectorConfig config_;
  torch::Tensor weight_, bias_;
};

}  // namespace folio
