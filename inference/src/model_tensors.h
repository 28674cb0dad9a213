// Every tensor a DeepSeek-OCR checkpoint holds, with its shape, derived from the model config: the loader checks
// a checkpoint against it and synth-weights writes it. For the published config it equals shared/model/tensors.json.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "config.h"

namespace folio {

using TensorShapes = std::vector<std::pair<std::string, std::vector<std::int64_t>>>;

// Names and shapes in checkpoint order: SAM, CLIP, projector, the two learned separators, the decoder.
TensorShapes expectedTensors(const ModelConfig& config);

// Whether a checkpoint tensor belongs to the language decoder (not the vision encoder or projector).
bool isDecoderTensor(const std::string& name);

}  // namespace folio
