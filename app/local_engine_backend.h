// The OcrBackend that runs folio::Engine in-process. The only file of the app that links the engine.
#pragma once

#include "ocr_backend.h"

namespace folio::app {

// model_dir empty: use folio::findModel(). When no model is found the factory throws an Error that says
// where Folio looked and how to get the model.
BackendFactory localEngineFactory(const QString& model_dir, Device device,
                                  EngineOptions::EightBit eight_bit = EngineOptions::EightBit::Auto);

// An engine the caller loaded with its own options (folio-cli), decoding up to max_batch pages together.
std::unique_ptr<OcrBackend> localEngineBackend(std::unique_ptr<Engine> engine, const QString& model_dir, int max_batch);

// How a page remembers the model that read it: "DeepSeek-OCR-2 (<folder name>)".
QString modelNameFor(ModelFamily family, const QString& model_dir);

// The models Folio finds without a configured folder (folio::findModel), as folder and family name, for a picker.
struct FoundModelEntry {
  QString folder;
  QString family;  // "DeepSeek-OCR", "DeepSeek-OCR-2"
};
QList<FoundModelEntry> foundModels();
// What a folder holds: the family name of its model, or why it is not one (the config's error).
QString describeModelFolder(const QString& folder);

// No model folder configured and folio::findModel() finds none: the case the window offers the download for.
bool modelMissing(const QString& model_dir);

}  // namespace folio::app
