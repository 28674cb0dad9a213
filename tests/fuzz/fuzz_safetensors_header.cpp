// The safetensors header parser over arbitrary file bytes: it either returns a header whose spans lie inside the
// data and do not overlap, or throws folio::Error. Anything else (a crash, a sanitizer report) is a bug.
#include <folio/engine.h>

#include <cstdint>
#include <cstdlib>

#include "safetensors_header.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  try {
    const auto header = folio::parseSafetensorsHeader("fuzz.safetensors", data, size);
    std::uint64_t previous_end = 0;
    for (const auto& tensor : header.tensors) {
      if (tensor.begin < previous_end || tensor.end > size - header.data_offset) std::abort();
      previous_end = tensor.end;
    }
  } catch (const folio::Error&) {
  }
  return 0;
}
