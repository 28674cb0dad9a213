// safetensors files: a memory-mapped, validated reader (zero-copy tensors over the mapping) and a writer.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "safetensors_header.h"

namespace folio {

class SafetensorsFile {
 public:
  // Maps the file and validates the whole header. Throws folio::Error naming the file and the problem.
  static std::shared_ptr<SafetensorsFile> open(const std::string& path);
  ~SafetensorsFile();

  const std::string& path() const { return path_; }
  const std::vector<TensorInfo>& tensors() const { return infos_; }
  const TensorInfo* find(const std::string& name) const;
  bool contains(const std::string& name) const { return find(name) != nullptr; }
  // A CPU tensor viewing the mapped bytes (no copy); it keeps the mapping alive. Throws if absent.
  torch::Tensor tensor(const std::string& name) const;
  const std::map<std::string, std::string>& metadata() const { return metadata_; }

 private:
  SafetensorsFile() = default;
  std::string path_;
  std::vector<TensorInfo> infos_;
  std::map<std::string, std::size_t> index_;
  std::map<std::string, std::string> metadata_;
  // The read-only mapping; unmapped when the last owner (this file or a tensor viewing it) lets go.
  std::shared_ptr<const std::uint8_t> mapping_;
  const std::uint8_t* data_ = nullptr;  // start of the data section inside the mapping
  std::uint64_t data_size_ = 0;
};

// Checks a checkpoint against the expected tensor set (name -> shape, e.g. from shared/model/tensors.json or
// the names a config implies). Throws folio::Error naming the first missing tensor or the first with a wrong
// shape or dtype.
void validateCheckpoint(const SafetensorsFile& file,
                        const std::vector<std::pair<std::string, std::vector<std::int64_t>>>& expected,
                        const std::string& expected_dtype = "BF16");

// The safetensors name of a torch dtype ("BF16", "I8", ...). Throws folio::Error for one the format lacks.
std::string safetensorsDtype(torch::ScalarType scalar);

// Writes tensors (contiguous CPU, any supported dtype) atomically (temp file + rename), sorted by name.
void writeSafetensors(const std::string& path, const std::vector<std::pair<std::string, torch::Tensor>>& tensors,
                      const std::map<std::string, std::string>& metadata = {});

// One tensor of a file written by writeSafetensorsStreaming: its layout is known before its values exist.
struct TensorSpec {
  std::string name;
  std::string dtype;  // "BF16", "F32", ...
  std::vector<std::int64_t> shape;
};

// Writes a file tensor by tensor: the header comes from `specs`, then produce(spec) is called once per spec, in
// order, and its bytes appended, so only one tensor is in memory at a time (a 6.7 GB checkpoint is written in a
// few hundred MB). Each produced tensor must have the spec's dtype and shape. Atomic like writeSafetensors.
using TensorProducer = std::function<torch::Tensor(const TensorSpec& spec)>;
void writeSafetensorsStreaming(const std::string& path, const std::vector<TensorSpec>& specs,
                               const TensorProducer& produce,
                               const std::map<std::string, std::string>& metadata = {});

}  // namespace folio
