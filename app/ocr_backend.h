// The seam between the app and whatever turns a page image into text: the local engine today, a remote
// service later. A backend is used from one thread at a time (the OCR worker's).
#pragma once

#include <folio/engine.h>

#include <QString>
#include <atomic>
#include <cstddef>
#include <functional>
#include <memory>
#include <vector>

namespace folio::app {

// What a backend reports about the pages of a batch, each by its index in the batch.
struct BatchCallbacks {
  std::function<void(std::size_t, const Progress&)> progress;  // may be empty
  std::function<void(std::size_t, Result)> finished;           // as soon as that page is done
  // That page alone could not be read (a server refused it, or every attempt failed); the others go on. A
  // failure of the whole batch is thrown instead.
  std::function<void(std::size_t, const QString&)> failed;
};

class OcrBackend {
 public:
  virtual ~OcrBackend() = default;
  virtual Result run(const RgbImage& page, const RunOptions& options,
                     const std::function<void(const Progress&)>& on_progress, const std::atomic<bool>* cancel) = 0;
  virtual QString description() const = 0;
  // Which model reads the pages, e.g. "DeepSeek-OCR-2 (snapshot folder)": stored with each page it reads.
  virtual QString modelName() const { return {}; }
  // Which of the model's files changed on disk since the backend loaded them, as a sentence for the window, or
  // empty: the worker loads the model again before its next pages.
  virtual QString changedOnDisk() const { return {}; }
  // The resolution modes its model has (DeepSeek-OCR-2 lacks Tiny and Large).
  virtual std::vector<Mode> modes() const { return supportedModes(ModelFamily::DeepseekOcr); }

  // How many pages runBatch gains from taking at once (1: none, pages are best run one by one).
  virtual int pagesInFlight() const { return 1; }
  // Several pages at once, reported through callbacks; *cancels[i] (when given) stops page i. By default one
  // run() after the other.
  virtual void runBatch(const std::vector<RgbImage>& pages, const std::vector<RunOptions>& options,
                        const BatchCallbacks& callbacks, const std::vector<const std::atomic<bool>*>& cancels);
};

// The mode a page asked for, or the nearest the model has: Tiny -> Small, Large -> Base, else Gundam (or the
// model's first), so that a page queued for the other family's model still reads.
Mode availableMode(Mode wanted, const std::vector<Mode>& modes);

// Creates a backend (may take long: loading a model). Throws folio::Error with a message for the window.
using BackendFactory = std::function<std::unique_ptr<OcrBackend>()>;

}  // namespace folio::app
