// The C++ synthetic-weight generator against the upstream checksums of all 2710 tensors.
#include <QtTest/QtTest>

#include <nlohmann/json.hpp>

#include <fstream>

#include "folio_test.h"
#include "synthetic_weights.h"

class TestSyntheticWeights : public QObject {
  Q_OBJECT
 private slots:
  void fnvMatchesKnownValues() {
    QCOMPARE(folio::fnv1a32(""), 2166136261u);
    QCOMPARE(folio::fnv1a32("a"), 0xe40c292cu);
  }

  void everyTensorMatchesUpstreamChecksums() {
    std::ifstream manifest_file(folio::test::sharedPath("model/tensors.json"));
    std::ifstream sums_file(folio::test::goldensPath("weights_checksums.json"));
    QVERIFY(manifest_file && sums_file);
    auto manifest = nlohmann::json::parse(manifest_file)["tensors"];
    auto sums = nlohmann::json::parse(sums_file);
    QCOMPARE(manifest.size(), std::size_t{2710});
    int checked = 0;
    for (auto& [name, shape_json] : manifest.items()) {
      auto shape = shape_json.get<std::vector<std::int64_t>>();
      auto t = folio::syntheticTensor(name, shape).to(torch::kFloat64);
      const auto& want = sums.at(name);
      const double sum = t.sum().item<double>();
      const double abs_sum = t.abs().sum().item<double>();
      // Float64 sums of identical bf16 values differ only by summation order.
      const double tol = 1e-9 * std::max(1.0, abs_sum);
      if (std::abs(sum - want["sum"].get<double>()) > tol || std::abs(abs_sum - want["abs_sum"].get<double>()) > tol)
        QFAIL(qPrintable(QString::fromStdString(name + ": checksum differs")));
      auto first = t.flatten().slice(0, 0, 8);
      auto want_first = want["first"].get<std::vector<double>>();
      for (std::size_t i = 0; i < want_first.size(); ++i)
        if (first[i].item<double>() != want_first[i])
          QFAIL(qPrintable(QString::fromStdString(name + ": value " + std::to_string(i) + " differs")));
      ++checked;
    }
    QCOMPARE(checked, 2710);
  }

  void unknownOneDimensionalTensorIsAnError() {
    QVERIFY_THROWS_EXCEPTION(std::exception, folio::syntheticTensor("model.something.scale", {4}));
  }
};

QTEST_GUILESS_MAIN(TestSyntheticWeights)
#include "test_synthetic_weights.moc"
