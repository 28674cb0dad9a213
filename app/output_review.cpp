#include "output_review.h"

#include <QCoreApplication>
#include <QRegularExpression>
#include <algorithm>
#include <array>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <vector>

namespace folio::app {
namespace {

QString tr(const char* text, int n = -1) { return QCoreApplication::translate("folio::app::OutputReview", text, nullptr, n); }

bool isSpace(char c) { return c == ' ' || c == '\n' || c == '\t' || c == '\r'; }
bool isUtf8Continuation(char c) { return (static_cast<unsigned char>(c) & 0xC0) == 0x80; }

std::string_view trimmed(std::string_view s) {
  while (!s.empty() && isSpace(s.front())) s.remove_prefix(1);
  while (!s.empty() && isSpace(s.back())) s.remove_suffix(1);
  return s;
}

// A piece of output for a sentence: newlines and tabs shown as \n and \t, long pieces shortened.
QString quotedPiece(std::string_view piece) {
  constexpr qsizetype kMaxQuoteChars = 40;
  QString text = QString::fromUtf8(piece.data(), qsizetype(piece.size()));
  text.replace(QLatin1Char('\n'), QStringLiteral("\\n")).replace(QLatin1Char('\t'), QStringLiteral("\\t"));
  if (text.size() > kMaxQuoteChars) text = text.left(kMaxQuoteChars - 1) + QStringLiteral("…");
  return QStringLiteral("“%1”").arg(text);
}

qsizetype characterCount(std::string_view utf8) {
  return std::count_if(utf8.begin(), utf8.end(), [](char c) { return !isUtf8Continuation(c); });
}

// The text's tail as copies of one piece of p <= kMaxCycleBytes bytes. For every p it keeps how many of the
// latest bytes equal the byte p places before them: the tail is periodic with period p over that run + p
// bytes. One byte costs kMaxCycleBytes steps over contiguous arrays, which the compiler vectorises.
class CycleFinder {
 public:
  static constexpr int kMaxPeriod = LoopDetector::kMaxCycleBytes;

  CycleFinder() : window_(2 * kMaxPeriod, kNoByte), run_(kMaxPeriod, 0), enough_(kMaxPeriod) {
    for (int p = 1; p <= kMaxPeriod; ++p)
      enough_[p - 1] = std::uint16_t(std::max(LoopDetector::kCycleBytes, LoopDetector::kCycleCopies * p) - p);
  }

  // Adds the text's next byte; returns the shortest period whose copies now fill enough of the tail, or 0.
  int add(char byte) {
    const unsigned char* before = window_.data() + head_;  // before[k]: the byte k + 1 places back
    const auto next = static_cast<unsigned char>(byte);
    std::uint16_t found = 0;
    for (int k = 0; k < kMaxPeriod; ++k) {
      // A run stops growing once it is enough (the detector then stops), so it never overflows.
      const std::uint16_t run = before[k] == next ? std::uint16_t(run_[k] + 1) : std::uint16_t(0);
      run_[k] = run;
      found |= std::uint16_t(run >= enough_[k]);
    }
    push(next);
    return found ? shortestFound() : 0;
  }

  // How many of the text's last bytes are copies of the piece of `period` bytes (a part copy included).
  int tailBytes(int period) const { return run_[period - 1] + period; }

 private:
  static constexpr unsigned char kNoByte = 0xFF;  // never in UTF-8: matches nothing before the text's start

  int shortestFound() const {
    for (int k = 0; k < kMaxPeriod; ++k)
      if (run_[k] >= enough_[k]) return k + 1;
    return 0;
  }

  // The window holds the latest kMaxPeriod bytes newest first at window_[head_ ...], written backwards through a
  // buffer twice its size: when the front is reached, one copy moves the window to the back half.
  void push(unsigned char byte) {
    if (head_ == 0) {
      std::copy_n(window_.begin(), kMaxPeriod, window_.begin() + kMaxPeriod);
      head_ = kMaxPeriod;
    }
    window_[--head_] = byte;
  }

  std::vector<unsigned char> window_;
  int head_ = kMaxPeriod;
  std::vector<std::uint16_t> run_;     // run_[p - 1] for period p
  std::vector<std::uint16_t> enough_;  // the run that makes copies of p enough
};

// The last complete non-blank lines as copies of a block of 1..kMaxBlockLines lines.
class LineRepeats {
 public:
  struct Found {
    int lines = 0;
    int copies = 0;
    std::string first_line;
  };

  // Adds the next non-blank line (trimmed); returns the shortest block that now repeats enough.
  std::optional<Found> add(std::string_view line) {
    for (int q = 1; q <= kMaxBlock; ++q) {
      const bool same = int(recent_.size()) >= q && recent_[recent_.size() - q] == line;
      run_[q - 1] = same ? run_[q - 1] + 1 : 0;
    }
    recent_.emplace_back(line);
    if (int(recent_.size()) > kMaxBlock) recent_.pop_front();
    for (int q = 1; q <= std::min(kMaxBlock, int(recent_.size())); ++q) {
      const int copies = (run_[q - 1] + q) / q;
      if (copies >= copiesNeeded(q)) return Found{q, copies, recent_[recent_.size() - q]};
    }
    return std::nullopt;
  }

 private:
  static constexpr int kMaxBlock = LoopDetector::kMaxBlockLines;

  // Short lines repeat in real pages (blank rows of a form) a few times; long ones hardly twice.
  int copiesNeeded(int lines) const {
    std::size_t bytes = 0;
    for (int i = 1; i <= lines; ++i) bytes += recent_[recent_.size() - i].size();
    const auto filling = int((LoopDetector::kCycleBytes + bytes - 1) / bytes);
    return std::clamp(filling, LoopDetector::kMinLineCopies, LoopDetector::kLineCopies);
  }

  std::deque<std::string> recent_;  // the latest kMaxBlock lines, oldest first
  std::array<int, kMaxBlock> run_{};  // run_[q - 1]: consecutive latest lines equal to the line q before them
};

// Tells new text from output that only grows: whitespace, markup (<td></td>, grounding tags and their labels)
// and a box equal to the one before are not new text.
class NewTextScanner {
 public:
  // Adds the next byte; returns whether it brings new text.
  bool add(char c) {
    switch (state_) {
      case State::Text:
        if (c == '<') return startTag();
        return !isSpace(c);
      case State::Tag:
        return addToTag(c);
      case State::Label:
        if (c == '<') return startTag();
        return false;
      case State::Box:
        if (c == '<') return endBox();
        box_.push_back(c);
        return false;
    }
    return false;
  }

 private:
  // A '<' that meets no '>' within this many bytes, or on its line, was text ("a < b").
  static constexpr std::size_t kMaxTagBytes = 64;
  enum class State { Text, Tag, Label, Box };

  bool startTag() {
    state_ = State::Tag;
    tag_.clear();
    return false;
  }

  bool addToTag(char c) {
    if (c == '>') {
      state_ = tag_ == "|ref|" ? State::Label : tag_ == "|det|" ? State::Box : State::Text;
      box_.clear();
      return false;
    }
    if (c == '\n' || tag_.size() >= kMaxTagBytes) {
      state_ = State::Text;
      return true;
    }
    tag_.push_back(c);
    return false;
  }

  bool endBox() {
    const bool new_box = box_ != last_box_;
    last_box_.swap(box_);
    startTag();
    return new_box;
  }

  State state_ = State::Text;
  std::string tag_, box_, last_box_;
};

// One copy of the piece that ends the text in copies over tail_bytes, quoted from where a reader would start
// it: a line's beginning or an opening tag within the first copy, or else the first whole character.
QString cycleReason(std::string_view text, int period, int tail_bytes) {
  const std::size_t first = text.size() - tail_bytes, last = first + period;
  const auto natural = [&](std::size_t i) {
    return (i > 0 && text[i - 1] == '\n') || (text[i] == '<' && text[i + 1] != '/');
  };
  std::size_t start = first;
  while (start < last && !natural(start)) ++start;
  if (start == last)
    for (start = first; isUtf8Continuation(text[start]);) ++start;
  const std::string_view piece = text.substr(start, period);
  if (trimmed(piece).empty()) return tr("%n characters of only whitespace", tail_bytes);
  return tr("the same %n characters repeat %1 times: %2", int(characterCount(piece)))
      .arg(QString::number(tail_bytes / period), quotedPiece(piece));
}

QString lineReason(const LineRepeats::Found& found) {
  const QString copies = QString::number(found.copies), line = quotedPiece(found.first_line);
  if (found.lines == 1) return tr("the line %1 repeats %2 times").arg(line, copies);
  return tr("the same %n lines repeat %1 times, from %2", found.lines).arg(copies, line);
}

}  // namespace

struct LoopDetector::State {
  CycleFinder cycles;
  LineRepeats lines;
  NewTextScanner scanner;
  std::size_t bytes_read = 0;
  std::size_t line_begin = 0;  // where the unfinished line begins
  int tokens_at_new_text = 0;
  QString reason;

  // Reads text[i]; true when it completes a loop.
  bool readByte(std::string_view text, std::size_t i, bool& new_text) {
    new_text = scanner.add(text[i]) || new_text;
    if (const int period = cycles.add(text[i])) {
      reason = cycleReason(text.substr(0, i + 1), period, cycles.tailBytes(period));
      return true;
    }
    if (text[i] != '\n') return false;
    const std::string_view line = trimmed(text.substr(line_begin, i - line_begin));
    line_begin = i + 1;
    if (line.empty()) return false;
    if (const auto found = lines.add(line)) reason = lineReason(*found);
    return !reason.isEmpty();
  }
};

LoopDetector::LoopDetector() : state_(std::make_unique<State>()) {}
LoopDetector::~LoopDetector() = default;
LoopDetector::LoopDetector(LoopDetector&&) noexcept = default;
LoopDetector& LoopDetector::operator=(LoopDetector&&) noexcept = default;

QString LoopDetector::feed(std::string_view text, int generated_tokens) {
  State& s = *state_;
  if (!s.reason.isEmpty()) return s.reason;
  bool new_text = false;
  for (; s.bytes_read < text.size(); ++s.bytes_read)
    if (s.readByte(text, s.bytes_read, new_text)) return s.reason;
  if (new_text) s.tokens_at_new_text = generated_tokens;
  const int silent = generated_tokens - s.tokens_at_new_text;
  if (silent >= kSilentTokens) s.reason = tr("%n tokens without new text", silent);
  return s.reason;
}

const QString& LoopDetector::reason() const { return state_->reason; }

namespace {

constexpr double kMaxCoordinate = 999;  // grounding coordinates run 0..999 across the page

// What is wrong with the boxes of one kind: how many, and the first.
struct BadBoxes {
  int count = 0;
  QString first;
  void add(const QString& box) {
    if (count++ == 0) first = box;
  }
};

// The label of the group whose <|det|> starts at det_open: <|ref|>label<|/ref|><|det|>.
QString labelBefore(const QString& raw, qsizetype det_open) {
  static const QString kRefOpen = QStringLiteral("<|ref|>"), kRefClose = QStringLiteral("<|/ref|>");
  if (!QStringView(raw).left(det_open).endsWith(kRefClose)) return {};
  const qsizetype label_end = det_open - kRefClose.size();
  const qsizetype ref_open = raw.lastIndexOf(kRefOpen, label_end);
  if (ref_open < 0) return {};
  const qsizetype label_begin = ref_open + kRefOpen.size();
  return raw.mid(label_begin, label_end - label_begin);
}

QString boxReason(const char* text, const BadBoxes& bad) {
  const QString others = bad.count > 1 ? tr(" (and %n more)", bad.count - 1) : QString();
  return tr(text).arg(bad.first, others);
}

}  // namespace

QStringList reviewReasons(const Result& result) {
  QStringList reasons;
  if (result.hit_token_limit)
    reasons << tr("the output stopped at the token limit (%n tokens) before the page was done",
                  result.generated_tokens);
  if (!result.cancelled && !result.grounded.complete)
    reasons << tr("the output ends inside a grounding tag: its last region is cut off");

  static const QRegularExpression group(QStringLiteral("<\\|det\\|>(.*?)<\\|/det\\|>"),
                                        QRegularExpression::DotMatchesEverythingOption);
  static const QRegularExpression box(QStringLiteral("\\[\\s*(-?[\\d.]+)\\s*,\\s*(-?[\\d.]+)\\s*,\\s*(-?[\\d.]+)\\s*,"
                                                     "\\s*(-?[\\d.]+)\\s*\\]"));
  const QString raw = QString::fromStdString(result.raw_text);
  BadBoxes outside, empty;
  for (auto groups = group.globalMatch(raw); groups.hasNext();) {
    const QRegularExpressionMatch det = groups.next();
    const QString label = labelBefore(raw, det.capturedStart());
    for (auto boxes = box.globalMatch(det.capturedView(1)); boxes.hasNext();) {
      const QRegularExpressionMatch b = boxes.next();
      std::array<double, 4> v{};
      for (int i = 0; i < 4; ++i) v[i] = b.capturedView(i + 1).toDouble();
      const QString named = label.isEmpty() ? b.captured() : tr("%1 of a “%2” region").arg(b.captured(), label);
      if (std::any_of(v.begin(), v.end(), [](double c) { return c < 0 || c > kMaxCoordinate; }))
        outside.add(named);
      else if (v[2] <= v[0] || v[3] <= v[1])
        empty.add(named);
    }
  }
  if (outside.count > 0) reasons << boxReason("the box %1 lies outside the page (coordinates run 0-999)%2", outside);
  if (empty.count > 0) reasons << boxReason("the box %1 is empty (x2 <= x1 or y2 <= y1)%2", empty);
  return reasons;
}

}  // namespace folio::app
