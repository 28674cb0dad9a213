// Progress of a long run on stderr: a bar redrawn in place when stderr is a terminal (pages done / total,
// tokens/s, ETA), otherwise one line per finished file, so that logs stay readable. Nothing with --quiet.
#pragma once

#include <chrono>
#include <string>

namespace folio::cli {

class ProgressBar {
 public:
  ProgressBar(int total_pages, bool quiet);
  // A batch the engine read: its tokens and the seconds the engine took for them (rendering excluded), so that
  // tokens/s and the ETA count only what was timed.
  void batchRead(int pages, long tokens, double engine_seconds);
  void pageDone() { ++done_; draw(); }  // read, failed or resumed from an earlier run
  void fileDone(const std::string& file, int pages_done, int pages_failed);  // the line a log gets
  void finish();                                                           // ends the bar's line

 private:
  void draw();
  double seconds() const;
  const int total_;
  const bool quiet_, terminal_;
  double tokensPerSecond() const { return engine_seconds_ > 0 ? tokens_ / engine_seconds_ : 0; }
  int done_ = 0, read_ = 0;
  long tokens_ = 0;
  double engine_seconds_ = 0;
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
};

}  // namespace folio::cli
