#include "config.h"

#include <folio/engine.h>
#include <nlohmann/json.hpp>

#include <fstream>
#include <sstream>

namespace folio {
namespace {

using json = nlohmann::json;

// One JSON object of config.json with its dotted key path, so every error names the exact key and the file.
class Section {
 public:
  Section(const json& object, std::string path, const std::string& source)
      : object_(object), path_(std::move(path)), source_(source) {}

  Section child(const std::string& key) const {
    const json& value = at(key);
    if (!value.is_object()) fail(key, "is not an object");
    return Section(value, keyPath(key), source_);
  }

  int positiveInt(const std::string& key) const {
    const int value = integer(key);
    if (value <= 0) fail(key, "must be positive, got " + std::to_string(value));
    return value;
  }

  int integer(const std::string& key) const {
    const json& value = at(key);
    if (!value.is_number_integer() || value.get<std::int64_t>() < INT32_MIN || value.get<std::int64_t>() > INT32_MAX)
      fail(key, "is not an integer: " + value.dump());
    return value.get<int>();
  }

  std::vector<int> intList(const std::string& key) const {
    const json& value = at(key);
    if (!value.is_array()) fail(key, "is not a list");
    std::vector<int> result;
    for (const auto& item : value) {
      if (!item.is_number_integer() || item.get<std::int64_t>() < 0 || item.get<std::int64_t>() > INT32_MAX)
        fail(key, "holds a value that is not a non-negative integer: " + item.dump());
      result.push_back(item.get<int>());
    }
    return result;
  }

  bool has(const std::string& key) const { return object_.contains(key) && !object_[key].is_null(); }

  std::vector<std::string> stringList(const std::string& key) const {
    const json& value = at(key);
    if (!value.is_array()) fail(key, "is not a list");
    std::vector<std::string> result;
    for (const auto& item : value) {
      if (!item.is_string()) fail(key, "holds a value that is not a string: " + item.dump());
      result.push_back(item.get<std::string>());
    }
    return result;
  }

  // Keys the published config may lack: they keep the defaults of config.h.
  void optionalNumber(const std::string& key, double& target) const {
    if (!object_.contains(key) || object_[key].is_null()) return;
    if (!object_[key].is_number()) fail(key, "is not a number: " + object_[key].dump());
    target = object_[key].get<double>();
  }
  void optionalBool(const std::string& key, bool& target) const {
    if (!object_.contains(key) || object_[key].is_null()) return;
    if (!object_[key].is_boolean()) fail(key, "is not true or false: " + object_[key].dump());
    target = object_[key].get<bool>();
  }
  void optionalInt(const std::string& key, int& target) const {
    if (object_.contains(key) && !object_[key].is_null()) target = integer(key);
  }

  [[noreturn]] void fail(const std::string& key, const std::string& problem) const {
    throw Error(source_ + ": key " + keyPath(key) + " " + problem);
  }

 private:
  const json& at(const std::string& key) const {
    auto it = object_.find(key);
    if (it == object_.end()) throw Error(source_ + ": missing key " + keyPath(key));
    return *it;
  }
  std::string keyPath(const std::string& key) const { return path_.empty() ? key : path_ + "." + key; }

  const json& object_;
  std::string path_;
  const std::string& source_;
};

SamConfig parseSam(const Section& vision) {
  SamConfig sam;
  sam.image_size = vision.positiveInt("image_size");
  const Section b = vision.child("width").child("sam_vit_b");
  sam.width = b.positiveInt("width");
  sam.layers = b.positiveInt("layers");
  sam.heads = b.positiveInt("heads");
  sam.global_attn_indexes = b.intList("global_attn_indexes");
  sam.downsample_channels = b.intList("downsample_channels");
  if (sam.downsample_channels.size() != 2) b.fail("downsample_channels", "must list 2 channel counts (net_2, net_3)");
  for (int index : sam.global_attn_indexes)
    if (index >= sam.layers) b.fail("global_attn_indexes", "names block " + std::to_string(index) + " of " +
                                                               std::to_string(sam.layers));
  if (sam.width % sam.heads != 0) b.fail("heads", "does not divide width " + std::to_string(sam.width));
  return sam;
}

ClipConfig parseClip(const Section& vision) {
  ClipConfig clip;
  const Section l = vision.child("width").child("clip-l-14-224");
  clip.width = l.positiveInt("width");
  clip.layers = l.positiveInt("layers");
  clip.heads = l.positiveInt("heads");
  clip.image_size = l.positiveInt("image_size");
  clip.patch_size = l.positiveInt("patch_size");
  if (clip.width % clip.heads != 0) l.fail("heads", "does not divide width " + std::to_string(clip.width));
  return clip;
}

Qwen2EncoderConfig parseQwen2Encoder(const Section& vision) {
  Qwen2EncoderConfig encoder;
  const Section qwen = vision.child("width").child("qwen2-0-5b");
  encoder.hidden_size = qwen.positiveInt("dim");
  qwen.optionalInt("intermediate_size", encoder.intermediate_size);
  qwen.optionalInt("layers", encoder.layers);
  qwen.optionalInt("heads", encoder.heads);
  qwen.optionalInt("kv_heads", encoder.kv_heads);
  if (encoder.layers <= 0 || encoder.intermediate_size <= 0 || encoder.heads <= 0 || encoder.kv_heads <= 0)
    qwen.fail("layers", "and the other sizes must be positive");
  if (encoder.hidden_size % encoder.heads != 0 || encoder.head_dim() % 2 != 0)
    qwen.fail("heads", "does not split dim " + std::to_string(encoder.hidden_size) + " into heads of even size");
  if (encoder.heads % encoder.kv_heads != 0) qwen.fail("kv_heads", "does not divide heads");
  return encoder;
}

bool describesOcr2(const json& root) {
  if (root.contains("architectures") && root["architectures"].is_array())
    for (const auto& name : root["architectures"])
      if (name == "DeepseekOCR2ForCausalLM") return true;
  const json* vision = root.contains("vision_config") ? &root["vision_config"] : nullptr;
  if (!vision || !vision->is_object()) return false;
  if (vision->value("model_name", std::string()) == "deepencoderv2") return true;
  return vision->contains("width") && (*vision)["width"].is_object() && (*vision)["width"].contains("qwen2-0-5b");
}


ProjectorConfig parseProjector(const Section& projector_json) {
  ProjectorConfig projector;
  projector.input_dim = projector_json.positiveInt("input_dim");
  projector.n_embed = projector_json.positiveInt("n_embed");
  return projector;
}

double ropeTheta(const Section& section) {
  double theta = 0;
  section.child("rope_parameters").optionalNumber("rope_theta", theta);
  if (theta <= 0) section.fail("rope_parameters", "lacks a positive rope_theta");
  return theta;
}

// transformers' configs list each layer's MLP type instead of DeepSeek-V2's first_k_dense_replace: the layers
// before the first sparse one are dense, and none after it may be.
int leadingDenseLayers(const Section& text, int layers) {
  const auto types = text.stringList("mlp_layer_types");
  if (static_cast<int>(types.size()) != layers) text.fail("mlp_layer_types", "does not name one type per layer");
  int dense = 0;
  while (dense < layers && types[dense] == "dense") ++dense;
  for (int i = dense; i < layers; ++i)
    if (types[i] != "sparse") text.fail("mlp_layer_types", "has a dense layer after a sparse one");
  return dense;
}

DecoderConfig parseDecoder(const Section& language) {
  DecoderConfig d;
  d.vocab_size = language.positiveInt("vocab_size");
  d.hidden_size = language.positiveInt("hidden_size");
  d.intermediate_size = language.positiveInt("intermediate_size");
  d.moe_intermediate_size = language.positiveInt("moe_intermediate_size");
  d.num_hidden_layers = language.positiveInt("num_hidden_layers");
  d.num_attention_heads = language.positiveInt("num_attention_heads");
  d.num_key_value_heads = language.positiveInt("num_key_value_heads");
  d.n_routed_experts = language.positiveInt("n_routed_experts");
  d.n_shared_experts = language.integer("n_shared_experts");
  d.num_experts_per_tok = language.positiveInt("num_experts_per_tok");
  d.first_k_dense_replace = language.has("mlp_layer_types") ? leadingDenseLayers(language, d.num_hidden_layers)
                                                             : language.integer("first_k_dense_replace");
  d.max_position_embeddings = language.positiveInt("max_position_embeddings");
  d.bos_token_id = language.integer("bos_token_id");
  d.eos_token_id = language.integer("eos_token_id");
  language.optionalNumber("rms_norm_eps", d.rms_norm_eps);
  if (language.has("rope_parameters"))  // transformers' own config
    d.rope_theta = ropeTheta(language);
  else
    language.optionalNumber("rope_theta", d.rope_theta);
  language.optionalNumber("routed_scaling_factor", d.routed_scaling_factor);
  language.optionalBool("norm_topk_prob", d.norm_topk_prob);
  if (d.hidden_size % d.num_attention_heads != 0)
    language.fail("num_attention_heads", "does not divide hidden_size " + std::to_string(d.hidden_size));
  if (d.num_attention_heads % d.num_key_value_heads != 0)
    language.fail("num_key_value_heads", "does not divide num_attention_heads");
  if (d.num_experts_per_tok > d.n_routed_experts)
    language.fail("num_experts_per_tok", "exceeds n_routed_experts " + std::to_string(d.n_routed_experts));
  if (d.n_shared_experts < 0) language.fail("n_shared_experts", "is negative");
  if (d.first_k_dense_replace < 0) language.fail("first_k_dense_replace", "is negative");
  return d;
}

// transformers' own DeepSeek-OCR-2 config.json (model_type "deepseek_ocr2", deepseek-community/DeepSeek-OCR-2):
// the same model under other keys, vision_config.{sam_config, encoder_config} and text_config.
ModelConfig parseHfNativeOcr2(const Section& top) {
  ModelConfig config;
  config.family = ModelFamily::DeepseekOcr2;
  const Section vision = top.child("vision_config");
  const Section sam = vision.child("sam_config");
  config.sam.width = sam.positiveInt("hidden_size");
  config.sam.layers = sam.positiveInt("num_hidden_layers");
  config.sam.heads = sam.positiveInt("num_attention_heads");
  config.sam.image_size = sam.positiveInt("image_size");
  config.sam.global_attn_indexes = sam.intList("global_attn_indexes");
  config.sam.downsample_channels = sam.intList("downsample_channels");
  if (config.sam.downsample_channels.size() != 2) sam.fail("downsample_channels", "must list 2 channel counts");
  const Section encoder = vision.child("encoder_config");
  auto& e = config.encoder;
  e.hidden_size = encoder.positiveInt("hidden_size");
  e.intermediate_size = encoder.positiveInt("intermediate_size");
  e.layers = encoder.positiveInt("num_hidden_layers");
  e.heads = encoder.positiveInt("num_attention_heads");
  e.kv_heads = encoder.positiveInt("num_key_value_heads");
  encoder.optionalNumber("rms_norm_eps", e.rms_norm_eps);
  e.rope_theta = ropeTheta(encoder);
  if (config.sam.downsample_channels.back() != e.hidden_size)
    sam.fail("downsample_channels", "must end with the encoder width " + std::to_string(e.hidden_size));

  config.decoder = parseDecoder(top.child("text_config"));
  config.projector = {e.hidden_size, config.decoder.hidden_size};
  return config;
}

ModelConfig parseRoot(const json& root, const std::string& source) {
  const Section top(root, "", source);
  if (root.value("model_type", std::string()) == "deepseek_ocr2") return parseHfNativeOcr2(top);
  const Section vision = top.child("vision_config");
  ModelConfig config;
  config.family = describesOcr2(root) ? ModelFamily::DeepseekOcr2 : ModelFamily::DeepseekOcr;
  config.sam = parseSam(vision);
  config.projector = parseProjector(top.child("projector_config"));
  config.decoder = parseDecoder(top.child("language_config"));
  if (config.projector.n_embed != config.decoder.hidden_size)
    top.fail("projector_config.n_embed", "differs from language_config.hidden_size");
  if (config.family == ModelFamily::DeepseekOcr2) {
    config.encoder = parseQwen2Encoder(vision);
    // SAM's last conv feeds the encoder directly, so it has the encoder's width. The published config still says
    // 1024 there (v1's value) while its net_3 tensor has 896 channels: the tensor, i.e. the width, is right.
    config.sam.downsample_channels.back() = config.encoder.hidden_size;
    if (config.projector.input_dim != config.encoder.hidden_size)
      top.fail("projector_config.input_dim", "differs from the encoder width vision_config.width.qwen2-0-5b.dim");
    return config;
  }
  config.clip = parseClip(vision);
  // CLIP embeds SAM's output feature map instead of pixel patches, so it runs at SAM's output channel count.
  if (config.clip.width != config.sam.downsample_channels.back())
    top.fail("vision_config.width.clip-l-14-224.width", "differs from the last sam_vit_b downsample_channels");
  // The projector consumes CLIP features concatenated with SAM's last downsampled features.
  const int concatenated = config.clip.width + config.sam.downsample_channels.back();
  if (config.projector.input_dim != concatenated)
    top.fail("projector_config.input_dim",
             "is " + std::to_string(config.projector.input_dim) + " but clip width + sam output channels is " +
                 std::to_string(concatenated));
  return config;
}

}  // namespace

ModelConfig parseModelConfig(const std::string& json_text, const std::string& source) {
  json root;
  try {
    root = json::parse(json_text);
  } catch (const json::exception& e) {
    throw Error(source + ": not valid JSON (" + e.what() + ")");
  }
  if (!root.is_object()) throw Error(source + ": not a JSON object");
  try {
    return parseRoot(root, source);
  } catch (const json::exception& e) {  // a key of an unexpected type that the checks above let through
    throw Error(source + ": a value has the wrong type (" + e.what() + ")");
  }
}

ModelConfig loadModelConfig(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path + ": cannot open the model config");
  std::stringstream text;
  text << in.rdbuf();
  return parseModelConfig(text.str(), path);
}

}  // namespace folio
