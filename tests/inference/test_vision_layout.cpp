// The layout of one image's vision features (tile mosaic rows + newline, global rows + newline, separator)
// with tiny fake features whose values name their origin.
#include <QtTest/QtTest>

#include <folio/engine.h>

#include "vision.h"

namespace {

constexpr float kNewline = -1.0f, kSeparator = -2.0f;

// [n, side*side, 1] features whose value is 1000 + view*100 + y*10 + x.
torch::Tensor labelledViews(std::int64_t n, std::int64_t side) {
  auto view = torch::arange(n).view({n, 1, 1});
  auto y = torch::arange(side).view({1, side, 1});
  auto x = torch::arange(side).view({1, 1, side});
  return (1000 + view * 100 + y * 10 + x).reshape({n, side * side, 1}).to(torch::kFloat32);
}

float label(std::int64_t view, std::int64_t y, std::int64_t x) { return 1000.0f + view * 100 + y * 10 + x; }

torch::Tensor newline() { return torch::full({1}, kNewline); }
torch::Tensor separator() { return torch::full({1}, kSeparator); }

}  // namespace

class TestVisionLayout : public QObject {
  Q_OBJECT
 private slots:
  void globalViewOnlyIsRowsWithNewlinesThenSeparator() {
    const int g = 3;
    auto out = folio::layoutImageFeatures(labelledViews(1, g), torch::Tensor(), 1, 1, newline(), separator());
    QCOMPARE(out.size(0), folio::imageFeatureCount(g, 0, 1, 1));
    QCOMPARE(out.size(0), std::int64_t{g * (g + 1) + 1});
    auto values = out.squeeze(1);
    for (int y = 0; y < g; ++y) {
      for (int x = 0; x < g; ++x) QCOMPARE(values[y * (g + 1) + x].item<float>(), label(0, y, x));
      QCOMPARE(values[y * (g + 1) + g].item<float>(), kNewline);
    }
    QCOMPARE(values[-1].item<float>(), kSeparator);
  }

  void tilesFormOneMosaicBeforeTheGlobalView() {
    const int grid_w = 2, grid_h = 3, t = 2, g = 3;
    auto tiles = labelledViews(grid_w * grid_h, t);
    auto global = labelledViews(1, g) + 5000;
    auto out = folio::layoutImageFeatures(global, tiles, grid_w, grid_h, newline(), separator()).squeeze(1);
    QCOMPARE(out.size(0), folio::imageFeatureCount(g, t, grid_w, grid_h));
    const int mosaic_width = grid_w * t + 1;  // with its newline
    for (int row = 0; row < grid_h * t; ++row) {
      for (int col = 0; col < grid_w * t; ++col) {
        const int tile = (row / t) * grid_w + col / t;  // tiles are row-major
        QCOMPARE(out[row * mosaic_width + col].item<float>(), label(tile, row % t, col % t));
      }
      QCOMPARE(out[row * mosaic_width + grid_w * t].item<float>(), kNewline);
    }
    const int global_start = grid_h * t * mosaic_width;
    for (int y = 0; y < g; ++y) {
      for (int x = 0; x < g; ++x) QCOMPARE(out[global_start + y * (g + 1) + x].item<float>(), 5000 + label(0, y, x));
      QCOMPARE(out[global_start + y * (g + 1) + g].item<float>(), kNewline);
    }
    QCOMPARE(out[-1].item<float>(), kSeparator);
    QCOMPARE(out.eq(kSeparator).sum().item<int>(), 1);
  }

  void tokenCountsOfTheModes() {
    QCOMPARE(folio::imageFeatureCount(16, 0, 1, 1), std::int64_t{273});   // Base
    QCOMPARE(folio::imageFeatureCount(10, 0, 1, 1), std::int64_t{111});   // Small
    QCOMPARE(folio::imageFeatureCount(8, 0, 1, 1), std::int64_t{73});     // Tiny
    QCOMPARE(folio::imageFeatureCount(20, 0, 1, 1), std::int64_t{421});   // Large
    QCOMPARE(folio::imageFeatureCount(16, 10, 2, 3), std::int64_t{903});  // Gundam 2x3
    QCOMPARE(folio::imageFeatureCount(16, 10, 3, 1), std::int64_t{583});  // Gundam 3x1
    auto out = folio::layoutImageFeatures(torch::zeros({1, 256, 4}), torch::zeros({3, 100, 4}), 3, 1,
                                          torch::ones({4}), torch::ones({4}));
    QCOMPARE(out.size(0), std::int64_t{583});
    QCOMPARE(out.size(1), std::int64_t{4});
  }

  // DeepSeek-OCR-2: no newlines; tiles in order, each in its own token order, then the global view, then the
  // separator (OCR2.md "Image token layout").
  void withoutNewlinesViewsFollowEachOther() {
    const auto global = labelledViews(1, 16) + 5000;
    const auto tiles = labelledViews(6, 12);
    const auto out = folio::layoutImageFeatures(global, tiles, 2, 3, torch::Tensor(), separator()).squeeze(1);
    QCOMPARE(out.size(0), std::int64_t{6 * 144 + 256 + 1});
    for (std::int64_t tile = 0; tile < 6; ++tile)
      QCOMPARE(out[tile * 144 + 13].item<float>(), label(tile, 1, 1));
    QCOMPARE(out[6 * 144].item<float>(), 5000 + label(0, 0, 0));
    QCOMPARE(out[6 * 144 + 255].item<float>(), 5000 + label(0, 15, 15));
    QCOMPARE(out[-1].item<float>(), kSeparator);
  }

  void mismatchedTilesAreAnError() {
    QVERIFY_THROWS_EXCEPTION(folio::Error, folio::layoutImageFeatures(labelledViews(1, 2), labelledViews(5, 2), 2,
                                                                      3, newline(), separator()));
    QVERIFY_THROWS_EXCEPTION(folio::Error, folio::layoutImageFeatures(torch::zeros({1, 5, 1}), torch::Tensor(), 1, 1,
                                                                      newline(), separator()));
  }
};

QTEST_GUILESS_MAIN(TestVisionLayout)
#include "test_vision_layout.moc"
