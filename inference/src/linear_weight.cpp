#include "linear_weight.h"

#include <folio/engine.h>

#include <regex>

#include "moe.h"
#include "weights.h"

namespace folio {

namespace {

// Rows of `width` values of `element_size` bytes in about 8 MB, in multiples of 64 (an odd count makes cuBLAS
// fall back to its slowest, unaligned GEMMs). Temporaries of a whole lm_head or expert stack would take a GB or two
// of the GPU; 8 MB is small beside the model (a 6 GB card's margin) and large enough for cuBLAS to run at speed.
std::int64_t rowsPerChunk(std::int64_t width, std::int64_t element_size) {
  constexpr std::int64_t kChunkBytes = 8 << 20;
  return std::max<std::int64_t>(64, kChunkBytes / (width * element_size) / 64 * 64);
}

// fn(first, count) over `rows` rows, `rows_at_once` at a time.
template <typename Fn>
void inRowChunks(std::int64_t rows, std::int64_t rows_at_once, Fn&& fn) {
  for (std::int64_t first = 0; first < rows; first += rows_at_once) fn(first, std::min(rows_at_once, rows - first));
}

}  // namespace

at::Tensor LinearWeight::dense(at::ScalarType dtype) const {
  if (!quantized()) return weight.scalar_type() == dtype ? weight : weight.to(dtype);
  auto out = torch::empty(weight.sizes(), weight.options().dtype(dtype));
  const auto width = weight.size(-1);
  const auto q = weight.reshape({-1, width}), steps = scale.reshape({-1, 1}), rows = out.view({-1, width});
  // One pass a chunk: int8 times the float32 scales, computed in float32, written in `dtype`.
  inRowChunks(q.size(0), rowsPerChunk(width, 4), [&](std::int64_t first, std::int64_t count) {
    auto chunk = rows.narrow(0, first, count);
    at::mul_out(chunk, q.narrow(0, first, count), steps.narrow(0, first, count));
  });
  return out;
}

template <typename Product>
at::Tensor LinearWeight::byRowChunks(const at::Tensor& x, at::ScalarType out_dtype, Product&& product) const {
  const auto in = x.size(-1);
  const auto outputs = weight.numel() / in;
  const auto q = weight.reshape({outputs, -1, weight.size(-1)});  // [out, groups, width]: scale per group
  const auto steps = scale.reshape({outputs, -1, 1});
  const auto x2 = x.reshape({-1, in});
  auto out = torch::empty({x2.size(0), outputs}, x.options().dtype(out_dtype));
  const auto rows_at_once = rowsPerChunk(in, x.element_size());
  auto rows = torch::empty({std::min(rows_at_once, outputs), q.size(1), q.size(2)}, x.options());
  inRowChunks(outputs, rows_at_once, [&](std::int64_t first, std::int64_t count) {
    auto chunk = rows.narrow(0, 0, count);
    // One pass: int8 times the float32 scales, computed in float32, written in x's dtype.
    at::mul_out(chunk, q.narrow(0, first, count), steps.narrow(0, first, count));
    out.narrow(1, first, count).copy_(product(x2, chunk.view({count, in})));
  });
  std::vector<std::int64_t> shape(x.sizes().begin(), x.sizes().end() - 1);
  shape.push_back(outputs);
  return out.view(shape);
}

at::Tensor LinearWeight::forward(const at::Tensor& x) const {
  namespace F = torch::nn::functional;
  if (!quantized()) return F::linear(x, weight.reshape({-1, x.size(-1)}));
  return byRowChunks(x, x.scalar_type(), [](const at::Tensor& a, const at::Tensor& w) {
    return F::linear(a, w);
  });
}

at::Tensor LinearWeight::forwardFloat32(const at::Tensor& x) const {
  // cuBLAS accumulates in float32 anyway; asking for a float32 result avoids rounding logits of magnitude ~20 to
  // bf16 (steps of 0.125), which alone could flip a greedy choice. The CPU has no such kernel.
  const auto product = [](const at::Tensor& a, const at::Tensor& w) {
    if (a.is_cuda() && a.scalar_type() == torch::kBFloat16) return at::mm(a, w.t(), torch::kFloat32);
    return torch::nn::functional::linear(a, w).to(torch::kFloat32);
  };
  if (!quantized()) {
    const auto x2 = x.reshape({-1, x.size(-1)});
    std::vector<std::int64_t> shape(x.sizes().begin(), x.sizes().end() - 1);
    shape.push_back(weight.size(0));
    return product(x2, weight).view(shape);
  }
  return byRowChunks(x, torch::kFloat32, product);
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
  inRowChunks(rows.size(0), rowsPerChunk(width, 4), [&](std::int64_t first, std::int64_t count) {
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
  return name == "lm_head.weight" || name == "model.embed_tokens.weight" || std::regex_match(name, decoder_linear);
}

}  // namespace folio
