// The model's weights by tensor name, already on the engine's device and in its dtype.
#pragma once

#include <torch/torch.h>

#include <string>
#include <unordered_map>

namespace folio {

class Weights {
 public:
  void set(const std::string& name, torch::Tensor t) { tensors_[name] = std::move(t); }
  bool contains(const std::string& name) const { return tensors_.count(name) != 0; }
  // Throws folio::Error("missing tensor <name>") when absent.
  const torch::Tensor& at(const std::string& name) const;
  std::size_t size() const { return tensors_.size(); }

 private:
  std::unordered_map<std::string, torch::Tensor> tensors_;
};

}  // namespace folio
