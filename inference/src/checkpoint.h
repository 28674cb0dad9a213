// A model folder's safetensors files, read as one checkpoint: each tensor by its original DeepSeek-OCR name,
// wherever it is stored (any file; for DeepSeek-OCR-2's transformers-native checkpoints under hfNativeName(), the
// routed experts as slices of the fused stacks).
#pragma once

#include <torch/torch.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "safetensors.h"

namespace folio {

class Checkpoint {
 public:
  // Throws folio::Error when the folder holds no .safetensors file or one cannot be read.
  explicit Checkpoint(const std::filesystem::path& dir);

  // The tensor, checked to have `shape`, on the CPU as stored (read-only memory of the map: copy before
  // keeping it). Throws folio::Error naming the file and tensor.
  torch::Tensor tensor(const std::string& name, const std::vector<std::int64_t>& shape) const;
  // Whether a tensor of exactly this name is stored (no aliases).
  bool contains(const std::string& name) const { return owner(name) != nullptr; }
  // The path of the file holding `name` (or the first file): for messages.
  std::string pathOf(const std::string& name) const;

 private:
  const SafetensorsFile* owner(const std::string& name) const;

  std::vector<std::shared_ptr<SafetensorsFile>> files_;
};

}  // namespace folio
