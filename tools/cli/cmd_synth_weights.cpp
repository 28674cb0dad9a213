// folio-cli synth-weights: a complete model folder (config.json, tokenizer.json, safetensors) filled with the
// deterministic synthetic weights, for tests and benchmarks without the 6.7 GB download. Any config works, so
// the same command makes the miniature test model and a full-size checkpoint.
#include <folio/engine.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "command.h"
#include "config.h"
#include "model_tensors.h"
#include "safetensors.h"
#include "synthetic_weights.h"

namespace folio::cli {
namespace {

namespace fs = std::filesystem;

struct SynthOptions {
  std::string config;
  std::string tokenizer;
  std::string out_dir;
  int layers = 0;  // 0: keep the config's num_hidden_layers
};

std::string readText(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path + ": cannot open");
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// config.json with num_hidden_layers replaced in both places it appears; the key order is kept.
std::string configWithLayers(const std::string& path, int layers) {
  nlohmann::ordered_json config;
  try {
    config = nlohmann::ordered_json::parse(readText(path));
  } catch (const nlohmann::json::exception& e) {
    throw Error(path + ": not valid JSON (" + e.what() + ")");
  }
  if (layers > 0) {
    if (config.contains("num_hidden_layers")) config["num_hidden_layers"] = layers;
    if (config.contains("language_config") && config["language_config"].is_object())
      config["language_config"]["num_hidden_layers"] = layers;
  }
  return config.dump(2) + "\n";
}

void runSynthWeights(const SynthOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  const fs::path out(options.out_dir);
  fs::create_directories(out);
  const std::string config_text = configWithLayers(options.config, options.layers);
  const ModelConfig config = parseModelConfig(config_text, options.config);

  const std::string tokenizer =
      options.tokenizer.empty() ? (fs::path(options.config).parent_path() / "tokenizer.json").string()
                                : options.tokenizer;
  if (!fs::is_regular_file(tokenizer)) throw Error(tokenizer + ": tokenizer not found (give --tokenizer)");
  fs::copy_file(tokenizer, out / "tokenizer.json", fs::copy_options::overwrite_existing);
  std::ofstream(out / "config.json", std::ios::binary) << config_text;

  std::vector<TensorSpec> specs;
  std::int64_t parameters = 0;
  for (auto& [name, shape] : expectedTensors(config)) {
    std::int64_t count = 1;
    for (auto dim : shape) count *= dim;
    parameters += count;
    specs.push_back({name, "BF16", shape});
  }
  const fs::path weights = out / "model-00001-of-000001.safetensors";
  writeSafetensorsStreaming(weights.string(), specs,
                            [](const TensorSpec& spec) { return syntheticTensor(spec.name, spec.shape); },
                            {{"format", "pt"}});
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::cout << "wrote " << weights.string() << ": " << specs.size() << " tensors, " << parameters
            << " parameters, " << fs::file_size(weights) << " bytes in " << seconds << " s\n";
}

void setupSynthWeights(CLI::App& cli) {
  auto options = std::make_shared<SynthOptions>();
  auto* cmd = cli.add_subcommand("synth-weights", "Write a model folder with deterministic synthetic weights");
  cmd->add_option("--config", options->config, "config.json of the model to synthesize")->required()->check(
      CLI::ExistingFile);
  cmd->add_option("--layers", options->layers, "decoder layers (replaces num_hidden_layers)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--tokenizer", options->tokenizer, "tokenizer.json to copy (default: beside --config)");
  cmd->add_option("-o,--out", options->out_dir, "output folder")->required();
  cmd->callback([options] { runSynthWeights(*options); });
}

}  // namespace

FOLIO_CLI_COMMAND(setupSynthWeights);

}  // namespace folio::cli
