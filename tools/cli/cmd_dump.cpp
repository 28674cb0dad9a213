// folio-cli dump: the golden stages of one page, for comparison with the reference.
// folio-cli parity: every golden case against the reference goldens, with the errors per stage.
#include <folio/engine.h>
#include <nlohmann/json.hpp>

#include <algorithm>
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
PreprocessedPage preparePage(const RgbImage& image, Mode mode, ModelFamily family,
                             const std::vector<std::string>& preprocessed) {
  auto page = preprocessPage(image, mode, false, family);
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
    auto model = OcrModel::load(args->model.model_dir, args->model.torchDevice(), args->model.torchDtype(),
                                args->model.eightBitRequested());
    auto page = preparePage(loadImage(args->image), modeOption(args->mode), model->family(), args->preprocessed);
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
  bool logits_ok = true;
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
  check.logits_ok = bf16 ? cosine >= 0.999 : e.relative() <= 1e-4;
  check.ok = check.logits_ok;
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
  if (ours.numel() < golden_ids.numel()) check.greedy["ours_steps"] = ours.numel();
  check.ok = check.ok && greedy.ok();
  return check;
}

// A golden case, loaded once for all the checks.
struct GoldenCase {
  std::string name;
  std::shared_ptr<SafetensorsFile> golden;
  PreprocessedPage page;
};

// A golden case: its tensors and, for vision parity, the reference's own preprocessed views (the resize is
// tested separately).
GoldenCase loadCase(const fs::path& goldens, const std::string& name, const nlohmann::json& meta) {
  const TileGrid grid{meta.at("tile_grid_wh")[0].get<int>(), meta.at("tile_grid_wh")[1].get<int>()};
  return {name, SafetensorsFile::open((goldens / (name + ".safetensors")).string()),
          pageFromViews(goldenViews(goldens, name, meta.at("n_tiles").get<int>()), grid,
                        meta.at("n_image_tokens").get<int>())};
}

CaseReport checkCase(OcrModel& model, const GoldenCase& c, const std::string& config_name, bool bf16) {
  const auto& name = c.name;
  const auto& golden = c.golden;
  const auto& page = c.page;

  const int steps = static_cast<int>(golden->tensor(config_name + ".greedy_ids").numel());
  auto stages = runGoldenStages(model, page, kGoldenPrompt, steps);
  CaseReport report;
  report.json["case"] = name;
  constexpr double tolerance = 1e-4;  // fp32: relative to the golden stage's max magnitude; bf16 is judged on logits
  for (const char* stage : {"global.sam", "global.clip", "global.encoder", "tiles.sam", "tiles.clip", "tiles.encoder",
                            "image_features"}) {
    if (!golden->contains(stage)) continue;
    if (!stages.count(stage)) {  // the golden records it and this model did not produce it: a failure, not a skip
      report.json["stages"][stage] = {{"missing", true}};
      report.ok = false;
      continue;
    }
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

// Image features of the graph or batched path against the golden, beside the eager pass's error (the accepted
// error of this dtype): ok while no more than 1.25 times it (fp32: also within 1e-4 of the golden's magnitude).
nlohmann::json checkFeatures(const torch::Tensor& ours, const torch::Tensor& eager, const torch::Tensor& golden,
                             bool bf16, bool& ok) {
  const auto e = compareStage("image_features", ours.to(torch::kCPU), golden);
  const auto e_eager = compareStage("image_features", eager.to(torch::kCPU), golden);
  const bool within = e.relative() <= 1.25 * e_eager.relative() + 1e-7 && (bf16 || e.relative() <= 1e-4);
  ok = ok && within;
  return {{"relative", e.relative()}, {"eager_relative", e_eager.relative()},
          {"max_abs_diff_to_eager", (ours.to(torch::kCPU, torch::kFloat64) - eager.to(torch::kCPU, torch::kFloat64))
                                        .abs().max().item<double>()},
          {"ok", within}};
}

// The first step at which the no-repeat n-gram guard bans the golden token (the goldens were made without the
// guard), or the sequence's length.
std::int64_t firstGuardedStep(const torch::Tensor& golden_ids, const GenerateOptions& options) {
  const auto* ids = golden_ids.data_ptr<std::int64_t>();
  std::vector<std::int64_t> generated;
  for (std::int64_t step = 0; step < golden_ids.numel(); ++step) {
    const auto bans = noRepeatNgramBans(generated, options.ngram_size, options.ngram_window, options.ngram_whitelist);
    if (std::binary_search(bans.begin(), bans.end(), ids[step])) return step;
    generated.push_back(ids[step]);
  }
  return golden_ids.numel();
}

// Continuous batching over `batch` slots with the n-gram guard on, as the app decodes: the cases' golden prompts
// (golden image features) cycled through 2*batch requests, so slots are refilled as sequences end. Each request
// against its golden prompt logits by the rules of one page, and its golden greedy ids up to the first near-tie
// or the first step where the guard must ban the golden token; at that step it must pick another one.
nlohmann::json checkBatchedDecoding(OcrModel& model, const std::vector<GoldenCase>& cases,
                                    const std::string& config_name, bool bf16, int batch, bool& ok) {
  std::vector<GenerateRequest> requests(2 * batch);
  for (std::size_t i = 0; i < requests.size(); ++i) {
    const auto& c = cases[i % cases.size()];
    requests[i].prompt_embeds =
        model.promptEmbeddings(c.golden->tensor("input_ids"), c.golden->tensor("image_features"));
    auto& options = requests[i].options;
    options.max_new_tokens = static_cast<int>(c.golden->tensor(config_name + ".greedy_ids").numel());
    options.ignore_eos = true;
    options.ngram_size = 20;  // the app's RunOptions defaults
    options.ngram_window = 50;
  }
  const auto results = model.generateBatch(requests, batch);
  nlohmann::json report;
  int worst_matching = 1 << 30;
  bool all = true;
  for (std::size_t i = 0; i < results.size(); ++i) {
    const auto& c = cases[i % cases.size()];
    const StageTensors stages{{"prompt_logits", results[i].prompt_logits.to(torch::kCPU, torch::kFloat32)},
                              {"greedy_ids", torch::tensor(results[i].ids, torch::kInt64)}};
    auto check = checkDecoder(stages, *c.golden, config_name, bf16);
    const auto golden_ids = c.golden->tensor(config_name + ".greedy_ids").to(torch::kInt64).contiguous();
    const auto guarded = firstGuardedStep(golden_ids, requests[i].options);
    const int comparable = std::min<int>(check.greedy["comparable_steps"].get<int>(), static_cast<int>(guarded));
    const int matching = check.greedy["matching_steps"].get<int>();
    const bool guard_bit = guarded >= static_cast<std::int64_t>(results[i].ids.size()) || comparable < guarded ||
                           results[i].ids[guarded] != golden_ids[guarded].item<std::int64_t>();
    check.ok = check.logits_ok && matching >= comparable && guard_bit;
    check.greedy["guarded_step"] = guarded;
    all = all && check.ok;
    worst_matching = std::min(worst_matching, matching);
    if (!check.ok) report["failures"].push_back({{"request", i}, {"case", c.name}, {"logits", check.logits},
                                                 {"greedy", check.greedy}});
  }
  report["requests"] = results.size();
  report["fewest_matching_steps"] = worst_matching;
  report["ok"] = all;
  ok = ok && all;
  return report;
}

// The paths the app and folio-cli take on a GPU, which the stage checks (eager vision, one page) do not: each
// page's vision through its CUDA graphs, several pages' vision in shared passes, and decoding in batches of 8
// and 32 with the golden cases mixed.
nlohmann::json checkUserPaths(OcrModel& model, const std::vector<GoldenCase>& cases, const std::string& config_name,
                              bool bf16, bool& ok) {
  nlohmann::json report;
  std::vector<const PreprocessedPage*> pages;
  std::vector<torch::Tensor> eager;
  for (const auto& c : cases) {
    StageTensors stages;
    eager.push_back(model.encodeImage(c.page, &stages));
    report["graph_vision"][c.name] =
        checkFeatures(model.encodeImage(c.page), eager.back(), c.golden->tensor("image_features"), bf16, ok);
    pages.push_back(&c.page);
  }
  const auto batched = model.encodeImages(pages);
  for (std::size_t i = 0; i < cases.size(); ++i)
    report["batched_vision"][cases[i].name] =
        checkFeatures(batched[i], eager[i], cases[i].golden->tensor("image_features"), bf16, ok);
  for (const int batch : {8, 32})
    report["batched_decoding"][std::to_string(batch)] = checkBatchedDecoding(model, cases, config_name, bf16, batch, ok);
  report["ok"] = ok;
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
    auto model = OcrModel::load(args->model.model_dir, args->model.torchDevice(), args->model.torchDtype(),
                                args->model.eightBitRequested());
    const bool bf16 = model->dtype() == torch::kBFloat16;
    nlohmann::json report = {{"config", args->config_name}, {"device", model->device().str()},
                             {"dtype", bf16 ? "bf16" : "fp32"}};
    bool all_ok = true;
    std::vector<GoldenCase> cases;
    for (auto& [name, case_meta] : meta.at("cases").items()) {
      if (!args->cases.empty() && std::find(args->cases.begin(), args->cases.end(), name) == args->cases.end())
        continue;
      cases.push_back(loadCase(goldens, name, case_meta));
      auto result = checkCase(*model, cases.back(), args->config_name, bf16);
      std::cout << result.json.dump() << std::endl;
      report["cases"].push_back(result.json);
      all_ok = all_ok && result.ok;
    }
    if (cases.empty()) throw Error((goldens / "goldens.json").string() + ": no golden case matches --cases");
    if (model->usesCudaGraphs()) {
      report["user_paths"] = checkUserPaths(*model, cases, args->config_name, bf16, all_ok);
      std::cout << report["user_paths"].dump() << std::endl;
    }
    report["ok"] = all_ok;
    if (!args->json_out.empty()) std::ofstream(args->json_out) << report.dump(1) << "\n";
    std::cout << (all_ok ? "parity: all cases within tolerance" : "parity: FAILED") << std::endl;
    if (!all_ok) throw CLI::RuntimeError(1);
  });
}

// folio-cli compare: a model against a reference model on the golden prompts (golden ids and image features given
// to both), e.g. the 8-bit model of `folio-cli quantize` against its bf16 source: prompt-logit cosine >= 0.999
// and greedy ids equal up to the first step whose reference top-2 margin is under 0.1.
void setupCompare(CLI::App& cli) {
  struct Args {
    ModelOptions model;
    std::string reference, goldens, json_out;
  };
  auto args = std::make_shared<Args>();
  auto* cmd = cli.add_subcommand("compare", "Compare a model with a reference model on the golden prompts");
  args->model.addTo(*cmd);
  cmd->add_option("--reference-model", args->reference, "The reference model folder (same device and dtype)")
      ->required();
  cmd->add_option("--goldens", args->goldens, "The goldens folder (goldens.json, <case>.safetensors)")->required();
  cmd->add_option("--json", args->json_out, "Also write the report as JSON here");
  cmd->callback([args] {
    constexpr double kMinCosine = 0.999, kMargin = 0.1;
    const fs::path goldens(args->goldens);
    std::ifstream meta_file(goldens / "goldens.json");
    if (!meta_file) throw Error((goldens / "goldens.json").string() + ": cannot read");
    const auto meta = nlohmann::json::parse(meta_file);
    const int steps = meta.at("steps").get<int>();
    auto model = OcrModel::load(args->model.model_dir, args->model.torchDevice(), args->model.torchDtype(),
                                args->model.eightBitRequested());
    auto reference = OcrModel::load(args->reference, args->model.torchDevice(), args->model.torchDtype());
    nlohmann::json report = {{"model", model->pathDescription()}, {"reference", reference->pathDescription()}};
    double min_cosine = 1;
    int min_equal = steps;
    bool ok = true;
    for (const auto& [name, case_meta] : meta.at("cases").items()) {
      const auto golden = SafetensorsFile::open((goldens / (name + ".safetensors")).string());
      const auto agreement = compareModels(*model, *reference, golden->tensor("input_ids"),
                                           golden->tensor("image_features"), steps, kMargin);
      const bool case_ok = agreement.prompt_logit_cosine >= kMinCosine && agreement.greedy.ok();
      const nlohmann::json line = {{"case", name},
                                   {"prompt_logit_cosine", agreement.prompt_logit_cosine},
                                   {"greedy_equal_steps", agreement.greedy.matching_steps},
                                   {"steps_before_a_margin_under_0.1", agreement.greedy.comparable_steps},
                                   {"ok", case_ok}};
      std::cout << line.dump() << std::endl;
      report["cases"].push_back(line);
      min_cosine = std::min(min_cosine, agreement.prompt_logit_cosine);
      min_equal = std::min(min_equal, agreement.greedy.matching_steps);
      ok = ok && case_ok;
    }
    report["logit_cosine_min"] = min_cosine;
    report["greedy_equal_steps"] = min_equal;
    report["ok"] = ok;
    if (!args->json_out.empty()) std::ofstream(args->json_out) << report.dump(1) << "\n";
    std::cout << (ok ? "compare: within the bounds" : "compare: FAILED") << std::endl;
    if (!ok) throw CLI::RuntimeError(1);
  });
}

}  // namespace

FOLIO_CLI_COMMAND(setupDump);
FOLIO_CLI_COMMAND(setupParity);
FOLIO_CLI_COMMAND(setupCompare);

}  // namespace folio::cli
