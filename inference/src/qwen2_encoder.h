// DeepSeek-OCR-2's vision encoder body (`model.qwen2_model.*`, OCR2.md "Vision encoder" steps 2-7): a Qwen2
// decoder stack run as an encoder over one view's SAM features followed by as many learnable queries. Image
// tokens attend to every image token; query i attends to every image token and to queries 0..i (the hybrid
// mask). Only the query outputs leave it.
#pragma once

#include <torch/torch.h>

#include <map>
#include <string>
#include <vector>

#include "config.h"
#include "moe.h"
#include "weights.h"

namespace folio {

// The hybrid mask of m image tokens followed by m queries: [2m, 2m] bool, true where a row may attend a column.
torch::Tensor hybridAttentionMask(std::int64_t m, torch::Device device);

class Qwen2Encoder {
 public:
  // Takes model.qwen2_model.model.model.layers.N.*, .norm and the query tables model.qwen2_model.query_<S> of the
  // tile and global view sizes. Throws folio::Error naming a missing or misshapen tensor.
  Qwen2Encoder(const Qwen2EncoderConfig& config, const SamConfig& sam, const Weights& weights);

  // image_tokens [B, m, hidden] (SAM's output positions of B views of one size, row-major) -> the normed query
  // outputs [B, m, hidden]. Throws folio::Error when no query table has m queries.
  torch::Tensor forward(const torch::Tensor& image_tokens) const;

 private:
  struct Layer {
    torch::Tensor input_layernorm, post_attention_layernorm;
    torch::Tensor q_weight, q_bias, k_weight, k_bias, v_weight, v_bias, o_weight;
    Mlp mlp;
  };
  torch::Tensor attention(const Layer& layer, const torch::Tensor& x, const torch::Tensor& mask,
                          const torch::Tensor& cos, const torch::Tensor& sin) const;
  const torch::Tensor& queries(std::int64_t m) const;

  Qwen2EncoderConfig config_;
  std::vector<Layer> layers_;
  torch::Tensor norm_;
  std::map<std::int64_t, torch::Tensor> queries_;  // by query count
  torch::Tensor rope_cos_, rope_sin_;               // [2 * most queries, head_dim], float32
};

}  // namespace folio
