// DeepSeek-OCR-2's encoder beyond what parity shows: the hybrid mask and what it implies for the outputs
// (a query sees the image and the queries before it, never the ones after), with a miniature synthetic encoder.
#include <QtTest/QtTest>

#include "config.h"
#include "folio_test.h"
#include "model_tensors.h"
#include "qwen2_encoder.h"
#include "synthetic_weights.h"

namespace {

folio::ModelConfig miniConfig() {
  return folio::loadModelConfig(std::string(FOLIO_SOURCE_DIR) + "/tests/data/mini_ocr2_config.json");
}

folio::Weights encoderWeights(const folio::ModelConfig& config) {
  folio::Weights weights;
  for (const auto& [name, shape] : folio::expectedTensors(config))
    if (name.rfind("model.qwen2_model.", 0) == 0)
      weights.set(name, folio::syntheticTensor(name, shape).to(torch::kFloat32));
  return weights;
}

}  // namespace

class TestQwen2Encoder : public QObject {
  Q_OBJECT
 private slots:
  void hybridMaskLetsImageTokensSeeOnlyTheImage() {
    const auto mask = folio::hybridAttentionMask(3, torch::kCPU);
    const auto expected = torch::tensor({{1, 1, 1, 0, 0, 0},
                                         {1, 1, 1, 0, 0, 0},
                                         {1, 1, 1, 0, 0, 0},
                                         {1, 1, 1, 1, 0, 0},
                                         {1, 1, 1, 1, 1, 0},
                                         {1, 1, 1, 1, 1, 1}})
                              .to(torch::kBool);
    QVERIFY(torch::equal(mask, expected));
  }

  void aQueryIgnoresTheQueriesAfterIt() {
    const auto config = miniConfig();
    auto weights = encoderWeights(config);
    const auto image = torch::randn({1, 144, config.encoder.hidden_size}, torch::Generator());
    const auto before = folio::Qwen2Encoder(config.encoder, config.sam, weights).forward(image);
    QCOMPARE(before.sizes().vec(), (std::vector<std::int64_t>{1, 144, config.encoder.hidden_size}));

    const auto table = folio::queryTableName(768);
    auto changed = weights.at(table).clone();
    changed[100].add_(0.5);
    weights.set(table, changed);
    const auto after = folio::Qwen2Encoder(config.encoder, config.sam, weights).forward(image);
    QVERIFY(torch::equal(before.narrow(1, 0, 100), after.narrow(1, 0, 100)));
    QVERIFY(!torch::allclose(before.narrow(1, 100, 44), after.narrow(1, 100, 44)));
  }

  void viewsWithoutAQueryTableAreRefused() {
    const auto config = miniConfig();
    const folio::Qwen2Encoder encoder(config.encoder, config.sam, encoderWeights(config));
    QVERIFY_THROWS_EXCEPTION(folio::Error, encoder.forward(torch::zeros({1, 100, config.encoder.hidden_size})));
  }
};

QTEST_GUILESS_MAIN(TestQwen2Encoder)
#include "test_qwen2_encoder.moc"
