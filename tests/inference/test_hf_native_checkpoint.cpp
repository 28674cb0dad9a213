// DeepSeek-OCR-2 folders in transformers' own layout (deepseek-community/DeepSeek-OCR-2): the rename table against
// the parameter list transformers itself gives (tests/data/ocr2_hf_native_tensors.json), and a miniature model
// saved that way loading into the same model as with the original names.
#include <QtTest/QtTest>

#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <map>

#include "config.h"
#include "folio_test.h"
#include "mini_model.h"
#include "model.h"
#include "model_tensors.h"
#include "safetensors.h"

namespace {

namespace fs = std::filesystem;
using Shape = std::vector<std::int64_t>;

std::map<std::string, Shape> transformersTensors() {
  std::ifstream in(std::string(FOLIO_SOURCE_DIR) + "/tests/data/ocr2_hf_native_tensors.json");
  const auto manifest = nlohmann::json::parse(in);
  std::map<std::string, Shape> tensors;
  for (const auto& [name, shape] : manifest.at("tensors").items()) tensors[name] = shape.get<Shape>();
  return tensors;
}

// The mini model of tests/data/mini_ocr2_config.json as transformers would save it: its config.json keys and
// tensor names, the routed experts fused.
void writeHfNativeCopy(const fs::path& original, const fs::path& out, const folio::ModelConfig& config) {
  fs::create_directories(out);
  fs::copy_file(original / "tokenizer.json", out / "tokenizer.json");
  const auto& d = config.decoder;
  std::vector<std::string> layer_types(d.num_hidden_layers, "sparse");
  for (int i = 0; i < d.first_k_dense_replace; ++i) layer_types[i] = "dense";
  const nlohmann::json hf = {
      {"model_type", "deepseek_ocr2"},
      {"image_token_id", 128815},
      {"vision_config",
       {{"sam_config",
         {{"hidden_size", config.sam.width}, {"num_hidden_layers", config.sam.layers},
          {"num_attention_heads", config.sam.heads}, {"image_size", config.sam.image_size},
          {"global_attn_indexes", config.sam.global_attn_indexes},
          {"downsample_channels", config.sam.downsample_channels}}},
        {"encoder_config",
         {{"hidden_size", config.encoder.hidden_size}, {"intermediate_size", config.encoder.intermediate_size},
          {"num_hidden_layers", config.encoder.layers}, {"num_attention_heads", config.encoder.heads},
          {"num_key_value_heads", config.encoder.kv_heads}, {"rms_norm_eps", 1e-6},
          {"rope_parameters", {{"rope_theta", 1000000.0}, {"rope_type", "default"}}}}}}},
      {"text_config",
       {{"vocab_size", d.vocab_size}, {"hidden_size", d.hidden_size}, {"intermediate_size", d.intermediate_size},
        {"moe_intermediate_size", d.moe_intermediate_size}, {"num_hidden_layers", d.num_hidden_layers},
        {"num_attention_heads", d.num_attention_heads}, {"num_key_value_heads", d.num_key_value_heads},
        {"n_routed_experts", d.n_routed_experts}, {"n_shared_experts", d.n_shared_experts},
        {"num_experts_per_tok", d.num_experts_per_tok}, {"max_position_embeddings", d.max_position_embeddings},
        {"bos_token_id", 0}, {"eos_token_id", 1}, {"rms_norm_eps", 1e-6},
        {"rope_parameters", {{"rope_theta", 10000.0}, {"rope_type", "default"}}}, {"mlp_layer_types", layer_types}}}};
  std::ofstream(out / "config.json") << hf.dump(2);

  const auto file = folio::SafetensorsFile::open((original / "model-00001-of-000001.safetensors").string());
  std::vector<std::pair<std::string, torch::Tensor>> tensors;
  std::map<std::string, std::vector<torch::Tensor>> gate_up, down;  // fused name -> per expert
  for (const auto& [name, shape] : folio::expectedTensors(config)) {
    const auto tensor = file->tensor(name).clone();
    if (const auto fused = folio::fusedExpertOf(name)) {
      auto& parts = fused->part == folio::FusedExpert::Part::Down ? down[fused->fused_name] : gate_up[fused->fused_name];
      if (fused->part == folio::FusedExpert::Part::Up) parts[fused->expert] = torch::cat({parts[fused->expert], tensor});
      else parts.push_back(tensor);  // gate rows come first; down projections one per expert
      continue;
    }
    tensors.emplace_back(folio::hfNativeName(name), tensor);
  }
  for (auto* stacks : {&gate_up, &down})
    for (const auto& [name, experts] : *stacks) tensors.emplace_back(name, torch::stack(experts));
  folio::writeSafetensors((out / "model.safetensors").string(), tensors);
}

}  // namespace

class TestHfNativeCheckpoint : public QObject {
  Q_OBJECT
 private slots:
  void everyOriginalTensorHasItsTransformersName() {
    const auto config = folio::loadModelConfig(folio::test::sharedPath("model/ocr2_config.json"));
    auto remaining = transformersTensors();
    QCOMPARE(remaining.size(), std::size_t{617});
    std::map<std::string, int> experts_seen;
    for (const auto& [name, shape] : folio::expectedTensors(config)) {
      if (const auto fused = folio::fusedExpertOf(name)) {
        QVERIFY2(remaining.count(fused->fused_name) || experts_seen.count(fused->fused_name), name.c_str());
        ++experts_seen[fused->fused_name];
        remaining.erase(fused->fused_name);
        continue;
      }
      const auto hf = folio::hfNativeName(name);
      QVERIFY2(remaining.count(hf), (name + " -> " + hf + " is not a transformers parameter").c_str());
      QVERIFY2(remaining.at(hf) == shape, (hf + " has another shape").c_str());
      remaining.erase(hf);
    }
    QVERIFY2(remaining.empty(), remaining.empty() ? "" : remaining.begin()->first.c_str());
    // 11 MoE layers, 64 experts, gate + up in one stack (2 x 64) and down in another (64).
    QCOMPARE(experts_seen.size(), std::size_t{22});
  }

  void aTransformersFolderLoadsTheSameModel() {
    QTemporaryDir dir;
    const fs::path original = dir.filePath("original").toStdString(), hf = dir.filePath("hf").toStdString();
    QString error;
    QVERIFY2(folio::test::writeMiniModel(QString::fromStdString(original.string()), "mini_ocr2_config.json", &error),
             qPrintable(error));
    const auto config = folio::loadModelConfig((original / "config.json").string());
    writeHfNativeCopy(original, hf, config);

    const auto a = folio::OcrModel::load(original.string(), torch::kCPU, torch::kFloat32);
    const auto b = folio::OcrModel::load(hf.string(), torch::kCPU, torch::kFloat32);
    QCOMPARE(b->family(), folio::ModelFamily::DeepseekOcr2);
    QCOMPARE(b->config().decoder.first_k_dense_replace, config.decoder.first_k_dense_replace);
    folio::RgbImage page{900, 1200, std::vector<std::uint8_t>(900 * 1200 * 3)};
    for (std::size_t i = 0; i < page.pixels.size(); ++i) page.pixels[i] = static_cast<std::uint8_t>((i * 7919) % 251);
    const auto views = folio::preprocessPage(page, folio::Mode::Gundam, false, folio::ModelFamily::DeepseekOcr2);
    const auto features_a = a->encodeImage(views), features_b = b->encodeImage(views);
    QVERIFY(torch::equal(features_a, features_b));
    folio::GenerateOptions options;
    options.max_new_tokens = 4;
    options.ignore_eos = true;
    const auto ids = a->promptIds(folio::promptFor(folio::Task::Markdown), views.n_image_tokens);
    const auto run_a = a->generate(a->promptEmbeddings(ids, features_a), options);
    const auto run_b = b->generate(b->promptEmbeddings(ids, features_b), options);
    QVERIFY(torch::equal(run_a.prompt_logits, run_b.prompt_logits));
    QCOMPARE(run_a.ids, run_b.ids);
  }
};

QTEST_GUILESS_MAIN(TestHfNativeCheckpoint)
#include "test_hf_native_checkpoint.moc"
