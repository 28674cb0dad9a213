// The loaded DeepSeek-OCR model: config, tokenizer and the weights on one device, with the stages the
// engine, folio-cli (dump, parity) and the benchmark share: page -> image features -> prompt embeddings.
#pragma once

#include <folio/engine.h>
#include <torch/torch.h>

#include <map>
#include <memory>
#include <string>

#include "config.h"
#include "decoder.h"
#include "generate.h"
#include "image_preprocess.h"
#include "tokenizer.h"
#include "vision.h"
#include "weights.h"

namespace folio {

namespace cuda {
class GraphDecoder;
class VisionGraphs;
}

using StageTensors = std::map<std::string, torch::Tensor>;

class OcrModel {
 public:
  // Reads config.json, tokenizer.json and the .safetensors file(s) of model_dir, checks every tensor the
  // config needs (name, shape, dtype) and moves the weights to device in dtype. eight_bit: the decoder's linear
  // layers are quantized to the 8-bit format on the way (a folder already 8-bit stays so either way).
  static std::unique_ptr<OcrModel> load(const std::string& model_dir, torch::Device device, torch::ScalarType dtype,
                                        bool eight_bit = false);

  const ModelConfig& config() const { return config_; }
  ModelFamily family() const { return config_.family; }
  const Tokenizer& tokenizer() const { return tokenizer_; }
  const Decoder& decoder() const { return *decoder_; }
  torch::Device device() const { return device_; }
  torch::ScalarType dtype() const { return dtype_; }
  std::int64_t imageTokenId() const { return image_token_id_; }

  // Image features [n_image_tokens, hidden] of a preprocessed page (tiles first, then the global view).
  torch::Tensor encodeImage(const PreprocessedPage& page, StageTensors* stages = nullptr) const;
  // encodeImage of several pages, in order: pages whose global views have one size share vision passes of up
  // to max_views views (global views and tiles; a page is never split), which keeps a GPU busy.
  std::vector<torch::Tensor> encodeImages(const std::vector<const PreprocessedPage*>& pages,
                                          int max_views = kDefaultVisionBatchViews) const;
  static constexpr int kDefaultVisionBatchViews = 16;
  // Prompt ids for a prompt with one "<image>" placeholder expanded to n_image_tokens image tokens.
  torch::Tensor promptIds(const std::string& prompt, int n_image_tokens) const;
  // Token embeddings of ids with the image features placed at the <image> positions, in order; float32, the
  // decoder's residual stream dtype.
  torch::Tensor promptEmbeddings(const torch::Tensor& ids, const torch::Tensor& image_features) const;

  // Prefill + greedy decoding on the fastest path for the device: on CUDA in bf16 single-token steps replay
  // CUDA graphs over a persistent KV cache; elsewhere the eager decoder with a KV cache sized for the run.
  GenerateResult generate(const torch::Tensor& prompt_embeds, const GenerateOptions& options,
                          const std::function<bool(std::int64_t)>& on_token = {}, CancelFlags cancel = {});
  // Several pages' prompts decoded together (continuous batching over up to max_batch slots, CUDA bf16); on
  // other devices one after the other with generate().
  // On CUDA, max_batch is further bounded by the pages whose KV caches fit in the GPU memory left
  // (sequencesThatFit); below two, the pages run one after the other.
  std::vector<GenerateResult> generateBatch(std::vector<GenerateRequest>& requests, int max_batch);
  // How many sequences of `per_sequence` KV-cache bytes fit in `free_bytes` while keeping kBatchReserveBytes for
  // the step's activations, the prefill and the CUDA graphs.
  static int sequencesThatFit(std::int64_t free_bytes, std::int64_t per_sequence);
  static constexpr std::int64_t kBatchReserveBytes = 1LL << 30;
  bool usesCudaGraphs() const { return graph_decoder_ != nullptr; }
  // Whether the decoder's linear layers are 8-bit (a `folio-cli quantize` model folder).
  bool eightBitWeights() const { return eight_bit_; }
  // How this model runs: "CPU fp32", "CUDA bf16 · Folio kernels · sm_90 · NVIDIA H200",
  // "CUDA bf16 · generic libtorch path (reason) · NVIDIA ...".
  std::string pathDescription() const;
  void setUseCudaGraphs(bool use);  // decoding and one-page vision; for comparisons, on by default where available

 private:
  OcrModel(ModelConfig config, Tokenizer tokenizer, torch::Device device, torch::ScalarType dtype);
  // On a GPU, what a first page would otherwise pay: the libraries' first-use set-up, kernels loaded, the vision
  // graphs of every mode's global view and of every Gundam tile count captured.
  void warmUp();
  static constexpr int kWarmUpPromptTokens = 300;
  PageViewTensors viewsOnDevice(const PreprocessedPage& page) const;  // in the model's dtype
  // One page's features: through its vision CUDA graph where there is one, else eagerly.
  torch::Tensor encodeViews(const PageViewTensors& views) const;
  ModelConfig config_;
  Tokenizer tokenizer_;
  torch::Device device_;
  torch::ScalarType dtype_;
  std::int64_t image_token_id_ = 0;
  Weights weights_;
  std::unique_ptr<VisionEncoder> vision_;
  torch::Tensor pixel_values_;  // pixelValueTable() on the model's device
  std::unique_ptr<Decoder> decoder_;
  std::shared_ptr<cuda::GraphDecoder> graph_decoder_;  // CUDA bf16 only (shared_ptr: complete type only there)
  std::shared_ptr<cuda::GraphDecoder> batch_decoder_;  // the last generateBatch's, kept with its graphs
  mutable std::shared_ptr<cuda::VisionGraphs> vision_graphs_;  // CUDA bf16 only; dropped if a capture fails
  mutable std::string vision_graphs_error_;                     // why they were dropped, for pathDescription()
  void dropVisionGraphs(const Error& why) const;
  bool graph_decoder_available_ = false;
  bool vision_graphs_available_ = false;
  bool eight_bit_ = false;
};

// Waits for queued GPU work (timings); no-op on CPU.
void synchronize(torch::Device device);

// Bytes of GPU memory this process can still get on a CUDA device (free plus what libtorch's caching allocator
// holds unused); the CPU: the largest int64.
std::int64_t freeGpuBytes(torch::Device device);

}  // namespace folio
