// Image preprocessing: tile grids, token counts, the letterbox, and the views of the four golden pages against
// what upstream's PIL pipeline made of them.
#include <QtTest/QtTest>

#include <nlohmann/json.hpp>

#include <fstream>

#include "folio_test.h"
#include "image_preprocess.h"

namespace {

folio::RgbImage solidImage(int width, int height, std::uint8_t r, std::uint8_t g, std::uint8_t b) {
  folio::RgbImage image{width, height, {}};
  for (int i = 0; i < width * height; ++i) image.pixels.insert(image.pixels.end(), {r, g, b});
  return image;
}

std::array<std::uint8_t, 3> pixelAt(const folio::RgbImage& image, int x, int y) {
  const auto* p = image.pixels.data() + (std::size_t(y) * image.width + x) * 3;
  return {p[0], p[1], p[2]};
}

folio::Mode modeNamed(const std::string& name) {
  static const std::map<std::string, folio::Mode> modes = {{"tiny", folio::Mode::Tiny},
                                                           {"small", folio::Mode::Small},
                                                           {"base", folio::Mode::Base},
                                                           {"large", folio::Mode::Large},
                                                           {"gundam", folio::Mode::Gundam}};
  return modes.at(name);
}

struct PixelDifference {
  double mean = 0;
  int max = 0;
  std::size_t differing = 0;  // bytes that differ at all
};

PixelDifference compareImages(const folio::RgbImage& ours, const folio::RgbImage& golden) {
  PixelDifference diff;
  double sum = 0;
  for (std::size_t i = 0; i < ours.pixels.size(); ++i) {
    const int d = std::abs(int(ours.pixels[i]) - int(golden.pixels[i]));
    sum += d;
    diff.differing += d != 0;
    diff.max = std::max(diff.max, d);
  }
  diff.mean = sum / double(ours.pixels.size());
  return diff;
}

}  // namespace

class TestImagePreprocess : public QObject {
  Q_OBJECT
 private slots:
  void tileGridFollowsAspectRatio_data() {
    QTest::addColumn<int>("page_w");
    QTest::addColumn<int>("page_h");
    QTest::addColumn<int>("grid_w");
    QTest::addColumn<int>("grid_h");
    QTest::newRow("A4 portrait 150 dpi") << 1240 << 1754 << 2 << 3;
    QTest::newRow("A4 portrait 300 dpi") << 2480 << 3508 << 2 << 3;
    QTest::newRow("A4 landscape 150 dpi") << 1754 << 1240 << 3 << 2;
    QTest::newRow("A4 landscape 300 dpi") << 3508 << 2480 << 3 << 2;
    QTest::newRow("wide strip") << 1700 << 600 << 3 << 1;
    QTest::newRow("square") << 1000 << 1000 << 2 << 2;
    QTest::newRow("very tall") << 600 << 4000 << 1 << 6;
    QTest::newRow("very wide") << 641 << 100 << 6 << 1;
    QTest::newRow("exactly 2:1") << 1280 << 640 << 2 << 1;
    QTest::newRow("1:2") << 700 << 1400 << 1 << 2;
    QTest::newRow("5:4 (2x2 beats the 1x2/2x1 tie)") << 1000 << 800 << 2 << 2;
    // Aspect 2.5 ties 2x1 and 3x1: a large page takes the larger grid, a small one keeps the first.
    QTest::newRow("tie, large page") << 2500 << 1000 << 3 << 1;
    QTest::newRow("tie, small page") << 250 << 100 << 2 << 1;
  }
  void tileGridFollowsAspectRatio() {
    QFETCH(int, page_w);
    QFETCH(int, page_h);
    QFETCH(int, grid_w);
    QFETCH(int, grid_h);
    const folio::TileGrid grid = folio::chooseTileGrid(page_w, page_h);
    QCOMPARE(grid.w, grid_w);
    QCOMPARE(grid.h, grid_h);
  }

  void emptyPageSizeIsAnError() {
    QVERIFY_THROWS_EXCEPTION(folio::Error, folio::chooseTileGrid(0, 100));
    QVERIFY_THROWS_EXCEPTION(folio::Error, folio::preprocessViews(folio::RgbImage{}, folio::Mode::Base));
  }

  void smallPagesGetNoTilesInGundam() {
    const auto views = folio::preprocessViews(solidImage(500, 300, 10, 20, 30), folio::Mode::Gundam);
    QVERIFY(!views.grid.hasTiles());
    QVERIFY(views.tiles.empty());
    QCOMPARE(views.global_view.width, 1024);
    const auto page = folio::preprocessPage(solidImage(640, 640, 0, 0, 0), folio::Mode::Gundam);
    QVERIFY(!page.tiles.defined());
    QCOMPARE(page.n_image_tokens, 273);
  }

  // OCR2.md "Image token layout" examples: 256 + 144 per tile + the separator.
  void deepseekOcr2TokenCountsAndModes() {
    const auto v2 = folio::ModelFamily::DeepseekOcr2;
    const auto tokens = [&](int w, int h) {
      return folio::preprocessPage(solidImage(w, h, 200, 200, 200), folio::Mode::Gundam, false, v2).n_image_tokens;
    };
    QCOMPARE(tokens(600, 400), 257);
    QCOMPARE(tokens(1000, 1000), 833);
    QCOMPARE(tokens(1654, 2339), 1121);
    QCOMPARE(tokens(3000, 500), 1121);
    const auto a4 = folio::preprocessViews(solidImage(1654, 2339, 1, 2, 3), folio::Mode::Gundam, v2);
    QCOMPARE(a4.grid.w, 2);
    QCOMPARE(a4.grid.h, 3);
    QCOMPARE(a4.tiles.front().width, 768);
    QCOMPARE(folio::imageTokenCount(folio::Mode::Small, {}, v2), 145);
    QCOMPARE(folio::imageTokenCount(folio::Mode::Base, {}, v2), 257);
    QVERIFY_THROWS_EXCEPTION(folio::Error, folio::modeGeometry(folio::Mode::Tiny, v2));
    QVERIFY_THROWS_EXCEPTION(folio::Error, folio::modeGeometry(folio::Mode::Large, v2));
    QCOMPARE(folio::supportedModes(v2).size(), std::size_t{3});
  }

  void tokenCountsPerMode() {
    QCOMPARE(folio::imageTokenCount(folio::Mode::Tiny, {}), 73);
    QCOMPARE(folio::imageTokenCount(folio::Mode::Small, {}), 111);
    QCOMPARE(folio::imageTokenCount(folio::Mode::Base, {}), 273);
    QCOMPARE(folio::imageTokenCount(folio::Mode::Large, {}), 421);
    QCOMPARE(folio::imageTokenCount(folio::Mode::Gundam, {}), 273);
    QCOMPARE(folio::imageTokenCount(folio::Mode::Gundam, {2, 3}), 903);
    QCOMPARE(folio::imageTokenCount(folio::Mode::Gundam, {3, 1}), 583);
  }

  // A white 300x100 page in Base mode: resized to 1024x341, pasted at row round(341.5) = 342, grey 127 around
  // it. PIL computes sizes and offsets with Python's round(), which takes halves to the even neighbour.
  void letterboxIsGreyAndCentredLikePil() {
    const auto wide = folio::preprocessViews(solidImage(300, 100, 255, 255, 255), folio::Mode::Base).global_view;
    QCOMPARE(wide.width, 1024);
    QCOMPARE(wide.height, 1024);
    using Px = std::array<std::uint8_t, 3>;
    const Px grey{127, 127, 127}, white{255, 255, 255};
    QCOMPARE(pixelAt(wide, 0, 0), grey);
    QCOMPARE(pixelAt(wide, 500, 341), grey);
    QCOMPARE(pixelAt(wide, 500, 342), white);
    QCOMPARE(pixelAt(wide, 0, 682), white);
    QCOMPARE(pixelAt(wide, 1023, 682), white);
    QCOMPARE(pixelAt(wide, 500, 683), grey);
    QCOMPARE(pixelAt(wide, 1023, 1023), grey);
    // A 101x300 page: 345 columns wide (344.75 rounded), from column round(339.5) = 340.
    const auto tall = folio::preprocessViews(solidImage(101, 300, 255, 255, 255), folio::Mode::Base).global_view;
    QCOMPARE(pixelAt(tall, 339, 500), grey);
    QCOMPARE(pixelAt(tall, 340, 500), white);
    QCOMPARE(pixelAt(tall, 684, 500), white);
    QCOMPARE(pixelAt(tall, 685, 500), grey);
    // A 343x1024 page keeps its size and starts at round(340.5) = 340, not 341.
    const auto even = folio::preprocessViews(solidImage(343, 1024, 255, 255, 255), folio::Mode::Base).global_view;
    QCOMPARE(pixelAt(even, 339, 500), grey);
    QCOMPARE(pixelAt(even, 340, 500), white);
    QCOMPARE(pixelAt(even, 682, 500), white);
    QCOMPARE(pixelAt(even, 683, 500), grey);
  }

  void smallModesStretchToSquareFirst() {
    // Stretched to 512² first, so nothing is left for the letterbox.
    const auto tiny = folio::preprocessViews(solidImage(300, 100, 200, 100, 50), folio::Mode::Tiny).global_view;
    QCOMPARE(tiny.width, 512);
    QCOMPARE(pixelAt(tiny, 0, 0), (std::array<std::uint8_t, 3>{200, 100, 50}));
    // Large keeps the aspect ratio.
    const auto large = folio::preprocessViews(solidImage(300, 100, 200, 100, 50), folio::Mode::Large).global_view;
    QCOMPARE(large.width, 1280);
    QCOMPARE(pixelAt(large, 0, 0), (std::array<std::uint8_t, 3>{127, 127, 127}));
  }

  void normalizedTensorsHaveModelLayout() {
    folio::RgbImage image = solidImage(2, 1, 0, 127, 255);
    image.pixels[3] = 255;  // second pixel red
    image.pixels[4] = 0;
    image.pixels[5] = 0;
    const auto planes = folio::viewPlanes(image);
    QCOMPARE(planes.scalar_type(), torch::kUInt8);
    QCOMPARE(planes[0][0][0][1].item<int>(), 255);  // red plane, second pixel
    QCOMPARE(planes[0][1][0][0].item<int>(), 127);  // green plane, first pixel
    const auto t = folio::normalizeViews(planes);
    QCOMPARE(t.sizes(), (std::vector<int64_t>{1, 3, 1, 2}));
    QCOMPARE(t.scalar_type(), torch::kFloat32);
    QCOMPARE(t[0][0][0][0].item<float>(), -1.0f);
    QCOMPARE(t[0][0][0][1].item<float>(), 1.0f);
    QCOMPARE(t[0][1][0][0].item<float>(), (127.0f / 255.0f - 0.5f) / 0.5f);
    QCOMPARE(t[0][2][0][0].item<float>(), 1.0f);

    const auto page = folio::preprocessPage(solidImage(1240, 1754, 1, 2, 3), folio::Mode::Gundam);
    QCOMPARE(page.global_view.sizes(), (std::vector<int64_t>{1, 3, 1024, 1024}));
    QCOMPARE(page.tiles.sizes(), (std::vector<int64_t>{6, 3, 640, 640}));
    QCOMPARE(page.grid.w, 2);
    QCOMPARE(page.grid.h, 3);
    QCOMPARE(page.n_image_tokens, 903);
  }

  void tilesAreCutRowMajor() {
    // Left third red, middle green, right blue: a 3x1 grid puts one colour in each tile.
    folio::RgbImage page = solidImage(1920, 640, 0, 0, 0);
    for (int y = 0; y < page.height; ++y)
      for (int x = 0; x < page.width; ++x) page.pixels[(std::size_t(y) * page.width + x) * 3 + x / 640] = 255;
    const auto views = folio::preprocessViews(page, folio::Mode::Gundam);
    QCOMPARE(views.tiles.size(), std::size_t{3});
    for (int k = 0; k < 3; ++k) {
      const auto px = pixelAt(views.tiles[k], 320, 320);
      for (int c = 0; c < 3; ++c) QCOMPARE(int(px[c]), c == k ? 255 : 0);
    }
  }

  void goldenPagesMatchUpstreamViews_data() {
    QTest::addColumn<QString>("name");
    for (const char* name : {"base_800x1100", "gundam_1240x1754", "gundam_wide_1700x600", "small_500x300"})
      QTest::newRow(name) << QString(name);
  }
  void goldenPagesMatchUpstreamViews() {
    QFETCH(QString, name);
    checkGoldenViews(folio::test::goldensPath(""), name.toStdString(), folio::ModelFamily::DeepseekOcr);
  }

  // DeepSeek-OCR-2's pages as transformers' PIL image processor prepared them (tools/reference/make_goldens_ocr2.py).
  void ocr2GoldenPagesMatchTransformersViews_data() {
    QTest::addColumn<QString>("name");
    for (const char* name : {"page_700x510", "page_1240x1754", "wide_3000x540"}) QTest::newRow(name) << QString(name);
  }
  void ocr2GoldenPagesMatchTransformersViews() {
    QFETCH(QString, name);
    checkGoldenViews(std::string(FOLIO_SOURCE_DIR) + "/tests/data/goldens_ocr2/", name.toStdString(),
                     folio::ModelFamily::DeepseekOcr2);
  }

 private:
  static void checkGoldenViews(const std::string& folder, const std::string& case_name, folio::ModelFamily family) {
#ifndef FOLIO_HAVE_OPENCV
    QSKIP("the golden PNGs need OpenCV to decode");
#endif
    std::ifstream goldens_file(folder + "goldens.json");
    QVERIFY(goldens_file);
    const auto golden = nlohmann::json::parse(goldens_file)["cases"][case_name];

    const auto page = folio::loadImage(folder + case_name + ".png");
    QCOMPARE(page.width, golden["page_size"][0].get<int>());
    QCOMPARE(page.height, golden["page_size"][1].get<int>());
    const folio::Mode mode = modeNamed(golden.value("mode", std::string("gundam")));
    const auto views = folio::preprocessViews(page, mode, family);
    QCOMPARE(views.grid.w, golden["tile_grid_wh"][0].get<int>());
    QCOMPARE(views.grid.h, golden["tile_grid_wh"][1].get<int>());
    QCOMPARE(int(views.tiles.size()), golden["n_tiles"].get<int>());
    QCOMPARE(folio::imageTokenCount(mode, views.grid, family), golden["n_image_tokens"].get<int>());

    auto check = [&](const folio::RgbImage& ours, const std::string& file) {
      const auto expected = folio::loadImage(folder + file);
      QCOMPARE(ours.width, expected.width);
      QCOMPARE(ours.height, expected.height);
      const PixelDifference diff = compareImages(ours, expected);
      qInfo("%s: mean abs difference %.6f, max %d (of 255), %zu of %zu bytes differ", file.c_str(), diff.mean,
            diff.max, diff.differing, ours.pixels.size());
      // PIL resamples with fixed-point weights, we in float: off by one at a few pixels at most.
      QVERIFY2(diff.mean <= 1.0, file.c_str());
      QVERIFY2(diff.max <= 2, file.c_str());
    };
    check(views.global_view, case_name + ".global.png");
    for (std::size_t k = 0; k < views.tiles.size(); ++k)
      check(views.tiles[k], case_name + ".tile" + std::to_string(k) + ".png");
  }
};

QTEST_GUILESS_MAIN(TestImagePreprocess)
#include "test_image_preprocess.moc"
