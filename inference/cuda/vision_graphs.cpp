#include "vision_graphs.h"

#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>
#include <folio/engine.h>

namespace folio::cuda {

VisionGraphs::VisionGraphs(const VisionEncoder& encoder) : encoder_(encoder), pool_(at::cuda::graph_pool_handle()) {}

VisionGraphs::Captured VisionGraphs::capture(const torch::Tensor& views) {
  Captured captured;
  captured.views = views.clone();
  // Warm up on a side stream (libraries' workspaces, kernels loaded), then capture the same pass there.
  c10::cuda::device_synchronize();
  {
    c10::cuda::CUDAStreamGuard guard(c10::cuda::getStreamFromPool());
    encoder_.encodeViews(captured.views);
    captured.graph = std::make_unique<at::cuda::CUDAGraph>();
    try {
      captured.graph->capture_begin(pool_);
      captured.features = encoder_.encodeViews(captured.views);
      captured.graph->capture_end();
    } catch (const c10::Error& e) {
      throw Error(std::string("vision: CUDA graph capture failed: ") + e.what_without_backtrace());
    }
  }
  c10::cuda::device_synchronize();
  return captured;
}

VisionGraphs::Captured& VisionGraphs::graphFor(const torch::Tensor& views) {
  const auto key = views.sizes().vec();
  auto it = graphs_.find(key);
  if (it == graphs_.end()) it = graphs_.emplace(key, capture(views)).first;
  return it->second;
}

void VisionGraphs::prepare(std::int64_t views, std::int64_t side, torch::ScalarType dtype) {
  torch::InferenceMode guard;
  graphFor(torch::zeros({views, 3, side, side}, torch::TensorOptions().device(torch::kCUDA).dtype(dtype)));
}

torch::Tensor VisionGraphs::encodeViews(const torch::Tensor& views) {
  auto& captured = graphFor(views);
  captured.views.copy_(views);
  captured.graph->replay();
  return captured.features.clone();
}

torch::Tensor VisionGraphs::encode(const PageViewTensors& views) {
  torch::InferenceMode guard;  // the graphs' inputs are inference tensors, updated in place
  const auto global = encodeViews(views.global_view);
  const auto tiles = views.tiles.defined() ? encodeViews(views.tiles) : torch::Tensor();
  return encoder_.layout(global, tiles, views.grid_w, views.grid_h);
}

}  // namespace folio::cuda
