// The DeepSeek-OCR language decoder (DeepSeek-V2 style, MODEL.md "Decoder"): token embedding, layers of
// RMSNorm -> multi-head attention with RoPE -> RMSNorm -> dense MLP (first_k_dense_replace layers) or MoE,
// final RMSNorm and an untied lm_head.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "config.h"
#include "kv_cache.h"
#include "moe.h"
#include "weights.h"

namespace folio {

// Building blocks shared by the eager decoder and the CUDA graph decoder.
// RoPE angles as cos and sin [max_position_embeddings, head_dim] (rotate-half layout), float32.
std::pair<torch::Tensor, torch::Tensor> ropeTables(const DecoderConfig& config);
std::pair<torch::Tensor, torch::Tensor> ropeTables(int positions, int head_dim, double theta);
torch::Tensor rotateHalf(const torch::Tensor& x);
// x * cos + rotateHalf(x) * sin in float32 (cos/sin float32, broadcast over x's last dimension), rounded once
// to x's dtype.
torch::Tensor applyRope(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin);
// RMSNorm of x (any float dtype) with the statistics and the weight product in float32, rounded once to the
// weight's dtype: the dtype of the matmul that follows.
torch::Tensor rmsNorm(const torch::Tensor& x, const torch::Tensor& weight, double eps);
// lm_head(normed) as float32 logits [.., vocab], without rounding them to bf16 on the way.
torch::Tensor logitsOf(const torch::Tensor& normed, const LinearWeight& lm_head);

class Decoder {
 public:
  // Takes its tensors (model.embed_tokens, model.layers.N.*, model.norm, lm_head; see expectedTensors()) from
  // `weights` (shared, not copied; their device and dtype are the decoder's). Throws folio::Error naming the
  // first missing or misshapen tensor.
  Decoder(const DecoderConfig& config, const Weights& weights);

  const DecoderConfig& config() const { return config_; }
  torch::Device device() const { return norm_.device(); }
  torch::ScalarType dtype() const { return norm_.scalar_type(); }

  // ids [L] int64 -> [L, hidden] (float32 when the embedding is 8-bit: the scaled rows exactly, as the CUDA
  // decoder's embedding kernel gives them). Throws folio::Error for an id outside the vocabulary.
  torch::Tensor embed(const torch::Tensor& ids) const;

  // x [L, hidden]: embeddings of the next L positions (cache.length() onwards). Appends their keys and values
  // to the cache and returns the float32 logits [vocab] of the last position. x [B, L, hidden] runs B sequences
  // of one length together, one per row of a B-row cache, and returns [B, vocab].
  torch::Tensor forward(const torch::Tensor& x, KvCache& cache) const;

 private:
  struct Attention {
    LinearWeight q_proj, k_proj, v_proj, o_proj;  // [hidden, hidden] each (num_key_value_heads == heads)
  };
  struct Layer {
    torch::Tensor input_layernorm;
    Attention self_attn;
    torch::Tensor post_attention_layernorm;
    std::optional<Mlp> dense_mlp;  // layers < first_k_dense_replace
    std::optional<Moe> moe;        // the others
  };

  torch::Tensor rmsNorm(const torch::Tensor& x, const torch::Tensor& weight) const;
  torch::Tensor applyRope(const torch::Tensor& x, int start) const;
  torch::Tensor attention(const Layer& layer, int layer_index, const torch::Tensor& x, int first_query,
                          KvCache& cache) const;

  DecoderConfig config_;
  LinearWeight embed_tokens_;  // [vocab, hidden]: a row per token
  std::vector<Layer> layers_;
  torch::Tensor norm_;
  LinearWeight lm_head_;
  torch::Tensor rope_cos_;  // [max_position_embeddings, head_dim], float32
  torch::Tensor rope_sin_;
};

}  // namespace folio
