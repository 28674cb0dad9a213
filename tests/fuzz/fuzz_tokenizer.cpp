// The real tokenizer (shared/model/tokenizer.json) on arbitrary bytes: encoding any well-formed text and decoding
// its ids gives the text back (byte-level BPE loses nothing), encoding malformed UTF-8 does not crash, and decoding arbitrary ids, whole or streamed one by one,
// never reads outside the vocabulary and streams to the same bytes.
#include <folio/engine.h>

#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <vector>

#include "tokenizer.h"

namespace {
std::optional<folio::Tokenizer> tokenizer;
}

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  tokenizer.emplace(folio::Tokenizer::fromFile(FOLIO_TOKENIZER_JSON));
  return 0;
}

// Well-formed UTF-8 (what a prompt typed into Qt becomes: no overlong forms, no surrogates, nothing past
// U+10FFFF); the round trip is promised for that only. Written here on purpose rather than calling the
// tokenizer's own check: the oracle must not share the code it judges.
bool validUtf8(const std::string& text) {
  for (std::size_t i = 0; i < text.size();) {
    const auto byte = static_cast<unsigned char>(text[i]);
    const int length = byte < 0x80 ? 1 : byte >= 0xC2 && byte <= 0xDF ? 2 : byte >= 0xE0 && byte <= 0xEF ? 3
                     : byte >= 0xF0 && byte <= 0xF4 ? 4 : 0;
    if (length == 0 || i + length > text.size()) return false;
    char32_t code = length == 1 ? byte : byte & (0x7F >> length);
    for (int k = 1; k < length; ++k) {
      const auto next = static_cast<unsigned char>(text[i + k]);
      if ((next & 0xC0) != 0x80) return false;
      code = code << 6 | (next & 0x3F);
    }
    const char32_t smallest[] = {0, 0, 0x80, 0x800, 0x10000};
    if (code < smallest[length] || code > 0x10FFFF || (code >= 0xD800 && code <= 0xDFFF)) return false;
    i += length;
  }
  return true;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  const auto ids = tokenizer->encode(text);  // any bytes: no crash
  if (validUtf8(text) && tokenizer->decode(ids) != text) std::abort();
  // The same bytes read as ids (two bytes each, any value, in range or not).
  std::vector<std::int32_t> arbitrary;
  for (std::size_t i = 0; i + 1 < size; i += 2) arbitrary.push_back(std::int32_t(data[i]) << 8 | data[i + 1]);
  std::string whole;
  try {
    whole = tokenizer->decode(arbitrary);
  } catch (const folio::Error&) {
    return 0;  // an id outside the vocabulary is refused
  }
  std::string pending, streamed;
  for (const std::int32_t id : arbitrary) streamed += tokenizer->decodeNext(id, pending);
  streamed += folio::Tokenizer::decodeFlush(pending);
  if (streamed.size() > whole.size() * 3 + 16) std::abort();  // replacement characters at most triple a byte
  return 0;
}
