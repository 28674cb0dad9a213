// The seam between the app and whatever turns a page image into text: the local engine today, a remote
// service later. A backend is used from one thread at a time (the OCR worker's).
#pragma once

#include <folio/engine.h>

#include <QString>
#include <atomic>
#include <functional>
#include <memory>

namespace folio::app {

class OcrBackend {
 public:
  virtual ~OcrBackend() = default;
  virtual Result run(const RgbImage& page, const RunOptions& options,
                     const std::function<void(const Progress&)>& on_progress, const std::atomic<bool>* cancel) = 0;
  virtual QString description() const = 0;
};

// Creates a backend (may take long: loading a model). Throws folio::Error with a message for the window.
using BackendFactory = std::function<std::unique_ptr<OcrBackend>()>;

}  // namespace folio::app
