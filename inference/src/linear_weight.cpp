#include "linear_weight.h"

#include <folio/engine.h>

#include <regex>

#include "moe.h"
#include "weights.h"

namespace folio {

namespace {

// fn(first, count) over the rows of a [rows, width] matrix, a few thousand at a time: float32 temporaries of a
// whole lm_head or expert stack would take a GB or two of the GPU.
template <typename Fn>
void inRowChunks(std::int64_t rows, Fn&& fn) {
  constexpr std::int64_t kRowsAtOnce = 4096;
  for (std::int64_t first = 0; first < rows; first += kRowsAtOnce) fn(first, std::min(kRowsAtOnce, rows - first));
}

}  // namespace

at::Tensor LinearWeight::dense(at::ScalarType dtype) const {
  if (!quantized()) return weight.scalar_type() == dtype ? weight : weight.to(dtype);
  auto out = torch::empty(weight.sizes(), weight.options().dtype(dtype));
  const auto width = weight.size(-1);
  const auto q = weight.reshape({-1, width}), steps = scale.reshape({-1, 1}), rows = out.view({-1, width});
  inRowChunks(q.size(0), [&](std::int64_t first, std::int64_t count) {
    rows.narrow(0, first, count).copy_(q.narrow(0, first, count).to(torch::kFloat32) * steps.narrow(0, first, count));
  });
  return out;
}

at::Tensor LinearWeight::forward(const at::Tensor& x) const {
  return torch::nn::functional::linear(x, dense(x.scalar_type()));
}

LinearWeight LinearWeight::load(const Weights& weights, const std::string& name, const std::vector<std::int64_t>& shape) {
  LinearWeight linear{weightOfShape(weights, name, shape), {}};
  if (linear.weight.scalar_type() != torch::kInt8) return linear;
  const auto scale_name = name + kScaleSuffix;
  if (!weights.contains(scale_name)) throw Error("tensor " + name + " is int8 but " + scale_name + " is missing");
  linear.scale = weights.at(scale_name);
  if (linear.scale.scalar_type() != torch::kFloat32 || linear.scale.sizes() != linear.weight.sizes().slice(0, shape.size() - 1))
    throw Error("tensor " + scale_name + " must be float32 with one scale per output feature of " + name);
  return linear;
}

LinearWeight LinearWeight::at(const Weights& weights, const std::string& name) {
  const auto scale = name + kScaleSuffix;
  return {weights.at(name), weights.contains(scale) ? weights.at(scale) : torch::Tensor()};
}

LinearWeight quantizeRows(const at::Tensor& w) {
  const auto width = w.size(-1);
  const auto rows = w.reshape({-1, width});
  LinearWeight out{torch::empty(w.sizes(), w.options().dtype(torch::kInt8)),
                   torch::empty(w.sizes().slice(0, w.dim() - 1), w.options().dtype(torch::kFloat32))};
  const auto q = out.weight.view({-1, width});
  const auto scale = out.scale.view({-1});
  inRowChunks(rows.size(0), [&](std::int64_t first, std::int64_t count) {
    const auto values = rows.narrow(0, first, count).to(torch::kFloat32);
    auto step = values.abs().amax(-1) / 127.0;
    step = torch::where(step > 0, step, torch::ones_like(step));
    q.narrow(0, first, count).copy_((values / step.unsqueeze(-1)).round().clamp(-127, 127));
    scale.narrow(0, first, count).copy_(step);
  });
  return out;
}

bool isQuantizedTensor(const std::string& name) {
  static const std::regex decoder_linear(
      R"(model\.layers\.\d+\.(self_attn\.[qkvo]_proj|mlp\.(experts\.\d+\.|shared_experts\.)?(gate|up|down)_proj)\.weight)");
  return name == "lm_head.weight" || std::regex_match(name, decoder_linear);
}

}  // namespace folio
