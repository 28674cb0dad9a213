// The OcrBackend that runs folio::Engine in-process. The only file of the app that links the engine.
#pragma once

#include "ocr_backend.h"

namespace folio::app {

// model_dir empty: use folio::findModel(). When no model is found the factory throws an Error that says
// where Folio looked and how to get the model.
BackendFactory localEngineFactory(const QString& model_dir, Device device);

// No model folder configured and folio::findModel() finds none: the case the window offers the download for.
bool modelMissing(const QString& model_dir);

}  // namespace folio::app
