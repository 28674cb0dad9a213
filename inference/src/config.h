// config.json of a DeepSeek-OCR model folder: every dimension the model code needs.
// All model code takes its sizes from here, so miniature models (tests) run through the same code.
#pragma once

#include <folio/engine.h>

#include <string>
#include <vector>

namespace folio {

struct SamConfig {
  int width = 768;            // vision_config.width.sam_vit_b.width
  int layers = 12;
  int heads = 12;
  std::vector<int> global_attn_indexes{2, 5, 8, 11};
  std::vector<int> downsample_channels{512, 1024};  // net_2, net_3 output channels
  int image_size = 1024;      // vision_config.image_size: the size pos_embed was trained for
  int patch_size = 16;        // fixed by the architecture (not in config.json)
  int window_size = 14;       // fixed by the architecture (not in config.json)
  int neck_channels = 256;    // fixed by the architecture (not in config.json)
  double mlp_ratio = 4.0;     // SAM-B MLP 768 -> 3072
};

struct ClipConfig {
  int width = 1024;           // vision_config.width["clip-l-14-224"].width
  int layers = 24;
  int heads = 16;
  int image_size = 224;
  int patch_size = 14;        // position_embedding has (image_size/patch_size)^2 + 1 rows
  double mlp_ratio = 4.0;     // CLIP-L MLP 1024 -> 4096
};

// DeepSeek-OCR-2's Qwen2-0.5B used as the vision encoder (OCR2.md "Vision encoder"). Upstream hard-codes every
// value but the width; config.json's vision_config.width["qwen2-0-5b"] may override them (miniature test models).
struct Qwen2EncoderConfig {
  int hidden_size = 896;          // "dim": also SAM's net_3 output channels, the encoder's input
  int intermediate_size = 4864;   // "intermediate_size"
  int layers = 24;                // "layers"
  int heads = 14;                 // "heads"
  int kv_heads = 2;               // "kv_heads"
  double rope_theta = 1e6;
  double rms_norm_eps = 1e-6;
  int head_dim() const { return hidden_size / heads; }
};

struct ProjectorConfig {
  int input_dim = 2048;       // projector_config.input_dim: v1 clip width + sam output channels; v2 encoder width
  int n_embed = 1280;         // projector_config.n_embed = decoder hidden size
};

struct DecoderConfig {
  int vocab_size = 129280;
  int hidden_size = 1280;
  int intermediate_size = 6848;      // dense MLP (layers < first_k_dense_replace)
  int moe_intermediate_size = 896;   // per routed expert
  int num_hidden_layers = 12;
  int num_attention_heads = 10;
  int num_key_value_heads = 10;
  int n_routed_experts = 64;
  int n_shared_experts = 2;
  int num_experts_per_tok = 6;
  int first_k_dense_replace = 1;
  int max_position_embeddings = 8192;
  double rms_norm_eps = 1e-6;        // optional in config.json (DeepSeek-V2 default)
  double rope_theta = 10000.0;       // optional in config.json (DeepSeek-V2 default)
  double routed_scaling_factor = 1.0;  // optional (DeepSeek-V2 default)
  bool norm_topk_prob = false;       // optional (DeepSeek-V2 default)
  int bos_token_id = 0;
  int eos_token_id = 1;
  int head_dim() const { return hidden_size / num_attention_heads; }
};

struct ModelConfig {
  ModelFamily family = ModelFamily::DeepseekOcr;
  SamConfig sam;
  ClipConfig clip;               // DeepSeek-OCR only
  Qwen2EncoderConfig encoder;    // DeepSeek-OCR-2 only
  ProjectorConfig projector;
  DecoderConfig decoder;
};

// The model family a config.json describes (OCR2.md "Detecting v2"): DeepSeek-OCR-2 by its architecture,
// vision_config.model_name "deepencoderv2" or a "qwen2-0-5b" vision width; otherwise DeepSeek-OCR.
// Parses config.json text; `source` names the file in error messages. Throws folio::Error naming the
// missing or invalid key.
ModelConfig parseModelConfig(const std::string& json_text, const std::string& source);
ModelConfig loadModelConfig(const std::string& path);

}  // namespace folio
