// What folio-cli says when no model is given and none is found (without torch: cmd_model.cpp uses it too).
#pragma once

#include <folio/engine.h>

#include <string>

namespace folio::cli {

// Set by the `model` command where folio-cli has it (builds with Qt): the advice below names it then.
inline bool& modelDownloadAvailable() {
  static bool available = false;
  return available;
}

inline std::string howToGetTheModel() {
  const std::string get = modelDownloadAvailable() ? "`folio-cli model download`"
                                                   : "`huggingface-cli download deepseek-ai/DeepSeek-OCR`";
  return "Get it with " + get + ", or put config.json, tokenizer.json and the .safetensors file in a folder and "
         "pass --model FOLDER (or set FOLIO_MODEL_DIR).";
}

// Where folio::findModel() looked and how to get the model.
inline std::string noModelMessage(const ModelSearch& search) {
  std::string places;
  for (const std::string& place : search.searched) places += "\n  " + place;
  return "no DeepSeek-OCR model found. Folio looked in:" + (places.empty() ? std::string(" (nowhere)") : places) +
         "\n" + howToGetTheModel();
}

}  // namespace folio::cli
