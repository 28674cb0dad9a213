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

namespace folio {
namespace {

using json = nlohmann::json;

// The torch type of each safetensors dtype (their sizes: dtypeSize in safetensors_header).
struct DtypeInfo {
  const char* name;
  torch::ScalarType scalar;
};

constexpr DtypeInfo kDtypes[] = {
    {"BOOL", torch::kBool},     {"U8", torch::kByte},    {"I8", torch::kChar},     {"I16", torch::kShort},
    {"U16", torch::kUInt16},    {"F16", torch::kHalf},   {"BF16", torch::kBFloat16}, {"I32", torch::kInt},
    {"U32", torch::kUInt32},    {"F32", torch::kFloat},  {"I64", torch::kLong},    {"U64", torch::kUInt64},
    {"F64", torch::kDouble},    {"F8_E4M3", torch::kFloat8_e4m3fn}, {"F8_E5M2", torch::kFloat8_e5m2},
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

// --- reading -----------------------------------------------------------------------------------------------

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
  std::uint64_t bytes = dtypeSize(spec.dtype);
  if (bytes == 0) throw Error(path + ": tensor '" + spec.name + "' has unknown dtype '" + spec.dtype + "'");
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

std::shared_ptr<SafetensorsFile> SafetensorsFile::open(const std::string& path) {
  Mapping mapping = mapFile(path);
  SafetensorsHeader header = parseSafetensorsHeader(path, mapping.bytes.get(), mapping.size);
  std::shared_ptr<SafetensorsFile> file(new SafetensorsFile());
  file->path_ = path;
  file->data_ = mapping.bytes.get() + header.data_offset;
  file->data_size_ = mapping.size - header.data_offset;
  file->mapping_ = std::move(mapping.bytes);
  file->infos_ = std::move(header.tensors);
  file->metadata_ = std::move(header.metadata);
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
  if (reinterpret_cast<std::uintptr_t>(address) % dtypeSize(info->dtype) != 0) {
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

std::string safetensorsDtype(torch::ScalarType scalar) { return dtypeOf(scalar).name; }

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
