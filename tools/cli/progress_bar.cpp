#include "progress_bar.h"

#include <cstdio>
#include <unistd.h>

namespace folio::cli {
namespace {
constexpr int kBarWidth = 30;
}

ProgressBar::ProgressBar(int total_pages, bool quiet)
    : total_(total_pages), quiet_(quiet), terminal_(::isatty(::fileno(stderr)) != 0) {}

double ProgressBar::seconds() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
}

void ProgressBar::batchRead(int pages, long tokens, double engine_seconds) {
  read_ += pages;
  tokens_ += tokens;
  engine_seconds_ += engine_seconds;
}

void ProgressBar::draw() {
  if (quiet_ || !terminal_ || total_ == 0) return;
  const int filled = kBarWidth * done_ / total_;
  // Pages resumed from an earlier run cost nothing: the ETA goes by the pages this run read.
  const int eta = read_ > 0 ? int(engine_seconds_ / read_ * (total_ - done_)) : 0;
  std::fprintf(stderr, "\r[%s%s] %d/%d pages · %.0f tokens/s · ETA %d:%02d ", std::string(filled, '#').c_str(),
               std::string(kBarWidth - filled, ' ').c_str(), done_, total_, tokensPerSecond(), eta / 60, eta % 60);
  std::fflush(stderr);
}

void ProgressBar::fileDone(const std::string& file, int pages_done, int pages_failed) {
  if (quiet_ || terminal_) return;
  std::fprintf(stderr, "%s: %d pages done, %d failed (%d/%d in all, %.1f s, %.0f tokens/s)\n", file.c_str(),
               pages_done, pages_failed, done_, total_, seconds(), tokensPerSecond());
}

void ProgressBar::finish() {
  if (!quiet_ && terminal_) std::fprintf(stderr, "\n");
}

}  // namespace folio::cli
