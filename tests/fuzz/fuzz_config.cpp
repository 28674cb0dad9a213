// config.json of either model family, from arbitrary text: a ModelConfig or folio::Error, nothing else.
#include <folio/engine.h>

#include <cstdint>
#include <string>

#include "config.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  try {
    folio::parseModelConfig(std::string(reinterpret_cast<const char*>(data), size), "fuzz/config.json");
  } catch (const folio::Error&) {
  }
  return 0;
}
