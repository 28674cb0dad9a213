#include "vision_graphs.h"

#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>
#include <folio/engine.h>

namespace folio::cuda {
namespace {

// What a graph depends on: the sizes of the views and the tile grid.
std::vector<std::int64_t> geometryOf(const PageViewTensors& views) {
  auto key = views.global_view.sizes().vec();
  if (views.tiles.defined()) {
    const auto tiles = views.tiles.sizes();
    key.insert(key.end(), tiles.begin(), tiles.end());
  }
  key.push_back(views.grid_w);
  key.push_back(views.grid_h);
  return key;
}

}  // namespace

VisionGraphs::VisionGraphs(const VisionEncoder& encoder) : encoder_(encoder), pool_(at::cuda::graph_pool_handle()) {}

VisionGraphs::Captured VisionGraphs::capture(const PageViewTensors& views) {
  Captured captured;
  captured.global_view = views.global_view.clone();
  if (views.tiles.defined()) captured.tiles = views.tiles.clone();
  // Warm up on a side stream (cuDNN plans, cuBLAS workspaces), then capture the same pass there.
  c10::cuda::device_synchronize();
  {
    c10::cuda::CUDAStreamGuard guard(c10::cuda::getStreamFromPool());
    encoder_.encode(captured.global_view, captured.tiles, views.grid_w, views.grid_h);
    captured.graph = std::make_unique<at::cuda::CUDAGraph>();
    try {
      captured.graph->capture_begin(pool_);
      captured.features = encoder_.encode(captured.global_view, captured.tiles, views.grid_w, views.grid_h);
      captured.graph->capture_end();
    } catch (const c10::Error& e) {
      throw Error(std::string("vision: CUDA graph capture failed: ") + e.what_without_backtrace());
    }
  }
  c10::cuda::device_synchronize();
  return captured;
}

torch::Tensor VisionGraphs::encode(const PageViewTensors& views) {
  const auto key = geometryOf(views);
  auto it = graphs_.find(key);
  if (it == graphs_.end()) it = graphs_.emplace(key, capture(views)).first;
  auto& captured = it->second;
  captured.global_view.copy_(views.global_view);
  if (views.tiles.defined()) captured.tiles.copy_(views.tiles);
  captured.graph->replay();
  return captured.features.clone();
}

}  // namespace folio::cuda
