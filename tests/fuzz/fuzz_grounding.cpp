// The grounding parser on arbitrary model text, whole and streamed: every box inside the page, every region's
// character range inside the markdown, and the stream fed in arbitrary pieces equal to the whole parse.
#include <folio/engine.h>

#include <cstdint>
#include <cstdlib>
#include <string_view>

namespace {

bool sane(const folio::GroundedText& parsed, int width, int height) {
  for (const auto& region : parsed.regions) {
    if (region.markdown_begin > region.markdown_end || region.markdown_end > parsed.markdown.size()) return false;
    for (const auto& box : region.boxes)
      if (box.x1 < 0 || box.y1 < 0 || box.x2 > width || box.y2 > height || box.x1 > box.x2 || box.y1 > box.y2)
        return false;
  }
  return true;
}

bool same(const folio::GroundedText& a, const folio::GroundedText& b) {
  if (a.markdown != b.markdown || a.complete != b.complete || a.regions.size() != b.regions.size()) return false;
  for (std::size_t i = 0; i < a.regions.size(); ++i)
    if (a.regions[i].label != b.regions[i].label || a.regions[i].markdown_begin != b.regions[i].markdown_begin ||
        a.regions[i].markdown_end != b.regions[i].markdown_end ||
        a.regions[i].boxes.size() != b.regions[i].boxes.size())
      return false;
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const int piece = 1 + data[0] % 16;  // the first byte sets the streaming piece length
  const std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);
  constexpr int kWidth = 1240, kHeight = 1754;
  const auto whole = folio::parseGrounding(text, kWidth, kHeight, "page");
  if (!sane(whole, kWidth, kHeight)) std::abort();
  folio::GroundingStream stream(kWidth, kHeight, "page");
  for (std::size_t at = 0; at < text.size(); at += piece) stream.append(text.substr(at, piece));
  if (!same(stream.current(), whole)) std::abort();
  return 0;
}
