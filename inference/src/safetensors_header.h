// The header of a safetensors file: parsed and validated without torch (the reader in safetensors.h maps the
// file and hands its bytes here; the fuzzer feeds arbitrary bytes).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace folio {

struct TensorInfo {
  std::string name;
  std::string dtype;              // as in the header: "BF16", "F32", "I64", ...
  std::vector<std::int64_t> shape;
  std::uint64_t begin = 0;        // byte offsets relative to the data section
  std::uint64_t end = 0;
};

struct SafetensorsHeader {
  std::vector<TensorInfo> tensors;  // in file order (by offset)
  std::map<std::string, std::string> metadata;
  std::uint64_t data_offset = 0;  // where the data section starts in the file
};

// Validates the whole header of a file of `size` bytes starting at `bytes`: the 8-byte length (within the file
// and 100 MB), JSON with no duplicate names, every entry's dtype, shape and offsets, no overlapping spans.
// Throws folio::Error naming `path` and the problem.
SafetensorsHeader parseSafetensorsHeader(const std::string& path, const std::uint8_t* bytes, std::uint64_t size);

// Bytes per element of a safetensors dtype name; 0 when the name is unknown.
std::size_t dtypeSize(const std::string& dtype);

std::string shapeText(const std::vector<std::int64_t>& shape);  // "[2, 3]"

}  // namespace folio
