#include "kv_cache.h"

#include <folio/engine.h>

#include <string>

namespace folio {

KvCache::KvCache(const DecoderConfig& config, int max_tokens, torch::Device device, torch::ScalarType dtype,
                 int batch)
    : capacity_(max_tokens) {
  if (max_tokens <= 0) throw Error("KV cache: max_tokens must be positive, got " + std::to_string(max_tokens));
  if (batch <= 0) throw Error("KV cache: batch must be positive, got " + std::to_string(batch));
  const auto options = torch::TensorOptions().device(device).dtype(dtype);
  const std::vector<std::int64_t> shape{batch, config.num_key_value_heads, max_tokens, config.head_dim()};
  for (int layer = 0; layer < config.num_hidden_layers; ++layer) {
    keys_.push_back(torch::empty(shape, options));
    values_.push_back(torch::empty(shape, options));
  }
}

std::int64_t KvCache::bytesPerSequence(const DecoderConfig& config, int max_tokens, torch::ScalarType dtype) {
  return 2LL * config.num_hidden_layers * config.num_key_value_heads * config.head_dim() * max_tokens *
         static_cast<std::int64_t>(c10::elementSize(dtype));
}

KvCache KvCache::slot(int b) const { return rows(b, 1); }

KvCache KvCache::rows(int first, int count) const {
  if (first < 0 || count < 1 || first + count > batch())
    throw Error("KV cache: no slots " + std::to_string(first) + ".." + std::to_string(first + count - 1));
  KvCache view;
  view.capacity_ = capacity_;
  for (const auto& k : keys_) view.keys_.push_back(k.narrow(0, first, count));
  for (const auto& v : values_) view.values_.push_back(v.narrow(0, first, count));
  return view;
}

std::pair<torch::Tensor, torch::Tensor> KvCache::append(int layer, const torch::Tensor& k, const torch::Tensor& v) {
  if (layer < 0 || layer >= static_cast<int>(keys_.size()))
    throw Error("KV cache: no layer " + std::to_string(layer));
  const int n = static_cast<int>(k.size(2));
  if (length_ + n > capacity_)
    throw Error("KV cache: " + std::to_string(length_) + " + " + std::to_string(n) + " positions exceed its " +
                std::to_string(capacity_));
  keys_[layer].narrow(2, length_, n).copy_(k);
  values_[layer].narrow(2, length_, n).copy_(v);
  return {keys_[layer].narrow(2, 0, length_ + n), values_[layer].narrow(2, 0, length_ + n)};
}

void KvCache::advance(int n) {
  if (n < 0 || length_ + n > capacity_)
    throw Error("KV cache: cannot advance " + std::to_string(length_) + " by " + std::to_string(n));
  length_ += n;
}

}  // namespace folio
