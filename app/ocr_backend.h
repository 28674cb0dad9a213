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
  // Several pages at once: on_progress(i, ...) reports page i, on_finished(i, result) hands over its result as
  // soon as page i is done (the others may still run), *cancels[i] stops it. By default one run() after the other.
  virtual void runBatch(const std::vector<RgbImage>& pages, const std::vector<RunOptions>& options,
                        const std::function<void(std::size_t, const Progress&)>& on_progress,
                        const std::function<void(std::size_t, Result)>& on_finished,
                        const std::vector<const std::atomic<bool>*>& cancels);
};

// The mode a page asked for, or the nearest the model has: Tiny -> Small, Large -> Base, else Gundam (or the
// model's first), so that a page queued for the other family's model still reads.
Mode availableMode(Mode wanted, const std::vector<Mode>& modes);

// Creates a backend (may take long: loading a model). Throws folio::Error with a message for the window.
using BackendFactory = std::function<std::unique_ptr<OcrBackend>()>;

}  // namespace folio::app
