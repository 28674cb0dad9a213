#include "graph_decoder.h"

#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>
#include <folio/engine.h>

#include "argmax_rows.h"
#include "decode_attention.h"
#include "decoder.h"
#include "fused_ops.h"
#include "logits_gemv.h"
#include "moe.h"
#include "small_batch_gemv.h"

namespace folio::cuda {
namespace F = torch::nn::functional;
namespace {

std::string layerPrefix(int layer) { return "model.layers." + std::to_string(layer) + "."; }

AlwaysOnMlp mlpAt(const Weights& weights, const std::string& prefix) {
  return AlwaysOnMlp{LinearWeight::at(weights, prefix + "gate_proj.weight"),
                     LinearWeight::at(weights, prefix + "up_proj.weight"),
                     LinearWeight::at(weights, prefix + "down_proj.weight")};
}

// x times the weights (stacked along the output features), through the small-batch GEMV for a few rows (cuBLAS
// is latency-bound there), else cuBLAS (8-bit weights dequantized for it).
torch::Tensor project(const torch::Tensor& x, const std::vector<LinearWeight>& weights) {
  if (x.size(0) <= kSmallBatchMaxRows) return smallBatchLinear(x, weights);
  std::vector<torch::Tensor> parts;
  for (const auto& w : weights) parts.push_back(w.forward(x));
  return parts.size() == 1 ? parts.front() : torch::cat(parts, 1);
}

// The SiLU-gated MLP as three cuBLAS GEMMs: for many rows, where each weight row is read once for all of them.
torch::Tensor mlpByCublas(const AlwaysOnMlp& mlp, const torch::Tensor& h) {
  return Mlp{mlp.gate_proj, mlp.up_proj, mlp.down_proj}.forward(h);
}

}  // namespace

GraphDecoder::GraphDecoder(const DecoderConfig& config, const Weights& weights, int batch, int capacity)
    : config_(config),
      norm_(weights.at("model.norm.weight")),
      embed_tokens_(LinearWeight::at(weights, "model.embed_tokens.weight")),
      cache_(config, capacity > 0 ? std::min(capacity, config.max_position_embeddings) : config.max_position_embeddings,
             norm_.device(), norm_.scalar_type(), batch),
      pool_(at::cuda::graph_pool_handle()) {
  if (!norm_.is_cuda() || norm_.scalar_type() != torch::kBFloat16)
    throw Error("the CUDA graph decoder needs bf16 weights on the GPU");
  router_config_ = {config.num_experts_per_tok, config.norm_topk_prob, config.routed_scaling_factor};
  lm_head_ = LinearWeight::at(weights, "lm_head.weight");
  for (int i = 0; i < config.num_hidden_layers; ++i) {
    const auto p = layerPrefix(i);
    Layer layer;
    layer.input_layernorm = weights.at(p + "input_layernorm.weight");
    layer.post_attention_layernorm = weights.at(p + "post_attention_layernorm.weight");
    layer.q_proj = LinearWeight::at(weights, p + "self_attn.q_proj.weight");
    layer.k_proj = LinearWeight::at(weights, p + "self_attn.k_proj.weight");
    layer.v_proj = LinearWeight::at(weights, p + "self_attn.v_proj.weight");
    layer.o_proj = LinearWeight::at(weights, p + "self_attn.o_proj.weight");
    layer.moe = i >= config.first_k_dense_replace;
    if (layer.moe) {
      layer.router = weights.at(p + "mlp.gate.weight");
      layer.experts_gate_up = LinearWeight::at(weights, p + "mlp.experts.gate_up_proj.stacked");
      layer.experts_down = LinearWeight::at(weights, p + "mlp.experts.down_proj.stacked");
      layer.mlp = mlpAt(weights, p + "mlp.shared_experts.");
    } else {
      layer.mlp = mlpAt(weights, p + "mlp.");
    }
    layers_.push_back(std::move(layer));
  }
  auto [cos, sin] = ropeTables(config);
  rope_cos_ = cos.to(norm_.device());
  rope_sin_ = sin.to(norm_.device());
  const auto on_gpu = torch::TensorOptions().device(norm_.device()).dtype(torch::kInt64);
  inputs_ = torch::zeros({2, batch}, on_gpu);
  router_arrivals_ = torch::zeros({batch}, on_gpu.dtype(torch::kInt32));
  attention_arrivals_ = torch::zeros({batch * config.num_attention_heads}, on_gpu.dtype(torch::kInt32));
  token_ = inputs_[0];
  position_ = inputs_[1];
  const auto pinned = torch::TensorOptions().dtype(torch::kInt64).pinned_memory(true);
  inputs_host_ = torch::empty({2, batch}, pinned);
  argmax_host_ = torch::empty({2, batch}, pinned);
  for (int b = 0; b < batch; ++b) slots_.push_back(cache_.slot(b));
}

bool GraphDecoder::supports(const DecoderConfig& c) {
  return c.hidden_size % 8 == 0 && c.hidden_size <= kLogitsMaxK && decodeAttentionSupports(c.head_dim()) &&
         c.intermediate_size % 8 == 0 &&
         c.moe_intermediate_size % 8 == 0 && c.n_routed_experts <= 256 && c.num_experts_per_tok <= 16;
}

static_assert(GraphDecoder::kMaxEightBitBatch <= kSmallBatchMaxRows, "8-bit batches must fit the GEMV kernels");

bool GraphDecoder::fewRoutes(const Layer& layer, std::int64_t rows) const {
  if (layer.experts_gate_up.quantized()) return rows <= kMaxEightBitBatch;
  return rows * config_.num_experts_per_tok <= layer.experts_gate_up.weight.size(0) / 2;
}

// A dense layer's MLP on its input h [B, H] bf16 -> [B, H], to be added to the residual stream.
torch::Tensor GraphDecoder::mlpForward(const Layer& layer, const torch::Tensor& h) const {
  const int kernel_rows = layer.mlp.gate_proj.quantized() ? kMaxEightBitBatch : kSmallBatchMaxRows / 2;
  if (h.size(0) > kernel_rows) return mlpByCublas(layer.mlp, h);
  return expertOutputs(expertActivations(h, {}, {}, layer.mlp), {}, {}, {}, layer.mlp);
}

// A MoE layer's routed experts (weighted) plus its shared experts on the routed input -> [B, H] float32, to be
// added to the residual stream.
torch::Tensor GraphDecoder::moeForward(const Layer& layer, const NormedRoute& route) const {
  const auto& h = route.h;
  if (route.activations.defined())
    return expertOutputs(routedActivations(route, layer.experts_gate_up, layer.mlp), layer.experts_down, route.ids,
                         route.weights, layer.mlp);
  // Many rows choose nearly every expert: all experts on all rows as two GEMMs over the stacks.
  return routedExpertsDense(h, route.ids, route.weights, layer.experts_gate_up, layer.experts_down) +
         mlpByCublas(layer.mlp, h);
}

// The residual step, the input RMSNorm and the q|k|v projection: one launch for a few rows.
std::array<torch::Tensor, 3> GraphDecoder::projectQkv(const Layer& layer, torch::Tensor& x,
                                                      const torch::Tensor& pending) const {
  const auto hidden = config_.hidden_size;
  const std::vector<LinearWeight> weights{layer.q_proj, layer.k_proj, layer.v_proj};
  torch::Tensor qkv;  // [B, 3H]
  if (x.size(0) <= kSmallBatchMaxRows) {
    auto normed = smallBatchNormedLinear(x, pending, layer.input_layernorm, config_.rms_norm_eps, weights);
    x = normed.stream;
    qkv = normed.out;
  } else {
    qkv = project(addRmsNorm(x, pending, layer.input_layernorm, config_.rms_norm_eps), weights);
  }
  return {qkv.narrow(1, 0, hidden), qkv.narrow(1, hidden, hidden), qkv.narrow(1, 2 * hidden, hidden)};
}

torch::Tensor GraphDecoder::layerForward(const Layer& layer, int index, torch::Tensor& x, const torch::Tensor& pending,
                                         int bucket) {
  const auto eps = config_.rms_norm_eps;
  const auto [q, k, v] = projectQkv(layer, x, pending);
  const auto attention = decodeAttention({q, k, v, rope_cos_, rope_sin_, position_, cache_.keys(index), cache_.values(index)},
                                         bucket, attention_arrivals_);
  const auto attention_out = project(attention, {layer.o_proj});
  if (!layer.moe) return mlpForward(layer, addRmsNorm(x, attention_out, layer.post_attention_layernorm, eps));
  // Few rows: the router's launch also computes the shared experts' activations (see moeForward).
  const bool few = fewRoutes(layer, x.size(0));
  const auto route = addRmsNormRouteTopK(x, attention_out, layer.post_attention_layernorm, eps, layer.router,
                                         router_config_, router_arrivals_, few ? &layer.mlp : nullptr,
                                         static_cast<int>(layer.experts_gate_up.weight.size(1) / 2));
  x = route.x;
  return moeForward(layer, route);
}

void GraphDecoder::forward(int bucket) {
  auto x = embeddingRows(embed_tokens_, token_);  // [B, H], the float32 residual stream
  torch::Tensor pending;
  for (int i = 0; i < static_cast<int>(layers_.size()); ++i) pending = layerForward(layers_[i], i, x, pending, bucket);
  const auto normed = addRmsNorm(x, pending, norm_, config_.rms_norm_eps);
  // float32 logits either way (logitsOf says why); one row through our GEMV, which overlaps the kernel before it.
  logits_ = normed.size(0) == 1 ? logitsGemv(normed, lm_head_) : logitsOf(normed, lm_head_);
  argmax_ = argmaxRows(logits_, inputs_);  // the picks and the next positions become the next step's inputs
}

// Attention reads each row's own positions; the longest row's length rounded up to a multiple of 256 sizes its
// grid (blocks past a row's length exit at once): one graph per bucket instead of one per length.
int GraphDecoder::bucketFor(int length, int capacity) {
  constexpr int kStep = 256;
  return std::min((length + kStep - 1) / kStep * kStep, capacity);
}

StepLogits GraphDecoder::step(const std::vector<std::int64_t>& tokens, const std::vector<bool>& active) {
  const int rows = batch();
  if (static_cast<int>(tokens.size()) != rows || static_cast<int>(active.size()) != rows)
    throw Error("decoder: a step takes one token per slot (" + std::to_string(rows) + ")");
  if (!in_flight_.empty()) throw Error("decoder: a batched step while single steps are queued");
  auto* inputs = inputs_host_.data_ptr<std::int64_t>();  // tokens, then positions
  int longest = 0;
  for (int b = 0; b < rows; ++b) {
    checkToken(tokens[b]);
    if (slots_[b].length() >= capacity()) throw Error("decoder: the KV cache of slot " + std::to_string(b) + " is full");
    inputs[b] = tokens[b];
    inputs[rows + b] = slots_[b].length();
    longest = std::max(longest, slots_[b].length() + 1);
  }
  // The staging buffer is free again: nothing is in flight, and every step taken waited for its copy out.
  C10_CUDA_CHECK(cudaMemcpyAsync(inputs_.data_ptr(), inputs, inputs_host_.nbytes(), cudaMemcpyHostToDevice,
                                 at::cuda::getCurrentCUDAStream()));
  launch(longest);
  const auto done = in_flight_.front();
  in_flight_.pop_front();
  copied_out_[done.staging].synchronize();
  for (int b = 0; b < rows; ++b) {
    if (active[b])
      slots_[b].advance(1);
    else
      slots_[b].reset();
  }
  const auto* argmax = argmax_host_[done.staging].data_ptr<std::int64_t>();
  return {done.graph->second.logits, std::vector<std::int64_t>(argmax, argmax + rows)};
}

void GraphDecoder::queue(std::int64_t token) {
  if (batch() != 1 || !in_flight_.empty()) throw Error("decoder: queue() takes batch 1 with no step in flight");
  checkToken(token);
  const int length = slots_.front().length();
  if (length >= capacity()) throw Error("decoder: the KV cache of slot 0 is full");
  auto* inputs = inputs_host_.data_ptr<std::int64_t>();
  inputs[0] = token;
  inputs[1] = length;
  C10_CUDA_CHECK(cudaMemcpyAsync(inputs_.data_ptr(), inputs, inputs_host_.nbytes(), cudaMemcpyHostToDevice,
                                 at::cuda::getCurrentCUDAStream()));
  launch(length + 1);
}

void GraphDecoder::queueOnArgmax() {
  if (batch() != 1 || in_flight_.size() != 1) throw Error("decoder: queueOnArgmax() needs one step in flight");
  const int position = slots_.front().length() + 1;
  if (position >= capacity()) throw Error("decoder: the KV cache of slot 0 is full");
  launch(position + 1);  // the step in flight leaves its pick and this position in the inputs
}

StepLogits GraphDecoder::next() {
  if (in_flight_.empty()) throw Error("decoder: next() with no step queued");
  const auto done = in_flight_.front();
  in_flight_.pop_front();
  copied_out_[done.staging].synchronize();
  slots_.front().advance(1);
  return {done.graph->second.logits.view({-1}), {argmax_host_[done.staging].data_ptr<std::int64_t>()[0]}};
}

void GraphDecoder::dropQueued() {
  const auto dropped = std::move(in_flight_);
  in_flight_.clear();
  for (const auto& step : dropped) copied_out_[step.staging].synchronize();
}

void GraphDecoder::checkToken(std::int64_t token) const {
  if (token < 0 || token >= config_.vocab_size)
    throw Error("decoder: token id " + std::to_string(token) + " outside the vocabulary of " +
                std::to_string(config_.vocab_size));
}

void GraphDecoder::launch(int length) {
  const auto stream = at::cuda::getCurrentCUDAStream();
  const int bucket = bucketFor(length, capacity());
  auto it = graphs_.find(bucket);
  if (it == graphs_.end()) it = capture(bucket);
  it->second.graph->replay();
  // Two steps in flight at most: the row of the step before last has been read.
  const int staging = next_staging_;
  next_staging_ ^= 1;
  C10_CUDA_CHECK(cudaMemcpyAsync(argmax_host_[staging].data_ptr(), it->second.argmax.data_ptr(),
                                 argmax_host_[staging].nbytes(), cudaMemcpyDeviceToHost, stream));
  copied_out_[staging].record(stream);
  in_flight_.push_back({it, staging});
}

std::map<int, GraphDecoder::Captured>::iterator GraphDecoder::capture(int bucket) {
  // Warm up on a side stream (cuBLAS workspaces, allocator), then capture the same body.
  // Capture needs a side stream; synchronising first and after is fine for a once-per-bucket event.
  c10::cuda::device_synchronize();
  auto stream = c10::cuda::getStreamFromPool();
  std::map<int, Captured>::iterator it;
  {
    c10::cuda::CUDAStreamGuard guard(stream);
    const auto inputs = inputs_.clone();  // the warm-up step feeds its picks back: the step to come must not see them
    forward(bucket);
    inputs_.copy_(inputs);
    Captured captured;
    captured.graph = std::make_unique<at::cuda::CUDAGraph>();
    captured.graph->capture_begin(pool_);
    forward(bucket);
    captured.graph->capture_end();
    captured.logits = logits_;
    captured.argmax = argmax_;
    it = graphs_.emplace(bucket, std::move(captured)).first;
  }
  c10::cuda::device_synchronize();
  return it;
}

}  // namespace folio::cuda
