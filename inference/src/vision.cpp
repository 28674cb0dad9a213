#include "vision.h"

#include <folio/engine.h>

#include <cmath>

namespace folio {

namespace {

// The side of a square grid of `count` patches; throws when it is not square.
std::int64_t squareSide(std::int64_t count, const char* what) {
  auto side = static_cast<std::int64_t>(std::llround(std::sqrt(static_cast<double>(count))));
  if (side * side != count) throw Error(std::string("vision layout: ") + what + " features are not a square grid");
  return side;
}

// Rows of a [rows, cols, D] grid, each followed by `newline`, flattened to [rows*(cols+1), D].
torch::Tensor rowsWithNewlines(const torch::Tensor& grid, const torch::Tensor& newline) {
  auto newlines = newline.reshape({1, 1, -1}).expand({grid.size(0), 1, grid.size(2)}).to(grid.dtype());
  return torch::cat({grid, newlines}, 1).reshape({-1, grid.size(2)});
}

// The views of several pages as one batch (no copy for one page).
torch::Tensor concatenated(const std::vector<torch::Tensor>& views) {
  return views.size() == 1 ? views.front() : torch::cat(views);
}

}  // namespace

VisionEncoder::VisionEncoder(const ModelConfig& config, const Weights& weights)
    : sam_(config.sam, weights),
      projector_(config.projector, weights),
      view_seperator_(visionWeight(weights, "model.view_seperator", {config.projector.n_embed})) {
  if (config.family == ModelFamily::DeepseekOcr2) {
    encoder_.emplace(config.encoder, config.sam, weights);
  } else {
    clip_.emplace(config.clip, weights);
    image_newline_ = visionWeight(weights, "model.image_newline", {config.projector.n_embed});
  }
}

torch::Tensor VisionEncoder::encodeViews(const torch::Tensor& views, const std::string& tag,
                                         std::map<std::string, torch::Tensor>* stages) const {
  const auto record = [&](const std::string& stage, const torch::Tensor& value) {
    if (stages && !tag.empty()) (*stages)[tag + "." + stage] = value.slice(0, 0, 1).clone();
  };
  const auto sam = sam_.forward(views);
  record("sam", sam);
  if (encoder_) {  // SAM's positions, row-major, are the encoder's input tokens
    const auto queries = encoder_->forward(sam.flatten(2).transpose(1, 2));
    record("encoder", queries);
    return projector_.forward(queries);
  }
  const auto clip = clip_->forward(sam);
  record("clip", clip);
  return projector_.forward(clip, sam);
}

torch::Tensor VisionEncoder::encode(const torch::Tensor& global_view, const torch::Tensor& tiles, int grid_w,
                                    int grid_h, std::map<std::string, torch::Tensor>* stages) const {
  return encodeBatch({PageViewTensors{global_view, tiles, grid_w, grid_h}}, stages).front();
}

std::vector<torch::Tensor> VisionEncoder::encodeBatch(const std::vector<PageViewTensors>& pages,
                                                      std::map<std::string, torch::Tensor>* stages) const {
  torch::InferenceMode inference;
  if (pages.empty()) return {};
  std::vector<torch::Tensor> global_views, tile_views;
  for (const auto& page : pages) {
    if (!page.global_view.defined() || page.global_view.dim() != 4 || page.global_view.size(0) != 1)
      throw Error("vision: the global view must be one image [1,3,S,S]");
    if (!global_views.empty() && page.global_view.sizes() != global_views.front().sizes())
      throw Error("vision: the pages of one batch need global views of one size");
    global_views.push_back(page.global_view);
    if (!page.tiles.defined()) continue;
    if (page.tiles.dim() != 4 || page.tiles.size(0) != static_cast<std::int64_t>(page.grid_w) * page.grid_h)
      throw Error("vision: " + std::to_string(page.tiles.dim() == 4 ? page.tiles.size(0) : 0) + " tiles for a " +
                  std::to_string(page.grid_w) + "x" + std::to_string(page.grid_h) + " grid");
    tile_views.push_back(page.tiles);
  }
  const auto global = encodeViews(concatenated(global_views), "global", stages);
  torch::Tensor local;
  if (!tile_views.empty()) local = encodeViews(concatenated(tile_views), "tiles", stages);
  std::vector<torch::Tensor> features;
  std::int64_t first_tile = 0;
  for (std::size_t i = 0; i < pages.size(); ++i) {
    const auto& page = pages[i];
    torch::Tensor tiles;
    if (page.tiles.defined()) {
      tiles = local.narrow(0, first_tile, page.tiles.size(0));
      first_tile += page.tiles.size(0);
    }
    features.push_back(layout(global.narrow(0, static_cast<std::int64_t>(i), 1), tiles, page.grid_w, page.grid_h));
  }
  return features;
}

torch::Tensor layoutImageFeatures(const torch::Tensor& global, const torch::Tensor& tiles, int grid_w, int grid_h,
                                  const torch::Tensor& image_newline, const torch::Tensor& view_seperator) {
  const auto dim = global.size(-1);
  std::vector<torch::Tensor> parts;
  if (!image_newline.defined()) {
    if (tiles.defined()) parts.push_back(tiles.reshape({-1, dim}));
    parts.push_back(global.reshape({-1, dim}));
    parts.push_back(view_seperator.reshape({1, dim}).to(global.dtype()));
    return torch::cat(parts, 0);
  }
  const auto g = squareSide(global.size(1), "global view");
  if (tiles.defined()) {
    if (tiles.size(0) != static_cast<std::int64_t>(grid_w) * grid_h)
      throw Error("vision layout: " + std::to_string(tiles.size(0)) + " tiles for a " + std::to_string(grid_w) +
                  "x" + std::to_string(grid_h) + " grid");
    const auto t = squareSide(tiles.size(1), "tile");
    // [tile row, tile col, y, x, D] -> [tile row, y, tile col, x, D]: one mosaic of grid_h*t rows.
    auto mosaic = tiles.reshape({grid_h, grid_w, t, t, dim}).permute({0, 2, 1, 3, 4}).reshape({grid_h * t, grid_w * t, dim});
    parts.push_back(rowsWithNewlines(mosaic, image_newline));
  }
  parts.push_back(rowsWithNewlines(global.reshape({g, g, dim}), image_newline));
  parts.push_back(view_seperator.reshape({1, dim}).to(global.dtype()));
  return torch::cat(parts, 0);
}

std::int64_t imageFeatureCount(std::int64_t global_side, std::int64_t tile_side, int grid_w, int grid_h) {
  std::int64_t count = global_side * (global_side + 1) + 1;
  if (tile_side > 0) count += (grid_h * tile_side) * (grid_w * tile_side + 1);
  return count;
}

}  // namespace folio
