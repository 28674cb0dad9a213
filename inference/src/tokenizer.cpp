#include "tokenizer.h"

#include <folio/engine.h>
#include <pcre2.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <climits>
#include <fstream>

namespace folio {
namespace {

using json = nlohmann::json;

// ---- UTF-8 ----------------------------------------------------------------------------------------------

enum class Utf8Kind { Valid, Incomplete, Invalid };
struct Utf8Step {
  Utf8Kind kind;
  std::size_t length;  // bytes of the sequence (Valid), of the unfinished prefix, or of the maximal bad subpart
};

// Classifies the UTF-8 sequence starting at text[pos] (Unicode table 3-7: no overlongs, surrogates or > U+10FFFF).
Utf8Step utf8Step(std::string_view text, std::size_t pos) {
  const auto lead = static_cast<unsigned char>(text[pos]);
  if (lead < 0x80) return {Utf8Kind::Valid, 1};
  std::size_t continuation = 0;
  unsigned char low = 0x80, high = 0xBF;  // allowed range of the first continuation byte
  if (lead >= 0xC2 && lead <= 0xDF) {
    continuation = 1;
  } else if (lead == 0xE0) {
    continuation = 2, low = 0xA0;
  } else if ((lead >= 0xE1 && lead <= 0xEC) || lead == 0xEE || lead == 0xEF) {
    continuation = 2;
  } else if (lead == 0xED) {
    continuation = 2, high = 0x9F;
  } else if (lead == 0xF0) {
    continuation = 3, low = 0x90;
  } else if (lead >= 0xF1 && lead <= 0xF3) {
    continuation = 3;
  } else if (lead == 0xF4) {
    continuation = 3, high = 0x8F;
  } else {
    return {Utf8Kind::Invalid, 1};
  }
  for (std::size_t k = 1; k <= continuation; ++k) {
    if (pos + k >= text.size()) return {Utf8Kind::Incomplete, k};
    const auto byte = static_cast<unsigned char>(text[pos + k]);
    if (byte < low || byte > high) return {Utf8Kind::Invalid, k};
    low = 0x80, high = 0xBF;
  }
  return {Utf8Kind::Valid, continuation + 1};
}

constexpr std::string_view kReplacementChar = "\xEF\xBF\xBD";  // U+FFFD

// Appends bytes to out as valid UTF-8 (each maximal invalid subpart becomes U+FFFD). With hold_incomplete an
// unfinished sequence at the end is not consumed. Returns the number of bytes consumed.
std::size_t appendValidUtf8(std::string_view bytes, std::string& out, bool hold_incomplete) {
  std::size_t pos = 0;
  while (pos < bytes.size()) {
    std::size_t ascii_end = pos;  // copy ASCII runs in one go
    while (ascii_end < bytes.size() && static_cast<unsigned char>(bytes[ascii_end]) < 0x80) ++ascii_end;
    out.append(bytes.substr(pos, ascii_end - pos));
    pos = ascii_end;
    if (pos == bytes.size()) break;
    const Utf8Step step = utf8Step(bytes, pos);
    if (step.kind == Utf8Kind::Valid) {
      out.append(bytes.substr(pos, step.length));
    } else if (step.kind == Utf8Kind::Incomplete && hold_incomplete) {
      return pos;
    } else {
      out.append(kReplacementChar);
    }
    pos += step.length;
  }
  return pos;
}

bool isValidUtf8(std::string_view text) {
  for (std::size_t pos = 0; pos < text.size();) {
    const Utf8Step step = utf8Step(text, pos);
    if (step.kind != Utf8Kind::Valid) return false;
    pos += step.length;
  }
  return true;
}

void appendCodepoint(std::string& out, std::uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

// ---- Byte-level alphabet (GPT-2): every byte is shown as a printable codepoint in vocab and merges ----------

struct ByteLevelAlphabet {
  std::array<std::uint32_t, 256> codepoint_of_byte{};
  std::array<int, 512> byte_of_codepoint{};  // -1 where the codepoint is not in the alphabet

  ByteLevelAlphabet() {
    byte_of_codepoint.fill(-1);
    std::uint32_t next_unprintable = 256;
    for (int byte = 0; byte < 256; ++byte) {
      const bool printable = (byte >= 33 && byte <= 126) || (byte >= 161 && byte <= 172) || byte >= 174;
      const std::uint32_t cp = printable ? static_cast<std::uint32_t>(byte) : next_unprintable++;
      codepoint_of_byte[byte] = cp;
      byte_of_codepoint[cp] = byte;
    }
  }

  std::string symbolOf(unsigned char byte) const {
    std::string symbol;
    appendCodepoint(symbol, codepoint_of_byte[byte]);
    return symbol;
  }

  // The raw bytes a vocabulary string stands for; nullopt when it holds a character outside the alphabet.
  std::optional<std::string> bytesOf(std::string_view symbols) const {
    std::string bytes;
    for (std::size_t pos = 0; pos < symbols.size();) {
      const Utf8Step step = utf8Step(symbols, pos);
      if (step.kind != Utf8Kind::Valid || step.length > 2) return std::nullopt;  // alphabet is below U+0200
      std::uint32_t cp = static_cast<unsigned char>(symbols[pos]);
      if (step.length == 2) cp = ((cp & 0x1F) << 6) | (static_cast<unsigned char>(symbols[pos + 1]) & 0x3F);
      if (cp >= byte_of_codepoint.size() || byte_of_codepoint[cp] < 0) return std::nullopt;
      bytes += static_cast<char>(byte_of_codepoint[cp]);
      pos += step.length;
    }
    return bytes;
  }
};

const ByteLevelAlphabet& byteLevel() {
  static const ByteLevelAlphabet alphabet;
  return alphabet;
}

// ---- PCRE2 -------------------------------------------------------------------------------------------------

struct CodeDeleter {
  void operator()(pcre2_code* code) const { pcre2_code_free(code); }
};
struct MatchDataDeleter {
  void operator()(pcre2_match_data* data) const { pcre2_match_data_free(data); }
};
struct MatchContextDeleter {
  void operator()(pcre2_match_context* context) const { pcre2_match_context_free(context); }
};
struct JitStackDeleter {
  void operator()(pcre2_jit_stack* stack) const { pcre2_jit_stack_free(stack); }
};

// One "Split" pre-tokenizer with behaviour Isolated: matches and the gaps between them both become pieces.
struct SplitRegex {
  std::unique_ptr<pcre2_code, CodeDeleter> code;
  bool jit = false;
};

// Per-encode PCRE2 state (match data and a JIT stack big enough for long whitespace runs).
struct MatchState {
  std::unique_ptr<pcre2_match_data, MatchDataDeleter> data{pcre2_match_data_create(1, nullptr)};
  std::unique_ptr<pcre2_match_context, MatchContextDeleter> context{pcre2_match_context_create(nullptr)};
  std::unique_ptr<pcre2_jit_stack, JitStackDeleter> stack{pcre2_jit_stack_create(64 * 1024, 8 * 1024 * 1024, nullptr)};
  MatchState() {
    if (!data || !context || !stack) throw Error("tokenizer: out of memory for PCRE2 match state");
    pcre2_jit_stack_assign(context.get(), nullptr, stack.get());
  }
};

SplitRegex compileSplit(const std::string& pattern, const std::string& path) {
  int error_code = 0;
  PCRE2_SIZE error_offset = 0;
  SplitRegex regex;
  regex.code.reset(pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                                 PCRE2_UTF | PCRE2_UCP, &error_code, &error_offset, nullptr));
  if (!regex.code) {
    std::array<PCRE2_UCHAR, 256> message{};
    pcre2_get_error_message(error_code, message.data(), message.size());
    throw Error(path + ": pre-tokenizer regex does not compile at offset " + std::to_string(error_offset) + ": " +
                reinterpret_cast<const char*>(message.data()));
  }
  regex.jit = pcre2_jit_compile(regex.code.get(), PCRE2_JIT_COMPLETE) == 0;
  return regex;
}

struct Merge {
  std::int32_t rank;
  std::int32_t merged_id;
};

constexpr std::uint64_t pairKey(std::int32_t left, std::int32_t right) {
  return (static_cast<std::uint64_t>(static_cast<std::uint32_t>(left)) << 32) | static_cast<std::uint32_t>(right);
}

json readJson(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) throw Error("cannot open tokenizer file " + path);
  try {
    return json::parse(file);
  } catch (const json::exception& e) {
    throw Error(path + ": not a valid tokenizer.json: " + e.what());
  }
}

}  // namespace

// ---- Tokenizer ---------------------------------------------------------------------------------------------

struct Tokenizer::Impl {
  std::unordered_map<std::string, std::int32_t> id_of_token;  // vocab strings (byte-level form) and added tokens
  std::vector<std::string> bytes_of_id;                        // raw bytes (or added text) per id; empty = unused
  std::array<std::int32_t, 256> byte_id{};                     // the single-byte tokens BPE starts from
  std::unordered_map<std::uint64_t, Merge> merges;             // (left id, right id) -> rank and result
  std::vector<SplitRegex> splits;                              // applied in order, each to the previous pieces

  struct AddedToken {
    std::string text;
    std::int32_t id;
  };
  std::vector<AddedToken> added;                                           // longest first
  std::array<bool, 256> added_first_byte{};                                // quick reject while scanning
  std::unordered_map<std::uint16_t, std::vector<std::size_t>> added_by_prefix;  // first two bytes -> added
  std::array<std::int32_t, 256> added_single_byte{};                       // one-byte added tokens, -1 if none

  // Reused storage of one encode call; word_cache maps a pre-token to its span in cached_ids.
  struct Scratch {
    MatchState match;
    std::vector<std::int32_t> symbols;
    std::vector<std::int32_t> pair_ranks;
    std::vector<std::int32_t> cached_ids;
    std::unordered_map<std::string_view, std::pair<std::uint32_t, std::uint32_t>> word_cache;
  };

  void loadModel(const json& model, const std::string& path);
  void loadPreTokenizer(const json& pre_tokenizer, const std::string& path);
  void loadAddedTokens(const json& added_tokens, const std::string& path);

  template <class OnText, class OnAdded>
  void splitAddedTokens(std::string_view text, OnText&& on_text, OnAdded&& on_added) const;
  std::optional<AddedToken> addedTokenAt(std::string_view text, std::size_t pos) const;
  template <class OnPiece>
  void preTokenize(std::size_t level, std::string_view piece, Scratch& scratch, OnPiece&& on_piece) const;
  void encodeWord(std::string_view word, Scratch& scratch, std::vector<std::int32_t>& out) const;
  void bytePairMerge(std::string_view word, Scratch& scratch) const;
  std::int32_t pairRank(std::int32_t left, std::int32_t right) const;
};

void Tokenizer::Impl::loadModel(const json& model, const std::string& path) {
  if (model.value("type", "") != "BPE") throw Error(path + ": model.type is not BPE");
  const auto& alphabet = byteLevel();
  for (const auto& [symbols, id_json] : model.at("vocab").items()) {
    const auto id = id_json.get<std::int32_t>();
    if (id < 0) throw Error(path + ": negative id for vocab entry " + symbols);
    // Entries outside the byte-level alphabet (bos/eos/pad, also listed as added tokens) stand for their text.
    const auto bytes = alphabet.bytesOf(symbols);
    if (bytes_of_id.size() <= static_cast<std::size_t>(id)) bytes_of_id.resize(id + 1);
    bytes_of_id[id] = bytes ? *bytes : symbols;
    id_of_token.emplace(symbols, id);
  }
  for (int byte = 0; byte < 256; ++byte) {
    const auto it = id_of_token.find(alphabet.symbolOf(static_cast<unsigned char>(byte)));
    if (it == id_of_token.end()) throw Error(path + ": vocab lacks the token of byte " + std::to_string(byte));
    byte_id[byte] = it->second;
  }
  const auto& merge_list = model.at("merges");
  merges.reserve(merge_list.size());
  for (std::size_t rank = 0; rank < merge_list.size(); ++rank) {
    const auto& entry = merge_list[rank];
    std::string left, right;
    if (entry.is_array() && entry.size() == 2) {
      left = entry[0].get<std::string>(), right = entry[1].get<std::string>();
    } else {
      const auto text = entry.get<std::string>();
      const auto space = text.find(' ');
      if (space == std::string::npos) throw Error(path + ": merge " + std::to_string(rank) + " has no space");
      left = text.substr(0, space), right = text.substr(space + 1);
    }
    const auto left_it = id_of_token.find(left), right_it = id_of_token.find(right);
    const auto merged_it = id_of_token.find(left + right);
    if (left_it == id_of_token.end() || right_it == id_of_token.end() || merged_it == id_of_token.end())
      throw Error(path + ": merge " + std::to_string(rank) + " (" + left + " " + right + ") uses unknown tokens");
    merges.emplace(pairKey(left_it->second, right_it->second),
                   Merge{static_cast<std::int32_t>(rank), merged_it->second});
  }
}

void Tokenizer::Impl::loadPreTokenizer(const json& pre_tokenizer, const std::string& path) {
  const json steps = pre_tokenizer.value("type", "") == "Sequence" ? pre_tokenizer.at("pretokenizers")
                                                                     : json::array({pre_tokenizer});
  bool byte_level = false;
  for (const auto& step : steps) {
    const auto type = step.value("type", "");
    if (type == "Split" && !byte_level) {
      if (step.value("behavior", "") != "Isolated" || step.value("invert", false))
        throw Error(path + ": only Isolated, non-inverted Split pre-tokenizers are supported");
      const auto& pattern = step.at("pattern");
      if (!pattern.contains("Regex")) throw Error(path + ": Split pre-tokenizer without a Regex pattern");
      splits.push_back(compileSplit(pattern.at("Regex").get<std::string>(), path));
    } else if (type == "ByteLevel" && !byte_level) {
      if (step.value("use_regex", true) || step.value("add_prefix_space", false))
        throw Error(path + ": ByteLevel pre-tokenizer with its own regex or prefix space is not supported");
      byte_level = true;
    } else {
      throw Error(path + ": unsupported pre-tokenizer step " + type);
    }
  }
  if (!byte_level) throw Error(path + ": the pre-tokenizer does not end with ByteLevel");
}

void Tokenizer::Impl::loadAddedTokens(const json& added_tokens, const std::string& path) {
  for (const auto& token : added_tokens) {
    const auto text = token.at("content").get<std::string>();
    const auto id = token.at("id").get<std::int32_t>();
    if (text.empty() || id < 0) throw Error(path + ": added token with empty content or negative id");
    added.push_back({text, id});
    if (bytes_of_id.size() <= static_cast<std::size_t>(id)) bytes_of_id.resize(id + 1);
    bytes_of_id[id] = text;
    id_of_token[text] = id;
  }
  // Longest first, so the first candidate that matches at a position is the longest one there.
  std::stable_sort(added.begin(), added.end(),
                   [](const AddedToken& a, const AddedToken& b) { return a.text.size() > b.text.size(); });
  added_single_byte.fill(-1);
  for (std::size_t i = 0; i < added.size(); ++i) {
    const auto& text = added[i].text;
    const auto first = static_cast<unsigned char>(text[0]);
    added_first_byte[first] = true;
    if (text.size() == 1) {
      added_single_byte[first] = added[i].id;
    } else {
      added_by_prefix[static_cast<std::uint16_t>(first << 8 | static_cast<unsigned char>(text[1]))].push_back(i);
    }
  }
}

std::optional<Tokenizer::Impl::AddedToken> Tokenizer::Impl::addedTokenAt(std::string_view text,
                                                                         std::size_t pos) const {
  if (pos + 1 < text.size()) {
    const auto key = static_cast<std::uint16_t>(static_cast<unsigned char>(text[pos]) << 8 |
                                                static_cast<unsigned char>(text[pos + 1]));
    if (const auto it = added_by_prefix.find(key); it != added_by_prefix.end()) {
      for (const std::size_t index : it->second) {
        if (text.compare(pos, added[index].text.size(), added[index].text) == 0) return added[index];
      }
    }
  }
  if (const auto id = added_single_byte[static_cast<unsigned char>(text[pos])]; id >= 0)
    return AddedToken{std::string(1, text[pos]), id};
  return std::nullopt;
}

// Calls on_text for each stretch of ordinary text and on_added for each added token, in order.
template <class OnText, class OnAdded>
void Tokenizer::Impl::splitAddedTokens(std::string_view text, OnText&& on_text, OnAdded&& on_added) const {
  std::size_t segment_begin = 0;
  for (std::size_t pos = 0; pos < text.size();) {
    if (!added_first_byte[static_cast<unsigned char>(text[pos])]) {
      ++pos;
      continue;
    }
    const auto token = addedTokenAt(text, pos);
    if (!token) {
      ++pos;
      continue;
    }
    if (pos > segment_begin) on_text(text.substr(segment_begin, pos - segment_begin));
    on_added(token->id);
    pos += token->text.size();
    segment_begin = pos;
  }
  if (segment_begin < text.size()) on_text(text.substr(segment_begin));
}

// Applies split regex number `level` to piece, recursing into the next level for matches and gaps alike.
template <class OnPiece>
void Tokenizer::Impl::preTokenize(std::size_t level, std::string_view piece, Scratch& scratch,
                                  OnPiece&& on_piece) const {
  if (level == splits.size()) {
    on_piece(piece);
    return;
  }
  const SplitRegex& regex = splits[level];
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(piece.data());
  std::size_t gap_begin = 0;
  std::size_t offset = 0;
  while (offset < piece.size()) {
    // Input was made valid UTF-8 in encode(), so PCRE2 need not re-check the whole piece on every call.
    const int rc = regex.jit ? pcre2_jit_match(regex.code.get(), subject, piece.size(), offset, PCRE2_NO_UTF_CHECK,
                                               scratch.match.data.get(), scratch.match.context.get())
                             : pcre2_match(regex.code.get(), subject, piece.size(), offset, PCRE2_NO_UTF_CHECK,
                                           scratch.match.data.get(), scratch.match.context.get());
    if (rc == PCRE2_ERROR_NOMATCH) break;
    if (rc < 0) throw Error("tokenizer: pre-tokenizer regex failed with PCRE2 error " + std::to_string(rc));
    const PCRE2_SIZE* ovector = pcre2_get_ovector_pointer(scratch.match.data.get());
    const std::size_t match_begin = ovector[0], match_end = ovector[1];
    if (match_begin > gap_begin) preTokenize(level + 1, piece.substr(gap_begin, match_begin - gap_begin), scratch, on_piece);
    if (match_end > match_begin) preTokenize(level + 1, piece.substr(match_begin, match_end - match_begin), scratch, on_piece);
    gap_begin = match_end;
    // An empty match must not stall the scan: step over one character.
    offset = match_end > match_begin ? match_end : match_end + utf8Step(piece, match_end).length;
  }
  if (gap_begin < piece.size()) preTokenize(level + 1, piece.substr(gap_begin), scratch, on_piece);
}

std::int32_t Tokenizer::Impl::pairRank(std::int32_t left, std::int32_t right) const {
  const auto it = merges.find(pairKey(left, right));
  return it == merges.end() ? INT_MAX : it->second.rank;
}

// BPE on one pre-token: start from single bytes and apply the lowest-ranked merge (leftmost on ties) until
// none applies. pair_ranks[i] caches the rank of (symbols[i], symbols[i+1]).
void Tokenizer::Impl::bytePairMerge(std::string_view word, Scratch& scratch) const {
  auto& symbols = scratch.symbols;
  auto& ranks = scratch.pair_ranks;
  symbols.clear();
  for (const char byte : word) symbols.push_back(byte_id[static_cast<unsigned char>(byte)]);
  ranks.clear();
  for (std::size_t i = 0; i + 1 < symbols.size(); ++i) ranks.push_back(pairRank(symbols[i], symbols[i + 1]));
  while (!ranks.empty()) {
    const auto best = std::min_element(ranks.begin(), ranks.end());
    if (*best == INT_MAX) break;
    const auto i = static_cast<std::size_t>(best - ranks.begin());
    symbols[i] = merges.find(pairKey(symbols[i], symbols[i + 1]))->second.merged_id;
    symbols.erase(symbols.begin() + static_cast<std::ptrdiff_t>(i) + 1);
    ranks.erase(ranks.begin() + static_cast<std::ptrdiff_t>(i));
    if (i > 0) ranks[i - 1] = pairRank(symbols[i - 1], symbols[i]);
    if (i < ranks.size()) ranks[i] = pairRank(symbols[i], symbols[i + 1]);
  }
}

void Tokenizer::Impl::encodeWord(std::string_view word, Scratch& scratch, std::vector<std::int32_t>& out) const {
  if (word.size() == 1) {
    out.push_back(byte_id[static_cast<unsigned char>(word[0])]);
    return;
  }
  if (const auto it = scratch.word_cache.find(word); it != scratch.word_cache.end()) {
    const auto [begin, count] = it->second;
    out.insert(out.end(), scratch.cached_ids.begin() + begin, scratch.cached_ids.begin() + begin + count);
    return;
  }
  bytePairMerge(word, scratch);
  scratch.word_cache.emplace(word, std::pair{static_cast<std::uint32_t>(scratch.cached_ids.size()),
                                             static_cast<std::uint32_t>(scratch.symbols.size())});
  scratch.cached_ids.insert(scratch.cached_ids.end(), scratch.symbols.begin(), scratch.symbols.end());
  out.insert(out.end(), scratch.symbols.begin(), scratch.symbols.end());
}

Tokenizer::Tokenizer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Tokenizer::Tokenizer(Tokenizer&&) noexcept = default;
Tokenizer& Tokenizer::operator=(Tokenizer&&) noexcept = default;
Tokenizer::~Tokenizer() = default;

Tokenizer Tokenizer::fromFile(const std::string& path) {
  const json root = readJson(path);
  auto impl = std::make_unique<Impl>();
  try {
    if (!root.is_object()) throw Error(path + ": not a tokenizer.json object");
    impl->loadModel(root.at("model"), path);
    impl->loadPreTokenizer(root.at("pre_tokenizer"), path);
    if (root.contains("added_tokens")) impl->loadAddedTokens(root.at("added_tokens"), path);
  } catch (const json::exception& e) {
    throw Error(path + ": unexpected tokenizer.json structure: " + e.what());
  }
  return Tokenizer(std::move(impl));
}

std::vector<std::int32_t> Tokenizer::encode(std::string_view text) const {
  std::string repaired;
  if (!isValidUtf8(text)) {
    appendValidUtf8(text, repaired, false);
    text = repaired;
  }
  Impl::Scratch scratch;
  std::vector<std::int32_t> ids;
  ids.reserve(text.size() / 3 + 1);
  impl_->splitAddedTokens(
      text,
      [&](std::string_view segment) {
        impl_->preTokenize(0, segment, scratch,
                           [&](std::string_view word) { impl_->encodeWord(word, scratch, ids); });
      },
      [&](std::int32_t id) { ids.push_back(id); });
  return ids;
}

std::string Tokenizer::decode(const std::vector<std::int32_t>& ids) const {
  std::string bytes;
  for (const auto id : ids) {
    if (id >= 0 && static_cast<std::size_t>(id) < impl_->bytes_of_id.size()) bytes += impl_->bytes_of_id[id];
  }
  std::string text;
  text.reserve(bytes.size());
  appendValidUtf8(bytes, text, false);
  return text;
}

std::string Tokenizer::decodeNext(std::int32_t id, std::string& pending) const {
  if (id >= 0 && static_cast<std::size_t>(id) < impl_->bytes_of_id.size()) pending += impl_->bytes_of_id[id];
  std::string text;
  pending.erase(0, appendValidUtf8(pending, text, true));
  return text;
}

std::string Tokenizer::decodeFlush(std::string& pending) {
  std::string text;
  appendValidUtf8(pending, text, false);
  pending.clear();
  return text;
}

std::optional<std::int32_t> Tokenizer::tokenId(std::string_view token) const {
  const auto it = impl_->id_of_token.find(std::string(token));
  if (it == impl_->id_of_token.end()) return std::nullopt;
  return it->second;
}

std::size_t Tokenizer::vocabSize() const { return impl_->bytes_of_id.size(); }

}  // namespace folio
