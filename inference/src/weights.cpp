#include "weights.h"

#include <folio/engine.h>

namespace folio {

const torch::Tensor& Weights::at(const std::string& name) const {
  auto it = tensors_.find(name);
  if (it == tensors_.end()) throw Error("missing tensor " + name);
  return it->second;
}

}  // namespace folio
