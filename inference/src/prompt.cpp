#include "prompt.h"

#include <folio/engine.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <string>
#include <utility>

namespace folio {
namespace {

constexpr std::array<std::pair<Mode, std::string_view>, 5> kModeNames{{
    {Mode::Tiny, "tiny"}, {Mode::Small, "small"}, {Mode::Base, "base"}, {Mode::Large, "large"},
    {Mode::Gundam, "gundam"}}};

constexpr std::array<std::pair<Task, std::string_view>, 6> kTaskNames{{
    {Task::Markdown, "markdown"}, {Task::Ocr, "ocr"}, {Task::Free, "free"}, {Task::Figure, "figure"},
    {Task::Describe, "describe"}, {Task::Locate, "locate"}}};

bool equalsIgnoringCase(std::string_view a, std::string_view b) {
  return std::equal(a.begin(), a.end(), b.begin(), b.end(), [](char x, char y) {
    return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
  });
}

template <class Enum, std::size_t N>
std::string_view nameOf(const std::array<std::pair<Enum, std::string_view>, N>& names, Enum value) {
  for (const auto& [candidate, name] : names) {
    if (candidate == value) return name;
  }
  return {};
}

template <class Enum, std::size_t N>
std::optional<Enum> valueOf(const std::array<std::pair<Enum, std::string_view>, N>& names, std::string_view name) {
  for (const auto& [value, candidate] : names) {
    if (equalsIgnoringCase(candidate, name)) return value;
  }
  return std::nullopt;
}

void appendEncoded(const Tokenizer& tokenizer, std::string_view text, std::vector<std::int64_t>& ids) {
  for (const auto id : tokenizer.encode(text)) ids.push_back(id);
}

}  // namespace

std::string_view familyName(ModelFamily family) {
  return family == ModelFamily::DeepseekOcr2 ? "DeepSeek-OCR-2" : "DeepSeek-OCR";
}

std::string_view modeName(Mode mode) { return nameOf(kModeNames, mode); }
std::optional<Mode> parseMode(std::string_view name) { return valueOf(kModeNames, name); }
std::string_view taskName(Task task) { return nameOf(kTaskNames, task); }
std::optional<Task> parseTask(std::string_view name) { return valueOf(kTaskNames, name); }

// The upstream prompts (DeepSeek-OCR README).
std::string promptFor(Task task, std::string_view locate_text) {
  switch (task) {
    case Task::Markdown: return "<image>\n<|grounding|>Convert the document to markdown.";
    case Task::Ocr: return "<image>\n<|grounding|>OCR this image.";
    case Task::Free: return "<image>\nFree OCR.";
    case Task::Figure: return "<image>\nParse the figure.";
    case Task::Describe: return "<image>\nDescribe this image in detail.";
    case Task::Locate: return "<image>\nLocate <|ref|>" + std::string(locate_text) + "<|/ref|> in the image.";
  }
  throw Error("promptFor: unknown task " + std::to_string(static_cast<int>(task)));
}

std::vector<std::int64_t> buildPromptIds(const Tokenizer& tokenizer, std::string_view prompt, int n_image_tokens,
                                         int bos_id, int image_token_id) {
  const auto placeholder = prompt.find(kImagePlaceholder);
  if (placeholder == std::string_view::npos)
    throw Error("prompt has no " + std::string(kImagePlaceholder) + " placeholder: " + std::string(prompt));
  const auto after = placeholder + kImagePlaceholder.size();
  if (prompt.find(kImagePlaceholder, after) != std::string_view::npos)
    throw Error("prompt has more than one " + std::string(kImagePlaceholder) + " placeholder");
  if (n_image_tokens < 1) throw Error("prompt needs at least one image token, got " + std::to_string(n_image_tokens));

  std::vector<std::int64_t> ids{bos_id};
  appendEncoded(tokenizer, prompt.substr(0, placeholder), ids);
  ids.insert(ids.end(), static_cast<std::size_t>(n_image_tokens), image_token_id);
  appendEncoded(tokenizer, prompt.substr(after), ids);
  return ids;
}

}  // namespace folio
