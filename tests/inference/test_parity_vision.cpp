// The vision encoder (SAM-B, CLIP-L, projector, layout) against the upstream goldens: synthetic weights in
// float32 on the CPU, fed the golden preprocessed views; every stage within 1e-4 of the golden's magnitude.
#include <QtTest/QtTest>

#include <nlohmann/json.hpp>
#ifdef FOLIO_HAVE_OPENCV
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#endif

#include <fstream>
#include <map>
#include <memory>

#include "folio_test.h"
#include "safetensors.h"
#include "synthetic_weights.h"
#include "vision.h"

namespace {

bool isVisionTensor(const std::string& name) {
  for (const char* prefix : {"model.sam_model.", "model.vision_model.", "model.projector."})
    if (name.rfind(prefix, 0) == 0) return true;
  return name == "model.image_newline" || name == "model.view_seperator";
}

// Every vision tensor of the checkpoint (names and shapes from tensors.json), synthetic, as float32.
folio::Weights syntheticVisionWeights() {
  std::ifstream manifest_file(folio::test::sharedPath("model/tensors.json"));
  if (!manifest_file) throw std::runtime_error("cannot read model/tensors.json");
  const auto manifest = nlohmann::json::parse(manifest_file);
  folio::Weights weights;
  for (auto& [name, shape] : manifest.at("tensors").items())
    if (isVisionTensor(name))
      weights.set(name, folio::syntheticTensor(name, shape.get<std::vector<std::int64_t>>()).to(torch::kFloat32));
  return weights;
}

// A golden preprocessed view as [3,H,W] float32, normalised (x/255 - 0.5) / 0.5 like upstream.
torch::Tensor loadView(const std::string& file) {
#ifndef FOLIO_HAVE_OPENCV
  throw std::runtime_error("built without OpenCV: cannot decode " + file);
#else
  cv::Mat bgr = cv::imread(folio::test::goldensPath(file), cv::IMREAD_COLOR);
  if (bgr.empty()) throw std::runtime_error("cannot read " + file);
  cv::Mat rgb;
  cv::cvtColor(bgr, rgb, cv::COLOR_BGR2RGB);
  auto pixels = torch::from_blob(rgb.data, {rgb.rows, rgb.cols, 3}, torch::kUInt8).clone();
  return (pixels.permute({2, 0, 1}).to(torch::kFloat32) / 255.0 - 0.5) / 0.5;
#endif
}

}  // namespace

class TestParityVision : public QObject {
  Q_OBJECT

  std::unique_ptr<folio::VisionEncoder> encoder_;
  nlohmann::json cases_;

 private slots:
  void initTestCase() {
#ifndef FOLIO_HAVE_OPENCV
    QSKIP("built without OpenCV: the golden views cannot be decoded");
#endif
    QElapsedTimer timer;
    timer.start();
    encoder_ = std::make_unique<folio::VisionEncoder>(folio::ModelConfig{}, syntheticVisionWeights());
    std::ifstream goldens(folio::test::goldensPath("goldens.json"));
    QVERIFY(goldens);
    cases_ = nlohmann::json::parse(goldens)["cases"];
    qInfo("synthetic vision weights ready in %.1f s", timer.elapsed() / 1000.0);
  }

  void matchesUpstream_data() {
    QTest::addColumn<QString>("name");
    QTest::newRow("base_800x1100") << "base_800x1100";
    QTest::newRow("gundam_1240x1754") << "gundam_1240x1754";
    // Base and Gundam cover every code path (1024 and 640 views, tiles); the other two cost CI minutes.
    if (qEnvironmentVariableIntValue("FOLIO_PARITY_ALL") == 1) {
      QTest::newRow("gundam_wide_1700x600") << "gundam_wide_1700x600";
      QTest::newRow("small_500x300") << "small_500x300";
    }
  }

  void matchesUpstream() {
    QFETCH(QString, name);
    const std::string case_name = name.toStdString();
    const auto& info = cases_.at(case_name);
    const int grid_w = info["tile_grid_wh"][0], grid_h = info["tile_grid_wh"][1];
    const int n_tiles = info["n_tiles"];

    auto global_view = loadView(case_name + ".global.png").unsqueeze(0);
    torch::Tensor tiles;
    if (n_tiles > 0) {
      std::vector<torch::Tensor> views;
      for (int k = 0; k < n_tiles; ++k) views.push_back(loadView(case_name + ".tile" + std::to_string(k) + ".png"));
      tiles = torch::stack(views);
    }

    QElapsedTimer timer;
    timer.start();
    std::map<std::string, torch::Tensor> stages;
    stages["image_features"] = encoder_->encode(global_view, tiles, grid_w, grid_h, &stages);
    qInfo("%s: encoded in %.1f s", case_name.c_str(), timer.elapsed() / 1000.0);
    QCOMPARE(stages["image_features"].size(0), info["n_image_tokens"].get<std::int64_t>());

    auto golden = folio::SafetensorsFile::open(folio::test::goldensPath(case_name + ".safetensors"));
    std::vector<std::string> stage_names{"global.sam", "global.clip", "image_features"};
    if (n_tiles > 0) stage_names.insert(stage_names.begin() + 2, {"tiles.sam", "tiles.clip"});
    for (const auto& stage : stage_names) {
      auto want = golden->tensor(stage).to(torch::kFloat32);
      const auto& got = stages.at(stage);
      QCOMPARE(got.sizes().vec(), want.sizes().vec());
      const double max_error = (got - want).abs().max().item<double>();
      const double magnitude = want.abs().max().item<double>();
      const double relative = max_error / magnitude;
      qInfo("%s %-15s max abs error %.3e  golden max |x| %.3e  relative %.3e", case_name.c_str(), stage.c_str(),
            max_error, magnitude, relative);
      QVERIFY2(relative <= 1e-4, qPrintable(QString::fromStdString(case_name + " " + stage + " differs")));
    }
  }
};

QTEST_GUILESS_MAIN(TestParityVision)
#include "test_parity_vision.moc"
