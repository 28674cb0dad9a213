#include "model_tensors.h"

#include <algorithm>
#include <regex>

namespace folio {
namespace {

using Shape = std::vector<std::int64_t>;

class TensorList {
 public:
  explicit TensorList(TensorShapes& out) : out_(out) {}
  void add(const std::string& name, Shape shape) { out_.emplace_back(name, std::move(shape)); }
  // A linear layer: weight [out, in] (+ bias [out]).
  void linear(const std::string& prefix, std::int64_t in, std::int64_t out, bool bias) {
    add(prefix + ".weight", {out, in});
    if (bias) add(prefix + ".bias", {out});
  }
  void layerNorm(const std::string& prefix, std::int64_t dim) {
    add(prefix + ".weight", {dim});
    add(prefix + ".bias", {dim});
  }

 private:
  TensorShapes& out_;
};

// SAM ViT-B image encoder: windowed blocks with decomposed relative positions, a conv neck and two stride-2
// convs (net_2, net_3) that bring it to 16x fewer positions at the CLIP width.
void addSam(TensorList& t, const SamConfig& sam) {
  const std::string p = "model.sam_model.";
  const std::int64_t grid = sam.image_size / sam.patch_size;
  const std::int64_t width = sam.width;
  const std::int64_t head_dim = width / sam.heads;
  const auto mlp = static_cast<std::int64_t>(width * sam.mlp_ratio);
  t.add(p + "pos_embed", {1, grid, grid, width});
  t.add(p + "patch_embed.proj.weight", {width, 3, sam.patch_size, sam.patch_size});
  t.add(p + "patch_embed.proj.bias", {width});
  for (int i = 0; i < sam.layers; ++i) {
    const std::string b = p + "blocks." + std::to_string(i) + ".";
    const bool global = std::find(sam.global_attn_indexes.begin(), sam.global_attn_indexes.end(), i) !=
                        sam.global_attn_indexes.end();
    // Relative positions span -(size-1)..(size-1) of the attended extent: the window, or the whole grid.
    const std::int64_t extent = global ? grid : sam.window_size;
    t.layerNorm(b + "norm1", width);
    t.layerNorm(b + "norm2", width);
    t.linear(b + "attn.qkv", width, 3 * width, true);
    t.linear(b + "attn.proj", width, width, true);
    t.add(b + "attn.rel_pos_h", {2 * extent - 1, head_dim});
    t.add(b + "attn.rel_pos_w", {2 * extent - 1, head_dim});
    t.linear(b + "mlp.lin1", width, mlp, true);
    t.linear(b + "mlp.lin2", mlp, width, true);
  }
  const std::int64_t neck = sam.neck_channels;
  t.add(p + "neck.0.weight", {neck, width, 1, 1});
  t.layerNorm(p + "neck.1", neck);
  t.add(p + "neck.2.weight", {neck, neck, 3, 3});
  t.layerNorm(p + "neck.3", neck);
  t.add(p + "net_2.weight", {sam.downsample_channels[0], neck, 3, 3});
  t.add(p + "net_3.weight", {sam.downsample_channels[1], sam.downsample_channels[0], 3, 3});
}

// CLIP-L: its patch_embedding is in the checkpoint although DeepSeek-OCR feeds it SAM features instead.
void addClip(TensorList& t, const ClipConfig& clip) {
  const std::string p = "model.vision_model.";
  const std::int64_t width = clip.width;
  const std::int64_t grid = clip.image_size / clip.patch_size;
  const auto mlp = static_cast<std::int64_t>(width * clip.mlp_ratio);
  t.add(p + "embeddings.class_embedding", {width});
  t.add(p + "embeddings.patch_embedding.weight", {width, 3, clip.patch_size, clip.patch_size});
  t.add(p + "embeddings.position_embedding.weight", {grid * grid + 1, width});
  t.layerNorm(p + "pre_layrnorm", width);
  for (int i = 0; i < clip.layers; ++i) {
    const std::string l = p + "transformer.layers." + std::to_string(i) + ".";
    t.layerNorm(l + "layer_norm1", width);
    t.layerNorm(l + "layer_norm2", width);
    t.linear(l + "self_attn.qkv_proj", width, 3 * width, true);
    t.linear(l + "self_attn.out_proj", width, width, true);
    t.linear(l + "mlp.fc1", width, mlp, true);
    t.linear(l + "mlp.fc2", mlp, width, true);
  }
}

// DeepSeek-OCR-2's Qwen2 encoder (no token embedding: SAM features are its input) and its learnable queries, one
// table per view size (query_768: 144 queries for a 768 tile, query_1024: 256 for the 1024 global view).
void addQwen2Encoder(TensorList& t, const Qwen2EncoderConfig& e, const SamConfig& sam) {
  const std::string p = qwen2EncoderPrefix();
  const std::int64_t width = e.hidden_size;
  const std::int64_t kv = static_cast<std::int64_t>(e.kv_heads) * e.head_dim();
  for (int i = 0; i < e.layers; ++i) {
    const std::string l = p + "layers." + std::to_string(i) + ".";
    t.add(l + "input_layernorm.weight", {width});
    t.add(l + "post_attention_layernorm.weight", {width});
    t.linear(l + "self_attn.q_proj", width, width, true);
    t.linear(l + "self_attn.k_proj", width, kv, true);
    t.linear(l + "self_attn.v_proj", width, kv, true);
    t.linear(l + "self_attn.o_proj", width, width, false);
    t.linear(l + "mlp.gate_proj", width, e.intermediate_size, false);
    t.linear(l + "mlp.up_proj", width, e.intermediate_size, false);
    t.linear(l + "mlp.down_proj", e.intermediate_size, width, false);
  }
  t.add(p + "norm.weight", {width});
  for (const int view : {kOcr2TileSize, sam.image_size})
    t.add(queryTableName(view), {ocr2QueryCount(view, sam), width});
}

void addSwiGlu(TensorList& t, const std::string& prefix, std::int64_t hidden, std::int64_t intermediate) {
  t.linear(prefix + "gate_proj", hidden, intermediate, false);
  t.linear(prefix + "up_proj", hidden, intermediate, false);
  t.linear(prefix + "down_proj", intermediate, hidden, false);
}

// DeepSeek-V2 decoder (multi-head attention, no MLA): dense SwiGLU MLP in the first layers, then routed experts
// with a gate and always-on shared experts.
void addDecoder(TensorList& t, const DecoderConfig& d) {
  const std::int64_t hidden = d.hidden_size;
  const std::int64_t kv = static_cast<std::int64_t>(d.num_key_value_heads) * d.head_dim();
  t.add("model.embed_tokens.weight", {d.vocab_size, hidden});
  for (int i = 0; i < d.num_hidden_layers; ++i) {
    const std::string l = "model.layers." + std::to_string(i) + ".";
    t.add(l + "input_layernorm.weight", {hidden});
    t.add(l + "post_attention_layernorm.weight", {hidden});
    t.linear(l + "self_attn.q_proj", hidden, hidden, false);
    t.linear(l + "self_attn.k_proj", hidden, kv, false);
    t.linear(l + "self_attn.v_proj", hidden, kv, false);
    t.linear(l + "self_attn.o_proj", hidden, hidden, false);
    if (i < d.first_k_dense_replace) {
      addSwiGlu(t, l + "mlp.", hidden, d.intermediate_size);
      continue;
    }
    t.linear(l + "mlp.gate", hidden, d.n_routed_experts, false);
    for (int e = 0; e < d.n_routed_experts; ++e)
      addSwiGlu(t, l + "mlp.experts." + std::to_string(e) + ".", hidden, d.moe_intermediate_size);
    if (d.n_shared_experts > 0)
      addSwiGlu(t, l + "mlp.shared_experts.", hidden,
                static_cast<std::int64_t>(d.moe_intermediate_size) * d.n_shared_experts);
  }
  t.add("model.norm.weight", {hidden});
  t.linear("lm_head", hidden, d.vocab_size, false);
}

}  // namespace

std::string qwen2EncoderPrefix() { return "model.qwen2_model.model.model."; }
std::string queryTableName(int view_size) { return "model.qwen2_model.query_" + std::to_string(view_size) + ".weight"; }
std::int64_t ocr2QueryCount(int view_size, const SamConfig& sam) {
  const std::int64_t side = view_size / sam.patch_size / 4;  // SAM's patches, then net_2 and net_3 halve each side
  return side * side;
}

TensorShapes expectedTensors(const ModelConfig& config) {
  TensorShapes shapes;
  TensorList t(shapes);
  addSam(t, config.sam);
  if (config.family == ModelFamily::DeepseekOcr2) {
    addQwen2Encoder(t, config.encoder, config.sam);
  } else {
    addClip(t, config.clip);
  }
  t.linear("model.projector.layers", config.projector.input_dim, config.projector.n_embed, true);
  if (config.family == ModelFamily::DeepseekOcr) t.add("model.image_newline", {config.projector.n_embed});
  t.add("model.view_seperator", {config.projector.n_embed});  // sic: the checkpoint's spelling
  addDecoder(t, config.decoder);
  return shapes;
}

namespace {

bool startsWith(const std::string& s, const std::string& prefix) { return s.rfind(prefix, 0) == 0; }

// Original prefix -> HF-native prefix, the first match wins.
const std::vector<std::pair<std::string, std::string>>& hfPrefixes() {
  static const std::vector<std::pair<std::string, std::string>> table{
      {"model.sam_model.blocks.", "model.vision_tower.sam_encoder.layers."},
      {"model.sam_model.patch_embed.proj.", "model.vision_tower.sam_encoder.patch_embed.projection."},
      {"model.sam_model.neck.0.", "model.vision_tower.sam_encoder.neck.conv1."},
      {"model.sam_model.neck.1.", "model.vision_tower.sam_encoder.neck.layer_norm1."},
      {"model.sam_model.neck.2.", "model.vision_tower.sam_encoder.neck.conv2."},
      {"model.sam_model.neck.3.", "model.vision_tower.sam_encoder.neck.layer_norm2."},
      {"model.sam_model.net_2.", "model.vision_tower.sam_encoder.proj.conv1."},
      {"model.sam_model.net_3.", "model.vision_tower.sam_encoder.proj.conv2."},
      {"model.sam_model.", "model.vision_tower.sam_encoder."},
      {"model.qwen2_model.model.model.", "model.vision_tower.vision_encoder."},
      {"model.projector.layers.", "model.multi_modal_projector."},
      {"model.view_seperator", "model.view_separator"},
      {"model.embed_tokens.", "model.language_model.embed_tokens."},
      {"model.layers.", "model.language_model.layers."},
      {"model.norm.", "model.language_model.norm."},
      {"lm_head.", "lm_head."}};
  return table;
}

}  // namespace

std::string hfNativeName(const std::string& original) {
  if (fusedExpertOf(original)) return {};
  static const std::regex query(R"(model\.qwen2_model\.query_(\d+)\.weight)");
  std::smatch match;
  if (std::regex_match(original, match, query))
    return "model.vision_tower.query_" + match[1].str() + "_resolution.weight";
  for (const auto& [from, to] : hfPrefixes()) {
    if (!startsWith(original, from)) continue;
    std::string name = to + original.substr(from.size());
    if (from == "model.sam_model.blocks.") {  // blocks.N.norm1 -> layers.N.layer_norm1
      for (const char* norm : {".norm1.", ".norm2."}) {
        const auto at = name.find(norm);
        if (at != std::string::npos) name.replace(at, 1, ".layer_");
      }
    }
    return name;
  }
  return {};
}

std::optional<FusedExpert> fusedExpertOf(const std::string& original) {
  static const std::regex expert(R"(model\.layers\.(\d+)\.mlp\.experts\.(\d+)\.(gate|up|down)_proj\.weight)");
  std::smatch match;
  if (!std::regex_match(original, match, expert)) return std::nullopt;
  FusedExpert fused;
  const bool down = match[3] == "down";
  fused.fused_name = "model.language_model.layers." + match[1].str() + ".mlp.experts." +
                     (down ? "down_proj" : "gate_up_proj");
  fused.expert = std::stoi(match[2].str());
  fused.part = down ? FusedExpert::Part::Down : match[3] == "gate" ? FusedExpert::Part::Gate : FusedExpert::Part::Up;
  return fused;
}

bool isDecoderTensor(const std::string& name) {
  return name.rfind("model.layers.", 0) == 0 || name == "model.embed_tokens.weight" || name == "model.norm.weight" ||
         name == "lm_head.weight";
}

}  // namespace folio
