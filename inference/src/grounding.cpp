// The grounding parser: raw DeepSeek-OCR text to clean markdown plus regions (MODEL.md "Grounding output").
//
// The markdown follows upstream's export (run_dpsk_ocr_pdf.py): an `image` group becomes a link to its crop,
// every other group is removed leaving its text, `\coloneqq` -> `:=`, `\eqqcolon` -> `=:`, blank-line runs
// shrink, the eos text goes. Where upstream's string replacements are accidental we choose the plain rule:
// - Upstream runs the `:=` and newline replacements once per non-image group, on the whole page, so runs of
//   3-5 newlines become 2 and longer ones shrink by steps. We collapse every run of 3+ newlines to 2 (the
//   fixed point of its replacements), and also on pages without groups (free OCR), which upstream leaves raw.
// - Upstream's str.replace gives identical image groups the same link; here each image region has its own.
// - A region whose boxes are all unreadable is not a region (its text stays, untagged); an image group
//   without a box gets no link, so links always match the crops the app can make.
// - Tag markers that belong to no complete group are dropped, as is a <|ref|>...<|/ref|> without boxes
//   (its words stay).
#include "grounding.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <optional>
#include <utility>

namespace folio {
namespace {

// The model emits each of these as one token.
constexpr std::string_view kRefOpen = "<|ref|>";
constexpr std::string_view kRefClose = "<|/ref|>";
constexpr std::string_view kDetOpen = "<|det|>";
constexpr std::string_view kDetClose = "<|/det|>";
constexpr std::string_view kEos = "<｜end▁of▁sentence｜>";
constexpr std::array<std::string_view, 4> kMarkers = {kRefOpen, kRefClose, kDetOpen, kDetClose};

struct Replacement {
  std::string_view latex;
  std::string_view markdown;
};
// Markdown renderers lack mathtools, which defines these two.
constexpr std::array<Replacement, 2> kReplacements = {{{"\\coloneqq", ":="}, {"\\eqqcolon", "=:"}}};

// Grounding coordinates are integers 0..999 across the page.
constexpr double kCoordinateScale = 999.0;

bool isSpace(char c) { return c == ' ' || c == '\n' || c == '\t' || c == '\r'; }

std::string_view trimmed(std::string_view s) {
  while (!s.empty() && isSpace(s.front())) s.remove_prefix(1);
  while (!s.empty() && isSpace(s.back())) s.remove_suffix(1);
  return s;
}

std::optional<double> parseNumber(std::string_view s) {
  s = trimmed(s);
  double value = 0;
  const auto [end, error] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (s.empty() || error != std::errc() || end != s.data() + s.size() || !std::isfinite(value))
    return std::nullopt;
  return value;
}

double toPixels(double coordinate, int page_size) {
  return std::clamp(coordinate, 0.0, kCoordinateScale) / kCoordinateScale * page_size;
}

// "x1, y1, x2, y2" to a box, or nothing unless it is exactly four numbers.
std::optional<Box> parseBox(std::string_view list, int page_width, int page_height) {
  std::array<double, 4> v{};
  std::size_t count = 0;
  for (std::size_t start = 0;; ) {
    const std::size_t comma = list.find(',', start);
    const auto number = parseNumber(list.substr(start, comma == std::string_view::npos ? comma : comma - start));
    if (!number || count == v.size()) return std::nullopt;
    v[count++] = *number;
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  if (count != v.size()) return std::nullopt;
  const double x1 = toPixels(v[0], page_width), y1 = toPixels(v[1], page_height);
  const double x2 = toPixels(v[2], page_width), y2 = toPixels(v[3], page_height);
  return Box{std::min(x1, x2), std::min(y1, y2), std::max(x1, x2), std::max(y1, y2)};
}

// Builds the markdown and the regions from the pieces the scanner recognises. Its state can be saved and
// restored, so GroundingStream can fold the settled part of the text once and redo only the unfinished tail.
class MarkdownBuilder {
 public:
  struct Checkpoint {
    std::size_t markdown_size = 0;
    std::size_t region_count = 0;
    std::optional<Region> last_region;  // the open region's span still grows after a checkpoint
    int image_count = 0;
    bool region_open = false;
  };

  MarkdownBuilder(int page_width, int page_height, std::string figure_stem)
      : page_width_(page_width), page_height_(page_height), figure_stem_(std::move(figure_stem)) {
    if (page_width <= 0 || page_height <= 0)
      throw Error("grounding: page size " + std::to_string(page_width) + "x" + std::to_string(page_height) +
                  " is not positive");
  }

  // Appends markdown text; it belongs to the open region, if any.
  void text(std::string_view s) {
    std::string& md = out_.markdown;
    for (char c : s) {
      if (c == '\n' && md.ends_with("\n\n")) continue;  // a blank line is all markdown needs
      md.push_back(c);
      if (region_open_ && !isSpace(c)) extendOpenRegion();
    }
  }

  // A complete <|ref|>label<|/ref|><|det|>det<|/det|> group: the text after it is the region's.
  void region(std::string_view label, std::string_view det) {
    auto boxes = parseBoxes(det, page_width_, page_height_);
    region_open_ = !boxes.empty();
    if (!region_open_) return;
    Region& r = out_.regions.emplace_back();
    r.label = label;
    r.boxes = std::move(boxes);
    r.markdown_begin = r.markdown_end = out_.markdown.size();
    if (label == "image") {
      r.figure_link = "images/" + figure_stem_ + "_" + std::to_string(image_count_++) + ".jpg";
      text("![](" + r.figure_link + ")\n");
    }
  }

  // A broken group: the text after it belongs to no region.
  void closeRegion() { region_open_ = false; }
  // The text ended inside a tag group.
  void cut() { out_.complete = false; }

  Checkpoint checkpoint() const {
    Checkpoint c{out_.markdown.size(), out_.regions.size(), std::nullopt, image_count_, region_open_};
    if (!out_.regions.empty()) c.last_region = out_.regions.back();
    return c;
  }
  void restore(const Checkpoint& c) {
    out_.markdown.resize(c.markdown_size);
    out_.regions.resize(c.region_count);
    if (c.last_region) out_.regions.back() = *c.last_region;
    out_.complete = true;
    image_count_ = c.image_count;
    region_open_ = c.region_open;
  }

  const GroundedText& result() const { return out_; }
  GroundedText take() { return std::move(out_); }

 private:
  // The span covers the region's text from its first to its last non-space byte.
  void extendOpenRegion() {
    Region& r = out_.regions.back();
    if (r.markdown_begin == r.markdown_end) r.markdown_begin = out_.markdown.size() - 1;
    r.markdown_end = out_.markdown.size();
  }

  GroundedText out_;
  int page_width_;
  int page_height_;
  std::string figure_stem_;
  int image_count_ = 0;
  bool region_open_ = false;
};

enum class Match { None, Partial, Full };

// Whether raw holds token at pos, only a beginning of it cut off by the end of raw, or not at all.
Match matchAt(std::string_view raw, std::size_t pos, std::string_view token) {
  const std::string_view rest = raw.substr(std::min(pos, raw.size()));
  if (rest.starts_with(token)) return Match::Full;
  if (token.starts_with(rest)) return Match::Partial;
  return Match::None;
}

struct Marker {
  std::string_view token;
  std::size_t pos;
};

// The first tag marker at or after from, or nothing when the text ends before one is certain.
std::optional<Marker> nextMarker(std::string_view raw, std::size_t from) {
  for (std::size_t pos = raw.find("<|", from); pos != std::string_view::npos; pos = raw.find("<|", pos + 1)) {
    for (std::string_view token : kMarkers) {
      const Match m = matchAt(raw, pos, token);
      if (m == Match::Full) return Marker{token, pos};
      if (m == Match::Partial) return std::nullopt;
    }
  }
  return std::nullopt;
}

// Where the scan goes on; nothing when the step depends on text not yet seen.
using Next = std::optional<std::size_t>;

// The text ends inside something that more text would complete.
Next unfinished(std::string_view raw, bool at_end, MarkdownBuilder& out) {
  if (!at_end) return std::nullopt;
  out.cut();
  return raw.size();
}

// At "<|ref|>": a whole group becomes a region; a <|ref|> that starts no group is dropped.
Next scanGroup(std::string_view raw, std::size_t pos, bool at_end, MarkdownBuilder& out) {
  const std::size_t label_begin = pos + kRefOpen.size();
  const auto ref_close = nextMarker(raw, label_begin);
  if (!ref_close) return unfinished(raw, at_end, out);
  if (ref_close->token != kRefClose) return label_begin;
  const std::size_t det_open = ref_close->pos + kRefClose.size();
  const Match det = matchAt(raw, det_open, kDetOpen);
  if (det == Match::Partial) return unfinished(raw, at_end, out);
  if (det == Match::None) return label_begin;  // <|ref|>x<|/ref|> alone: x stays as text

  const std::size_t det_begin = det_open + kDetOpen.size();
  const auto det_close = nextMarker(raw, det_begin);
  if (!det_close) return unfinished(raw, at_end, out);
  if (det_close->token != kDetClose) {  // a <|det|> never closed: drop the group, keep what follows
    out.closeRegion();
    return det_close->pos;
  }
  out.region(raw.substr(label_begin, ref_close->pos - label_begin),
             raw.substr(det_begin, det_close->pos - det_begin));
  return det_close->pos + kDetClose.size();
}

// At '<': a group, a stray marker or the eos text (both dropped), or a plain '<'.
Next scanAngle(std::string_view raw, std::size_t pos, bool at_end, MarkdownBuilder& out) {
  const Match ref_open = matchAt(raw, pos, kRefOpen);
  if (ref_open == Match::Full) return scanGroup(raw, pos, at_end, out);
  bool partial = ref_open == Match::Partial;
  for (std::string_view token : {kRefClose, kDetOpen, kDetClose, kEos}) {
    const Match m = matchAt(raw, pos, token);
    if (m == Match::Full) return pos + token.size();
    partial = partial || m == Match::Partial;
  }
  // A lone '<' ending the text is text; "<|" or "<｜" ending it is a cut special token.
  if (partial && (!at_end || raw.size() - pos > 1)) return unfinished(raw, at_end, out);
  out.text("<");
  return pos + 1;
}

// At '\': a replaced LaTeX command or a plain backslash.
Next scanBackslash(std::string_view raw, std::size_t pos, bool at_end, MarkdownBuilder& out) {
  bool partial = false;
  for (const Replacement& r : kReplacements) {
    const Match m = matchAt(raw, pos, r.latex);
    if (m == Match::Full) {
      out.text(r.markdown);
      return pos + r.latex.size();
    }
    partial = partial || m == Match::Partial;
  }
  if (partial && !at_end) return std::nullopt;
  out.text("\\");
  return pos + 1;
}

// Folds raw[pos..] into out. Without at_end it stops before anything that more text could change (a group
// or a replaced word still open) and returns where; with at_end it takes everything, dropping an unfinished
// group (complete = false).
std::size_t scan(std::string_view raw, std::size_t pos, bool at_end, MarkdownBuilder& out) {
  while (pos < raw.size()) {
    const std::size_t special = std::min(raw.find_first_of("<\\", pos), raw.size());
    out.text(raw.substr(pos, special - pos));
    pos = special;
    if (pos == raw.size()) break;
    const Next next = raw[pos] == '<' ? scanAngle(raw, pos, at_end, out) : scanBackslash(raw, pos, at_end, out);
    if (!next) break;
    pos = *next;
  }
  return pos;
}

}  // namespace

std::vector<Box> parseBoxes(std::string_view det, int page_width, int page_height) {
  std::vector<Box> boxes;
  std::size_t open = std::string_view::npos;  // the '[' of the innermost list being read
  for (std::size_t i = 0; i < det.size(); ++i) {
    if (det[i] == '[') {
      open = i;
    } else if (det[i] == ']' && open != std::string_view::npos) {
      if (auto box = parseBox(det.substr(open + 1, i - open - 1), page_width, page_height)) boxes.push_back(*box);
      open = std::string_view::npos;
    }
  }
  return boxes;
}

GroundedText parseGrounding(std::string_view raw_text, int page_width, int page_height,
                            std::string_view figure_stem) {
  MarkdownBuilder builder(page_width, page_height, std::string(figure_stem));
  scan(raw_text, 0, /*at_end=*/true, builder);
  return builder.take();
}

struct GroundingStream::State {
  MarkdownBuilder builder;
  MarkdownBuilder::Checkpoint settled;  // the builder after the settled text
  std::string pending;                   // the text after the settled part
};

GroundingStream::GroundingStream(int page_width, int page_height, std::string figure_stem)
    : state_(std::make_unique<State>(State{MarkdownBuilder(page_width, page_height, std::move(figure_stem)), {}, {}})) {}
GroundingStream::~GroundingStream() = default;
GroundingStream::GroundingStream(GroundingStream&&) noexcept = default;
GroundingStream& GroundingStream::operator=(GroundingStream&&) noexcept = default;

void GroundingStream::append(std::string_view more) {
  State& s = *state_;
  s.pending += more;
  s.builder.restore(s.settled);
  const std::size_t settled = scan(s.pending, 0, /*at_end=*/false, s.builder);
  s.settled = s.builder.checkpoint();
  s.pending.erase(0, settled);
  scan(s.pending, 0, /*at_end=*/true, s.builder);
}

const GroundedText& GroundingStream::current() const { return state_->builder.result(); }

}  // namespace folio
