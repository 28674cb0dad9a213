// folio-cli dump: the golden stages of one page, for comparison with the reference.
// folio-cli parity: every golden case against the reference goldens, with the errors per stage.
#include <folio/engine.h>
#include <nlohmann/json.hpp>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "command.h"
#include "model_options.h"
#include "parity.h"
#include "safetensors.h"

namespace fs = std::filesystem;

namespace folio::cli {
namespace {

constexpr const char* kGoldenPrompt = "<image>\n<|grounding|>Convert the document to markdown.";

// A page from already preprocessed view files: the global view, then the tiles in row-major order.
PreprocessedPage pageFromViews(const std::vector<std::string>& views, TileGrid grid, int n_image_tokens) {
  PreprocessedPage page;
  page.grid = grid;
  page.n_image_tokens = n_image_tokens;
  page.global_view = viewPlanes(loadImage(views.at(0)));
  std::vector<torch::Tensor> tiles;
  for (std::size_t k = 1; k < views.size(); ++k) tiles.push_back(viewPlanes(loadImage(views[k])));
  if (!tiles.empty()) page.tiles = torch::cat(tiles, 0);
  return page;
}

// The page preprocessed by Folio, or, with --preprocessed, the given views laid out on Folio's tile grid.
PreprocessedPage preparePage(const RgbImage& image, Mode mode, const std::vector<std::string>& preprocessed) {
  auto page = preprocessPage(image, mode);
  if (preprocessed.empty()) return page;
  const auto n_tiles = page.tiles.defined() ? page.tiles.size(0) : 0;
  if (static_cast<std::int64_t>(preprocessed.size()) != 1 + n_tiles)
    throw Error("--preprocessed needs the global view and " + std::to_string(n_tiles) + " tiles for this page");
  return pageFromViews(preprocessed, page.grid, page.n_image_tokens);
}

void writeStages(const StageTensors& stages, const std::string& path) {
  std::vector<std::pair<std::string, torch::Tensor>> tensors(stages.begin(), stages.end());
  writeSafetensors(path, tensors);
}

void setupDump(CLI::App& cli) {
  struct Args {
    ModelOptions model;
    std::string mode = "base", prompt = kGoldenPrompt, image, output;
    int steps = 32;
    std::vector<std::string> preprocessed;
  };
  auto args = std::make_shared<Args>();
  auto* cmd = cli.add_subcommand("dump", "Write the model's stage tensors for one page under the goldens' names");
  args->model.addTo(*cmd);
  cmd->add_option("--mode", args->mode, "tiny, small, base, large or gundam")->required();
  cmd->add_option("--prompt", args->prompt, "Prompt with one <image>");
  cmd->add_option("--steps", args->steps, "Greedy steps");
  cmd->add_option("--preprocessed", args->preprocessed, "Use these preprocessed views (global, tiles...)");
  cmd->add_option("image", args->image, "Page image")->required();
  cmd->add_option("-o,--output", args->output, "Output .safetensors")->required();
  cmd->callback([args] {
    auto model = OcrModel::load(args->model.model_dir, args->model.torchDevice(), args->model.torchDtype());
    auto page = preparePage(loadImage(args->image), modeOption(args->mode), args->preprocessed);
    writeStages(runGoldenStages(*model, page, args->prompt, args->steps), args->output);
    std::cout << "wrote " << args->output << "\n";
  });
}

struct CaseReport {
  nlohmann::json json;
  bool ok = true;
};

// The golden view files of a case: <case>.global.<ext> then <case>.tile<k>.<ext>; ppm is taken where present
// (the GPU machine has no PNG decoder).
std::vector<std::string> goldenViews(const fs::path& dir, const std::string& name, int tiles) {
  auto pick = [&](const std::string& stem) {
    auto ppm = dir / (stem + ".ppm");
    return fs::exists(ppm) ? ppm.string() : (dir / (stem + ".png")).string();
  };
  std::vector<std::string> views{pick(name + ".global")};
  for (int k = 0; k < tiles; ++k) views.push_back(pick(name + ".tile" + std::to_string(k)));
  return views;
}

struct DecoderCheck {
  nlohmann::json logits, greedy;
  bool ok = true;
};

// Prompt logits (fp32: relative error; bf16: cosine) and greedy ids (up to the golden margin threshold).
DecoderCheck checkDecoder(const StageTensors& stages, const SafetensorsFile& golden, const std::string& config_name,
                          bool bf16) {
  DecoderCheck check;
  const auto logits_golden = golden.tensor(config_name + ".prompt_logits");
  const auto e = compareStage("prompt_logits", stages.at("prompt_logits"), logits_golden);
  const double cosine = cosineSimilarity(stages.at("prompt_logits"), logits_golden);
  check.logits = {{"max_abs_error", e.max_abs_error}, {"relative", e.relative()}, {"cosine", cosine}};
  check.ok = bf16 ? cosine >= 0.999 : e.relative() <= 1e-4;
  const auto ours = stages.at("greedy_ids");
  const auto golden_ids = golden.tensor(config_name + ".greedy_ids");
  const auto margins = golden.tensor(config_name + ".greedy_top2_margin");
  const auto greedy = compareGreedy(ours, golden_ids, margins, bf16 ? 0.1 : 0.002);
  check.greedy = {{"comparable_steps", greedy.comparable_steps}, {"matching_steps", greedy.matching_steps}};
  const auto step = greedy.matching_steps;
  if (step < std::min(ours.numel(), golden_ids.numel()))
    check.greedy["first_difference"] = {{"step", step},
                                        {"ours", ours[step].item<std::int64_t>()},
                                        {"golden", golden_ids[step].item<std::int64_t>()},
                                        {"golden_top2_margin", margins[step].item<double>()}};
  check.ok = check.ok && greedy.ok();
  return check;
}

CaseReport checkCase(OcrModel& model, const fs::path& goldens, const std::string& name,
                     const nlohmann::json& meta, const std::string& config_name, bool bf16) {
  auto golden = SafetensorsFile::open((goldens / (name + ".safetensors")).string());
  // Vision parity is measured on the reference's own preprocessed views (the resize is tested separately).
  const TileGrid grid{meta.at("tile_grid_wh")[0].get<int>(), meta.at("tile_grid_wh")[1].get<int>()};
  auto page = pageFromViews(goldenViews(goldens, name, meta.at("n_tiles").get<int>()), grid,
                            meta.at("n_image_tokens").get<int>());

  const int steps = static_cast<int>(golden->tensor(config_name + ".greedy_ids").numel());
  auto stages = runGoldenStages(model, page, kGoldenPrompt, steps);
  CaseReport report;
  report.json["case"] = name;
  constexpr double tolerance = 1e-4;  // fp32: relative to the golden stage's max magnitude; bf16 is judged on logits
  for (const char* stage : {"global.sam", "global.clip", "tiles.sam", "tiles.clip", "image_features"}) {
    if (!golden->contains(stage) || !stages.count(stage)) continue;
    auto e = compareStage(stage, stages.at(stage), golden->tensor(stage));
    report.json["stages"][stage] = {{"max_abs_error", e.max_abs_error}, {"relative", e.relative()}};
    if (!bf16 && e.relative() > tolerance) report.ok = false;
  }
  const DecoderCheck full = checkDecoder(stages, *golden, config_name, bf16);
  report.json["stages"]["prompt_logits"] = full.logits;
  report.json["greedy"] = full.greedy;
  // The decoder alone, fed the golden image features: its own share of the error.
  const DecoderCheck alone = checkDecoder(
      runGoldenDecoder(model, golden->tensor("input_ids"), golden->tensor("image_features"), steps), *golden,
      config_name, bf16);
  report.json["decoder_on_golden_features"] = {{"prompt_logits", alone.logits}, {"greedy", alone.greedy}};
  report.ok = report.ok && full.ok && alone.ok;
  report.json["ok"] = report.ok;
  return report;
}

void setupParity(CLI::App& cli) {
  struct Args {
    ModelOptions model;
    std::string goldens, config_name = "ci", json_out;
    std::vector<std::string> cases;
  };
  auto args = std::make_shared<Args>();
  auto* cmd = cli.add_subcommand("parity", "Compare every golden case's stages with the reference goldens");
  args->model.addTo(*cmd);
  cmd->add_option("--goldens", args->goldens, "The goldens folder (goldens.json, <case>.safetensors, views)")
      ->required();
  cmd->add_option("--config", args->config_name, "Which golden decoder: ci (2 layers) or full (12)")
      ->check(CLI::IsMember({"ci", "full"}));
  cmd->add_option("--cases", args->cases, "Only these cases");
  cmd->add_option("--json", args->json_out, "Also write the report as JSON here");
  cmd->callback([args] {
    const fs::path goldens(args->goldens);
    std::ifstream meta_file(goldens / "goldens.json");
    if (!meta_file) throw Error((goldens / "goldens.json").string() + ": cannot read");
    auto meta = nlohmann::json::parse(meta_file);
    auto model = OcrModel::load(args->model.model_dir, args->model.torchDevice(), args->model.torchDtype());
    const bool bf16 = model->dtype() == torch::kBFloat16;
    nlohmann::json report = {{"config", args->config_name}, {"device", model->device().str()},
                             {"dtype", bf16 ? "bf16" : "fp32"}};
    bool all_ok = true;
    for (auto& [name, case_meta] : meta.at("cases").items()) {
      if (!args->cases.empty() && std::find(args->cases.begin(), args->cases.end(), name) == args->cases.end())
        continue;
      auto result = checkCase(*model, goldens, name, case_meta, args->config_name, bf16);
      std::cout << result.json.dump() << std::endl;
      report["cases"].push_back(result.json);
      all_ok = all_ok && result.ok;
    }
    report["ok"] = all_ok;
    if (!args->json_out.empty()) std::ofstream(args->json_out) << report.dump(1) << "\n";
    std::cout << (all_ok ? "parity: all cases within tolerance" : "parity: FAILED") << std::endl;
    if (!all_ok) throw CLI::RuntimeError(1);
  });
}

}  // namespace

FOLIO_CLI_COMMAND(setupDump);
FOLIO_CLI_COMMAND(setupParity);

}  // namespace folio::cli
