// The tensor list a config implies, against shared/model/tensors.json, and folio-cli synth-weights end to end.
#include <QtTest/QtTest>

#include <nlohmann/json.hpp>

#include <fstream>

#include "config.h"
#include "folio_test.h"
#include "model_tensors.h"
#include "safetensors.h"
#include "synthetic_weights.h"

namespace {

folio::TensorShapes manifestTensors(const std::string& file = "model/tensors.json") {
  std::ifstream in(folio::test::sharedPath(file));
  // ordered_json: the manifest lists the tensors in checkpoint order, and the order is compared too.
  const auto manifest = nlohmann::ordered_json::parse(in)["tensors"];
  folio::TensorShapes tensors;
  for (const auto& [name, shape] : manifest.items())
    tensors.emplace_back(name, shape.get<std::vector<std::int64_t>>());
  return tensors;
}

std::int64_t parameterCount(const folio::TensorShapes& tensors) {
  std::int64_t parameters = 0;
  for (const auto& [name, shape] : tensors) {
    std::int64_t count = 1;
    for (auto dim : shape) count *= dim;
    parameters += count;
  }
  return parameters;
}

folio::ModelConfig realConfig() { return folio::loadModelConfig(folio::test::sharedPath("model/config.json")); }
std::string miniConfigPath() { return std::string(FOLIO_SOURCE_DIR) + "/tests/data/mini_config.json"; }

}  // namespace

class TestModelTensors : public QObject {
  Q_OBJECT
 private slots:
  void realConfigGivesTheManifestExactly() {
    const auto want = manifestTensors();
    const auto got = folio::expectedTensors(realConfig());
    QCOMPARE(want.size(), std::size_t{2710});
    QCOMPARE(got.size(), want.size());
    for (std::size_t i = 0; i < want.size(); ++i)
      if (got[i] != want[i])
        QFAIL(qPrintable(QString::fromStdString("entry " + std::to_string(i) + ": got " + got[i].first +
                                                ", expected " + want[i].first)));
    QCOMPARE(parameterCount(got), std::int64_t{3336106240});  // MODEL.md
  }

  // tensors_ocr2.json lists the names sorted, not in checkpoint order: compared as sets.
  void deepseekOcr2ConfigGivesItsManifest() {
    auto want = manifestTensors("model/tensors_ocr2.json");
    auto got = folio::expectedTensors(folio::loadModelConfig(folio::test::sharedPath("model/ocr2_config.json")));
    QCOMPARE(want.size(), std::size_t{2707});
    std::sort(want.begin(), want.end());
    std::sort(got.begin(), got.end());
    QCOMPARE(got.size(), want.size());
    for (std::size_t i = 0; i < want.size(); ++i)
      if (got[i] != want[i])
        QFAIL(qPrintable(QString::fromStdString("got " + got[i].first + ", expected " + want[i].first)));
    QCOMPARE(parameterCount(got), std::int64_t{3389119360});  // OCR2.md
  }

  void twoDecoderLayersGiveTheTwoLayerSubset() {
    auto config = realConfig();
    config.decoder.num_hidden_layers = 2;
    const auto got = folio::expectedTensors(config);
    folio::TensorShapes want;
    for (const auto& entry : manifestTensors()) {
      const auto& name = entry.first;
      const bool decoder_layer = name.rfind("model.layers.", 0) == 0;
      if (!decoder_layer || name.rfind("model.layers.0.", 0) == 0 || name.rfind("model.layers.1.", 0) == 0)
        want.push_back(entry);
    }
    QCOMPARE(got.size(), want.size());
    QVERIFY(got == want);
  }

  void synthWeightsWritesAValidMiniatureModel() {
    QTemporaryDir dir;
    QProcess cli;
    cli.start(FOLIO_CLI_PATH, {"synth-weights", "--config", QString::fromStdString(miniConfigPath()), "--tokenizer",
                               QString::fromStdString(folio::test::sharedPath("model/tokenizer.json")), "--layers",
                               "3", "-o", dir.path()});
    QVERIFY(cli.waitForFinished(120000));
    QVERIFY2(cli.exitCode() == 0, cli.readAllStandardError().constData());
    QVERIFY(cli.readAllStandardOutput().contains("tensors"));

    const std::string out = dir.path().toStdString();
    const auto config = folio::loadModelConfig(out + "/config.json");
    QCOMPARE(config.decoder.num_hidden_layers, 3);
    std::ifstream written_config(out + "/config.json");
    QCOMPARE(nlohmann::json::parse(written_config)["num_hidden_layers"].get<int>(), 3);
    QCOMPARE(std::filesystem::file_size(out + "/tokenizer.json"),
             std::filesystem::file_size(folio::test::sharedPath("model/tokenizer.json")));

    auto file = folio::SafetensorsFile::open(out + "/model-00001-of-000001.safetensors");
    const auto expected = folio::expectedTensors(config);
    folio::validateCheckpoint(*file, expected);
    QCOMPARE(file->tensors().size(), expected.size());
    for (const auto& [name, shape] : expected)
      if (name == "model.sam_model.pos_embed" || name == "model.layers.0.mlp.down_proj.weight" ||
          name == "model.sam_model.neck.1.bias" || name == "lm_head.weight" ||
          name == "model.layers.2.mlp.experts.7.up_proj.weight" ||
          name == "model.vision_model.transformer.layers.1.self_attn.qkv_proj.weight")
        QVERIFY2(torch::equal(file->tensor(name), folio::syntheticTensor(name, shape)), name.c_str());
  }

  void synthWeightsRefusesAMissingTokenizer() {
    QTemporaryDir dir;
    QProcess cli;
    cli.start(FOLIO_CLI_PATH, {"synth-weights", "--config", QString::fromStdString(miniConfigPath()), "-o",
                               dir.path()});
    QVERIFY(cli.waitForFinished(120000));
    QCOMPARE(cli.exitCode(), 1);
    QVERIFY(cli.readAllStandardError().contains("tokenizer not found"));
  }
};

QTEST_GUILESS_MAIN(TestModelTensors)
#include "test_model_tensors.moc"
