// folio::Engine: pages through preprocessing, vision, prompt, greedy decoding (one page, or several decoding
// together) and grounding.
#include <folio/engine.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>

#include <ATen/Parallel.h>

#include "config.h"
#include "model.h"

namespace fs = std::filesystem;

namespace folio {
namespace {

using Clock = std::chrono::steady_clock;

double millisecondsSince(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

constexpr std::int64_t kTableCellOpen = 128821;   // <td>: exempt from the n-gram guard (tables repeat)
constexpr std::int64_t kTableCellClose = 128822;  // </td>
constexpr std::string_view kEosText = "<｜end▁of▁sentence｜>";

torch::Device resolveDevice(Device wanted) {
  const bool cuda = torch::cuda::is_available();
  if (wanted == Device::Cuda && !cuda)
    throw Error("CUDA was requested but no CUDA GPU is available to this build of Folio; use the CPU device");
  return (wanted == Device::Cuda || (wanted == Device::Auto && cuda)) ? torch::Device(torch::kCUDA, 0)
                                                                       : torch::Device(torch::kCPU);
}

torch::ScalarType resolveDtype(DType wanted, torch::Device device) {
  if (wanted == DType::Float32) return torch::kFloat32;
  if (wanted == DType::BFloat16) return torch::kBFloat16;
  return device.is_cuda() ? torch::kBFloat16 : torch::kFloat32;
}

// Sizes libtorch's CPU thread pools. Threads that have not computed yet take the intra-op size from here, and so
// does the calling thread, which loads the model and (in the app) runs its pages. The inter-op pool can be sized
// only once per process and only before it starts; when it cannot be, it keeps the size it has.
void useCpuThreads(int threads) {
  if (threads <= 0) return;
  at::set_num_threads(threads);
  static std::once_flag interop_sized;
  std::call_once(interop_sized, [threads] {
    try {
      at::set_num_interop_threads(threads);
    } catch (const c10::Error&) {
    }
  });
}

std::string stripTrailingEos(std::string text) {
  if (text.size() >= kEosText.size() && text.compare(text.size() - kEosText.size(), kEosText.size(), kEosText) == 0)
    text.resize(text.size() - kEosText.size());
  return text;
}

}  // namespace

// One page on its way through the engine: its prompt embeddings and generation settings, then the text its
// tokens decode to (streamed to a progress callback) and its timings.
struct PageRun {
  const RgbImage* page = nullptr;
  torch::Tensor embeds;
  GenerateOptions options;
  Result result;
  std::string text, pending_bytes;
  Clock::time_point start, decode_start;

  // The per-token callback for generate(): decodes, reports progress; prefill time ends at the first token.
  std::function<bool(std::int64_t)> onToken(const Tokenizer& tokenizer,
                                            std::function<void(const Progress&)> on_progress) {
    return [this, &tokenizer, on_progress = std::move(on_progress)](std::int64_t id) {
      if (result.generated_tokens++ == 0) {
        decode_start = Clock::now();
        result.timings.prefill_ms = std::chrono::duration<double, std::milli>(decode_start - start).count();
      }
      text += tokenizer.decodeNext(static_cast<std::int32_t>(id), pending_bytes);
      if (on_progress) {
        const double seconds = std::chrono::duration<double>(Clock::now() - decode_start).count();
        Progress progress;
        progress.generated_tokens = result.generated_tokens;
        progress.text = text;
        progress.tokens_per_second = seconds > 0 ? (result.generated_tokens - 1) / seconds : 0;
        on_progress(progress);
      }
      return true;
    };
  }

  Result finish(const GenerateResult& generation, const RunOptions& run_options) {
    result.timings.decode_ms = result.generated_tokens > 0 ? millisecondsSince(decode_start) : 0;
    text += Tokenizer::decodeFlush(pending_bytes);
    result.generated_tokens = static_cast<int>(generation.ids.size());
    result.cancelled = generation.cancelled;
    result.hit_token_limit = generation.hit_token_limit;
    result.raw_text = stripTrailingEos(std::move(text));
    result.grounded = parseGrounding(result.raw_text, page->width, page->height, run_options.figure_stem);
    return std::move(result);
  }
};

struct Engine::Impl {
  std::unique_ptr<OcrModel> model;

  // Preprocessing, vision and the prompt of each page (timed), ready for generation; the pages' vision runs in
  // shared passes (each page's vision_ms is its share; one page alone replays its CUDA graph).
  std::vector<std::unique_ptr<PageRun>> prepare(const std::vector<const RgbImage*>& pages,
                                                const std::vector<RunOptions>& options) const;
  // A page's prompt embeddings and generation settings from its image features.
  std::unique_ptr<PageRun> promptRun(const RgbImage& page, const RunOptions& options,
                                     const PreprocessedPage& preprocessed, const torch::Tensor& features) const;
  Result run(const RgbImage& page, const RunOptions& options, const std::function<void(const Progress&)>& on_progress,
             const std::atomic<bool>* cancel);
  std::vector<Result> runBatch(const std::vector<RgbImage>& pages, const std::vector<RunOptions>& options,
                               const std::function<void(std::size_t, const Progress&)>& on_progress,
                               const std::atomic<bool>* cancel, int max_batch,
                               const std::vector<const std::atomic<bool>*>& page_cancel,
                               const std::function<void(std::size_t, const Result&)>& on_page_finished);
};

Engine::Engine(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Engine::~Engine() = default;

std::unique_ptr<Engine> Engine::load(const EngineOptions& options) {
  const auto device = resolveDevice(options.device);
  const auto dtype = resolveDtype(options.dtype, device);
  useCpuThreads(options.cpu_threads);
  auto impl = std::make_unique<Impl>();
  const bool eight_bit = options.eight_bit == EngineOptions::EightBit::On ||
                         (options.eight_bit == EngineOptions::EightBit::Auto && device.is_cuda() &&
                          freeGpuBytes(device) < EngineOptions::kEightBitBelowFreeBytes);
  try {
    impl->model = OcrModel::load(options.model_dir, device, dtype, eight_bit);
  } catch (const c10::OutOfMemoryError&) {
    throw Error(options.model_dir + ": not enough GPU memory to load the model (" +
                (eight_bit ? "about 4.5 GB are needed with 8-bit weights)"
                           : "about 7.2 GB are needed, 4.5 with 8-bit weights)"));
  }
  return std::unique_ptr<Engine>(new Engine(std::move(impl)));
}

ModelFamily Engine::family() const { return impl_->model->family(); }

std::string Engine::deviceDescription() const { return impl_->model->pathDescription(); }

int Engine::pagesInFlight() const { return impl_->model->usesCudaGraphs() ? kMaxPagesInFlight : 1; }

Result Engine::run(const RgbImage& page, const RunOptions& options,
                   const std::function<void(const Progress&)>& on_progress, const std::atomic<bool>* cancel) {
  if (page.empty()) throw Error("the page image is empty");
  try {
    return impl_->run(page, options, on_progress, cancel);
  } catch (const c10::OutOfMemoryError&) {
    throw Error("out of GPU memory while reading the page; try a smaller mode (Base or Small) or the CPU");
  } catch (const c10::Error& e) {
    throw Error(std::string("inference failed: ") + e.what_without_backtrace());
  }
}

std::vector<Result> Engine::runBatch(const std::vector<RgbImage>& pages, const std::vector<RunOptions>& options,
                                     const std::function<void(std::size_t, const Progress&)>& on_progress,
                                     const std::atomic<bool>* cancel, int max_batch,
                                     const std::vector<const std::atomic<bool>*>& page_cancel,
                                     const std::function<void(std::size_t, const Result&)>& on_page_finished) {
  std::size_t finished = 0;  // pages already handed over: not in flight when memory ran out
  const auto count_finished = [&](std::size_t i, const Result& result) {
    ++finished;
    if (on_page_finished) on_page_finished(i, result);
  };
  try {
    return impl_->runBatch(pages, options, on_progress, cancel, max_batch, page_cancel, count_finished);
  } catch (const c10::OutOfMemoryError&) {
    throw Error("out of GPU memory with " + std::to_string(std::min<std::size_t>(pages.size() - finished, max_batch)) +
                " pages in flight; use fewer pages at once or a smaller mode");
  } catch (const c10::Error& e) {
    throw Error(std::string("inference failed: ") + e.what_without_backtrace());
  }
}

std::vector<std::unique_ptr<PageRun>> Engine::Impl::prepare(const std::vector<const RgbImage*>& pages,
                                                            const std::vector<RunOptions>& options) const {
  std::vector<PreprocessedPage> preprocessed;
  std::vector<double> preprocess_ms;
  for (std::size_t i = 0; i < pages.size(); ++i) {
    if (pages[i]->empty()) throw Error("page " + std::to_string(i + 1) + " of the batch is empty");
    const auto start = Clock::now();
    preprocessed.push_back(preprocessPage(*pages[i], options[i].mode, model->device().is_cuda(), model->family()));
    preprocess_ms.push_back(millisecondsSince(start));
  }
  std::vector<const PreprocessedPage*> views;
  for (const auto& p : preprocessed) views.push_back(&p);
  const auto start = Clock::now();
  const auto features = model->encodeImages(views);
  synchronize(model->device());
  const double vision_ms_per_page = millisecondsSince(start) / static_cast<double>(pages.size());
  std::vector<std::unique_ptr<PageRun>> runs;
  for (std::size_t i = 0; i < pages.size(); ++i) {
    runs.push_back(promptRun(*pages[i], options[i], preprocessed[i], features[i]));
    runs.back()->result.timings.preprocess_ms = preprocess_ms[i];
    runs.back()->result.timings.vision_ms = vision_ms_per_page;
  }
  return runs;
}

std::unique_ptr<PageRun> Engine::Impl::promptRun(const RgbImage& page, const RunOptions& options,
                                                 const PreprocessedPage& preprocessed,
                                                 const torch::Tensor& features) const {
  const auto& config = model->config().decoder;
  auto run = std::make_unique<PageRun>();
  run->page = &page;
  auto& result = run->result;
  const auto ids = model->promptIds(promptFor(options.task, options.locate_text), preprocessed.n_image_tokens);
  run->embeds = model->promptEmbeddings(ids, features);
  result.image_tokens = preprocessed.n_image_tokens;
  result.prompt_tokens = static_cast<int>(ids.size(0));

  const int room = config.max_position_embeddings - result.prompt_tokens;
  if (room <= 0) throw Error("the prompt is longer than the model's context; use a smaller mode");
  auto& generate_options = run->options;
  generate_options.max_new_tokens = std::min(options.max_new_tokens, room);
  generate_options.eos_id = config.eos_token_id;
  generate_options.ignore_eos = options.ignore_eos;
  generate_options.ngram_size = options.ngram_size;
  generate_options.ngram_window = options.ngram_window;
  generate_options.ngram_whitelist = {kTableCellOpen, kTableCellClose};
  return run;
}

Result Engine::Impl::run(const RgbImage& page, const RunOptions& options,
                         const std::function<void(const Progress&)>& on_progress, const std::atomic<bool>* cancel) {
  torch::InferenceMode inference_mode;
  auto page_run = std::move(prepare({&page}, {options}).front());
  page_run->start = page_run->decode_start = Clock::now();
  const auto on_token = page_run->onToken(model->tokenizer(), on_progress);
  const auto generation = model->generate(page_run->embeds, page_run->options, on_token, cancel);
  return page_run->finish(generation, options);
}

std::vector<Result> Engine::Impl::runBatch(const std::vector<RgbImage>& pages, const std::vector<RunOptions>& options,
                                           const std::function<void(std::size_t, const Progress&)>& on_progress,
                                           const std::atomic<bool>* cancel, int max_batch,
                                           const std::vector<const std::atomic<bool>*>& page_cancel,
                                           const std::function<void(std::size_t, const Result&)>& on_page_finished) {
  torch::InferenceMode inference_mode;
  if (options.size() != pages.size())
    throw Error("a batch needs one set of run options per page (" + std::to_string(pages.size()) + " pages, " +
                std::to_string(options.size()) + " options)");
  if (!page_cancel.empty() && page_cancel.size() != pages.size())
    throw Error("a batch takes one cancel flag per page or none (" + std::to_string(pages.size()) + " pages, " +
                std::to_string(page_cancel.size()) + " flags)");
  std::vector<const RgbImage*> page_pointers;
  for (const auto& page : pages) page_pointers.push_back(&page);
  auto runs = prepare(page_pointers, options);
  std::vector<GenerateRequest> requests(runs.size());
  const auto start = Clock::now();  // a page's prefill time runs from here to its first token
  for (std::size_t i = 0; i < runs.size(); ++i) {
    runs[i]->start = runs[i]->decode_start = start;
    requests[i].prompt_embeds = runs[i]->embeds;
    requests[i].options = runs[i]->options;
    requests[i].cancel = CancelFlags(page_cancel.empty() ? nullptr : page_cancel[i], cancel);
    std::function<void(const Progress&)> page_progress;
    if (on_progress) page_progress = [&on_progress, i](const Progress& p) { on_progress(i, p); };
    requests[i].on_token = runs[i]->onToken(model->tokenizer(), page_progress);
  }
  // Each page is finished (timed, parsed) when its own sequence ends, and reported then.
  std::vector<Result> results(runs.size());
  for (std::size_t i = 0; i < runs.size(); ++i)
    requests[i].on_finished = [&, i](const GenerateResult& generation) {
      results[i] = runs[i]->finish(generation, options[i]);
      if (on_page_finished) on_page_finished(i, results[i]);
    };
  model->generateBatch(requests, max_batch);
  return results;
}

namespace {

// The Hugging Face hub cache, as its own tools find it: $HF_HUB_CACHE, else $HF_HOME/hub, else
// ~/.cache/huggingface/hub; empty when none can be named.
fs::path huggingFaceHubCache() {
  if (const char* cache = std::getenv("HF_HUB_CACHE"); cache && *cache) return cache;
  if (const char* hf_home = std::getenv("HF_HOME"); hf_home && *hf_home) return fs::path(hf_home) / "hub";
  if (const char* home = std::getenv("HOME"); home && *home) return fs::path(home) / ".cache" / "huggingface" / "hub";
  return {};
}

}  // namespace

ModelFamily modelFamilyOf(const std::string& model_dir) {
  return loadModelConfig((fs::path(model_dir) / "config.json").string()).family;
}

ModelSearch findModel() {
  ModelSearch search;
  auto consider = [&](const fs::path& dir) {
    search.searched.push_back(dir.string());
    std::error_code ec;
    if (!fs::is_regular_file(dir / "config.json", ec) || !fs::is_regular_file(dir / "tokenizer.json", ec)) return;
    for (const auto& entry : fs::directory_iterator(dir, ec))
      if (entry.path().extension() == ".safetensors") {
        try {
          search.models.push_back({dir.string(), modelFamilyOf(dir.string())});
        } catch (const Error&) {  // not a model Folio can read: the search goes on
        }
        return;
      }
  };
  if (const char* env = std::getenv("FOLIO_MODEL_DIR"); env && *env) consider(env);
  const auto hub = huggingFaceHubCache();
  if (!hub.empty()) {
    for (const char* name : {"models--deepseek-ai--DeepSeek-OCR", "models--deepseek-ai--DeepSeek-OCR-2",
                             "models--deepseek-community--DeepSeek-OCR-2"}) {
      const auto repo = hub / name;
      const auto snapshots = repo / "snapshots";
      // The snapshot refs/main names first (the latest download), then any other.
      std::string main_commit;
      std::ifstream(repo / "refs" / "main") >> main_commit;
      std::vector<fs::path> candidates;
      if (!main_commit.empty() && fs::is_directory(snapshots / main_commit)) candidates.push_back(snapshots / main_commit);
      std::error_code ec;
      for (const auto& entry : fs::directory_iterator(snapshots, ec))
        if (entry.path().filename() != main_commit) candidates.push_back(entry.path());
      for (const auto& candidate : candidates) consider(candidate);
      if (candidates.empty()) search.searched.push_back(snapshots.string());
    }
  }
  if (!search.models.empty()) search.found = search.models.front().path;
  return search;
}

}  // namespace folio
