#include "ocr_backend.h"

#include <algorithm>

namespace folio::app {

void OcrBackend::runBatch(const std::vector<RgbImage>& pages, const std::vector<RunOptions>& options,
                          const BatchCallbacks& callbacks, const std::vector<const std::atomic<bool>*>& cancels) {
  for (std::size_t i = 0; i < pages.size(); ++i) {
    std::function<void(const Progress&)> page_progress;
    if (callbacks.progress) page_progress = [&callbacks, i](const Progress& p) { callbacks.progress(i, p); };
    callbacks.finished(i, run(pages[i], options[i], page_progress, cancels.empty() ? nullptr : cancels[i]));
  }
}

Mode availableMode(Mode wanted, const std::vector<Mode>& modes) {
  const auto has = [&](Mode mode) { return std::find(modes.begin(), modes.end(), mode) != modes.end(); };
  if (has(wanted) || modes.empty()) return wanted;
  if (wanted == Mode::Tiny && has(Mode::Small)) return Mode::Small;
  if (wanted == Mode::Large && has(Mode::Base)) return Mode::Base;
  return has(Mode::Gundam) ? Mode::Gundam : modes.front();
}

}  // namespace folio::app
