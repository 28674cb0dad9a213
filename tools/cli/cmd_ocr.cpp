// folio-cli ocr: pages to markdown, regions as JSON and cropped figures, with tokens/s.
#include <folio/engine.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <iostream>

#include "command.h"
#include "figure_crops.h"
#include "model_options.h"

namespace fs = std::filesystem;

namespace folio::cli {
namespace {

RunOptions runOptions(const std::string& mode, const std::string& task, int max_tokens) {
  RunOptions options;
  options.mode = modeOption(mode);
  const auto colon = task.find(':');
  auto parsed = parseTask(task.substr(0, colon));
  if (!parsed) throw Error("unknown task " + task + " (markdown, ocr, free, figure, describe, locate:TEXT)");
  options.task = *parsed;
  if (options.task == Task::Locate) {
    if (colon == std::string::npos || colon + 1 == task.size()) throw Error("--task locate needs a text: locate:TEXT");
    options.locate_text = task.substr(colon + 1);
  }
  options.max_new_tokens = max_tokens;
  return options;
}

nlohmann::json regionsJson(const Result& result, const RgbImage& page) {
  nlohmann::json regions = nlohmann::json::array();
  for (const auto& region : result.grounded.regions) {
    nlohmann::json boxes = nlohmann::json::array();
    for (const auto& b : region.boxes) boxes.push_back({b.x1, b.y1, b.x2, b.y2});
    regions.push_back({{"label", region.label},
                       {"boxes", boxes},
                       {"markdown_begin", region.markdown_begin},
                       {"markdown_end", region.markdown_end},
                       {"figure", region.figure_link}});
  }
  return {{"page_size", {page.width, page.height}},
          {"regions", regions},
          {"complete", result.grounded.complete},
          {"image_tokens", result.image_tokens},
          {"prompt_tokens", result.prompt_tokens},
          {"generated_tokens", result.generated_tokens},
          {"timings_ms",
           {{"preprocess", result.timings.preprocess_ms},
            {"vision", result.timings.vision_ms},
            {"prefill", result.timings.prefill_ms},
            {"decode", result.timings.decode_ms}}},
          {"raw_text", result.raw_text}};
}

void writeFile(const fs::path& path, const std::string& content) {
  const auto tmp = path.string() + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary);
    out << content;
    if (!out.flush()) throw Error(path.string() + ": cannot write");
  }
  fs::rename(tmp, path);
}

void setupOcr(CLI::App& cli) {
  struct Args {
    ModelOptions model;
    std::string mode = "gundam", task = "markdown", output = ".";
    int max_tokens = 8192, batch = 16;
    std::vector<std::string> inputs;
    bool quiet = false;
  };
  auto args = std::make_shared<Args>();
  auto* cmd = cli.add_subcommand("ocr", "Convert page images to markdown");
  args->model.addTo(*cmd, /*model_required=*/false);
  cmd->add_option("--mode", args->mode, "tiny, small, base, large or gundam");
  cmd->add_option("--task", args->task, "markdown, ocr, free, figure, describe or locate:TEXT");
  cmd->add_option("--max-tokens", args->max_tokens, "Most tokens generated per page");
  cmd->add_flag("-q,--quiet", args->quiet, "Do not stream the text to stdout");
  cmd->add_option("--batch", args->batch, "Pages decoded together on a GPU (streaming shows only with 1)")
      ->check(CLI::Range(1, 256));
  cmd->add_option("inputs", args->inputs, "Page images")->required();
  cmd->add_option("-o,--output", args->output, "Output folder");
  cmd->callback([args] {
    auto options = runOptions(args->mode, args->task, args->max_tokens);
    const EngineOptions engine_options = args->model.engineOptions();
    auto engine = Engine::load(engine_options);
    std::cerr << "model " << engine_options.model_dir << " loaded on " << engine->deviceDescription() << "\n";
    fs::create_directories(args->output);
    // Pages go through in groups of --batch: on a GPU each group decodes together.
    const fs::path out(args->output);
    for (std::size_t first = 0; first < args->inputs.size(); first += static_cast<std::size_t>(args->batch)) {
      const auto count = std::min(static_cast<std::size_t>(args->batch), args->inputs.size() - first);
      std::vector<RgbImage> pages;
      std::vector<RunOptions> page_options;
      for (std::size_t i = first; i < first + count; ++i) {
        pages.push_back(loadImage(args->inputs[i]));
        page_options.push_back(options);
        page_options.back().figure_stem = fs::path(args->inputs[i]).stem().string();
      }
      std::size_t shown = 0;
      const auto results = engine->runBatch(pages, page_options, [&](std::size_t i, const Progress& p) {
        if (args->quiet || count > 1) return;  // interleaved pages would be unreadable
        std::cout << p.text.substr(shown) << std::flush;
        shown = p.text.size();
      }, nullptr, args->batch);
      for (std::size_t i = 0; i < count; ++i) {
        const auto& result = results[i];
        const auto& stem = page_options[i].figure_stem;
        writeFile(out / (stem + ".md"), result.grounded.markdown);
        writeFile(out / (stem + ".json"), regionsJson(result, pages[i]).dump(1));
        const int figures = writeFigureCrops(pages[i], result.grounded.regions, out);
        const double tok_s =
            result.timings.decode_ms > 0 ? 1000.0 * result.generated_tokens / result.timings.decode_ms : 0;
        std::cerr << "\n" << args->inputs[first + i] << ": " << result.generated_tokens << " tokens, " << tok_s
                  << " tokens/s, vision " << result.timings.vision_ms << " ms, prefill " << result.timings.prefill_ms
                  << " ms, " << result.grounded.regions.size() << " regions, " << figures << " figures\n";
      }
    }
  });
}

}  // namespace

FOLIO_CLI_COMMAND(setupOcr);

}  // namespace folio::cli
