// Single-token decoding on CUDA as one CUDA graph per KV-length bucket: the whole 12-layer step (embedding,
// attention over the cached keys, MoE with in-place expert GEMVs, lm_head) is replayed with one launch, so
// decode speed is bound by reading the weights rather than by launching ~500 kernels per token.
#pragma once

#include <ATen/cuda/CUDAGraph.h>
#include <torch/torch.h>

#include <map>
#include <memory>
#include <vector>

#include "config.h"
#include "kv_cache.h"
#include "moe.h"
#include "weights.h"

namespace folio::cuda {

class GraphDecoder {
 public:
  // Takes the decoder weights (bf16 on the GPU) and the stacked expert tensors that OcrModel::load adds
  // (model.layers.N.mlp.experts.{gate,up,down}_proj.stacked).
  GraphDecoder(const DecoderConfig& config, const Weights& weights);

  // The KV cache the graphs read and write (max_position_embeddings positions; prefill the prompt into it).
  KvCache& cache() { return cache_; }

  // Logits [vocab] float32 of `token` at position cache().length(); appends its keys and values and advances
  // the cache. The returned tensor is overwritten by the next step.
  torch::Tensor step(std::int64_t token);

 private:
  struct Layer {
    torch::Tensor input_layernorm, q_proj, k_proj, v_proj, o_proj, post_attention_layernorm;
    Mlp mlp;  // dense layers: the MLP; MoE layers: the shared experts
    torch::Tensor router;                                  // MoE layers: mlp.gate in float32
    torch::Tensor experts_gate, experts_up, experts_down;  // [E, N, K] stacked
    bool moe = false;
  };
  struct Captured {
    std::unique_ptr<at::cuda::CUDAGraph> graph;
    torch::Tensor logits;
  };

  void forward(int bucket);  // the captured body: reads token_/position_, writes logits_
  torch::Tensor layerForward(const Layer& layer, int index, const torch::Tensor& x, int bucket);
  torch::Tensor moe(const Layer& layer, const torch::Tensor& h) const;
  static int bucketFor(int length, int capacity);

  DecoderConfig config_;
  torch::Tensor embed_tokens_, norm_, lm_head_, rope_cos_, rope_sin_;
  std::vector<Layer> layers_;
  torch::Tensor token_, position_, logits_;  // the graphs' static inputs and output
  torch::Tensor visible_;                     // this step's attention mask, shared by the layers
  KvCache cache_;
  std::map<int, Captured> graphs_;  // by attention bucket
  at::cuda::MempoolId_t pool_;
};

}  // namespace folio::cuda
