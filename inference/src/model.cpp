#include "model.h"

#include <folio/engine.h>

#include <filesystem>
#include <iostream>
#include <limits>
#include <map>

#include "checkpoint.h"
#include "kv_cache.h"
#include "linear_weight.h"
#include "model_tensors.h"
#include "prompt.h"
#include "safetensors.h"

#ifdef FOLIO_HAVE_CUDA
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDACachingAllocator.h>
#include <c10/cuda/CUDAGuard.h>

#include "graph_decoder.h"
#include "kernel_support.h"
#include "vision_graphs.h"
#endif

namespace fs = std::filesystem;

namespace folio {
namespace {

// A stored int8 tensor of the 8-bit format (linear_weight.h) and its scale, on the device, as int8 and float32.
void set8Bit(Weights& weights, const Checkpoint& checkpoint, const std::string& name, const torch::Tensor& stored,
             torch::Device device) {
  const auto fail = [&](const std::string& what) { throw Error(checkpoint.pathOf(name) + ": tensor " + name + what); };
  if (!isQuantizedTensor(name))
    fail(" is int8, but Folio's 8-bit models keep only the decoder's linear layers and embedding in 8 bits");
  const auto scale_name = name + kScaleSuffix;
  if (!checkpoint.contains(scale_name)) fail(" is int8 but " + scale_name + " is missing");
  const auto scale = checkpoint.tensor(scale_name, stored.sizes().slice(0, stored.dim() - 1).vec());
  if (scale.scalar_type() != torch::kFloat32) fail(kScaleSuffix + std::string(" must be float32"));
  weights.set(name, stored.to(device, torch::kInt8, false, /*copy=*/true));
  weights.set(scale_name, scale.to(device, torch::kFloat32, false, /*copy=*/true));
}

// Finds each tensor the config needs in the checkpoint files, checks its shape and moves it to the device: in
// `dtype`, or as int8 + scale where the checkpoint holds the 8-bit format or `eight_bit` asks for it.
Weights loadWeights(const ModelConfig& config, const fs::path& dir, torch::Device device, torch::ScalarType dtype,
                    bool eight_bit) {
  const Checkpoint checkpoint(dir);
  Weights weights;
  // Always a copy, even where device and dtype match the file: a tensor still on the memory map would read what
  // a rewrite of the file puts there, and die of SIGBUS if the file is cut short under the running app.
  for (const auto& [name, shape] : expectedTensors(config)) {
    const auto stored = checkpoint.tensor(name, shape);
    if (stored.scalar_type() == torch::kInt8) {
      set8Bit(weights, checkpoint, name, stored, device);
    } else if (eight_bit && isQuantizedTensor(name)) {
      auto quantized = quantizeRows(stored.to(device, /*non_blocking=*/false, /*copy=*/true));
      weights.set(name, std::move(quantized.weight));
      weights.set(name + kScaleSuffix, std::move(quantized.scale));
    } else {
      weights.set(name, stored.to(device, dtype, /*non_blocking=*/false, /*copy=*/true));
    }
  }
  return weights;
}

std::string expertName(int layer, int expert, const char* projection) {
  return "model.layers." + std::to_string(layer) + ".mlp.experts." + std::to_string(expert) + "." + projection +
         ".weight";
}

// Each MoE layer's routed experts as two stacks, laid out for the CUDA decoder:
//   model.layers.N.mlp.experts.gate_up_proj.stacked [E, 2I, H]: expert e's gate_proj rows, then its up_proj rows;
//   model.layers.N.mlp.experts.down_proj.stacked    [H, E, I]: viewed as [H, E*I], one GEMM sums all experts'
//                                                      down projections of route-weighted activations.
// 8-bit weights stack their scales the same way (<stack>_scale [E, 2I] and [H, E]). The per-expert weights become
// views of the stacks, so nothing is held twice; the expert GEMV reads the chosen experts from the stacks in place.
void stackExperts(Weights& weights, const DecoderConfig& config) {
  const auto experts = config.n_routed_experts;
  const auto inner = config.moe_intermediate_size;
  const auto stack = [&](int layer, const std::string& suffix) {
    std::vector<torch::Tensor> gate_up, down;
    for (int e = 0; e < experts; ++e) {
      gate_up.push_back(torch::cat({weights.at(expertName(layer, e, "gate_proj") + suffix),
                                    weights.at(expertName(layer, e, "up_proj") + suffix)}));
      down.push_back(weights.at(expertName(layer, e, "down_proj") + suffix));
    }
    const auto gate_up_stacked = torch::stack(gate_up);
    const auto down_stacked = torch::stack(down, 1);
    for (int e = 0; e < experts; ++e) {
      weights.set(expertName(layer, e, "gate_proj") + suffix, gate_up_stacked[e].narrow(0, 0, inner));
      weights.set(expertName(layer, e, "up_proj") + suffix, gate_up_stacked[e].narrow(0, inner, inner));
      weights.set(expertName(layer, e, "down_proj") + suffix, down_stacked.select(1, e));
    }
    const auto prefix = "model.layers." + std::to_string(layer) + ".mlp.experts.";
    weights.set(prefix + "gate_up_proj.stacked" + suffix, gate_up_stacked);
    weights.set(prefix + "down_proj.stacked" + suffix, down_stacked);
  };
  for (int layer = config.first_k_dense_replace; layer < config.num_hidden_layers; ++layer) {
    stack(layer, "");
    if (weights.contains(expertName(layer, 0, "gate_proj") + kScaleSuffix)) stack(layer, kScaleSuffix);
  }
}

}  // namespace

void synchronize(torch::Device device) {
  if (device.is_cuda()) torch::cuda::synchronize(device.index() < 0 ? 0 : device.index());
}

OcrModel::OcrModel(ModelConfig config, Tokenizer tokenizer, torch::Device device, torch::ScalarType dtype)
    : config_(std::move(config)), tokenizer_(std::move(tokenizer)), device_(device), dtype_(dtype) {}

std::unique_ptr<OcrModel> OcrModel::load(const std::string& model_dir, torch::Device device, torch::ScalarType dtype,
                                         bool eight_bit) {
  const fs::path dir(model_dir);
  if (!fs::is_directory(dir)) throw Error(model_dir + ": model folder not found");
  auto config = loadModelConfig((dir / "config.json").string());
  auto tokenizer = Tokenizer::fromFile((dir / "tokenizer.json").string());
  std::unique_ptr<OcrModel> model(new OcrModel(std::move(config), std::move(tokenizer), device, dtype));
  auto image_id = model->tokenizer_.tokenId("<image>");
  if (!image_id) throw Error((dir / "tokenizer.json").string() + ": no <image> token");
  model->image_token_id_ = *image_id;
  if (device.is_cuda()) {
    // cuDNN's attention builds an execution plan for every new sequence length (every page's prompt, every new
    // number of views): 100+ ms a page on an H200. Flash and memory-efficient attention need none.
    at::globalContext().setSDPUseCuDNN(false);
  }
  if (device.is_cuda() && dtype == torch::kFloat32) {
    // fp32 means fp32: PyTorch lets cuDNN run fp32 convolutions in TF32 by default (3e-4 relative error in SAM).
    at::globalContext().setAllowTF32CuDNN(false);
    at::globalContext().setAllowTF32CuBLAS(false);
  }
  torch::InferenceMode guard;
  model->weights_ = loadWeights(model->config_, dir, device, dtype, eight_bit);
  model->eight_bit_ = model->weights_.contains(std::string("lm_head.weight") + kScaleSuffix);
  stackExperts(model->weights_, model->config_.decoder);
  model->vision_ = std::make_unique<VisionEncoder>(model->config_, model->weights_);
  model->pixel_values_ = pixelValueTable().to(device);
  model->decoder_ = std::make_unique<Decoder>(model->config_.decoder, model->weights_);
#ifdef FOLIO_HAVE_CUDA
  model->graph_decoder_available_ = device.is_cuda() && dtype == torch::kBFloat16 &&
                                     cuda::kernelSupport().kernels &&
                                     cuda::GraphDecoder::supports(model->config_.decoder);
  model->vision_graphs_available_ = device.is_cuda() && dtype == torch::kBFloat16;
#endif
  model->setUseCudaGraphs(true);
  model->warmUp();
  return model;
}

void OcrModel::warmUp() {
#ifdef FOLIO_HAVE_CUDA
  if (vision_graphs_) {
    try {
      for (const Mode mode : supportedModes(config_.family))
        vision_graphs_->prepare(1, modeGeometry(mode, config_.family).base_size, dtype_);
      const auto tile_side = modeGeometry(Mode::Gundam, config_.family).image_size;
      for (int tiles = kMinCrops; tiles <= kMaxCrops; ++tiles) vision_graphs_->prepare(tiles, tile_side, dtype_);
    } catch (const Error& e) {
      dropVisionGraphs(e);
    }
  }
  if (!device_.is_cuda()) return;
  // A prompt through prefill and two steps: the decoder's libraries and kernels, and a decode graph.
  torch::InferenceMode guard;
  const auto prompt = torch::zeros({kWarmUpPromptTokens, config_.decoder.hidden_size},
                                   torch::TensorOptions().device(device_).dtype(torch::kFloat32));
  GenerateOptions options;
  options.max_new_tokens = 2;
  options.ignore_eos = true;
  generate(prompt, options);
  synchronize(device_);
#endif
}

PageViewTensors OcrModel::viewsOnDevice(const PreprocessedPage& page) const {
  // From pinned planes the copy is asynchronous; the lookup after it runs in stream order.
  const auto input = [&](const torch::Tensor& planes) {
    return normalizeViews(planes.to(device_, /*non_blocking=*/true), pixel_values_).to(dtype_);
  };
  PageViewTensors views{input(page.global_view), {}, page.grid.w, page.grid.h};
  if (page.tiles.defined()) views.tiles = input(page.tiles);
  return views;
}

torch::Tensor OcrModel::encodeImage(const PreprocessedPage& page, StageTensors* stages) const {
  const auto views = viewsOnDevice(page);
  if (stages) return vision_->encode(views.global_view, views.tiles, views.grid_w, views.grid_h, stages);
  return encodeViews(views);
}

void OcrModel::dropVisionGraphs(const Error& why) const {
  vision_graphs_error_ = why.what();
  std::cerr << "folio: " << vision_graphs_error_ << "; vision runs without CUDA graphs\n";
  vision_graphs_.reset();
}

torch::Tensor OcrModel::encodeViews(const PageViewTensors& views) const {
#ifdef FOLIO_HAVE_CUDA
  if (vision_graphs_) {
    try {
      return vision_graphs_->encode(views);
    } catch (const Error& e) {
      dropVisionGraphs(e);
    }
  }
#endif
  return vision_->encode(views.global_view, views.tiles, views.grid_w, views.grid_h);
}

std::vector<torch::Tensor> OcrModel::encodeImages(const std::vector<const PreprocessedPage*>& pages,
                                                  int max_views) const {
  std::vector<torch::Tensor> features(pages.size());
  // Pages by global view size, in page order within each size.
  std::map<std::int64_t, std::vector<std::size_t>> by_size;
  for (std::size_t i = 0; i < pages.size(); ++i) by_size[pages[i]->global_view.size(-1)].push_back(i);
  for (const auto& [size, indices] : by_size) {
    std::vector<std::size_t> pass;  // the pages of the next vision pass
    std::vector<PageViewTensors> views;
    int view_count = 0;
    const auto runPass = [&] {
      auto encoded = views.size() == 1 ? std::vector<torch::Tensor>{encodeViews(views.front())}
                                       : vision_->encodeBatch(views);
      for (std::size_t k = 0; k < pass.size(); ++k) features[pass[k]] = std::move(encoded[k]);
      pass.clear();
      views.clear();
      view_count = 0;
    };
    for (const auto i : indices) {
      const int page_view_count = 1 + (pages[i]->tiles.defined() ? static_cast<int>(pages[i]->tiles.size(0)) : 0);
      if (!pass.empty() && view_count + page_view_count > max_views) runPass();
      views.push_back(viewsOnDevice(*pages[i]));
      pass.push_back(i);
      view_count += page_view_count;
    }
    runPass();
  }
  return features;
}

torch::Tensor OcrModel::promptIds(const std::string& prompt, int n_image_tokens) const {
  auto ids = buildPromptIds(tokenizer_, prompt, n_image_tokens, config_.decoder.bos_token_id,
                            static_cast<int>(image_token_id_));
  return torch::tensor(ids, torch::kInt64);
}

torch::Tensor OcrModel::promptEmbeddings(const torch::Tensor& ids, const torch::Tensor& image_features) const {
  auto ids_on_device = ids.to(device_);
  // float32: the decoder's residual stream starts here, so golden (float32) features lose nothing on the way.
  auto embeds = decoder_->embed(ids_on_device).to(torch::kFloat32);
  auto image_positions = (ids_on_device == image_token_id_).nonzero().squeeze(1);
  if (image_positions.size(0) != image_features.size(0))
    throw Error("prompt has " + std::to_string(image_positions.size(0)) + " <image> tokens but the page gave " +
                std::to_string(image_features.size(0)) + " image features");
  embeds.index_copy_(0, image_positions, image_features.to(device_, torch::kFloat32));
  return embeds;
}

std::string OcrModel::pathDescription() const {
  const std::string dtype =
      std::string(dtype_ == torch::kBFloat16 ? "bf16" : "fp32") + (eight_bit_ ? " with 8-bit decoder weights" : "");
  if (!device_.is_cuda()) return "CPU " + dtype;
  std::string text = "CUDA " + dtype;
#ifdef FOLIO_HAVE_CUDA
  const bool sizes_fit = dtype_ != torch::kBFloat16 || graph_decoder_available_;
  text += " · " + (cuda::kernelSupport().kernels && !sizes_fit
                       ? std::string("generic libtorch path (the model's sizes do not fit Folio's kernels)")
                       : cuda::kernelPathDescription());
  text += " · " + std::string(at::cuda::getCurrentDeviceProperties()->name);
#endif
  if (!vision_graphs_error_.empty()) text += " · vision without CUDA graphs (" + vision_graphs_error_ + ")";
  return text;
}

void OcrModel::setUseCudaGraphs(bool use) {
#ifdef FOLIO_HAVE_CUDA
  if (use && graph_decoder_available_ && !graph_decoder_)
    graph_decoder_ = std::make_shared<cuda::GraphDecoder>(config_.decoder, weights_);
  if (use && vision_graphs_available_ && !vision_graphs_) vision_graphs_ = std::make_shared<cuda::VisionGraphs>(*vision_);
#endif
  if (!use) {
    graph_decoder_.reset();
    batch_decoder_.reset();
    vision_graphs_.reset();
  }
}

GenerateResult OcrModel::generate(const torch::Tensor& prompt_embeds, const GenerateOptions& options,
                                  const std::function<bool(std::int64_t)>& on_token, CancelFlags cancel) {
#ifdef FOLIO_HAVE_CUDA
  if (graph_decoder_) {
    auto& cache = graph_decoder_->slot(0);
    cache.reset();
    auto graph_options = options;
    graph_options.stepper = graph_decoder_.get();
    return folio::generate(*decoder_, cache, prompt_embeds, graph_options, on_token, cancel);
  }
#endif
  const int capacity = static_cast<int>(prompt_embeds.size(0)) + std::max(options.max_new_tokens, 1);
  KvCache cache(config_.decoder, std::min(capacity, config_.decoder.max_position_embeddings), device_, dtype_);
  return folio::generate(*decoder_, cache, prompt_embeds, options, on_token, cancel);
}

int OcrModel::sequencesThatFit(std::int64_t free_bytes, std::int64_t per_sequence) {
  if (per_sequence <= 0) return 0;
  return static_cast<int>(std::max<std::int64_t>(free_bytes - kBatchReserveBytes, 0) / per_sequence);
}

std::int64_t freeGpuBytes(torch::Device device) {
#ifdef FOLIO_HAVE_CUDA
  if (device.is_cuda()) {
    const c10::cuda::CUDAGuard guard(device.index() < 0 ? 0 : device.index());
    std::size_t free = 0, total = 0;
    C10_CUDA_CHECK(cudaMemGetInfo(&free, &total));
    // Before the process's first CUDA tensor the caching allocator is not set up (its stats refuse every device
    // with "Invalid device argument"), and it holds nothing yet: what the driver says is free is all there is.
    if (!c10::cuda::CUDACachingAllocator::get()->initialized()) return static_cast<std::int64_t>(free);
    const auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(guard.current_device().index());
    const auto index = static_cast<std::size_t>(c10::CachingAllocator::StatType::AGGREGATE);
    return static_cast<std::int64_t>(free) + stats.reserved_bytes[index].current - stats.allocated_bytes[index].current;
  }
#endif
  (void)device;
  return std::numeric_limits<std::int64_t>::max();
}

std::vector<GenerateResult> OcrModel::generateBatch(std::vector<GenerateRequest>& requests, int max_batch) {
#ifdef FOLIO_HAVE_CUDA
  if (graph_decoder_available_ && max_batch > 1 && requests.size() > 1) {
    int capacity = 1;
    for (const auto& r : requests)
      capacity = std::max(capacity, static_cast<int>(r.prompt_embeds.size(0)) + std::max(r.options.max_new_tokens, 1));
    capacity = std::min(capacity, config_.decoder.max_position_embeddings);
    const auto per_sequence = KvCache::bytesPerSequence(config_.decoder, capacity, dtype_);
    auto available = freeGpuBytes(device_);
    if (batch_decoder_)  // its cache is freed before a new one is made
      available += batch_decoder_->batch() * KvCache::bytesPerSequence(config_.decoder, batch_decoder_->capacity(), dtype_);
    if (eight_bit_) max_batch = std::min(max_batch, cuda::GraphDecoder::kMaxEightBitBatch);
    const int batch = std::min({max_batch, static_cast<int>(requests.size()), sequencesThatFit(available, per_sequence)});
    if (batch >= 2) {
      // A decoder with at least as many slots and positions serves as it is (its idle slots cost little: a step
      // is bound by reading the weights), keeping its CUDA graphs: a new one captures its own at each bucket.
      if (!batch_decoder_ || batch_decoder_->batch() < batch || batch_decoder_->capacity() < capacity) {
        batch_decoder_.reset();  // free its cache and graphs before making the next
        batch_decoder_ = std::make_shared<cuda::GraphDecoder>(config_.decoder, weights_, batch, capacity);
      }
      return folio::generateBatch(*decoder_, *batch_decoder_, requests);
    }
  }
#endif
  (void)max_batch;
  std::vector<GenerateResult> results;
  for (auto& r : requests) {
    results.push_back(generate(r.prompt_embeds, r.options, r.on_token, r.cancel));
    if (r.on_finished) r.on_finished(results.back());
  }
  return results;
}

}  // namespace folio
