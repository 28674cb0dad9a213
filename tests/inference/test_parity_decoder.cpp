// Decoder + greedy generation against the upstream goldens (shared/reference/goldens): the `ci` configuration
// (decoder layers 0-1: dense + MoE) with the synthetic weights in float32 on CPU.
#include <QtTest/QtTest>

#include <memory>

#include "decoder.h"
#include "folio_test.h"
#include "generate.h"
#include "kv_cache.h"
#include "model_tensors.h"
#include "parity.h"
#include "safetensors.h"
#include "synthetic_weights.h"

namespace {

constexpr double kLogitTolerance = 1e-4;  // max abs error relative to max |golden logit|
constexpr float kMinComparableMargin = 0.002f;  // below this top-2 gap, fp rounding may pick either token

folio::DecoderConfig ciConfig() {
  folio::DecoderConfig config;
  config.num_hidden_layers = 2;
  return config;
}

}  // namespace

class TestParityDecoder : public QObject {
  Q_OBJECT
  std::unique_ptr<folio::Decoder> decoder_;

 private slots:
  void initTestCase() {
    QElapsedTimer timer;
    timer.start();
    const auto config = ciConfig();
    folio::Weights weights;
    folio::ModelConfig model_config;
    model_config.decoder = config;
    for (const auto& [name, shape] : folio::expectedTensors(model_config))
      if (folio::isDecoderTensor(name)) weights.set(name, folio::syntheticTensor(name, shape).to(torch::kFloat32));
    decoder_ = std::make_unique<folio::Decoder>(config, weights);
    qInfo("ci decoder with synthetic fp32 weights ready in %lld ms", static_cast<long long>(timer.elapsed()));
  }

  void promptLogitsAndGreedyIds_data() {
    QTest::addColumn<QString>("golden");
    for (const char* name : {"base_800x1100", "gundam_1240x1754", "gundam_wide_1700x600", "small_500x300"})
      QTest::newRow(name) << QString(name);
  }

  void promptLogitsAndGreedyIds() {
    QFETCH(QString, golden);
    const auto file = folio::SafetensorsFile::open(folio::test::goldensPath(golden.toStdString() + ".safetensors"));
    const auto input_ids = file->tensor("input_ids");
    const auto image_features = file->tensor("image_features");
    const auto golden_logits = file->tensor("ci.prompt_logits");
    const auto golden_ids = file->tensor("ci.greedy_ids");
    const auto golden_margins = file->tensor("ci.greedy_top2_margin");
    const auto steps = golden_ids.size(0);

    c10::InferenceMode guard;
    // bos, the image tokens (replaced by the vision features), then the prompt text.
    auto embeddings = decoder_->embed(input_ids);
    embeddings.narrow(0, 1, image_features.size(0)).copy_(image_features);

    const auto config = decoder_->config();
    folio::KvCache cache(config, static_cast<int>(input_ids.size(0) + steps), torch::kCPU, torch::kFloat32);
    folio::GenerateOptions options;
    options.max_new_tokens = static_cast<int>(steps);
    options.ignore_eos = true;  // the goldens decode a fixed number of steps
    QElapsedTimer timer;
    timer.start();
    qint64 prefill_ms = -1;
    const auto result = folio::generate(*decoder_, cache, embeddings, options, [&](std::int64_t) {
      if (prefill_ms < 0) prefill_ms = timer.elapsed();
      return true;
    });
    const double decode_s = (timer.elapsed() - prefill_ms) / 1000.0;

    const double max_err = (result.prompt_logits - golden_logits).abs().max().item<double>();
    const double scale = golden_logits.abs().max().item<double>();
    std::int64_t compared = 0;
    while (compared < steps && golden_margins[compared].item<float>() >= kMinComparableMargin) ++compared;
    std::int64_t matching = 0;
    while (matching < compared && result.ids[matching] == golden_ids[matching].item<std::int64_t>()) ++matching;
    qInfo("%s: %lld prompt tokens, prompt logits max abs err %.3g (%.3g of max |golden| %.3g); greedy ids %lld/%lld "
          "equal (compared up to the first margin < %.3g); prefill %lld ms, %.1f tok/s decoding",
          qPrintable(golden), static_cast<long long>(input_ids.size(0)), max_err, max_err / scale, scale,
          static_cast<long long>(matching), static_cast<long long>(compared), kMinComparableMargin,
          static_cast<long long>(prefill_ms), (steps - 1) / decode_s);
    QVERIFY(max_err <= kLogitTolerance * scale);
    QCOMPARE(result.ids.size(), static_cast<std::size_t>(steps));
    QVERIFY(compared > 0);
    QCOMPARE(matching, compared);
  }

  // folio-cli parity's greedy rule: ids equal up to the first near-tie, and an output that stops before that
  // step fails rather than being compared over its own length.
  void greedyRuleFailsAnOutputShorterThanTheGolden() {
    const auto golden = torch::tensor({5, 6, 7, 8}, torch::kInt64);
    const auto margins = torch::tensor({1.0, 1.0, 1.0, 0.001});
    const auto same = folio::compareGreedy(golden, golden, margins, kMinComparableMargin);
    QCOMPARE(same.comparable_steps, 3);
    QVERIFY(same.ok());
    QVERIFY(folio::compareGreedy(golden.narrow(0, 0, 3), golden, margins, kMinComparableMargin).ok());
    QVERIFY(!folio::compareGreedy(golden.narrow(0, 0, 2), golden, margins, kMinComparableMargin).ok());
    QVERIFY(!folio::compareGreedy(torch::tensor({5, 9, 7, 8}, torch::kInt64), golden, margins, kMinComparableMargin)
                 .ok());
    QVERIFY(folio::compareGreedy(torch::tensor({5, 6, 7, 1}, torch::kInt64), golden, margins, kMinComparableMargin)
                .ok());  // differs only after the near-tie
  }

  void cleanupTestCase() { decoder_.reset(); }
};

QTEST_GUILESS_MAIN(TestParityDecoder)
#include "test_parity_decoder.moc"
