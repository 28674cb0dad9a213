// folio-bench: speed of Folio's engine on a model folder (the full-size synthetic checkpoint on the GPU
// machine): vision per mode, prompt prefill, batch-1 decode, peak GPU memory, beside the upstream baseline.
// Prints a table, or with --json one JSON object. Figures are measured, never timed tests.
#include <CLI/CLI.hpp>
#include <folio/engine.h>
#include <nlohmann/json.hpp>
#include <torch/csrc/autograd/profiler_kineto.h>
#include <torch/version.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <iostream>
#include <map>

#include "model.h"

#ifdef FOLIO_HAVE_CUDA
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDACachingAllocator.h>

#include "launch.h"
#endif

namespace {

using Clock = std::chrono::steady_clock;
using folio::Mode;

double secondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// A page of black text-like bars on white: vision cost does not depend on content, only on the page size.
folio::RgbImage syntheticPage(int width, int height) {
  folio::RgbImage page{width, height, std::vector<std::uint8_t>(static_cast<std::size_t>(width) * height * 3, 255)};
  for (int y = height / 10; y < height * 9 / 10; y += 24)
    for (int x = width / 10; x < width * 9 / 10; ++x)
      for (int dy = 0; dy < 8; ++dy) {
        auto* p = &page.pixels[(static_cast<std::size_t>(y + dy) * width + x) * 3];
        p[0] = p[1] = p[2] = (x / 40) % 5 == 4 ? 255 : 20;
      }
  return page;
}

void resetPeakMemory(torch::Device device) {
#ifdef FOLIO_HAVE_CUDA
  if (device.is_cuda()) {
    c10::cuda::CUDACachingAllocator::emptyCache();  // so the reserved peak counts what this case holds
    c10::cuda::CUDACachingAllocator::resetPeakStats(0);
  }
#endif
  (void)device;
}

// Peak GPU memory held by tensors since the last reset, or with `reserved` held by the caching allocator
// (tensors, CUDA graph pools and cached free blocks: what the process takes from the GPU).
double peakMemoryGb(torch::Device device, bool reserved = false) {
#ifdef FOLIO_HAVE_CUDA
  if (device.is_cuda()) {
    auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(0);
    return static_cast<double>((reserved ? stats.reserved_bytes : stats.allocated_bytes)[0].peak) / (1 << 30);
  }
#endif
  (void)device, (void)reserved;
  return 0;
}

std::string gpuName(torch::Device device) {
#ifdef FOLIO_HAVE_CUDA
  if (device.is_cuda()) return at::cuda::getCurrentDeviceProperties()->name;
#endif
  (void)device;
  return "none (CPU)";
}

struct ModeCase {
  Mode mode;
  const char* name;
  int width, height;  // the page: Gundam 1240x1754 gives the 2x3 tile grid
};

// Milliseconds per vision pass (SAM + CLIP + projector + layout) of one page, after warm-up.
double visionMs(const folio::OcrModel& model, const folio::PreprocessedPage& page, int reps) {
  for (int i = 0; i < 2; ++i) model.encodeImage(page);
  folio::synchronize(model.device());
  auto start = Clock::now();
  for (int i = 0; i < reps; ++i) model.encodeImage(page);
  folio::synchronize(model.device());
  return 1000.0 * secondsSince(start) / reps;
}

// Milliseconds per page of vision passes over `pages` copies of one page (OcrModel::encodeImages), after warm-up.
double batchedVisionMsPerPage(const folio::OcrModel& model, const folio::PreprocessedPage& page, int pages, int reps) {
  const std::vector<const folio::PreprocessedPage*> batch(pages, &page);
  model.encodeImages(batch);
  folio::synchronize(model.device());
  auto start = Clock::now();
  for (int i = 0; i < reps; ++i) model.encodeImages(batch);
  folio::synchronize(model.device());
  return 1000.0 * secondsSince(start) / (reps * pages);
}

#ifdef FOLIO_HAVE_CUDA
// Drops the model's CUDA graphs and captures new ones with or without programmatic dependent launch (a graph
// keeps the launch setting it was captured with).
void recaptureGraphs(folio::OcrModel& model, bool overlapped) {
  folio::cuda::setOverlappedLaunches(overlapped);
  model.setUseCudaGraphs(false);
  model.setUseCudaGraphs(true);
}
#endif

struct DecodeFigures {
  double prefill_ms = 0;
  double tok_s = 0;
  double peak_gb = 0, peak_reserved_gb = 0;
  int tokens = 0;
  std::vector<std::int64_t> ids;
};

// The page's markdown prompt with its image features: what the engine prefills.
torch::Tensor pagePrompt(const folio::OcrModel& model, const folio::PreprocessedPage& page) {
  const auto ids = model.promptIds(folio::promptFor(folio::Task::Markdown), page.n_image_tokens);
  return model.promptEmbeddings(ids, model.encodeImage(page));
}

// Greedy decoding of exactly `tokens` tokens (eos ignored).
folio::GenerateOptions fixedLength(int tokens) {
  folio::GenerateOptions options;
  options.max_new_tokens = tokens;
  options.ignore_eos = true;
  return options;
}

// Prefill a Base page prompt, then greedy-decode `tokens` tokens with eos ignored (fixed length).
// queue_ahead false: the host picks each token before the next step is queued (GenerateOptions::queue_ahead).
DecodeFigures decodeBatch1(folio::OcrModel& model, const folio::PreprocessedPage& page, int tokens,
                           bool queue_ahead = true) {
  const auto embeds = pagePrompt(model, page);
  auto options = fixedLength(tokens);
  options.queue_ahead = queue_ahead;
  DecodeFigures figures;
  for (int round = 0; round < 2; ++round) {  // the first round warms up kernels and the allocator
    resetPeakMemory(model.device());
    folio::synchronize(model.device());
    auto start = Clock::now();
    Clock::time_point first_token;
    int generated = 0;
    figures.ids = model.generate(embeds, options, [&](std::int64_t) {
                        if (generated++ == 0) first_token = Clock::now();
                        return true;
                      }).ids;
    const auto end = Clock::now();
    figures.prefill_ms = std::chrono::duration<double, std::milli>(first_token - start).count();
    figures.tok_s = (generated - 1) / std::chrono::duration<double>(end - first_token).count();
    figures.tokens = generated;
    figures.peak_gb = peakMemoryGb(model.device());
    figures.peak_reserved_gb = peakMemoryGb(model.device(), true);
  }
  return figures;
}

// GPU milliseconds over `work` (CUPTI through the Kineto profiler; kernels inside CUDA graph replays are
// recorded one by one), by kernel name or by the libtorch op, with its input shapes, that launched the kernel.
struct KernelTime {
  double ms = 0;
  double calls = 0;
};
using KernelTimes = std::map<std::string, KernelTime>;
enum class GroupBy { Kernel, Op };

std::string opWithShapes(const torch::autograd::profiler::KinetoEvent& op) {
  std::string text = op.name();
  if (!op.hasShapes()) return text;
  for (const auto& shape : op.shapes()) {
    text += " [";
    for (std::size_t i = 0; i < shape.size(); ++i) text += (i ? "," : "") + std::to_string(shape[i]);
    text += "]";
  }
  return text;
}

// Every GPU event (kernels, copies) recorded while `work` runs, with the op that launched it when by_op.
struct GpuEvent {
  std::string key;
  std::uint64_t start_ns = 0, end_ns = 0;
};

// The Kineto profiler's events (host calls and GPU work) while `work` runs, to its end on the device.
std::unique_ptr<torch::autograd::profiler::ProfilerResult> profiled(torch::Device device,
                                                                    const std::function<void()>& work,
                                                                    bool input_shapes) {
  namespace prof = torch::autograd::profiler;
  const prof::ProfilerConfig config(prof::ProfilerState::KINETO, input_shapes);
  const std::set<torch::profiler::impl::ActivityType> activities{torch::profiler::impl::ActivityType::CPU,
                                                                  torch::profiler::impl::ActivityType::CUDA};
  prof::prepareProfiler(config, activities);
  prof::enableProfiler(config, activities);
  work();
  folio::synchronize(device);
  return prof::disableProfiler();
}

std::vector<GpuEvent> recordGpu(torch::Device device, const std::function<void()>& work, GroupBy group) {
  const auto result = profiled(device, work, /*input_shapes=*/group == GroupBy::Op);
  std::map<std::uint64_t, std::string> op_by_correlation;  // the innermost op of each launch
  if (group == GroupBy::Op)
    for (const auto& event : result->events())
      if (event.deviceType() == c10::DeviceType::CPU && event.correlationId() != 0)
        op_by_correlation[event.correlationId()] = opWithShapes(event);
  std::vector<GpuEvent> events;
  for (const auto& event : result->events()) {
    if (event.deviceType() != c10::DeviceType::CUDA) continue;
    std::string key = event.name().substr(0, 100);
    if (group == GroupBy::Op) {
      const auto op = op_by_correlation.find(event.linkedCorrelationId());
      key = op != op_by_correlation.end() ? op->second.substr(0, 160) : "(no op) " + event.name().substr(0, 60);
    }
    events.push_back({key, event.startNs(), event.endNs()});
  }
  return events;
}

KernelTimes profileGpu(torch::Device device, const std::function<void()>& work, GroupBy group = GroupBy::Kernel) {
  KernelTimes times;
  for (const auto& event : recordGpu(device, work, group)) {
    auto& t = times[event.key];
    t.ms += (event.end_ns - event.start_ns) / 1e6;
    t.calls += 1;
  }
  return times;
}

// The time each kernel adds to the chain: events ordered by their end, each charged from the previous end (or
// from its own start after an idle gap, which is charged to "(GPU idle)"). With overlapped launches a kernel's
// span includes its wait for the one before; what it adds past that kernel's end is what it costs.
KernelTimes exposedGpuTime(torch::Device device, const std::function<void()>& work) {
  auto events = recordGpu(device, work, GroupBy::Kernel);
  std::sort(events.begin(), events.end(), [](const auto& a, const auto& b) { return a.end_ns < b.end_ns; });
  KernelTimes times;
  for (std::size_t i = 0; i < events.size(); ++i) {
    std::uint64_t from = events[i].start_ns;
    if (i > 0) {
      const auto previous_end = events[i - 1].end_ns;
      if (from > previous_end) {
        auto& idle = times["(GPU idle)"];
        idle.ms += (from - previous_end) / 1e6;
        idle.calls += 1;
      }
      from = std::max(from, previous_end);
    }
    auto& t = times[events[i].key];
    t.ms += (events[i].end_ns - from) / 1e6;
    t.calls += 1;
  }
  return times;
}

// (times - minus) / per, as {"gpu_ms", "kernels": the `top` by time with calls, ms and share}.
nlohmann::json kernelTable(const KernelTimes& times, const KernelTimes& minus = {}, double per = 1,
                           std::size_t top = 25) {
  std::vector<std::pair<std::string, KernelTime>> rows;
  double total = 0;
  for (auto [name, t] : times) {
    if (auto it = minus.find(name); it != minus.end()) t.ms -= it->second.ms, t.calls -= it->second.calls;
    t.ms /= per;
    t.calls /= per;
    if (t.calls <= 0) continue;
    total += t.ms;
    rows.emplace_back(name, t);
  }
  std::sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) { return a.second.ms > b.second.ms; });
  nlohmann::json out = {{"gpu_ms", total}, {"kernels", nlohmann::json::array()}};
  for (std::size_t i = 0; i < std::min(rows.size(), top); ++i)
    out["kernels"].push_back({{"name", rows[i].first}, {"calls", rows[i].second.calls}, {"ms", rows[i].second.ms},
                              {"share", total > 0 ? rows[i].second.ms / total : 0}});
  return out;
}

struct BatchFigures {
  double seconds = 0, decode_seconds = 0, peak_gb = 0;
  int generated = 0;
  int leading_tokens_like_batch1 = 0;  // of the first page, against a batch-1 run of the same page
};

// N pages in flight: their vision (batched passes) and prompts, then all decoded together (continuous batching), `tokens`
// per page with eos ignored. The second of two rounds is measured (the first captures the CUDA graphs).
BatchFigures decodeBatched(folio::OcrModel& model, const folio::PreprocessedPage& page, int pages, int tokens,
                           const std::vector<std::int64_t>& batch1_ids) {
  BatchFigures figures;
  for (int round = 0; round < 2; ++round) {
    resetPeakMemory(model.device());
    folio::synchronize(model.device());
    const auto start = Clock::now();
    const auto features = model.encodeImages(std::vector<const folio::PreprocessedPage*>(pages, &page));
    const auto ids = model.promptIds(folio::promptFor(folio::Task::Markdown), page.n_image_tokens);
    std::vector<folio::GenerateRequest> requests(pages);
    for (int i = 0; i < pages; ++i) {
      requests[i].prompt_embeds = model.promptEmbeddings(ids, features[i]);
      requests[i].options = fixedLength(tokens);
    }
    const auto decode_start = Clock::now();
    const auto results = model.generateBatch(requests, pages);
    figures.seconds = secondsSince(start);
    figures.decode_seconds = secondsSince(decode_start);
    figures.peak_gb = peakMemoryGb(model.device());
    figures.generated = 0;
    for (const auto& r : results) figures.generated += static_cast<int>(r.ids.size());
    const auto& first = results.front().ids;
    figures.leading_tokens_like_batch1 = 0;
    while (figures.leading_tokens_like_batch1 < static_cast<int>(std::min(first.size(), batch1_ids.size())) &&
           first[figures.leading_tokens_like_batch1] == batch1_ids[figures.leading_tokens_like_batch1])
      ++figures.leading_tokens_like_batch1;
  }
  return figures;
}

// The host-side calls (libtorch ops, CUDA runtime calls) that took longest while `work` ran, by total time: where
// a first page's time goes before any kernel runs (library initialisation, module loading, graph capture).
nlohmann::json slowestHostCalls(torch::Device device, const std::function<void()>& work, std::size_t top = 40) {
  const auto result = profiled(device, work, /*input_shapes=*/false);
  KernelTimes times;
  for (const auto& event : result->events()) {
    if (event.deviceType() != c10::DeviceType::CPU) continue;
    auto& t = times[event.name().substr(0, 100)];
    t.ms += event.durationNs() / 1e6;
    t.calls += 1;
  }
  return kernelTable(times, {}, 1, top);
}

// What a user's first pages cost through the public engine: the model loaded from disk, then pages each the
// first of its mode or tile grid, one after the other; then the same pages again (warm); then a batch of varied
// pages, first and again. tokens per page, eos ignored.
nlohmann::json coldPages(const std::string& model_dir, folio::Device device, int tokens, bool profile_first) {
  struct ColdCase {
    const char* name;
    Mode mode;
    int width, height;
  };
  const ColdCase cases[] = {{"gundam_1031x1171", Mode::Gundam, 1031, 1171}, {"base_800x1100", Mode::Base, 800, 1100},
                            {"small_800x1100", Mode::Small, 800, 1100},     {"tiny_800x1100", Mode::Tiny, 800, 1100},
                            {"large_800x1100", Mode::Large, 800, 1100},     {"gundam_1240x1754", Mode::Gundam, 1240, 1754},
                            {"gundam_1700x600", Mode::Gundam, 1700, 600},    {"gundam_700x2000", Mode::Gundam, 700, 2000},
                            {"gundam_1600x1600", Mode::Gundam, 1600, 1600}, {"gundam_2400x1000", Mode::Gundam, 2400, 1000}};
  nlohmann::json out;
  const auto start = Clock::now();
  folio::EngineOptions engine_options;
  engine_options.model_dir = model_dir;
  engine_options.device = device;
  auto engine = folio::Engine::load(engine_options);
  out["load_s"] = secondsSince(start);
  out["path"] = engine->deviceDescription();
  const auto options = [&](Mode mode) {
    folio::RunOptions o;
    o.mode = mode;
    o.max_new_tokens = tokens;
    o.ignore_eos = true;
    return o;
  };
  const auto figures = [](const folio::Result& r) {
    return nlohmann::json{{"preprocess_ms", r.timings.preprocess_ms}, {"vision_ms", r.timings.vision_ms},
                          {"prefill_ms", r.timings.prefill_ms}, {"decode_ms", r.timings.decode_ms},
                          {"image_tokens", r.image_tokens}};
  };
  const auto modes = folio::supportedModes(engine->family());
  const auto supported = [&](Mode mode) { return std::find(modes.begin(), modes.end(), mode) != modes.end(); };
  for (int round = 0; round < 2; ++round) {
    for (const auto& c : cases) {
      if (!supported(c.mode)) continue;
      const auto page = syntheticPage(c.width, c.height);
      folio::Result result;
      const auto run = [&] { result = engine->run(page, options(c.mode)); };
      if (round == 0 && profile_first && &c == &cases[0])
        out["first_page_host_calls"] = slowestHostCalls(torch::Device(torch::kCUDA, 0), run);
      else
        run();
      if (round == 0 && &c == &cases[0])
        out["load_to_first_token_s"] = secondsSince(start) - result.timings.decode_ms / 1000.0;
      out[round == 0 ? "first" : "again"][c.name] = figures(result);
    }
  }
  for (const auto& c : cases) {  // vision + prefill of a page the first time, over the same again
    if (!supported(c.mode)) continue;
    const auto cost = [&](const nlohmann::json& f) { return f["vision_ms"].get<double>() + f["prefill_ms"].get<double>(); };
    out["first_over_again"][c.name] = cost(out["first"][c.name]) / cost(out["again"][c.name]);
  }
  // A batch of pages of different grids, as the app's worker hands them over.
  std::vector<folio::RgbImage> pages;
  std::vector<folio::RunOptions> batch_options;
  for (const auto& c : {cases[5], cases[6], cases[7], cases[1]}) {
    pages.push_back(syntheticPage(c.width + 17, c.height + 23));  // grids seen before, sizes not
    batch_options.push_back(options(c.mode));
  }
  for (const char* round : {"batch_first", "batch_again"}) {
    const auto batch_start = Clock::now();
    const auto results = engine->runBatch(pages, batch_options);
    auto& entry = out[round];
    entry["seconds"] = secondsSince(batch_start);
    for (const auto& r : results) entry["pages"].push_back(figures(r));
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App cli{"folio-bench: Folio engine speed"};
  std::string model_dir, device_name = "auto", dtype_name = "auto", upstream_path, profile_path;
  int decode_tokens = 512, reps = 10, batch_tokens = 1000;
  std::vector<int> batch_sizes{1, 8, 32, 64};
  bool json_only = false, cold = false, cold_profile = false, cudnn_attention = false, eight_bit = false;
  int cold_tokens = 64;
  cli.add_option("--model", model_dir, "Model folder")->required();
  cli.add_option("--device", device_name, "auto, cuda or cpu");
  cli.add_option("--dtype", dtype_name, "auto, bf16 or fp32");
  cli.add_flag("--eight-bit", eight_bit, "The decoder's linear layers quantized to 8 bits on loading");
  cli.add_option("--decode-tokens", decode_tokens, "Tokens decoded at batch 1");
  cli.add_option("--reps", reps, "Repetitions per vision measurement");
  cli.add_option("--batch-tokens", batch_tokens, "Tokens per page in the batched runs");
  cli.add_option("--batches", batch_sizes, "Pages in flight together (0 skips the batched runs)");
  cli.add_option("--upstream", upstream_path, "JSON printed by shared/reference/bench_upstream.py in the same run");
  cli.add_flag("--json", json_only, "Print one JSON object");
  cli.add_option("--profile", profile_path, "Write GPU time by kernel (Base vision, a batch-1 decode step) here");
  cli.add_flag("--cold", cold, "Only this: load the engine, time each page the first time it is seen, then again");
  cli.add_flag("--cold-profile", cold_profile, "With --cold: the slowest host calls of the first page");
  cli.add_option("--cold-tokens", cold_tokens, "Tokens per page in the cold runs");
  cli.add_flag("--cudnn-attention", cudnn_attention,
               "Let attention use cuDNN again after the model's load turned it off (to compare)");
  CLI11_PARSE(cli, argc, argv);

  try {
    torch::InferenceMode guard;
    const bool cuda = device_name == "cuda" || (device_name == "auto" && torch::cuda::is_available());
    const torch::Device device = cuda ? torch::Device(torch::kCUDA, 0) : torch::Device(torch::kCPU);
    const auto dtype = dtype_name == "fp32" ? torch::kFloat32
                       : dtype_name == "bf16" || cuda ? torch::kBFloat16 : torch::kFloat32;
    nlohmann::json out;
    if (cold) {
      out["cold"] = coldPages(model_dir, cuda ? folio::Device::Cuda : folio::Device::Cpu, cold_tokens, cold_profile && cuda);
      std::cout << out.dump(json_only ? -1 : 1) << std::endl;
      return 0;
    }
    auto model = folio::OcrModel::load(model_dir, device, dtype, eight_bit);
    if (cudnn_attention) at::globalContext().setSDPUseCuDNN(true);
    out["cudnn_attention"] = at::globalContext().userEnabledCuDNNSDP();
    out["path"] = model->pathDescription();
    out.update({{"gpu", gpuName(device)}, {"torch", TORCH_VERSION}, {"dtype", dtype == torch::kBFloat16 ? "bf16" : "fp32"},
                {"eight_bit", model->eightBitWeights()}});
    const ModeCase cases[] = {{Mode::Tiny, "tiny", 800, 1100},   {Mode::Small, "small", 800, 1100},
                              {Mode::Base, "base", 800, 1100},   {Mode::Large, "large", 800, 1100},
                              {Mode::Gundam, "gundam", 1240, 1754}};
    out["family"] = std::string(folio::familyName(model->family()));
    const auto modes = folio::supportedModes(model->family());
    for (const auto& c : cases) {
      if (std::find(modes.begin(), modes.end(), c.mode) == modes.end()) continue;
      auto page = folio::preprocessPage(syntheticPage(c.width, c.height), c.mode, device.is_cuda(), model->family());
      resetPeakMemory(device);
      out["prefill_ms"][c.name] = visionMs(*model, page, reps);
      out["vision_peak_gpu_mem_gb"][c.name] = peakMemoryGb(device);
      out["image_tokens"][c.name] = page.n_image_tokens;
      if (!json_only) std::cerr << c.name << ": vision " << out["prefill_ms"][c.name] << " ms\n";
    }
    auto base_page = folio::preprocessPage(syntheticPage(800, 1100), Mode::Base, device.is_cuda(), model->family());
    {  // the CUDA graph path (default) against the eager pass (taken when stages are asked for)
      folio::StageTensors stages;
      const auto eager = model->encodeImage(base_page, &stages).to(torch::kFloat32);
      const auto default_path = model->encodeImage(base_page).to(torch::kFloat32);
      out["vision_default_vs_eager_max_abs_diff"] = (eager - default_path).abs().max().item<double>();
    }
    out["vision_batch_pages"] = folio::OcrModel::kDefaultVisionBatchViews;
    out["vision_ms_per_page_batched"]["base"] =
        batchedVisionMsPerPage(*model, base_page, folio::OcrModel::kDefaultVisionBatchViews, std::max(reps / 4, 1));
    if (!json_only) std::cerr << "base, batched: vision " << out["vision_ms_per_page_batched"]["base"] << " ms a page\n";
    if (model->usesCudaGraphs()) {  // the eager path too, to show what the CUDA graphs buy
      model->setUseCudaGraphs(false);
      out["prefill_ms_eager"]["base"] = visionMs(*model, base_page, reps);
      out["decode_tok_s_batch1_eager"] = decodeBatch1(*model, base_page, std::min(decode_tokens, 128)).tok_s;
      model->setUseCudaGraphs(true);
#ifdef FOLIO_HAVE_CUDA
      // What programmatic dependent launch gives: decode graphs captured with plain launches.
      recaptureGraphs(*model, /*overlapped=*/false);
      out["decode_tok_s_batch1_plain_launches"] = decodeBatch1(*model, base_page, decode_tokens).tok_s;
      recaptureGraphs(*model, /*overlapped=*/true);
#endif
    }
    auto decode = decodeBatch1(*model, base_page, decode_tokens);
    if (model->usesCudaGraphs()) {  // what queuing the next step on the device's pick gives
      const auto host_paced = decodeBatch1(*model, base_page, decode_tokens, /*queue_ahead=*/false);
      out["decode_tok_s_batch1_host_paced"] = host_paced.tok_s;
      out["decode_host_paced_tokens_equal"] = host_paced.ids == decode.ids;
    }
    {  // transformers' baseline decodes 256 tokens after the 2x3 page's 1131-token prompt: the same here
      const auto gundam_page = folio::preprocessPage(syntheticPage(1240, 1754), Mode::Gundam, device.is_cuda(),
                                                     model->family());
      const auto after_gundam = decodeBatch1(*model, gundam_page, 256);
      out["decode_tok_s_batch1_gundam_2x3_prompt"] = after_gundam.tok_s;
      out["prompt_prefill_ms_gundam_2x3"] = after_gundam.prefill_ms;
    }
    out["prompt_prefill_ms"] = decode.prefill_ms;
    out["decode_tokens"] = decode.tokens;
    out["decode_tok_s_batch1"] = decode.tok_s;
    out["peak_gpu_mem_gb"] = decode.peak_gb;
    out["peak_gpu_reserved_gb"] = decode.peak_reserved_gb;
    out["batch_tokens_per_page"] = batch_tokens;
    const auto batch1_ids = model->generate(pagePrompt(*model, base_page), fixedLength(batch_tokens)).ids;
    for (int pages : batch_sizes) {
      if (pages <= 0) continue;
      const auto b = decodeBatched(*model, base_page, pages, batch_tokens, batch1_ids);
      auto& entry = out["batched"][std::to_string(pages)];
      entry = {{"tok_s", b.generated / b.seconds},
               {"pages_s", pages / b.seconds},
               {"prefill_and_decode_tok_s", b.generated / b.decode_seconds},
               {"seconds", b.seconds},
               {"vision_s", b.seconds - b.decode_seconds},
               {"peak_gpu_mem_gb", b.peak_gb},
               {"first_page_tokens_like_batch1", b.leading_tokens_like_batch1}};
      if (!json_only) std::cerr << "batch " << pages << ": " << entry.dump() << "\n";
    }
    if (!profile_path.empty()) {
      // Vision: one Base pass. Decode: a 65-token run minus a prefill-only run, per step (64 graph steps).
      nlohmann::json profile;
      profile["base_vision_pass"] = kernelTable(profileGpu(device, [&] { model->encodeImage(base_page); }));
      // By op needs the eager pass: kernels replayed from a CUDA graph have no op that launched them.
      folio::StageTensors eager_stages;
      profile["base_vision_pass_eager_by_op"] = kernelTable(
          profileGpu(device, [&] { model->encodeImage(base_page, &eager_stages); }, GroupBy::Op), {}, 1, 40);
#ifdef FOLIO_HAVE_CUDA
      // Decode kernels launched plainly: overlapped, each kernel's span would include its wait for the one before.
      recaptureGraphs(*model, /*overlapped=*/false);
#endif
      const auto embeds = pagePrompt(*model, base_page);
      const auto run = [&](int tokens) {
        return profileGpu(device, [&] { model->generate(embeds, fixedLength(tokens)); });
      };
      run(65);  // warm: every graph captured
      const auto prefill = run(1);
      const auto generate = run(65);
      profile["base_prompt_prefill"] = kernelTable(prefill);
      profile["batch1_decode_step"] = kernelTable(generate, prefill, 64);
      // 64 pages in flight: a 33-token run minus a 1-token run (the prefills), per step (32 batched steps).
      const auto batch_run = [&](int tokens) {
        std::vector<folio::GenerateRequest> requests(64);
        for (auto& r : requests) {
          r.prompt_embeds = embeds;
          r.options = fixedLength(tokens);
        }
        return profileGpu(device, [&] { model->generateBatch(requests, 64); });
      };
      batch_run(33);
      const auto batch_prefill = batch_run(1);
      profile["batch64_decode_step"] = kernelTable(batch_run(33), batch_prefill, 32);
#ifdef FOLIO_HAVE_CUDA
      recaptureGraphs(*model, /*overlapped=*/true);
      // The same step with overlapped launches, by the time each kernel adds past the end of the one before.
      const auto exposed = [&](int tokens) {
        return exposedGpuTime(device, [&] { model->generate(embeds, fixedLength(tokens)); });
      };
      exposed(65);
      const auto exposed_prefill = exposed(1);
      profile["batch1_decode_step_overlapped_exposed"] = kernelTable(exposed(65), exposed_prefill, 64);
#endif
      std::ofstream(profile_path) << profile.dump(1) << "\n";
    }
    if (!upstream_path.empty()) {
      std::ifstream in(upstream_path);
      auto upstream = nlohmann::json::parse(in);
      out["upstream"] = upstream;
      out["upstream_decode_tok_s_batch1"] = upstream.at("decode_tok_s_batch1");
      out["speedup_vs_upstream"] = decode.tok_s / upstream.at("decode_tok_s_batch1").get<double>();
    }
    std::cout << out.dump(json_only ? -1 : 1) << std::endl;
  } catch (const std::exception& e) {
    std::cerr << "folio-bench: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
