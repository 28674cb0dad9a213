#include "safetensors_header.h"

#include <folio/engine.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <set>
#include <utility>

namespace folio {
namespace {

using json = nlohmann::json;

// A header larger than this is not a real checkpoint (the 2710-tensor DeepSeek-OCR header is ~300 KB); refusing
// it keeps a corrupt length from making us parse gigabytes.
constexpr std::uint64_t kMaxHeaderBytes = 100ull << 20;

bool knownDtype(const std::string& name) { return dtypeSize(name) != 0; }

class HeaderChecker {
 public:
  HeaderChecker(const std::string& path, std::uint64_t data_size) : path_(path), data_size_(data_size) {}

  [[noreturn]] void fail(const std::string& problem) const { throw Error(path_ + ": " + problem); }

  TensorInfo tensorInfo(const std::string& name, const json& entry) const {
    if (name.empty()) fail("header has a tensor with an empty name");
    if (!entry.is_object()) fail("header entry of tensor '" + name + "' is not an object");
    TensorInfo info;
    info.name = name;
    info.dtype = dtype(name, entry);
    info.shape = shape(name, entry);
    std::tie(info.begin, info.end) = offsets(name, entry);
    const std::uint64_t bytes = byteSize(name, info);
    if (bytes != info.end - info.begin)
      fail("tensor '" + name + "': shape " + shapeText(info.shape) + " x " + info.dtype + " is " +
           std::to_string(bytes) + " bytes but data_offsets span " + std::to_string(info.end - info.begin));
    return info;
  }

  std::map<std::string, std::string> metadata(const json& entry) const {
    if (!entry.is_object()) fail("__metadata__ is not an object of strings");
    std::map<std::string, std::string> result;
    for (const auto& [key, value] : entry.items()) {
      if (!value.is_string()) fail("__metadata__ value of '" + key + "' is not a string");
      result[key] = value.get<std::string>();
    }
    return result;
  }

  // Spans must not overlap: two tensors sharing bytes would alias each other's storage.
  void checkNoOverlap(std::vector<TensorInfo> infos) const {
    std::sort(infos.begin(), infos.end(), [](const auto& a, const auto& b) {
      return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
    });
    for (std::size_t i = 1; i < infos.size(); ++i)
      if (infos[i].begin < infos[i - 1].end)
        fail("data of tensors '" + infos[i - 1].name + "' and '" + infos[i].name + "' overlap");
  }

 private:
  std::string dtype(const std::string& name, const json& entry) const {
    auto it = entry.find("dtype");
    if (it == entry.end()) fail("tensor '" + name + "' has no dtype");
    if (!it->is_string()) fail("tensor '" + name + "': dtype is not a string");
    auto text = it->get<std::string>();
    if (!knownDtype(text)) fail("tensor '" + name + "' has unknown dtype '" + text + "'");
    return text;
  }

  std::vector<std::int64_t> shape(const std::string& name, const json& entry) const {
    auto it = entry.find("shape");
    if (it == entry.end()) fail("tensor '" + name + "' has no shape");
    if (!it->is_array()) fail("tensor '" + name + "': shape is not a list");
    std::vector<std::int64_t> dims;
    for (const auto& dim : *it) {
      if (!dim.is_number_integer()) fail("tensor '" + name + "': shape has a non-integer dimension");
      if (dim.is_number_unsigned() ? dim.get<std::uint64_t>() > std::uint64_t(INT64_MAX) : dim.get<std::int64_t>() < 0)
        fail("tensor '" + name + "': shape has a negative or too large dimension " + dim.dump());
      dims.push_back(dim.get<std::int64_t>());
    }
    return dims;
  }

  std::pair<std::uint64_t, std::uint64_t> offsets(const std::string& name, const json& entry) const {
    auto it = entry.find("data_offsets");
    if (it == entry.end()) fail("tensor '" + name + "' has no data_offsets");
    if (!it->is_array() || it->size() != 2 || !(*it)[0].is_number_unsigned() || !(*it)[1].is_number_unsigned())
      fail("tensor '" + name + "': data_offsets is not [begin, end] of non-negative integers");
    const auto begin = (*it)[0].get<std::uint64_t>();
    const auto end = (*it)[1].get<std::uint64_t>();
    if (begin > end)
      fail("tensor '" + name + "': data_offsets begin " + std::to_string(begin) + " > end " + std::to_string(end));
    if (end > data_size_)
      fail("tensor '" + name + "': data_offsets end " + std::to_string(end) + " is past the end of the data (" +
           std::to_string(data_size_) + " bytes)");
    return {begin, end};
  }

  std::uint64_t byteSize(const std::string& name, const TensorInfo& info) const {
    std::uint64_t bytes = dtypeSize(info.dtype);
    for (auto dim : info.shape)
      if (__builtin_mul_overflow(bytes, static_cast<std::uint64_t>(dim), &bytes))
        fail("tensor '" + name + "': shape " + shapeText(info.shape) + " overflows the byte count");
    return bytes;
  }

  const std::string& path_;
  std::uint64_t data_size_;
};

// Parses the header JSON, refusing duplicate top-level keys (a plain parse would silently keep the last one).
json parseHeader(const std::string& path, const char* text, std::size_t size) {
  std::set<std::string> keys;
  std::string duplicate;
  auto onEvent = [&](int depth, json::parse_event_t event, json& parsed) {
    if (event == json::parse_event_t::key && depth == 1 && !keys.insert(parsed.get<std::string>()).second &&
        duplicate.empty())
      duplicate = parsed.get<std::string>();
    return true;
  };
  json header;
  try {
    header = json::parse(text, text + size, onEvent);
  } catch (const json::exception& e) {
    throw Error(path + ": header is not valid JSON (" + e.what() + ")");
  }
  if (!duplicate.empty()) throw Error(path + ": header names tensor '" + duplicate + "' twice");
  if (!header.is_object()) throw Error(path + ": header is not a JSON object");
  return header;
}

std::uint64_t readLittleEndian64(const std::uint8_t* p) {
  std::uint64_t value = 0;
  for (int i = 7; i >= 0; --i) value = (value << 8) | p[i];
  return value;
}

}  // namespace

std::size_t dtypeSize(const std::string& dtype) {
  static const std::pair<const char*, std::size_t> sizes[] = {
      {"BOOL", 1}, {"U8", 1},  {"I8", 1},  {"I16", 2}, {"U16", 2}, {"F16", 2}, {"BF16", 2},    {"I32", 4},
      {"U32", 4},  {"F32", 4}, {"I64", 8}, {"U64", 8}, {"F64", 8}, {"F8_E4M3", 1}, {"F8_E5M2", 1}};
  for (const auto& [name, size] : sizes)
    if (dtype == name) return size;
  return 0;
}

std::string shapeText(const std::vector<std::int64_t>& shape) {
  std::string text = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) text += (i ? ", " : "") + std::to_string(shape[i]);
  return text + "]";
}

SafetensorsHeader parseSafetensorsHeader(const std::string& path, const std::uint8_t* bytes, std::uint64_t size) {
  if (size < 8)
    throw Error(path + ": file is " + std::to_string(size) + " bytes, shorter than the 8-byte header length");
  const std::uint64_t header_size = readLittleEndian64(bytes);
  if (header_size == 0) throw Error(path + ": header length is 0");
  if (header_size > kMaxHeaderBytes || header_size > size - 8)
    throw Error(path + ": header length " + std::to_string(header_size) + " is larger than the file (" +
                std::to_string(size) + " bytes) or the 100 MB limit");
  SafetensorsHeader result;
  result.data_offset = 8 + header_size;
  const json header = parseHeader(path, reinterpret_cast<const char*>(bytes + 8), header_size);
  HeaderChecker checker(path, size - result.data_offset);
  for (const auto& [name, entry] : header.items()) {
    if (name == "__metadata__") {
      result.metadata = checker.metadata(entry);
      continue;
    }
    result.tensors.push_back(checker.tensorInfo(name, entry));
  }
  checker.checkNoOverlap(result.tensors);
  // File order (by offset): the order a sequential reader touches the pages in.
  std::stable_sort(result.tensors.begin(), result.tensors.end(),
                   [](const auto& a, const auto& b) { return a.begin < b.begin; });
  return result;
}

}  // namespace folio
