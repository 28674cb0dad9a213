// Degenerate model output, the most reported failure of DeepSeek-OCR: the model falls into a loop (a line, a
// table row or a phrase written again and again, or output that grows without new text) until the token limit.
// LoopDetector watches a page's text while it is generated, so that the worker can stop such a page early;
// reviewReasons() says why a finished page needs a look. Both answer with short sentences for the window.
#pragma once

#include <folio/engine.h>

#include <QString>
#include <QStringList>
#include <memory>
#include <string_view>

namespace folio::app {

// Fed the growing text of one page after each token, it reports when the output has become a loop:
// - a cycle: the text ends in copies of one piece of at most kMaxCycleBytes bytes (a table row, a phrase, CJK
//   text, whitespace, the same box), once the copies fill max(kCycleBytes, kCycleCopies × piece) bytes;
// - repeated lines: the text's last complete non-blank lines are copies of one block of at most kMaxBlockLines
//   lines, kLineCopies times, or fewer for long blocks: the copies must fill kCycleBytes bytes, and at least
//   kMinLineCopies are always needed;
// - silence: kSilentTokens tokens without new text (only whitespace, markup such as <td></td>, grounding tags
//   around a box already given).
// The bound, in tokens from a loop's start (a token adds at least one byte; the engine holds back at most the
// bytes of one unfinished character): a cycle of p <= kMaxCycleBytes bytes is reported within
// max(kCycleBytes, kCycleCopies × p) <= kTokenBound = 4096 tokens, a longer block of lines within
// kMinLineCopies copies of it, growth without new text within kSilentTokens. Real tokens carry 2-5 bytes: a
// cycle is found after about 250-500 tokens, a repeated short line after kLineCopies copies.
// The thresholds keep real pages clean: rows that differ in a number, lists, dot leaders, a few blank rows. A
// blank grid of more than about 10-20 identical empty rows (1024 bytes of them) does trip it: as text it cannot
// be told from a loop.
class LoopDetector {
 public:
  static constexpr int kMaxCycleBytes = 1024;
  static constexpr int kCycleBytes = 1024;
  static constexpr int kCycleCopies = 4;
  static constexpr int kMaxBlockLines = 4;
  static constexpr int kLineCopies = 12;
  static constexpr int kMinLineCopies = 3;
  static constexpr int kSilentTokens = 1500;
  static constexpr int kTokenBound = kMaxCycleBytes * kCycleCopies;

  LoopDetector();
  ~LoopDetector();
  LoopDetector(LoopDetector&&) noexcept;
  LoopDetector& operator=(LoopDetector&&) noexcept;

  // text: all of the page's text so far, which extends the text of the previous call; generated_tokens: the
  // tokens it took. Reads only the new part. Returns why the output is a loop, or an empty string while it is
  // not; once it has answered, the same answer for every later call.
  QString feed(std::string_view text, int generated_tokens);
  const QString& reason() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

// Why a finished page needs a look, empty when nothing is wrong: the output stopped at the token limit, it ends
// inside a grounding tag (unless the run was cancelled: then the cut is the canceller's), or a region's box lies
// outside the page or is empty. Boxes are checked in the raw text, where they are 0-999 across the page: the
// pixel boxes of result.grounded are clamped to the page and put in order.
QStringList reviewReasons(const Result& result);

}  // namespace folio::app
