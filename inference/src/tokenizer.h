// DeepSeek-OCR's tokenizer: the byte-level BPE of tokenizer.json (MODEL.md "Tokenizer").
// encode: added tokens are matched first (longest at the leftmost position); the text between them runs
// through the json's pre-tokenizer splits (PCRE2), is mapped to bytes and merged by rank.
// decode: the bytes of every id concatenated, special tokens kept as their text.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace folio {

class Tokenizer {
 public:
  // Reads a Hugging Face tokenizer.json. Throws folio::Error naming the file when it is missing, not JSON,
  // or not a byte-level BPE with Split/ByteLevel pre-tokenizers.
  static Tokenizer fromFile(const std::string& path);

  Tokenizer(Tokenizer&&) noexcept;
  Tokenizer& operator=(Tokenizer&&) noexcept;
  ~Tokenizer();

  // Token ids of text (no bos). Invalid UTF-8 is replaced by U+FFFD before encoding.
  std::vector<std::int32_t> encode(std::string_view text) const;
  // The text of ids; invalid UTF-8 in the result becomes U+FFFD; ids outside the vocabulary are skipped.
  std::string decode(const std::vector<std::int32_t>& ids) const;

  // Streaming decode: appends the bytes of one more id to pending and returns the text that is now complete;
  // a trailing incomplete UTF-8 sequence stays in pending until the next id completes it.
  std::string decodeNext(std::int32_t id, std::string& pending) const;
  // Ends a stream: whatever is left in pending, as text (an incomplete sequence becomes U+FFFD).
  static std::string decodeFlush(std::string& pending);

  // The id of a vocabulary entry (as written in tokenizer.json) or of an added token.
  std::optional<std::int32_t> tokenId(std::string_view token) const;
  // One more than the largest id (vocabulary and added tokens).
  std::size_t vocabSize() const;

 private:
  struct Impl;
  explicit Tokenizer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace folio
