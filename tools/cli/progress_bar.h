// Progress of a long run on stderr: a bar redrawn in place when stderr is a terminal (pages done / total,
// tokens/s, ETA), otherwise one line per finished file, so that logs stay readable. Nothing with --quiet.
#pragma once

#include <chrono>
#include <string>

namespace folio::cli {

class ProgressBar {
 public:
  ProgressBar(int total_pages, bool quiet);
  void addTokens(long tokens) { tokens_ += tokens; }
  void pageDone() { ++done_; draw(); }
  void fileDone(const std::string& file, int pages_done, int pages_failed);  // the line a log gets
  void finish();                                                           // ends the bar's line

 private:
  void draw();
  double seconds() const;
  const int total_;
  const bool quiet_, terminal_;
  int done_ = 0;
  long tokens_ = 0;
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
};

}  // namespace folio::cli
