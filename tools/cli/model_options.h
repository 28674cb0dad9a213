// Options shared by the folio-cli subcommands that load a model.
#pragma once

#include <CLI/CLI.hpp>
#include <folio/engine.h>
#include <torch/torch.h>

#include <string>

#include "model_search.h"

namespace folio::cli {

struct ModelOptions {
  std::string model_dir;
  std::string device = "auto";  // auto | cuda | cpu
  std::string dtype = "auto";   // auto | bf16 | fp32
  std::string eight_bit = "auto";  // auto | on | off

  // model_required false: without --model, the model is searched like the app does (folio::findModel).
  void addTo(CLI::App& command, bool model_required = true) {
    const std::string help = "Model folder (config.json, tokenizer.json, .safetensors)";
    auto* model = command.add_option("--model", model_dir,
                                     model_required ? help : help + "; default: the one `folio-cli model list` shows");
    if (model_required) model->required();
    command.add_option("--device", device, "auto, cuda or cpu")->check(CLI::IsMember({"auto", "cuda", "cpu"}));
    command.add_option("--dtype", dtype, "auto (bf16 on CUDA, fp32 on CPU), bf16 or fp32")
        ->check(CLI::IsMember({"auto", "bf16", "fp32"}));
    command.add_option("--eight-bit", eight_bit,
                       "The decoder's weights in 8 bits (about 4.5 GB of GPU memory instead of 7.2): on, off, or auto "
                       "(on a GPU with under 10 GB free)")
        ->check(CLI::IsMember({"auto", "on", "off"}));
  }

  // --model, else the first model folio::findModel() finds; throws saying where it looked when none.
  std::string resolvedModelDir() const {
    if (!model_dir.empty()) return model_dir;
    const ModelSearch search = findModel();
    if (!search.found) throw Error(noModelMessage(search));
    return *search.found;
  }

  EngineOptions engineOptions() const {
    EngineOptions options;
    options.model_dir = resolvedModelDir();
    options.device = device == "cuda" ? Device::Cuda : device == "cpu" ? Device::Cpu : Device::Auto;
    options.dtype = dtype == "bf16" ? DType::BFloat16 : dtype == "fp32" ? DType::Float32 : DType::Auto;
    options.eight_bit = eight_bit == "on"    ? EngineOptions::EightBit::On
                        : eight_bit == "off" ? EngineOptions::EightBit::Off
                                             : EngineOptions::EightBit::Auto;
    return options;
  }

  // For the commands that load the model themselves (parity, compare, dump): --eight-bit on.
  bool eightBitRequested() const { return eight_bit == "on"; }

  torch::Device torchDevice() const {
    const bool cuda = device == "cuda" || (device == "auto" && torch::cuda::is_available());
    if (cuda && !torch::cuda::is_available()) throw Error("CUDA was requested but no CUDA GPU is available");
    return cuda ? torch::Device(torch::kCUDA, 0) : torch::Device(torch::kCPU);
  }

  torch::ScalarType torchDtype() const {
    if (dtype == "bf16") return torch::kBFloat16;
    if (dtype == "fp32") return torch::kFloat32;
    return torchDevice().is_cuda() ? torch::kBFloat16 : torch::kFloat32;
  }
};

inline Mode modeOption(const std::string& name) {
  auto mode = parseMode(name);
  if (!mode) throw Error("unknown mode " + name + " (tiny, small, base, large, gundam)");
  return *mode;
}

}  // namespace folio::cli
