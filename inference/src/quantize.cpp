#include "quantize.h"

#include <folio/engine.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "checkpoint.h"
#include "config.h"
#include "linear_weight.h"
#include "model_tensors.h"
#include "safetensors.h"

namespace fs = std::filesystem;

namespace folio {
namespace {

std::string readText(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path.string() + ": cannot open");
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

void checkFolders(const fs::path& in, const fs::path& out) {
  if (!fs::is_directory(in)) throw Error(in.string() + ": model folder not found");
  if (fs::exists(out)) {
    if (fs::equivalent(in, out)) throw Error(out.string() + ": the 8-bit model needs a folder of its own");
    if (!fs::is_directory(out) || !fs::is_empty(out)) throw Error(out.string() + ": exists and is not an empty folder");
  }
}

// config.json as it was, plus what was done to the weights (the loader reads the tensors' own dtypes).
void writeConfig(const fs::path& in, const fs::path& out) {
  auto config = nlohmann::ordered_json::parse(readText(in / "config.json"));
  config["folio_quantization"] = {{"format", "int8 weight-only"},
                                  {"scales", "float32, one per output feature (<tensor>_scale)"},
                                  {"tensors", "decoder attention, MLP and expert projections, lm_head, token embedding"}};
  std::ofstream(out / "config.json", std::ios::binary) << config.dump(2) << "\n";
}

// Everything else of the folder (tokenizer, processor settings, ...) but the old checkpoint and its index.
void copyOtherFiles(const fs::path& in, const fs::path& out) {
  for (const auto& entry : fs::directory_iterator(in)) {
    const auto name = entry.path().filename().string();
    if (!entry.is_regular_file() || name == "config.json" || entry.path().extension() == ".safetensors" ||
        name.ends_with(".safetensors.index.json"))
      continue;
    fs::copy_file(entry.path(), out / name, fs::copy_options::overwrite_existing);
  }
}

}  // namespace

QuantizeSummary quantizeModel(const std::string& model_dir, const std::string& out_dir,
                              const std::function<void(int, int)>& progress) {
  const fs::path in(model_dir), out(out_dir);
  checkFolders(in, out);
  const auto config = loadModelConfig((in / "config.json").string());
  const Checkpoint checkpoint(in);
  const auto expected = expectedTensors(config);

  QuantizeSummary summary;
  std::vector<TensorSpec> specs;
  for (const auto& [name, shape] : expected) {
    const auto stored = checkpoint.tensor(name, shape);
    summary.bytes_before += stored.nbytes();
    if (stored.scalar_type() == torch::kInt8)
      throw Error(checkpoint.pathOf(name) + ": tensor " + name + " is already 8-bit");
    if (!isQuantizedTensor(name)) {
      specs.push_back({name, safetensorsDtype(stored.scalar_type()), shape});
      summary.bytes_after += stored.nbytes();
      ++summary.kept;
      continue;
    }
    auto scale_shape = shape;
    scale_shape.pop_back();
    specs.push_back({name, "I8", shape});
    specs.push_back({name + kScaleSuffix, "F32", scale_shape});
    summary.bytes_after += stored.numel() + 4 * stored.numel() / shape.back();
    ++summary.quantized;
  }

  fs::create_directories(out);
  LinearWeight last;  // the weight just written: its scale is the next spec
  int done = 0;
  const int total = static_cast<int>(expected.size());
  writeSafetensorsStreaming((out / "model-00001-of-000001.safetensors").string(), specs, [&](const TensorSpec& spec) {
    if (spec.name.ends_with(kScaleSuffix) && spec.dtype == "F32" && last.quantized()) {
      auto scale = std::move(last.scale);
      last = {};
      return scale;
    }
    torch::Tensor result = checkpoint.tensor(spec.name, spec.shape);
    if (spec.dtype == "I8") {
      last = quantizeRows(result);
      result = std::move(last.weight);
    }
    if (progress) progress(++done, total);
    return result;
  }, {{"format", "pt"}, {"folio_quantization", "int8"}});
  writeConfig(in, out);
  copyOtherFiles(in, out);
  return summary;
}

}  // namespace folio
