// Vision of several pages in shared passes (OcrModel::encodeImages) against one page at a time, on a miniature
// model (same architecture, tiny widths) written by folio-cli synth-weights: same features, in page order,
// whatever the pass size and the mix of modes.
#include <QtTest/QtTest>

#include <folio/engine.h>

#include <memory>

#include "folio_test.h"
#include "mini_model.h"
#include "model.h"

namespace {

// A white page with one dark bar whose place depends on `seed`, so pages differ.
folio::RgbImage page(int width, int height, int seed) {
  folio::RgbImage image{width, height, std::vector<std::uint8_t>(static_cast<std::size_t>(width) * height * 3, 255)};
  const int top = height * (1 + seed % 5) / 8;
  for (int y = top; y < top + height / 10; ++y)
    for (int x = width / 8; x < width * 7 / 8; ++x)
      for (int c = 0; c < 3; ++c) image.pixels[(static_cast<std::size_t>(y) * width + x) * 3 + c] = 30 * c;
  return image;
}

}  // namespace

class TestVisionBatch : public QObject {
  Q_OBJECT

  QTemporaryDir dir_;
  std::unique_ptr<folio::OcrModel> model_;
  std::vector<folio::PreprocessedPage> pages_;
  std::vector<torch::Tensor> one_by_one_;

  std::vector<const folio::PreprocessedPage*> pagePointers() const {
    std::vector<const folio::PreprocessedPage*> pointers;
    for (const auto& p : pages_) pointers.push_back(&p);
    return pointers;
  }

  void compareWithOneByOne(const std::vector<torch::Tensor>& batched) {
    QCOMPARE(batched.size(), one_by_one_.size());
    for (std::size_t i = 0; i < batched.size(); ++i) {
      QCOMPARE(batched[i].sizes().vec(), one_by_one_[i].sizes().vec());
      const double magnitude = one_by_one_[i].abs().max().item<double>();
      const double error = (batched[i] - one_by_one_[i]).abs().max().item<double>();
      QVERIFY2(magnitude > 0, "the miniature vision encoder gave all-zero features");
      QVERIFY2(error <= 1e-5 * magnitude, qPrintable(QString("page %1 differs by %2 (max |x| %3)")
                                                         .arg(i).arg(error).arg(magnitude)));
    }
  }

 private slots:
  void initTestCase() {
    QVERIFY(dir_.isValid());
    const QString model_dir = dir_.filePath("mini");
    QString error;
    QVERIFY2(folio::test::writeMiniModel(model_dir, "mini_config.json", &error), qPrintable(error));
    model_ = folio::OcrModel::load(model_dir.toStdString(), torch::kCPU, torch::kFloat32);
    // Tiny and Base pages (different global view sizes) interleaved with Gundam pages of two tile grids.
    const struct {
      folio::Mode mode;
      int width, height;
    } cases[] = {{folio::Mode::Tiny, 600, 800},     {folio::Mode::Gundam, 1240, 1754}, {folio::Mode::Base, 800, 1100},
                 {folio::Mode::Tiny, 800, 600},     {folio::Mode::Gundam, 1700, 600},  {folio::Mode::Base, 700, 900}};
    int seed = 0;
    for (const auto& c : cases) pages_.push_back(folio::preprocessPage(page(c.width, c.height, seed++), c.mode));
    QVERIFY(pages_[1].grid.w != pages_[4].grid.w || pages_[1].grid.h != pages_[4].grid.h);
    torch::InferenceMode guard;
    for (const auto& p : pages_) one_by_one_.push_back(model_->encodeImage(p));
  }

  void sharedPassesEqualOnePageAtATime() {
    torch::InferenceMode guard;
    compareWithOneByOne(model_->encodeImages(pagePointers(), 64));
  }

  void passesSmallerThanAPageStillTakeThePage() {
    torch::InferenceMode guard;
    // 8 views: a Gundam page (7 views) never shares a pass with another Gundam page; 1 view: every page alone.
    compareWithOneByOne(model_->encodeImages(pagePointers(), 8));
    compareWithOneByOne(model_->encodeImages(pagePointers(), 1));
  }

  void noPagesGiveNoFeatures() {
    torch::InferenceMode guard;
    QVERIFY(model_->encodeImages({}).empty());
  }
};

QTEST_GUILESS_MAIN(TestVisionBatch)
#include "test_vision_batch.moc"
