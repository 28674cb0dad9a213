// Every tensor a DeepSeek-OCR checkpoint holds, with its shape, derived from the model config: the loader checks
// a checkpoint against it and synth-weights writes it. For the published config it equals shared/model/tensors.json.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "config.h"

namespace folio {

using TensorShapes = std::vector<std::pair<std::string, std::vector<std::int64_t>>>;

// Names and shapes in checkpoint order: SAM, CLIP (v1) or the Qwen2 encoder and its query tables (v2), projector,
// the learned separators, the decoder. Original checkpoint names; checkpointAliases() gives other spellings.
TensorShapes expectedTensors(const ModelConfig& config);

// DeepSeek-OCR-2: the tile side (the global view's is sam.image_size), the encoder's tensor prefix, the query
// table of a view size and its number of queries (= SAM's output positions for that view).
constexpr int kOcr2TileSize = 768;
std::string qwen2EncoderPrefix();
std::string queryTableName(int view_size);
std::int64_t ocr2QueryCount(int view_size, const SamConfig& sam);

// The name of an original DeepSeek-OCR-2 tensor in transformers' HF-native checkpoints (deepseek-community/
// DeepSeek-OCR-2; transformers conversion_mapping), or "" where it has none: the routed experts are fused there,
// per layer into experts.gate_up_proj [E, 2I, H] (each expert's gate rows, then its up rows) and
// experts.down_proj [E, H, I] (fusedExpertOf gives the fused name, the expert and the slice).
std::string hfNativeName(const std::string& original);
struct FusedExpert {
  std::string fused_name;  // model.language_model.layers.L.mlp.experts.gate_up_proj / down_proj
  int expert = 0;
  enum class Part { Gate, Up, Down } part = Part::Gate;
};
std::optional<FusedExpert> fusedExpertOf(const std::string& original);

// Whether a checkpoint tensor belongs to the language decoder (not the vision encoder or projector).
bool isDecoderTensor(const std::string& name);

}  // namespace folio
