// Shared helpers for Folio's QtTest executables.
#pragma once

#include <QString>
#include <string>

namespace folio::test {

// The shared/ folder (model facts, tokenizer, goldens); FOLIO_SHARED_DIR in the environment overrides it.
inline std::string sharedDir() {
  if (const char* env = std::getenv("FOLIO_SHARED_DIR"); env && *env) return env;
  return FOLIO_SHARED_DIR;
}
inline std::string sharedPath(const std::string& relative) { return sharedDir() + "/" + relative; }
inline std::string goldensPath(const std::string& file) { return sharedPath("reference/goldens/" + file); }

}  // namespace folio::test
