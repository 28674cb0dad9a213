// The synthetic-weight formula of shared/reference/synthetic_weights.py (its docstring is the specification):
// deterministic weights for tests and benchmarks, bit-exact with the upstream goldens.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <string>
#include <vector>

namespace folio {

std::uint32_t fnv1a32(const std::string& bytes);

// The synthetic value of tensor `name` with `shape`, as bf16 (the checkpoint dtype).
// Throws folio::Error when no rule applies (a 1-D tensor that is no norm, bias or embedding).
torch::Tensor syntheticTensor(const std::string& name, const std::vector<std::int64_t>& shape);

}  // namespace folio
