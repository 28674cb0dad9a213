#include "synthetic_weights.h"

#include <ATen/Parallel.h>
#include <folio/engine.h>

#include <array>
#include <cmath>
#include <string_view>

namespace folio {
namespace {

enum class Kind { Norm, Bias, Embed, Head, Mat };

bool endsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

template <std::size_t N>
bool endsWithAny(std::string_view s, const std::array<std::string_view, N>& suffixes) {
  for (auto suffix : suffixes)
    if (endsWith(s, suffix)) return true;
  return false;
}

Kind kindOf(const std::string& name, const std::vector<std::int64_t>& shape) {
  static constexpr std::array<std::string_view, 10> kNormSuffixes{
      "norm1.weight", "norm2.weight", "layer_norm1.weight", "layer_norm2.weight", "pre_layrnorm.weight",
      "input_layernorm.weight", "post_attention_layernorm.weight", "model.norm.weight", "neck.1.weight",
      "neck.3.weight"};
  static constexpr std::array<std::string_view, 8> kEmbedSuffixes{
      "pos_embed", "class_embedding", "position_embedding.weight", "image_newline", "view_seperator",
      "rel_pos_h", "rel_pos_w", "embed_tokens.weight"};
  // The order matters: it is the order of the rules in the specification.
  if (name == "lm_head.weight") return Kind::Head;
  if (endsWithAny(name, kEmbedSuffixes)) return Kind::Embed;
  if (endsWithAny(name, kNormSuffixes)) return Kind::Norm;
  if (endsWith(name, ".bias")) return Kind::Bias;
  if (shape.size() >= 2) return Kind::Mat;
  throw Error("no synthetic-weight rule for tensor " + name);
}

// murmur3 fmix32 of the element index mixed with the name's seed, mapped to [-1, 1).
inline float uniformAt(std::uint32_t index, std::uint32_t seed) {
  std::uint32_t x = index * 0x9E3779B1u + seed;
  x ^= x >> 16;
  x *= 0x85EBCA6Bu;
  x ^= x >> 13;
  x *= 0xC2B2AE35u;
  x ^= x >> 16;
  return static_cast<float>(x >> 8) * 0x1p-23f - 1.0f;
}

}  // namespace

std::uint32_t fnv1a32(const std::string& bytes) {
  std::uint32_t h = 2166136261u;
  for (unsigned char b : bytes) h = (h ^ b) * 16777619u;
  return h;
}

torch::Tensor syntheticTensor(const std::string& name, const std::vector<std::int64_t>& shape) {
  const Kind kind = kindOf(name, shape);
  double fan_in = 1;
  for (std::size_t i = 1; i < shape.size(); ++i) fan_in *= static_cast<double>(shape[i]);
  const float mat_scale = static_cast<float>(1.0 / std::sqrt(fan_in));
  const std::uint32_t seed = fnv1a32(name);

  auto out = torch::empty(shape, torch::kBFloat16);
  auto* dst = out.data_ptr<c10::BFloat16>();
  at::parallel_for(0, out.numel(), 1 << 16, [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t i = begin; i < end; ++i) {
      const float u = uniformAt(static_cast<std::uint32_t>(i), seed);
      float v;
      switch (kind) {
        case Kind::Norm: v = 1.0f + u * 0.125f; break;
        case Kind::Bias: v = u * 0.015625f; break;
        case Kind::Embed: v = u * 0.03125f; break;
        case Kind::Head: v = u * 0.25f; break;
        default: v = u * mat_scale; break;
      }
      dst[i] = c10::BFloat16(v);  // round to nearest even
    }
  });
  return out;
}

}  // namespace folio
