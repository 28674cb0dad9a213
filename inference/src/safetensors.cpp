#include "safetensors.h"

#include <folio/engine.h>
#include <nlohmann/json.hpp>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <set>

namespace folio {
namespace {

using json = nlohmann::json;

// A header larger than this is not a real checkpoint (the 2710-tensor DeepSeek-OCR header is ~300 KB); refusing
// it keeps a corrupt length from making us parse gigabytes.
constexpr std::uint64_t kMaxHeaderBytes = 100ull << 20;

struct DtypeInfo {
  const char* name;
  std::size_t size;
  torch::ScalarType scalar;
};

constexpr DtypeInfo kDtypes[] = {
    {"BOOL", 1, torch::kBool},     {"U8", 1, torch::kByte},     {"I8", 1, torch::kChar},
    {"I16", 2, torch::kShort},     {"U16", 2, torch::kUInt16},  {"F16", 2, torch::kHalf},
    {"BF16", 2, torch::kBFloat16}, {"I32", 4, torch::kInt},     {"U32", 4, torch::kUInt32},
    {"F32", 4, torch::kFloat},     {"I64", 8, torch::kLong},    {"U64", 8, torch::kUInt64},
    {"F64", 8, torch::kDouble},    {"F8_E4M3", 1, torch::kFloat8_e4m3fn},
    {"F8_E5M2", 1, torch::kFloat8_e5m2},
};

const DtypeInfo* dtypeByName(const std::string& name) {
  for (const auto& d : kDtypes)
    if (name == d.name) return &d;
  return nullptr;
}

const DtypeInfo& dtypeOf(torch::ScalarType scalar) {
  for (const auto& d : kDtypes)
    if (d.scalar == scalar) return d;
  throw Error(std::string("safetensors: no safetensors dtype for torch dtype ") + c10::toString(scalar));
}

std::string shapeText(const std::vector<std::int64_t>& shape) {
  std::string text = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) text += (i ? ", " : "") + std::to_string(shape[i]);
  return text + "]";
}

// --- reading -----------------------------------------------------------------------------------------------

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
    if (!dtypeByName(text)) fail("tensor '" + name + "' has unknown dtype '" + text + "'");
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
    std::uint64_t bytes = dtypeByName(info.dtype)->size;
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

struct Mapping {
  std::shared_ptr<const std::uint8_t> bytes;
  std::uint64_t size = 0;
};

Mapping mapFile(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw Error(path + ": cannot open (" + std::strerror(errno) + ")");
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const int err = errno;
    ::close(fd);
    throw Error(path + ": cannot stat (" + std::strerror(err) + ")");
  }
  const auto size = static_cast<std::uint64_t>(st.st_size);
  if (size < 8) {
    ::close(fd);
    throw Error(path + ": file is " + std::to_string(size) + " bytes, shorter than the 8-byte header length");
  }
  void* address = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  const int err = errno;
  ::close(fd);  // the mapping stays valid without the descriptor
  if (address == MAP_FAILED) throw Error(path + ": cannot memory-map (" + std::strerror(err) + ")");
  Mapping mapping;
  mapping.size = size;
  mapping.bytes = std::shared_ptr<const std::uint8_t>(static_cast<const std::uint8_t*>(address),
                                                      [size](const std::uint8_t* p) {
                                                        ::munmap(const_cast<std::uint8_t*>(p), size);
                                                      });
  return mapping;
}

std::uint64_t readLittleEndian64(const std::uint8_t* p) {
  std::uint64_t value = 0;
  for (int i = 7; i >= 0; --i) value = (value << 8) | p[i];
  return value;
}

// --- writing -----------------------------------------------------------------------------------------------

// A temporary file beside the target, renamed over it only once complete, so readers never see half a file.
class AtomicFile {
 public:
  explicit AtomicFile(const std::string& path) : path_(path) {
    auto parent = std::filesystem::path(path).parent_path();
    std::string hidden_name(".");
    hidden_name += std::filesystem::path(path).filename().string();
    hidden_name += ".tmp-XXXXXX";
    std::string pattern = ((parent.empty() ? std::filesystem::path(".") : parent) / hidden_name).string();
    fd_ = ::mkstemp(pattern.data());
    if (fd_ < 0) throw Error(path + ": cannot create a temporary file (" + std::strerror(errno) + ")");
    temp_ = pattern;
  }
  ~AtomicFile() {
    if (fd_ >= 0) ::close(fd_);
    if (!committed_) std::filesystem::remove(temp_);
  }
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  void write(const void* data, std::size_t size) {
    const auto* p = static_cast<const char*>(data);
    while (size > 0) {
      const ssize_t n = ::write(fd_, p, size);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) throw Error(path_ + ": write failed (" + std::strerror(errno) + ")");
      p += n;
      size -= static_cast<std::size_t>(n);
    }
  }

  void commit() {
    // fsync before rename: after a crash the target is either the old file or the complete new one.
    if (::fsync(fd_) != 0) throw Error(path_ + ": fsync failed (" + std::strerror(errno) + ")");
    ::fchmod(fd_, 0644);
    ::close(fd_);
    fd_ = -1;
    if (std::rename(temp_.c_str(), path_.c_str()) != 0)
      throw Error(path_ + ": cannot rename the temporary file (" + std::strerror(errno) + ")");
    committed_ = true;
  }

 private:
  std::string path_;
  std::filesystem::path temp_;
  int fd_ = -1;
  bool committed_ = false;
};

std::uint64_t specBytes(const std::string& path, const TensorSpec& spec) {
  const auto* d = dtypeByName(spec.dtype);
  if (!d) throw Error(path + ": tensor '" + spec.name + "' has unknown dtype '" + spec.dtype + "'");
  std::uint64_t bytes = d->size;
  for (auto dim : spec.shape) {
    if (dim < 0) throw Error(path + ": tensor '" + spec.name + "' has a negative dimension");
    bytes *= static_cast<std::uint64_t>(dim);
  }
  return bytes;
}

// The header JSON, padded with spaces to a multiple of 8 bytes so the data section starts 8-byte aligned.
std::string headerText(const std::string& path, const std::vector<TensorSpec>& specs,
                       const std::map<std::string, std::string>& metadata) {
  json header = json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::uint64_t offset = 0;
  for (const auto& spec : specs) {
    if (spec.name == "__metadata__" || header.contains(spec.name))
      throw Error(path + ": tensor name '" + spec.name + "' is reserved or given twice");
    const auto bytes = specBytes(path, spec);
    header[spec.name] = {{"dtype", spec.dtype}, {"shape", spec.shape}, {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');
  return text;
}

}  // namespace

std::size_t dtypeSize(const std::string& dtype) {
  const auto* d = dtypeByName(dtype);
  return d ? d->size : 0;
}

std::shared_ptr<SafetensorsFile> SafetensorsFile::open(const std::string& path) {
  Mapping mapping = mapFile(path);
  const std::uint8_t* bytes = mapping.bytes.get();
  const std::uint64_t header_size = readLittleEndian64(bytes);
  if (header_size == 0) throw Error(path + ": header length is 0");
  if (header_size > kMaxHeaderBytes || header_size > mapping.size - 8)
    throw Error(path + ": header length " + std::to_string(header_size) + " is larger than the file (" +
                std::to_string(mapping.size) + " bytes) or the 100 MB limit");

  std::shared_ptr<SafetensorsFile> file(new SafetensorsFile());
  file->path_ = path;
  file->data_ = bytes + 8 + header_size;
  file->data_size_ = mapping.size - 8 - header_size;
  file->mapping_ = std::move(mapping.bytes);

  const json header = parseHeader(path, reinterpret_cast<const char*>(bytes + 8), header_size);
  HeaderChecker checker(path, file->data_size_);
  for (const auto& [name, entry] : header.items()) {
    if (name == "__metadata__") {
      file->metadata_ = checker.metadata(entry);
      continue;
    }
    file->index_[name] = file->infos_.size();
    file->infos_.push_back(checker.tensorInfo(name, entry));
  }
  checker.checkNoOverlap(file->infos_);
  // Present tensors in file order (by offset), the order a sequential reader touches the pages in.
  std::stable_sort(file->infos_.begin(), file->infos_.end(),
                   [](const auto& a, const auto& b) { return a.begin < b.begin; });
  for (std::size_t i = 0; i < file->infos_.size(); ++i) file->index_[file->infos_[i].name] = i;
  return file;
}

SafetensorsFile::~SafetensorsFile() = default;

const TensorInfo* SafetensorsFile::find(const std::string& name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : &infos_[it->second];
}

torch::Tensor SafetensorsFile::tensor(const std::string& name) const {
  const TensorInfo* info = find(name);
  if (!info) throw Error(path_ + ": no tensor '" + name + "'");
  const DtypeInfo& dtype = *dtypeByName(info->dtype);
  auto* address = const_cast<std::uint8_t*>(data_ + info->begin);
  auto options = torch::TensorOptions().dtype(dtype.scalar).device(torch::kCPU);
  // Misaligned data (legal in the format, rare in practice) is copied: kernels may assume aligned elements.
  if (reinterpret_cast<std::uintptr_t>(address) % dtype.size != 0) {
    auto copy = torch::empty(info->shape, options);
    std::memcpy(copy.data_ptr(), address, info->end - info->begin);
    return copy;
  }
  auto keep_alive = mapping_;
  // The tensor is read-only memory: callers convert (.to(device/dtype)) or clone before writing.
  return torch::from_blob(address, info->shape, [keep_alive](void*) {}, options);
}

void validateCheckpoint(const SafetensorsFile& file,
                        const std::vector<std::pair<std::string, std::vector<std::int64_t>>>& expected,
                        const std::string& expected_dtype) {
  for (const auto& [name, shape] : expected) {
    const TensorInfo* info = file.find(name);
    if (!info) throw Error(file.path() + ": missing tensor " + name);
    if (info->shape != shape)
      throw Error(file.path() + ": tensor " + name + " has shape " + shapeText(info->shape) + ", expected " +
                  shapeText(shape));
    if (info->dtype != expected_dtype)
      throw Error(file.path() + ": tensor " + name + " has dtype " + info->dtype + ", expected " + expected_dtype);
  }
}

void writeSafetensorsStreaming(const std::string& path, const std::vector<TensorSpec>& specs,
                               const TensorProducer& produce, const std::map<std::string, std::string>& metadata) {
  const std::string header = headerText(path, specs, metadata);
  AtomicFile out(path);
  std::uint8_t length[8];
  for (int i = 0; i < 8; ++i) length[i] = static_cast<std::uint8_t>(std::uint64_t(header.size()) >> (8 * i));
  out.write(length, 8);
  out.write(header.data(), header.size());
  for (const auto& spec : specs) {
    torch::Tensor t = produce(spec);
    if (dtypeOf(t.scalar_type()).name != spec.dtype || t.sizes().vec() != spec.shape)
      throw Error(path + ": tensor '" + spec.name + "' was produced as " + dtypeOf(t.scalar_type()).name + " " +
                  shapeText(t.sizes().vec()) + ", declared " + spec.dtype + " " + shapeText(spec.shape));
    t = t.to(torch::kCPU).contiguous();
    out.write(t.data_ptr(), t.nbytes());
  }
  out.commit();
}

void writeSafetensors(const std::string& path, const std::vector<std::pair<std::string, torch::Tensor>>& tensors,
                      const std::map<std::string, std::string>& metadata) {
  std::vector<std::pair<std::string, torch::Tensor>> sorted = tensors;
  std::sort(sorted.begin(), sorted.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<TensorSpec> specs;
  std::map<std::string, torch::Tensor> by_name;
  for (const auto& [name, t] : sorted) {
    specs.push_back({name, dtypeOf(t.scalar_type()).name, t.sizes().vec()});
    by_name[name] = t;
  }
  writeSafetensorsStreaming(path, specs, [&](const TensorSpec& spec) { return by_name.at(spec.name); }, metadata);
}

}  // namespace folio
