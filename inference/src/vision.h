// The vision encoders of both families: SAM-B, then CLIP-L (DeepSeek-OCR's "DeepEncoder") or the Qwen2 encoder
// with learnable queries (DeepSeek-OCR-2's "DeepEncoder V2"), the linear projector, and the layout of one image's
// features as the decoder reads them (upstream deepseek_ocr.py _pixel_values_to_embedding, OCR2.md).
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "clip.h"
#include "config.h"
#include "projector.h"
#include "qwen2_encoder.h"
#include "sam.h"
#include "weights.h"

namespace folio {

// One page's views, normalised, on the encoder's device: global_view [1,3,S,S]; tiles [grid_w*grid_h,3,s,s] or
// an undefined tensor.
struct PageViewTensors {
  torch::Tensor global_view;
  torch::Tensor tiles;
  int grid_w = 1, grid_h = 1;
};

// The features of one image in decoder order: if tiles are given, their (grid_h*t) x (grid_w*t) mosaic
// row by row, each row followed by image_newline; then the global view's rows, each followed by image_newline;
// then view_seperator. global [1, g*g, D], tiles [grid_w*grid_h, t*t, D] (row-major tiles) or undefined.
// Without image_newline (DeepSeek-OCR-2, undefined tensor): each tile's features in their own order, tile by
// tile, then the global view's, then view_seperator.
torch::Tensor layoutImageFeatures(const torch::Tensor& global, const torch::Tensor& tiles, int grid_w, int grid_h,
                                  const torch::Tensor& image_newline, const torch::Tensor& view_seperator);

class VisionEncoder {
 public:
  // Takes model.sam_model.*, model.vision_model.* (not its patch embedding) or model.qwen2_model.* (by
  // config.family), model.projector.*, model.image_newline (DeepSeek-OCR) and model.view_seperator, on their device
  // and in their dtype.
  VisionEncoder(const ModelConfig& config, const Weights& weights);

  // global_view [1,3,S,S] normalised; tiles [n,3,s,s] (n = grid_w * grid_h) or an undefined tensor; grid
  // (grid_w, grid_h) of the tiles. Returns the image features [N, n_embed] in the final layout (see
  // layoutImageFeatures). If stages != nullptr, stores "global.sam", "global.clip" (OCR-2: "global.encoder"),
  // "tiles.sam", "tiles.clip" / "tiles.encoder" (first tile only), as the goldens name them.
  torch::Tensor encode(const torch::Tensor& global_view, const torch::Tensor& tiles, int grid_w, int grid_h,
                       std::map<std::string, torch::Tensor>* stages = nullptr) const;

  // Several pages in two passes (all global views together, then all tiles together), which keeps the GPU busy
  // where one page's views are too small to. Every global view must have one size and every page's tiles
  // another. Returns encode()'s features of each page, in order; stages, if given, are the first page's.
  std::vector<torch::Tensor> encodeBatch(const std::vector<PageViewTensors>& pages,
                                         std::map<std::string, torch::Tensor>* stages = nullptr) const;

  // Projected features [B, h*w, n_embed] of a batch of views [B,3,s,s] of one size (SAM -> CLIP or the Qwen2
  // encoder -> projector); stores "<tag>.sam"/"<tag>.clip"/"<tag>.encoder" of the first view when stages is given.
  torch::Tensor encodeViews(const torch::Tensor& views, const std::string& tag = {},
                            std::map<std::string, torch::Tensor>* stages = nullptr) const;
  // One page's features in decoder order from encodeViews() of its global view [1, g*g, D] and of its tiles
  // (or an undefined tensor).
  torch::Tensor layout(const torch::Tensor& global, const torch::Tensor& tiles, int grid_w, int grid_h) const {
    return layoutImageFeatures(global, tiles, grid_w, grid_h, image_newline_, view_seperator_);
  }

 private:

  Sam sam_;
  std::optional<Clip> clip_;             // DeepSeek-OCR
  std::optional<Qwen2Encoder> encoder_;  // DeepSeek-OCR-2
  Projector projector_;
  torch::Tensor image_newline_;   // [n_embed]; undefined for DeepSeek-OCR-2
  torch::Tensor view_seperator_;  // [n_embed] (upstream spelling)
};


// How many feature rows layoutImageFeatures yields: global side g, tile side t (0 without tiles).
std::int64_t imageFeatureCount(std::int64_t global_side, std::int64_t tile_side, int grid_w, int grid_h);

}  // namespace folio
