// folio::Engine: one page through preprocessing, vision, prompt, greedy decoding and grounding.
#include <folio/engine.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>

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

std::string stripTrailingEos(std::string text) {
  if (text.size() >= kEosText.size() && text.compare(text.size() - kEosText.size(), kEosText.size(), kEosText) == 0)
    text.resize(text.size() - kEosText.size());
  return text;
}

}  // namespace

struct Engine::Impl {
  std::unique_ptr<OcrModel> model;
  std::string description;

  Result run(const RgbImage& page, const RunOptions& options, const std::function<void(const Progress&)>& on_progress,
             const std::atomic<bool>* cancel);
};

Engine::Engine(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Engine::~Engine() = default;

std::unique_ptr<Engine> Engine::load(const EngineOptions& options) {
  const auto device = resolveDevice(options.device);
  const auto dtype = resolveDtype(options.dtype, device);
  auto impl = std::make_unique<Impl>();
  try {
    impl->model = OcrModel::load(options.model_dir, device, dtype);
  } catch (const c10::OutOfMemoryError&) {
    throw Error(options.model_dir + ": not enough GPU memory to load the model (about 7 GB are needed)");
  }
  impl->description = device.is_cuda() ? "CUDA " + std::string(dtype == torch::kBFloat16 ? "bf16" : "fp32")
                                       : "CPU " + std::string(dtype == torch::kBFloat16 ? "bf16" : "fp32");
  return std::unique_ptr<Engine>(new Engine(std::move(impl)));
}

std::string Engine::deviceDescription() const { return impl_->description; }

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

Result Engine::Impl::run(const RgbImage& page, const RunOptions& options,
                         const std::function<void(const Progress&)>& on_progress, const std::atomic<bool>* cancel) {
  torch::InferenceMode inference_mode;
  const auto& config = model->config().decoder;
  Result result;

  auto start = Clock::now();
  const auto preprocessed = preprocessPage(page, options.mode);
  result.timings.preprocess_ms = millisecondsSince(start);

  start = Clock::now();
  const auto features = model->encodeImage(preprocessed);
  synchronize(model->device());
  result.timings.vision_ms = millisecondsSince(start);

  const auto ids = model->promptIds(promptFor(options.task, options.locate_text), preprocessed.n_image_tokens);
  const auto embeds = model->promptEmbeddings(ids, features);
  result.image_tokens = preprocessed.n_image_tokens;
  result.prompt_tokens = static_cast<int>(ids.size(0));

  const int room = config.max_position_embeddings - result.prompt_tokens;
  if (room <= 0) throw Error("the prompt is longer than the model's context; use a smaller mode");
  GenerateOptions generate_options;
  generate_options.max_new_tokens = std::min(options.max_new_tokens, room);
  generate_options.eos_id = config.eos_token_id;
  generate_options.ignore_eos = options.ignore_eos;
  generate_options.ngram_size = options.ngram_size;
  generate_options.ngram_window = options.ngram_window;
  generate_options.ngram_whitelist = {kTableCellOpen, kTableCellClose};

  std::string text, pending_bytes;
  int generated = 0;
  start = Clock::now();
  auto decode_start = start;
  auto on_token = [&](std::int64_t id) {
    if (generated++ == 0) {
      decode_start = Clock::now();
      result.timings.prefill_ms = std::chrono::duration<double, std::milli>(decode_start - start).count();
    }
    text += model->tokenizer().decodeNext(static_cast<std::int32_t>(id), pending_bytes);
    if (on_progress) {
      const double seconds = std::chrono::duration<double>(Clock::now() - decode_start).count();
      Progress progress;
      progress.generated_tokens = generated;
      progress.text = text;
      progress.tokens_per_second = seconds > 0 ? (generated - 1) / seconds : 0;
      on_progress(progress);
    }
    return true;
  };
  auto generation = model->generate(embeds, generate_options, on_token, cancel);
  result.timings.decode_ms = millisecondsSince(decode_start);

  text += Tokenizer::decodeFlush(pending_bytes);
  result.generated_tokens = static_cast<int>(generation.ids.size());
  result.cancelled = generation.cancelled;
  result.hit_token_limit = generation.hit_token_limit;
  result.raw_text = stripTrailingEos(std::move(text));
  result.grounded = parseGrounding(result.raw_text, page.width, page.height, options.figure_stem);
  return result;
}

ModelSearch findModel() {
  ModelSearch search;
  auto consider = [&](const fs::path& dir) {
    search.searched.push_back(dir.string());
    if (search.found) return;
    std::error_code ec;
    if (!fs::is_regular_file(dir / "config.json", ec) || !fs::is_regular_file(dir / "tokenizer.json", ec)) return;
    for (const auto& entry : fs::directory_iterator(dir, ec))
      if (entry.path().extension() == ".safetensors") {
        search.found = dir.string();
        return;
      }
  };
  if (const char* env = std::getenv("FOLIO_MODEL_DIR"); env && *env) consider(env);
  fs::path hub;
  if (const char* hf_home = std::getenv("HF_HOME"); hf_home && *hf_home)
    hub = fs::path(hf_home) / "hub";
  else if (const char* home = std::getenv("HOME"); home && *home)
    hub = fs::path(home) / ".cache" / "huggingface" / "hub";
  if (!hub.empty()) {
    const auto snapshots = hub / "models--deepseek-ai--DeepSeek-OCR" / "snapshots";
    std::error_code ec;
    bool any = false;
    for (const auto& entry : fs::directory_iterator(snapshots, ec)) {
      consider(entry.path());
      any = true;
    }
    if (!any) search.searched.push_back(snapshots.string());
  }
  return search;
}

}  // namespace folio
