// A linear layer's weight as the model holds it: in the model's dtype, or 8-bit. The 8-bit format (written by
// `folio-cli quantize`, quantizeModel()) is int8 weight-only with one float32 scale per output feature: the
// stored "<name>" is int8 [out, in] and "<name>_scale" float32 [out], w[o, i] ~= scale[o] * q[o, i] with
// q in -127..127 and scale[o] = max_i |w[o, i]| / 127. Integer weights run on every GPU and the CPU (FP8 would
// need sm_89 or newer, which the 6-8 GB cards it is for mostly are not).
#pragma once

#include <ATen/ATen.h>  // not torch/torch.h: the CUDA kernels' headers include this one

#include <cstdint>
#include <string>
#include <vector>

namespace folio {

class Weights;

inline constexpr const char* kScaleSuffix = "_scale";

struct LinearWeight {
  at::Tensor weight;  // [..., out, in]: the model's dtype, or int8 with `scale`
  at::Tensor scale;   // int8 weights: float32 [..., out]; undefined otherwise

  bool quantized() const { return scale.defined(); }
  // The weight in `dtype`: itself, or dequantized (a copy of the full size).
  at::Tensor dense(at::ScalarType dtype) const;
  // x W^T in x's dtype. The weight's trailing dimensions make x's input features, its leading ones the outputs
  // (an expert stack [E, 2I, H] times x [.., H] gives E*2I outputs; [H, E, I] times x [.., E*I] gives H).
  // 8-bit weights are dequantized a few MB of rows at a time: no full-size copy exists at any moment.
  at::Tensor forward(const at::Tensor& x) const;
  // x W^T as float32 (lm_head: logits without a rounding to bf16), likewise in row chunks when 8-bit.
  at::Tensor forwardFloat32(const at::Tensor& x) const;

 private:
  // product(x as [n, in], a chunk of output rows dequantized to x's dtype [rows, in]) -> [n, rows], gathered
  // into x W^T of out_dtype.
  template <typename Product>
  at::Tensor byRowChunks(const at::Tensor& x, at::ScalarType out_dtype, Product&& product) const;

 public:

  // weights.at(name) checked to have `shape`, with its scale when 8-bit. Throws folio::Error naming the tensor
  // when absent, misshapen, or an int8 weight without a float32 scale of [out].
  static LinearWeight load(const Weights& weights, const std::string& name, const std::vector<std::int64_t>& shape);
  // weights.at(name) with "<name>_scale" when there is one, unchecked (tensors the loader made, e.g. the stacks).
  static LinearWeight at(const Weights& weights, const std::string& name);
};

// Rows of w (any float dtype, [..., out, in]) as int8 with a float32 scale per row, rounded to nearest. An
// all-zero row gets scale 1 and zeros.
LinearWeight quantizeRows(const at::Tensor& w);

// Whether quantizeModel() stores this checkpoint tensor in 8 bits: the decoder's linear layers (attention,
// dense MLP, routed and shared experts), lm_head, and the token embedding (a scale per token's row). The norms,
// the router and the vision encoders stay as they are: small, or where rounding moves the choice of experts, or
// (vision) not needed for the memory target and not checked against goldens in 8 bits.
bool isQuantizedTensor(const std::string& name);

}  // namespace folio
