#include "checkpoint.h"

#include <folio/engine.h>

#include <algorithm>

#include "model_tensors.h"

namespace fs = std::filesystem;

namespace folio {
namespace {

std::vector<std::shared_ptr<SafetensorsFile>> openCheckpointFiles(const fs::path& dir) {
  std::vector<fs::path> paths;
  for (const auto& entry : fs::directory_iterator(dir))
    if (entry.path().extension() == ".safetensors") paths.push_back(entry.path());
  if (paths.empty()) throw Error(dir.string() + ": no .safetensors file in the model folder");
  std::sort(paths.begin(), paths.end());
  std::vector<std::shared_ptr<SafetensorsFile>> files;
  for (const auto& p : paths) files.push_back(SafetensorsFile::open(p.string()));
  return files;
}

torch::Tensor checked(const SafetensorsFile& file, const std::string& name, const std::vector<std::int64_t>& shape) {
  validateCheckpoint(file, {{name, shape}}, file.find(name)->dtype);
  return file.tensor(name);
}

// One expert's gate, up or down projection from a fused stack: gate_up [E, 2I, H], down [E, H, I].
torch::Tensor expertSlice(const SafetensorsFile& file, const FusedExpert& fused, const std::vector<std::int64_t>& shape) {
  const auto stack = file.tensor(fused.fused_name);
  const bool down = fused.part == FusedExpert::Part::Down;
  const std::vector<std::int64_t> expected{stack.size(0), down ? shape[0] : 2 * shape[0], shape[1]};
  if (stack.dim() != 3 || stack.sizes().vec() != expected || fused.expert >= stack.size(0))
    throw Error(file.path() + ": tensor " + fused.fused_name + " does not hold the routed experts' weights");
  const auto one = stack[fused.expert];
  if (down) return one;
  return one.narrow(0, fused.part == FusedExpert::Part::Gate ? 0 : shape[0], shape[0]);
}

}  // namespace

Checkpoint::Checkpoint(const fs::path& dir) : files_(openCheckpointFiles(dir)) {}

const SafetensorsFile* Checkpoint::owner(const std::string& name) const {
  for (const auto& f : files_)
    if (f->contains(name)) return f.get();
  return nullptr;
}

std::string Checkpoint::pathOf(const std::string& name) const {
  const auto* file = owner(name);
  return (file != nullptr ? file : files_.front().get())->path();
}

torch::Tensor Checkpoint::tensor(const std::string& name, const std::vector<std::int64_t>& shape) const {
  if (const auto* file = owner(name)) return checked(*file, name, shape);
  if (const auto alias = hfNativeName(name); !alias.empty())
    if (const auto* file = owner(alias)) return checked(*file, alias, shape);
  if (const auto fused = fusedExpertOf(name))
    if (const auto* file = owner(fused->fused_name)) return expertSlice(*file, *fused, shape);
  throw Error(files_.front()->path() + ": missing tensor " + name);
}

}  // namespace folio
