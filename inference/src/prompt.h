// Prompt assembly (MODEL.md "Prompt"): the prompt text is split at its "<image>" placeholder, each side is
// encoded without special tokens, and the placeholder becomes one image token per vision-feature position.
// The name/prompt functions of Mode and Task are declared in <folio/engine.h>.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "tokenizer.h"

namespace folio {

inline constexpr std::string_view kImagePlaceholder = "<image>";

// [bos] + tokens(text before <image>) + [image_token_id × n_image_tokens] + tokens(text after <image>).
// Throws folio::Error when the prompt has no "<image>", more than one, or n_image_tokens < 1.
std::vector<std::int64_t> buildPromptIds(const Tokenizer& tokenizer, std::string_view prompt, int n_image_tokens,
                                         int bos_id, int image_token_id);

}  // namespace folio
