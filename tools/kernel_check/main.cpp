// folio-kernel-check: each CUDA decode kernel against the plain libtorch ops it replaces, on random inputs of
// the full model's sizes (and odd ones). Prints the largest error per kernel; exits 1 when one is off. Runs on
// the GPU machine (scripts/gpu-check.sh), where the QtTest suite does not build.
#include <torch/torch.h>

#include <cstdio>
#include <limits>
#include <string>

#include "argmax_rows.h"
#include "decode_attention.h"
#include "fused_ops.h"
#include "linear_weight.h"
#include "logits_gemv.h"
#include "moe_kernels.h"
#include "sam.h"
#include "small_batch_gemv.h"

namespace {

namespace F = torch::nn::functional;
using folio::LinearWeight;
using folio::cuda::AlwaysOnMlp;

int failures = 0;

// The weight formats the decode kernels read: bf16, and the 8-bit format of `folio-cli quantize`.
enum class Format { Bf16, EightBit };
const char* nameOf(Format f) { return f == Format::Bf16 ? " bf16" : " 8-bit"; }

// A bf16 weight in the format; its reference is what the libtorch path multiplies by (dense()).
LinearWeight as(Format format, const torch::Tensor& bf16) {
  return format == Format::Bf16 ? LinearWeight{bf16, {}} : folio::quantizeRows(bf16);
}
torch::Tensor ref(const LinearWeight& w) { return w.dense(torch::kBFloat16); }

// Reports max |got - want| against tolerance * max |want| (bf16 results: a few roundings of 2^-8).
void expectClose(const std::string& what, const torch::Tensor& got, const torch::Tensor& want, double tolerance) {
  const auto g = got.to(torch::kFloat32), w = want.to(torch::kFloat32);
  const double error = (g - w).abs().max().item<double>();
  const double scale = w.abs().max().item<double>();
  const bool ok = g.sizes() == w.sizes() && error <= tolerance * scale;
  std::printf("%-46s max abs error %.3e of max %.3e  %s\n", what.c_str(), error, scale, ok ? "ok" : "FAILED");
  if (!ok) ++failures;
}

torch::Tensor randn(std::vector<std::int64_t> shape, torch::ScalarType dtype = torch::kBFloat16, double scale = 1.0) {
  return (torch::randn(shape, torch::TensorOptions().device(torch::kCUDA)) * scale).to(dtype);
}

void checkSmallBatchLinear(Format format) {
  for (const int rows : {1, 2, 3, 5, 8}) {
    const auto x = randn({rows, 1280});
    const auto q = as(format, randn({1280, 1280}, torch::kBFloat16, 0.03));
    const auto k = as(format, randn({640, 1280}, torch::kBFloat16, 0.03));
    const auto want = torch::cat({F::linear(x, ref(q)), F::linear(x, ref(k))}, 1);
    expectClose("smallBatchLinear rows=" + std::to_string(rows) + nameOf(format),
                folio::cuda::smallBatchLinear(x, {q, k}), want, 1e-2);
  }
}

// The lm_head GEMV against a float32 product (no bf16 rounding in between; 8-bit: of the dequantized float32
// weights): the model's size, and a short odd one.
void checkLogitsGemv(Format format) {
  for (const auto [rows, k] : {std::pair{129280, 1280}, std::pair{1001, 640}}) {
    const auto x = randn({1, k});
    const auto weight = as(format, randn({rows, k}, torch::kBFloat16, 0.03));
    const auto got = folio::cuda::logitsGemv(x, weight);
    expectClose("logitsGemv " + std::to_string(rows) + "x" + std::to_string(k) + nameOf(format), got,
                at::mm(x.to(torch::kFloat32), weight.dense(torch::kFloat32).t()), 1e-5);
    if (got.scalar_type() != torch::kFloat32) {
      std::printf("logitsGemv gives float32  FAILED\n");
      ++failures;
    }
  }
}

void checkEmbeddingRows(Format format) {
  const auto table = as(format, randn({1000, 1280}));
  const auto ids = torch::tensor({999, 0, 17, 17}, torch::kInt64).cuda();
  expectClose(std::string("embeddingRows") + nameOf(format), folio::cuda::embeddingRows(table, ids),
              table.dense(torch::kFloat32).index_select(0, ids), 0);
}

// The residual step + RMSNorm + GEMV launch against addRmsNorm's reference followed by F::linear.
void checkSmallBatchNormedLinear(Format format) {
  const auto norm = randn({1280});
  const auto q = as(format, randn({1280, 1280}, torch::kBFloat16, 0.03));
  const auto k = as(format, randn({640, 1280}, torch::kBFloat16, 0.03));
  for (const int rows : {1, 3, 8})
    for (const auto delta_type : {torch::kFloat32, torch::kBFloat16, torch::ScalarType::Undefined}) {
      const bool none = delta_type == torch::ScalarType::Undefined;
      const auto stream = randn({rows, 1280}, torch::kFloat32);
      const auto delta = none ? torch::Tensor() : randn({rows, 1280}, delta_type);
      const auto sum = delta.defined() ? stream + delta.to(torch::kFloat32) : stream;
      const auto h = (norm.to(torch::kFloat32) * sum * torch::rsqrt(sum.pow(2).mean(-1, true) + 1e-6)).to(torch::kBFloat16);
      const auto got = folio::cuda::smallBatchNormedLinear(stream, delta, norm, 1e-6, {q, k});
      const std::string tag = " rows=" + std::to_string(rows) +
                              (none ? " no delta"
                               : delta_type == torch::kFloat32 ? " float32 delta" : " bf16 delta") + nameOf(format);
      expectClose("smallBatchNormedLinear" + tag, got.out, torch::cat({F::linear(h, ref(q)), F::linear(h, ref(k))}, 1),
                  1e-2);
      expectClose("smallBatchNormedLinear stream" + tag, got.stream, sum, 1e-6);
    }
}

void checkAddRmsNorm() {
  const auto weight = randn({1280});
  for (const auto delta_type : {torch::kFloat32, torch::kBFloat16}) {
    auto x = randn({3, 1280}, torch::kFloat32);
    const auto delta = randn({3, 1280}, delta_type);
    const auto sum = x + delta.to(torch::kFloat32);
    const auto want = (weight.to(torch::kFloat32) * sum * torch::rsqrt(sum.pow(2).mean(-1, true) + 1e-6)).to(torch::kBFloat16);
    const auto got = folio::cuda::addRmsNorm(x, delta, weight, 1e-6);
    expectClose(std::string("addRmsNorm delta ") + (delta_type == torch::kFloat32 ? "float32" : "bf16"), got, want, 1e-2);
    expectClose("addRmsNorm updates the stream", x, sum, 1e-6);
  }
}

// Rows at different lengths; the cache rows hold random keys/values beyond each row's length, which must be
// ignored. Twice over the same arrival counters: they must come back zeroed.
void checkAttention(int heads, int dim, int capacity, const std::vector<std::int64_t>& at) {
  const int rows = static_cast<int>(at.size());
  std::string lengths;
  for (const auto a : at) lengths += (lengths.empty() ? "" : ", ") + std::to_string(a + 1);
  const std::string shape = " D=" + std::to_string(dim) + " (lengths " + lengths + ")";
  const auto position = torch::tensor(at, torch::kInt64).cuda();
  const auto angles = torch::outer(torch::arange(capacity, torch::kFloat32),
                                   torch::rand({dim / 2}, torch::kFloat32)).repeat({1, 2}).cuda();
  const auto cos = angles.cos(), sin = angles.sin();
  const auto rope = [&](const torch::Tensor& t, int r) {  // [heads, dim] at row r's position
    const auto c = cos[at[r]], s = sin[at[r]];
    const auto rotated = torch::cat({-t.narrow(-1, dim / 2, dim / 2), t.narrow(-1, 0, dim / 2)}, -1);
    return (t * c + rotated * s).to(torch::kBFloat16);
  };
  const auto arrivals = torch::zeros({rows * heads}, torch::TensorOptions().device(torch::kCUDA).dtype(torch::kInt32));
  for (int round = 0; round < 2; ++round) {
    auto keys = randn({rows, heads, capacity, dim}), values = randn({rows, heads, capacity, dim});
    const auto qkv = randn({rows, 3 * heads * dim});
    const auto q = qkv.narrow(1, 0, heads * dim), k = qkv.narrow(1, heads * dim, heads * dim),
               v = qkv.narrow(1, 2 * heads * dim, heads * dim);
    const auto got = folio::cuda::decodeAttention({q, k, v, cos, sin, position, keys, values}, capacity, arrivals);
    std::vector<torch::Tensor> want_out;
    const std::string tag = shape + " (round " + std::to_string(round + 1) + ")";
    for (int r = 0; r < rows; ++r) {
      const auto row = std::to_string(r);
      expectClose("appended key row " + row + tag, keys[r].select(1, at[r]), rope(k[r].view({heads, dim}), r), 1e-2);
      expectClose("appended value row " + row + tag, values[r].select(1, at[r]), v[r].view({heads, dim}), 0);
      const auto used = at[r] + 1;
      want_out.push_back(torch::scaled_dot_product_attention(rope(q[r].view({heads, dim}), r).view({1, heads, 1, dim}),
                                                             keys[r].narrow(1, 0, used).unsqueeze(0),
                                                             values[r].narrow(1, 0, used).unsqueeze(0))
                             .view({1, heads * dim}));
    }
    expectClose("decodeAttention" + tag, got, torch::cat(want_out), 2e-2);
  }
  if (arrivals.count_nonzero().item<std::int64_t>() != 0) {
    std::printf("decodeAttention%s leaves its arrival counters zeroed  FAILED\n", shape.c_str());
    ++failures;
  }
}

// addRmsNormRouteTopK against libtorch: the new stream and the normalised input as addRmsNorm's reference gives
// them, and the router's choice on the kernel's own normalised input (so a last-bit difference there cannot
// swap two nearly tied experts).
void expectRoute(const std::string& tag, const folio::cuda::NormedRoute& got, const torch::Tensor& x,
                 const torch::Tensor& delta, const torch::Tensor& norm, const torch::Tensor& gate,
                 const folio::cuda::RouterConfig& config) {
  const auto sum = x + delta.to(torch::kFloat32);
  const auto h = (norm.to(torch::kFloat32) * sum * torch::rsqrt(sum.pow(2).mean(-1, true) + 1e-6)).to(torch::kBFloat16);
  expectClose("router's residual step" + tag, got.x, sum, 1e-6);
  expectClose("router's RMSNorm" + tag, got.h, h, 1e-2);
  const auto scores = F::linear(got.h.to(torch::kFloat32), gate.to(torch::kFloat32)).softmax(-1);
  auto [weights, ids] = scores.topk(config.top_k, -1);
  if (config.normalise) weights = weights / weights.sum(-1, true);
  const bool same_ids = torch::equal(got.ids, ids);
  std::printf("%-46s %s\n", ("router ids" + tag).c_str(), same_ids ? "ok" : "FAILED");
  if (!same_ids) ++failures;
  expectClose("router weights" + tag, got.weights, weights * config.scale, 1e-5);
}

void checkMoe(Format format) {
  const int hidden = 1280, experts = 64, inner = 896, shared_inner = 1792, top_k = 6;
  const auto gate = randn({experts, hidden}, torch::kBFloat16, 0.05);
  const auto norm = randn({hidden});
  const auto gate_up = as(format, randn({experts, 2 * inner, hidden}, torch::kBFloat16, 0.03));
  const auto down_stack = as(format, randn({hidden, experts, inner}, torch::kBFloat16, 0.03));
  const AlwaysOnMlp mlp{as(format, randn({shared_inner, hidden}, torch::kBFloat16, 0.03)),
                        as(format, randn({shared_inner, hidden}, torch::kBFloat16, 0.03)),
                        as(format, randn({hidden, shared_inner}, torch::kBFloat16, 0.03))};
  const auto gate_up_ref = ref(gate_up), down_ref = ref(down_stack);
  const auto shared_gate = ref(mlp.gate_proj), shared_up = ref(mlp.up_proj), shared_down = ref(mlp.down_proj);
  for (const int rows : {1, 4}) {
    const auto x = randn({rows, hidden}, torch::kFloat32), delta = randn({rows, hidden});
    const auto arrivals = torch::zeros({rows}, torch::TensorOptions().device(torch::kCUDA).dtype(torch::kInt32));
    const std::string tag = " rows=" + std::to_string(rows) + nameOf(format);
    const folio::cuda::RouterConfig scaled{top_k, false, 2.5}, renormalised{top_k, true, 1.0};
    const auto route = folio::cuda::addRmsNormRouteTopK(x, delta, norm, 1e-6, gate, scaled, arrivals);
    expectRoute(tag, route, x, delta, norm, gate, scaled);
    const auto float_delta = delta.to(torch::kFloat32);
    const auto normed = folio::cuda::addRmsNormRouteTopK(x, float_delta, norm, 1e-6, gate, renormalised, arrivals);
    expectRoute(" renormalised, float32 delta" + tag, normed, x, float_delta, norm, gate, renormalised);
    if (arrivals.count_nonzero().item<std::int64_t>() != 0) {
      std::printf("router leaves its arrival counters zeroed%s  FAILED\n", tag.c_str());
      ++failures;
    }

    const auto &h = route.h, &ids = route.ids, &weights = route.weights;
    const auto act = folio::cuda::expertActivations(h, gate_up, ids, mlp);
    // The same activations with the shared experts' part computed by the router's launch.
    const auto beside = folio::cuda::addRmsNormRouteTopK(x, delta, norm, 1e-6, gate, scaled, arrivals, &mlp, inner);
    const bool same = torch::equal(beside.ids, ids) &&
                      torch::equal(folio::cuda::routedActivations(beside, gate_up, mlp), act);
    std::printf("%-46s %s\n", ("shared experts beside the router" + tag).c_str(), same ? "ok" : "FAILED");
    if (!same) ++failures;
    auto want = F::linear(F::silu(F::linear(h, shared_gate)) * F::linear(h, shared_up), shared_down).to(torch::kFloat32);
    for (int r = 0; r < rows; ++r)
      for (int j = 0; j < top_k; ++j) {
        const auto e = ids[r][j].item<std::int64_t>();
        const auto gu = F::linear(h[r], gate_up_ref[e]);
        const auto y = F::linear(F::silu(gu.narrow(0, 0, inner)) * gu.narrow(0, inner, inner), down_ref.select(1, e));
        want[r] += weights[r][j] * y.to(torch::kFloat32);
      }
    const auto got = folio::cuda::expertOutputs(act, down_stack, ids, weights, mlp);
    expectClose("expert activations + outputs" + tag, got, want, 2e-2);
    const auto dense = folio::cuda::expertOutputs(folio::cuda::expertActivations(h, {}, {}, mlp), {}, {}, {}, mlp);
    const auto want_dense = F::linear(F::silu(F::linear(h, shared_gate)) * F::linear(h, shared_up), shared_down);
    expectClose("dense MLP through the expert kernels" + tag, dense, want_dense, 2e-2);
  }
}

// The many-row path: the router for 64 rows, then every expert's activations weighted by the route weights.
void checkDenseExperts() {
  const int rows = 64, hidden = 1280, experts = 64, inner = 896, top_k = 6;
  const auto x = randn({rows, hidden}, torch::kFloat32), delta = randn({rows, hidden});
  const auto gate = randn({experts, hidden}, torch::kBFloat16, 0.05);
  const auto norm = randn({hidden});
  const auto arrivals = torch::zeros({rows}, torch::TensorOptions().device(torch::kCUDA).dtype(torch::kInt32));
  const folio::cuda::RouterConfig config{top_k, true, 1.0};
  const auto route = folio::cuda::addRmsNormRouteTopK(x, delta, norm, 1e-6, gate, config, arrivals);
  expectRoute(" rows=64", route, x, delta, norm, gate, config);

  const auto projected = randn({rows, experts, 2 * inner}, torch::kBFloat16, 2.0);
  const auto dense_weights = torch::zeros({rows, experts}, route.weights.options()).scatter(1, route.ids, route.weights);
  const auto p = projected.to(torch::kFloat32);
  const auto want = F::silu(p.narrow(2, 0, inner)) * p.narrow(2, inner, inner) * dense_weights.unsqueeze(-1);
  expectClose("weightedSwiGlu rows=64", folio::cuda::weightedSwiGlu(projected, route.ids, route.weights), want, 1e-2);
}

void checkArgmax() {
  auto logits = randn({3, 129280}, torch::kFloat32);
  logits[1][77] = 100.f;  // a tie: the first index wins, as in libtorch
  logits[1][99000] = 100.f;
  logits[2].fill_(-std::numeric_limits<float>::infinity());
  logits[2][129279] = 0.f;
  const auto got = folio::cuda::argmaxRows(logits);
  const bool ok = torch::equal(got, logits.argmax(1));
  std::printf("%-46s %s\n", "argmaxRows (ties, last index)", ok ? "ok" : "FAILED");
  if (!ok) ++failures;

  auto next_inputs = torch::tensor({5, 6, 7, 40, 0, 511}, torch::kInt64).view({2, 3}).cuda();
  const auto fed = folio::cuda::argmaxRows(logits, next_inputs);
  const auto want = torch::stack({logits.argmax(1), torch::tensor({41, 1, 512}, torch::kInt64).cuda()});
  const bool fed_back = torch::equal(fed, logits.argmax(1)) && torch::equal(next_inputs, want);
  std::printf("%-46s %s\n", "argmaxRows feeds its picks back", fed_back ? "ok" : "FAILED");
  if (!fed_back) ++failures;
}

}  // namespace

// The vision encoders' residual step + LayerNorm against libtorch's add and layer_norm: SAM's grid (with the
// windowed blocks' windows on either side, one page and two), CLIP's rows, and the LayerNorm alone.
void checkAddLayerNorm() {
  struct Case {
    const char* name;
    torch::Tensor x, delta;
    bool delta_in_windows, normed_in_windows;
  };
  const auto grid = [] { return randn({1, 64, 64, 768}); };
  for (const auto& c : {Case{"SAM grid", grid(), grid(), false, false},
                        Case{"SAM grid, normed in windows", grid(), grid(), false, true},
                        Case{"SAM grid x2, delta in windows", randn({2, 64, 64, 768}), randn({50, 14, 14, 768}), true, false},
                        Case{"CLIP rows", randn({1, 257, 1024}), randn({1, 257, 1024}), false, false},
                        Case{"CLIP rows, no delta", randn({2, 257, 1024}), torch::Tensor(), false, false}}) {
    const auto width = c.x.size(-1);
    const auto weight = randn({width}), bias = randn({width});
    const int window = c.delta_in_windows || c.normed_in_windows ? 14 : 0;
    const auto got = folio::cuda::addLayerNorm(c.x, c.delta, weight, bias, 1e-6, window, c.delta_in_windows,
                                               c.normed_in_windows);
    auto sum = c.x;
    if (c.delta.defined())
      sum = c.x + (c.delta_in_windows ? folio::windowUnpartition(c.delta, 14, 64, 64) : c.delta);
    auto want = F::layer_norm(sum, F::LayerNormFuncOptions({width}).weight(weight).bias(bias).eps(1e-6));
    if (c.normed_in_windows) want = folio::windowPartition(want, 14);
    const bool sums = torch::equal(got.sum, sum);
    std::printf("%-46s %s\n", (std::string("addLayerNorm sum ") + c.name).c_str(), sums ? "ok" : "FAILED");
    if (!sums) ++failures;
    expectClose(std::string("addLayerNorm ") + c.name, got.normed, want, 1e-2);
  }
  const auto x = randn({1, 257, 4096}, torch::kBFloat16, 3.0);
  expectClose("quickGelu", folio::cuda::quickGelu(x), x * torch::sigmoid(1.702 * x), 1e-2);
}

// SAM attention's q' and k' from the kernel path against the libtorch ops: a global block of a Base page, the
// windows of a windowed block, and a Small page's global block (tables trained for 64 positions, resized to 40).
void checkSamFeatures() {
  struct Case {
    const char* name;
    std::int64_t batch, side, table_side;
  };
  for (const Case c : {Case{"global 64x64", 1, 64, 64}, Case{"windows 25 x 14x14", 25, 14, 14},
                       Case{"global 40x40, tables resized", 1, 40, 64}}) {
    const auto qkv = randn({c.batch, c.side, c.side, 3, 12, 64});
    const auto table_h = randn({2 * c.table_side - 1, 64}), table_w = randn({2 * c.table_side - 1, 64});
    const auto got = folio::samQueryKeyFeatures(qkv, table_h, table_w);
    const auto want = folio::samQueryKeyFeaturesByOps(qkv, table_h, table_w);
    expectClose(std::string("SAM query features ") + c.name, got.q, want.q, 1e-2);
    const bool keys = torch::equal(got.k, want.k);
    std::printf("%-46s %s\n", (std::string("SAM key features ") + c.name).c_str(), keys ? "ok" : "FAILED");
    if (!keys) ++failures;
  }
}

int main() {
  if (!torch::cuda::is_available()) {
    std::fprintf(stderr, "folio-kernel-check: no CUDA device\n");
    return 2;
  }
  torch::manual_seed(7);
  for (const auto format : {Format::Bf16, Format::EightBit}) {
    checkSmallBatchLinear(format);
    checkSmallBatchNormedLinear(format);
    checkLogitsGemv(format);
    checkMoe(format);
    checkEmbeddingRows(format);
  }
  checkAddRmsNorm();
  checkAttention(10, 128, 512, {0, 200, 511});  // one chunk, a new position inside a chunk, at a chunk's end
  checkAttention(10, 128, 1024, {31, 32, 1000});  // a full single chunk, a chunk of one, 32 chunks (2 merge batches)
  checkAttention(4, 64, 300, {299, 64});
  checkAttention(4, 256, 300, {17, 299});
  checkDenseExperts();
  checkArgmax();
  checkSamFeatures();
  checkAddLayerNorm();
  std::printf(failures ? "%d checks FAILED\n" : "all kernel checks passed\n", failures);
  return failures ? 1 : 0;
}
