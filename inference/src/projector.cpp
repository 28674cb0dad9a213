#include "projector.h"

#include <folio/engine.h>

#include "sam.h"

namespace folio {

Projector::Projector(const ProjectorConfig& config, const Weights& weights, const std::string& prefix)
    : config_(config),
      weight_(visionWeight(weights, prefix + "layers.weight", {config.n_embed, config.input_dim})),
      bias_(visionWeight(weights, prefix + "layers.bias", {config.n_embed})) {}

torch::Tensor Projector::forward(const torch::Tensor& clip, const torch::Tensor& sam) const {
  auto clip_patches = clip.slice(1, 1);                    // drop the class token
  auto sam_patches = sam.flatten(2).transpose(1, 2);       // [B, h*w, C2]
  if (clip_patches.size(1) != sam_patches.size(1) || clip.size(2) + sam.size(1) != config_.input_dim)
    throw Error("projector: CLIP and SAM features do not match its input (" + std::to_string(config_.input_dim) +
                " channels per patch)");
  return forward(torch::cat({clip_patches, sam_patches.to(clip.dtype())}, -1));
}

torch::Tensor Projector::forward(const torch::Tensor& features) const {
  if (features.size(-1) != config_.input_dim)
    throw Error("projector: " + std::to_string(features.size(-1)) + " features per position, expected " +
                std::to_string(config_.input_dim));
  return linearRows(features.to(weight_.scalar_type()), weight_, bias_);
}

}  // namespace folio
