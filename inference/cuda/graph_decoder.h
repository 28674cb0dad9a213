// Decoding on CUDA as one CUDA graph per KV-length bucket: the whole 12-layer step (embedding, attention over
// the cached keys, MoE, lm_head) is replayed with one launch, so decode speed is bound by reading the weights
// rather than by launching ~500 kernels per token. One step advances `batch` sequences (slots) at once, each at
// its own position: pages in flight together share every weight read.
#pragma once

#include <ATen/cuda/CUDAEvent.h>
#include <ATen/cuda/CUDAGraph.h>
#include <torch/torch.h>

#include <array>
#include <deque>
#include <map>
#include <memory>
#include <vector>

#include "config.h"
#include "generate.h"
#include "kv_cache.h"
#include "moe_kernels.h"
#include "weights.h"

namespace folio::cuda {

class GraphDecoder : public BatchStepper, public TokenStepper {
 public:
  // Takes the decoder weights (bf16 on the GPU, the linear layers bf16 or 8-bit) and the stacked expert tensors
  // that OcrModel::load adds (model.layers.N.mlp.experts.{gate_up,down}_proj.stacked, with their scales). Each of the `batch` slots holds up to `capacity`
  // positions (prompt and generated tokens).
  GraphDecoder(const DecoderConfig& config, const Weights& weights, int batch = 1, int capacity = 0);
  // Whether the decode kernels take this model's sizes (multiples of 8, at most 256 experts, ...).
  static bool supports(const DecoderConfig& config);
  // 8-bit weights are read by the GEMV kernels only, which take up to this many rows: more would need cuBLAS's
  // GEMMs, and so every weight dequantized on every step.
  static constexpr int kMaxEightBitBatch = 8;

  int batch() const override { return static_cast<int>(slots_.size()); }
  int capacity() const { return cache_.capacity(); }
  // Slot b's KV cache (prefill a prompt into it with the eager decoder; reset() frees the slot).
  KvCache& slot(int b) override { return slots_.at(b); }
  KvCache slotRange(int first, int count) override { return cache_.rows(first, count); }

  // Logits [batch, vocab] float32 of tokens[b] at position slot(b).length() for every slot, and their arg-max
  // (taken inside the graph, so a step costs one copy each way and one wait); appends their keys and values and
  // advances every slot by one (an idle slot is reset after its step, so it stays empty). The logits are
  // overwritten by the next step. Throws folio::Error when a slot is full.
  StepLogits step(const std::vector<std::int64_t>& tokens, const std::vector<bool>& active) override;

  // Batch 1 (TokenStepper over slot 0): a step's graph ends by writing its arg-max and the next position into the
  // step inputs, so a step queued on the arg-max needs no copy in. At most two steps are in flight.
  void queue(std::int64_t token) override;
  void queueOnArgmax() override;
  StepLogits next() override;
  void dropQueued() override;
  const KvCache& cache() const override { return slots_.front(); }

 private:
  struct Layer {
    torch::Tensor input_layernorm, post_attention_layernorm;
    LinearWeight q_proj, k_proj, v_proj, o_proj;
    AlwaysOnMlp mlp;               // dense layers: the MLP; MoE layers: the shared experts
    torch::Tensor router;          // MoE layers: mlp.gate [E, H] (bf16)
    LinearWeight experts_gate_up;  // [E, 2I, H]: gate_proj rows, then up_proj rows
    LinearWeight experts_down;     // [H, E, I]
    bool moe = false;
  };
  struct Captured {
    std::unique_ptr<at::cuda::CUDAGraph> graph;
    torch::Tensor logits, argmax;
  };

  struct InFlight {
    std::map<int, Captured>::iterator graph;
    int staging;  // its row of argmax_host_
  };

  std::map<int, Captured>::iterator capture(int bucket);  // the graph of a new bucket
  // Replays the graph of the bucket for `length` positions and queues the copy of its arg-max out.
  void launch(int length);
  void checkToken(std::int64_t token) const;  // throws folio::Error outside the vocabulary
  void forward(int bucket);  // the captured body: reads token_/position_, writes logits_ and argmax_
  // One layer on the float32 residual stream x [B, H]: adds `pending` (the previous block's output) and the
  // attention output to x (x may then be another tensor), and returns this layer's feed-forward output, still
  // to be added.
  torch::Tensor layerForward(const Layer& layer, int index, torch::Tensor& x, const torch::Tensor& pending,
                             int bucket);
  std::array<torch::Tensor, 3> projectQkv(const Layer& layer, torch::Tensor& x, const torch::Tensor& pending) const;
  torch::Tensor mlpForward(const Layer& layer, const torch::Tensor& h) const;
  torch::Tensor moeForward(const Layer& layer, const NormedRoute& route) const;
  // Few rows read only their chosen experts; many rows read every expert once, as GEMMs.
  bool fewRoutes(const Layer& layer, std::int64_t rows) const;
  static int bucketFor(int length, int capacity);

  DecoderConfig config_;
  RouterConfig router_config_;
  torch::Tensor norm_, rope_cos_, rope_sin_;
  LinearWeight embed_tokens_, lm_head_;
  std::vector<Layer> layers_;
  torch::Tensor router_arrivals_;            // addRmsNormRouteTopK's block counters, zero between launches
  torch::Tensor attention_arrivals_;         // decodeAttention's, the same way
  torch::Tensor inputs_;                      // [2, batch]: token_ and position_ are its rows
  torch::Tensor token_, position_, logits_;  // the graphs' static inputs [batch] and output [batch, vocab]
  torch::Tensor argmax_;                      // the graphs' output [batch] int64: each row's greedy pick
  torch::Tensor inputs_host_, argmax_host_;  // pinned staging for the copies in and out of a step ([2, batch] each)
  std::array<at::cuda::CUDAEvent, 2> copied_out_;  // per row of argmax_host_: its step's arg-max has arrived
  std::deque<InFlight> in_flight_;  // queued steps, oldest first
  int next_staging_ = 0;  // the row of argmax_host_ the next launch copies its arg-max to
  KvCache cache_;
  std::vector<KvCache> slots_;
  std::map<int, Captured> graphs_;  // by attention bucket
  at::cuda::MempoolId_t pool_;
};

}  // namespace folio::cuda
