// Internals of the grounding parser (MODEL.md "Grounding output"); the public door is parseGrounding and
// GroundingStream in folio/engine.h.
#pragma once

#include <folio/engine.h>

#include <string_view>
#include <vector>

namespace folio {

// The boxes of one <|det|> payload such as "[[x1, y1, x2, y2], [x1, y1, x2, y2]]", in page pixels
// (v / 999 · size, clamped to the page, corners ordered). Every innermost [...] holding exactly four numbers is
// a box; anything else (words, three numbers, a missing bracket) is skipped rather than guessed.
std::vector<Box> parseBoxes(std::string_view det, int page_width, int page_height);

}  // namespace folio
