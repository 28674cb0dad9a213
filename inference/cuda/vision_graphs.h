// The vision pass of a batch of views (SAM -> CLIP -> projector) as a CUDA graph: ~1000 small kernels launched as
// one graph instead of one by one (eager launching costs a Base page about 3 of its 10 ms). One graph per view
// batch shape ([n, 3, s, s]: a mode's global view, or a Gundam page's n tiles), so a page is one or two replays
// and the layout of its features. Graphs are captured at their first use, or ahead with prepare() for the shapes
// pages will bring; all share one memory pool, since only one replays at a time and its result is copied out.
#pragma once

#include <ATen/cuda/CUDAGraph.h>
#include <torch/torch.h>

#include <map>
#include <memory>
#include <vector>

#include "vision.h"

namespace folio::cuda {

class VisionGraphs {
 public:
  explicit VisionGraphs(const VisionEncoder& encoder);

  // encoder.encode() of one page's views (bf16 on the GPU) through the graphs of their shapes. Throws
  // folio::Error when a graph cannot be captured; the caller then runs the encoder eagerly.
  torch::Tensor encode(const PageViewTensors& views);
  // Captures the graph of views of this shape [n, 3, side, side] unless it exists.
  void prepare(std::int64_t views, std::int64_t side, torch::ScalarType dtype);

 private:
  struct Captured {
    std::unique_ptr<at::cuda::CUDAGraph> graph;
    torch::Tensor views;     // the graph's input
    torch::Tensor features;  // its output, overwritten by each replay
  };
  Captured& graphFor(const torch::Tensor& views);  // the graph of views' shape, captured if new
  Captured capture(const torch::Tensor& views);
  torch::Tensor encodeViews(const torch::Tensor& views);  // encoder.encodeViews() by replay, a copy of the output

  const VisionEncoder& encoder_;
  at::cuda::MempoolId_t pool_;
  std::map<std::vector<std::int64_t>, Captured> graphs_;  // by view batch shape
};

}  // namespace folio::cuda
