// `folio-cli quantize`: a model folder rewritten with 8-bit decoder weights (linear_weight.h's format), which
// loads like any model folder.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

namespace folio {

struct QuantizeSummary {
  int quantized = 0;  // tensors stored in 8 bits
  int kept = 0;       // tensors copied as they were
  std::uint64_t bytes_before = 0, bytes_after = 0;  // of the tensors' data
};

// Reads the checkpoint of model_dir (bf16 or fp32; either family, original or transformers-native names) and
// writes out_dir: one safetensors file with the tensors isQuantizedTensor() names as int8 + float32 scales and
// the rest as stored, config.json with a "folio_quantization" entry, and the folder's other files (tokenizer,
// ...). progress(done, total) after each tensor. Throws folio::Error naming the file: no model, already 8-bit,
// out_dir not empty or the same folder.
QuantizeSummary quantizeModel(const std::string& model_dir, const std::string& out_dir,
                              const std::function<void(int done, int total)>& progress = {});

}  // namespace folio
