// DeepSeek-OCR-2 against transformers 5.17's DeepseekOcr2ForConditionalGeneration (tests/data/goldens_ocr2, made by
// tools/reference/make_goldens_ocr2.py): the published config with the 2-layer `ci` decoder and the synthetic
// weights, fp32 on the CPU, through folio-cli synth-weights and folio-cli parity as a user would run them. Every
// stage (SAM, encoder queries, image features, prompt logits) within 1e-4 of the golden's magnitude; greedy ids
// equal up to the first golden top-2 margin below 0.002.
#include <QtTest/QtTest>

#include <nlohmann/json.hpp>

#include <fstream>

#include "folio_test.h"

namespace {

constexpr double kTolerance = 1e-4;

QString goldensDir() { return QString(FOLIO_SOURCE_DIR) + "/tests/data/goldens_ocr2"; }

bool runCli(const QStringList& arguments, QString* output = nullptr) {
  QProcess cli;
  cli.setProcessChannelMode(QProcess::MergedChannels);
  cli.start(FOLIO_CLI_PATH, arguments);
  if (!cli.waitForFinished(1800000)) return false;
  const QString text = QString::fromUtf8(cli.readAll());
  if (output) *output = text;
  if (cli.exitCode() != 0) qWarning("%s", qPrintable(text.right(4000)));
  return cli.exitStatus() == QProcess::NormalExit && cli.exitCode() == 0;
}

}  // namespace

class TestParityOcr2 : public QObject {
  Q_OBJECT
  QTemporaryDir dir_;

 private slots:
  void initTestCase() {
    QVERIFY(dir_.isValid());
    QVERIFY(runCli({"synth-weights", "--config", QString::fromStdString(folio::test::sharedPath("model/ocr2_config.json")),
                    "--tokenizer", QString::fromStdString(folio::test::sharedPath("model/tokenizer.json")),
                    "--layers", "2", "-o", dir_.filePath("model")}));
  }

  void everyStageMatchesTransformers() {
    QStringList cases{"page_700x510", "page_1240x1754"};  // no tiles, and 2x3 tiles: every code path
    if (qEnvironmentVariableIntValue("FOLIO_PARITY_ALL") == 1) cases << "wide_3000x540";
    QStringList arguments{"parity", "--model", dir_.filePath("model"), "--goldens", goldensDir(), "--config", "ci",
                          "--device", "cpu", "--dtype", "fp32", "--json", dir_.filePath("report.json")};
    for (const QString& name : cases) arguments << "--cases" << name;
    QString output;
    const bool passed = runCli(arguments, &output);
    std::ifstream report_file(dir_.filePath("report.json").toStdString());
    QVERIFY2(report_file, qPrintable(output.right(2000)));
    const auto report = nlohmann::json::parse(report_file);
    QCOMPARE(report["cases"].size(), static_cast<std::size_t>(cases.size()));
    for (const auto& result : report["cases"]) {
      const std::string name = result["case"];
      const bool tiles = name != "page_700x510";
      std::vector<std::string> stages{"global.sam", "global.encoder", "image_features", "prompt_logits"};
      if (tiles) stages.insert(stages.end(), {"tiles.sam", "tiles.encoder"});
      for (const auto& stage : stages) {
        QVERIFY2(result["stages"].contains(stage), (name + " lacks " + stage).c_str());
        const double relative = result["stages"][stage]["relative"];
        qInfo("%s %-15s relative error %.3e", name.c_str(), stage.c_str(), relative);
        QVERIFY2(relative <= kTolerance, (name + " " + stage).c_str());
      }
      const int comparable = result["greedy"]["comparable_steps"], matching = result["greedy"]["matching_steps"];
      qInfo("%s greedy ids: %d of %d comparable steps equal", name.c_str(), matching, comparable);
      QVERIFY(comparable > 0);
      QVERIFY(matching >= comparable);
    }
    QVERIFY2(passed, qPrintable(output.right(2000)));
  }
};

QTEST_GUILESS_MAIN(TestParityOcr2)
#include "test_parity_ocr2.moc"
