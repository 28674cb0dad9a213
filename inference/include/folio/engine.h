// Folio's inference engine: the only header the rest of the app includes from inference/.
// Qt-free. Load a DeepSeek-OCR model folder once, then run pages: each run streams text through a callback,
// can be cancelled between two decoding steps, and returns markdown, the raw model text and the grounded regions.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace folio {

// The one error type of inference/: the message says what failed and where (file, tensor, page).
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The model families Folio runs: DeepSeek-OCR (v1: SAM + CLIP vision) and DeepSeek-OCR-2 (SAM + a Qwen2 encoder
// with learnable queries); the decoder, tokenizer, prompts and grounding format are the same.
enum class ModelFamily { DeepseekOcr, DeepseekOcr2 };
std::string_view familyName(ModelFamily family);  // "DeepSeek-OCR", "DeepSeek-OCR-2"

// Resolution modes (MODEL.md, OCR2.md "Image preprocessing"). DeepSeek-OCR has all five; DeepSeek-OCR-2 has
// Gundam (a 1024 global view and 2-6 tiles of 768), Base (1024, no tiles) and Small (768, no tiles).
enum class Mode { Tiny, Small, Base, Large, Gundam };
std::vector<Mode> supportedModes(ModelFamily family);
// What the model is asked to do; each maps to one of the upstream prompts.
enum class Task { Markdown, Ocr, Free, Figure, Describe, Locate };

std::string_view modeName(Mode mode);
std::optional<Mode> parseMode(std::string_view name);  // "tiny" ... "gundam"
std::string_view taskName(Task task);
std::optional<Task> parseTask(std::string_view name);  // "markdown", "ocr", "free", "figure", "describe", "locate"
// The prompt text for a task, with the single "<image>" placeholder; locate_text is used by Task::Locate.
std::string promptFor(Task task, std::string_view locate_text = {});

// The most pixels one page may have (an A3 page at 600 dpi is about 70 million): an image file whose header
// claims more is refused before it is decoded (decodeImage), a bigger PDF page is rendered at a lower resolution
// instead (the app's Document::fittingDpi).
inline constexpr std::int64_t kMaxPagePixels = 64'000'000;

// An 8-bit RGB image, rows top to bottom, 3 bytes per pixel, no padding.
struct RgbImage {
  int width = 0;
  int height = 0;
  std::vector<std::uint8_t> pixels;
  bool empty() const { return width <= 0 || height <= 0; }
};

// Reads an image file to RGB (EXIF orientation applied; grey, alpha, 16-bit and CMYK converted).
// Throws Error naming the file when it cannot be read.
RgbImage loadImage(const std::string& path);

// A box in page pixels.
struct Box {
  double x1 = 0, y1 = 0, x2 = 0, y2 = 0;
};

// One grounded region of the model's output: <|ref|>label<|/ref|><|det|>[[boxes]]<|/det|> + its markdown.
struct Region {
  std::string label;       // title, text, table, image, equation, ... (unknown labels are kept)
  std::vector<Box> boxes;  // in page pixels
  std::size_t markdown_begin = 0;  // byte span of this region's text in GroundedText::markdown
  std::size_t markdown_end = 0;
  std::string figure_link;  // for "image" regions: the relative path the markdown links to, else empty
};

// The model's raw text turned into clean markdown plus regions (MODEL.md "Grounding output").
struct GroundedText {
  std::string markdown;
  std::vector<Region> regions;
  bool complete = true;  // false when the text was cut inside a tag (the incomplete tail is dropped)
};

// Parses raw model text of a page of page_width × page_height pixels. Figures link to
// "images/<figure_stem>_<n>.jpg" (n counts image regions from 0).
GroundedText parseGrounding(std::string_view raw_text, int page_width, int page_height,
                            std::string_view figure_stem = "page");

// parseGrounding for text that arrives token by token: append() re-parses only the unfinished tail, and
// current() always equals parseGrounding(all text appended so far).
class GroundingStream {
 public:
  GroundingStream(int page_width, int page_height, std::string figure_stem = "page");
  ~GroundingStream();
  GroundingStream(GroundingStream&&) noexcept;
  GroundingStream& operator=(GroundingStream&&) noexcept;

  void append(std::string_view more);
  const GroundedText& current() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

enum class Device { Auto, Cpu, Cuda };
enum class DType { Auto, Float32, BFloat16 };

struct EngineOptions {
  std::string model_dir;  // folder with config.json, tokenizer.json and the .safetensors file
  Device device = Device::Auto;  // Auto: CUDA when available, else CPU
  DType dtype = DType::Auto;     // Auto: bf16 on CUDA, fp32 on CPU
  // Threads libtorch computes with on the CPU (its intra-op and inter-op pools); 0: libtorch's default, one per
  // core. An app with a GUI passes fewer than the machine has, so that its GUI thread keeps a core of its own.
  // The pools are per process: the last engine loaded sets the intra-op size, the first one the inter-op size.
  int cpu_threads = 0;
  // The decoder's linear layers in 8 bits (int8, a scale per output feature): about half the GPU memory, for
  // small GPUs. Auto: on a CUDA GPU with less than kEightBitBelowFreeBytes free when loading. A model folder
  // written by `folio-cli quantize` is 8-bit whatever this says (and loads faster, from half the bytes).
  enum class EightBit { Auto, Off, On };
  EightBit eight_bit = EightBit::Auto;
  static constexpr std::int64_t kEightBitBelowFreeBytes = 10LL << 30;
};

struct RunOptions {
  Mode mode = Mode::Gundam;
  Task task = Task::Markdown;
  std::string locate_text;  // for Task::Locate
  int max_new_tokens = 8192;
  int ngram_size = 20;      // no-repeat n-gram guard (MODEL.md "Generation"); 0 disables it
  int ngram_window = 50;
  bool ignore_eos = false;  // benchmarks: generate exactly max_new_tokens
  std::string figure_stem = "page";
};

// Reported after every generated token, on the thread that called run().
struct Progress {
  int generated_tokens = 0;
  std::string_view text;  // decoded text so far (special tokens kept)
  double tokens_per_second = 0;
};

struct Timings {
  double preprocess_ms = 0;
  double vision_ms = 0;
  double prefill_ms = 0;
  double decode_ms = 0;
};

struct Result {
  std::string raw_text;  // decoded model output, special tokens kept, trailing eos removed
  GroundedText grounded;
  int image_tokens = 0;
  int prompt_tokens = 0;
  int generated_tokens = 0;
  bool cancelled = false;
  bool hit_token_limit = false;
  Timings timings;
};

class Engine {
 public:
  // Loads and validates the model folder (either family, told apart by its config.json). Throws Error naming the
  // file and the problem; run() throws for a mode the family lacks (supportedModes).
  static std::unique_ptr<Engine> load(const EngineOptions& options);
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Runs one page. on_progress may be empty. When *cancel becomes true the run stops within one
  // decoding step and returns what it has with cancelled = true. Throws Error (e.g. out of GPU memory);
  // the engine stays usable for the next page.
  Result run(const RgbImage& page, const RunOptions& options,
             const std::function<void(const Progress&)>& on_progress = {},
             const std::atomic<bool>* cancel = nullptr);

  // Several pages, options[i] for pages[i] (modes, tasks and figure stems may differ). On CUDA up to max_batch
  // of them decode together (continuous batching: every weight read serves all pages in flight, so throughput
  // grows with the batch); elsewhere they run one after the other. on_progress(i, progress) reports page i;
  // *cancel stops every page, *page_cancel[i] (when given: one per page, null for none) page i alone. Pages whose
  // views have one size share vision passes; a page's vision_ms is its share of them. A page's prefill_ms counts
  // from the start of the batch's decoding to its first token, its decode_ms to its last. Results are in page
  // order; on_page_finished(i, result) gets page i's as soon as its own decoding has ended, while the others may
  // still run. The pages in flight are also bounded by the GPU memory their KV caches need.
  std::vector<Result> runBatch(const std::vector<RgbImage>& pages, const std::vector<RunOptions>& options,
                               const std::function<void(std::size_t page, const Progress&)>& on_progress = {},
                               const std::atomic<bool>* cancel = nullptr, int max_batch = kMaxPagesInFlight,
                               const std::vector<const std::atomic<bool>*>& page_cancel = {},
                               const std::function<void(std::size_t page, const Result&)>& on_page_finished = {});
  static constexpr int kMaxPagesInFlight = 32;
  // How many pages runBatch decodes together here at most: kMaxPagesInFlight on a CUDA GPU, 1 elsewhere (where
  // a batch gains nothing and would only hold back each page's result until the last is done).
  int pagesInFlight() const;

  ModelFamily family() const;

  // How pages run, e.g. "CPU fp32", "CUDA bf16 · Folio kernels · sm_90 · NVIDIA H200" or "CUDA bf16 · generic
  // libtorch path (why) · NVIDIA ..."; it says so when vision runs without its CUDA graphs.
  std::string deviceDescription() const;

 private:
  struct Impl;
  explicit Engine(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Where Folio looks for a model when none is configured, in order: $FOLIO_MODEL_DIR, then the Hugging Face
// cache snapshots ($HF_HUB_CACHE, else $HF_HOME/hub, else ~/.cache/huggingface/hub) of deepseek-ai/DeepSeek-OCR,
// deepseek-ai/DeepSeek-OCR-2 and deepseek-community/DeepSeek-OCR-2, in each the one refs/main names first.
// Returns the folders searched, every folder that holds config.json, tokenizer.json and a .safetensors file with
// its family, and the first of them.
struct FoundModel {
  std::string path;
  ModelFamily family = ModelFamily::DeepseekOcr;
};
struct ModelSearch {
  std::vector<std::string> searched;
  std::vector<FoundModel> models;
  std::optional<std::string> found;  // models.front().path
};
// The family of the model in a folder, from its config.json; throws Error naming the file when unreadable.
ModelFamily modelFamilyOf(const std::string& model_dir);
ModelSearch findModel();

}  // namespace folio
