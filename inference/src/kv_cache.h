// The decoder's key/value cache: every layer's keys and values of the positions processed so far.
#pragma once

#include <torch/torch.h>

#include <utility>
#include <vector>

#include "config.h"

namespace folio {

// Preallocated for max_tokens positions so that decoding appends in place instead of reallocating each step.
// Per layer K and V are [batch, heads, max_tokens, head_dim] (the layout attention consumes). A batch holds one
// sequence per row ("slot"); append()/length() treat the cache as one sequence, so a batched cache is filled
// through slot(b), a batch-1 view of row b with its own length.
class KvCache {
 public:
  KvCache(const DecoderConfig& config, int max_tokens, torch::Device device, torch::ScalarType dtype,
          int batch = 1);

  int batch() const { return static_cast<int>(keys_.empty() ? 0 : keys_.front().size(0)); }
  // Row b as a batch-1 cache sharing this one's memory, starting empty.
  KvCache slot(int b) const;
  // Rows first .. first+count-1 as a batch-count cache sharing this one's memory, starting empty.
  KvCache rows(int first, int count) const;

  // The bytes one sequence of max_tokens positions takes.
  static std::int64_t bytesPerSequence(const DecoderConfig& config, int max_tokens, torch::ScalarType dtype);

  int length() const { return length_; }      // positions already cached
  int capacity() const { return capacity_; }  // max_tokens
  void reset() { length_ = 0; }

  // Writes `layer`'s keys and values [batch, heads, n, head_dim] of positions length() .. length()+n-1 and returns
  // views of that layer's keys and values of positions 0 .. length()+n-1. Every layer appends the same n
  // positions; advance(n) then moves length() once they all have. Throws folio::Error when n does not fit.
  std::pair<torch::Tensor, torch::Tensor> append(int layer, const torch::Tensor& k, const torch::Tensor& v);
  void advance(int n);

  // A layer's whole preallocated keys / values [batch, heads, max_tokens, head_dim], for kernels that write
  // positions themselves (the CUDA graph decoder).
  torch::Tensor& keys(int layer) { return keys_.at(layer); }
  torch::Tensor& values(int layer) { return values_.at(layer); }

 private:
  KvCache() = default;
  std::vector<torch::Tensor> keys_;
  std::vector<torch::Tensor> values_;
  int capacity_ = 0;
  int length_ = 0;
};

}  // namespace folio
