// One page's vision pass as a CUDA graph: ~1000 small kernels launched as one graph instead of one by one
// (eager launching costs a Base page about 3 of its 10 ms). One graph per view geometry, captured at its first
// use; all share one memory pool, since only one replays at a time and its result is copied out at once.
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

  // encoder.encode() of one page's views (bf16 on the GPU) through the graph of their geometry. Throws
  // folio::Error when a graph cannot be captured; the caller then runs the encoder eagerly.
  torch::Tensor encode(const PageViewTensors& views);

 private:
  struct Captured {
    std::unique_ptr<at::cuda::CUDAGraph> graph;
    torch::Tensor global_view, tiles;  // the graph's inputs
    torch::Tensor features;            // its output, overwritten by each replay
  };
  Captured capture(const PageViewTensors& views);

  const VisionEncoder& encoder_;
  at::cuda::MempoolId_t pool_;
  std::map<std::vector<std::int64_t>, Captured> graphs_;
};

}  // namespace folio::cuda
