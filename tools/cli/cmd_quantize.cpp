// folio-cli quantize MODEL_DIR -o OUT_DIR: the model with 8-bit decoder weights (int8 weight-only, a float32
// scale per output feature), as a model folder that loads like any other: about half the GPU memory.
#include <folio/engine.h>

#include <chrono>
#include <iostream>

#include "command.h"
#include "quantize.h"

namespace folio::cli {
namespace {

struct QuantizeArgs {
  std::string model_dir;
  std::string out_dir;
};

void runQuantize(const QuantizeArgs& args) {
  const auto start = std::chrono::steady_clock::now();
  const auto summary = quantizeModel(args.model_dir, args.out_dir, [](int done, int total) {
    if (done % 100 == 0 || done == total) std::cerr << "\rquantize: " << done << "/" << total << " tensors" << std::flush;
  });
  std::cerr << "\n";
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const auto gb = [](std::uint64_t bytes) { return static_cast<double>(bytes) / 1e9; };
  std::cout << "wrote " << args.out_dir << ": " << summary.quantized << " tensors in 8 bits, " << summary.kept
            << " as they were; weights " << gb(summary.bytes_before) << " GB -> " << gb(summary.bytes_after)
            << " GB in " << seconds << " s\n";
}

void setupQuantize(CLI::App& cli) {
  auto args = std::make_shared<QuantizeArgs>();
  auto* cmd = cli.add_subcommand(
      "quantize", "Write the model with 8-bit decoder weights (int8, a scale per output feature) into a new folder");
  cmd->add_option("model", args->model_dir, "The model folder (bf16 or fp32 safetensors)")
      ->required()
      ->check(CLI::ExistingDirectory);
  cmd->add_option("-o,--out", args->out_dir, "The new model folder (must not exist or be empty)")->required();
  cmd->callback([args] { runQuantize(*args); });
}

}  // namespace

FOLIO_CLI_COMMAND(setupQuantize);

}  // namespace folio::cli
