// Image decoding: formats, EXIF orientation, grey/alpha/16-bit conversion, and clear errors for bad files.
#include <QtTest/QtTest>

#include <folio/engine.h>

#include <fstream>

#include "image_decode.h"

#ifdef FOLIO_HAVE_OPENCV
#include <opencv2/imgcodecs.hpp>
#endif

namespace {

using Bytes = std::vector<std::uint8_t>;
using Px = std::array<int, 3>;

Px pixelAt(const folio::RgbImage& image, int x, int y) {
  const auto* p = image.pixels.data() + (std::size_t(y) * image.width + x) * 3;
  return {p[0], p[1], p[2]};
}

bool near(const Px& a, const Px& b, int tolerance) {
  for (int c = 0; c < 3; ++c)
    if (std::abs(a[c] - b[c]) > tolerance) return false;
  return true;
}

void appendBigEndian(Bytes& out, std::uint32_t value, int n) {
  for (int i = n - 1; i >= 0; --i) out.push_back(std::uint8_t(value >> (8 * i)));
}

void writeFile(const QString& path, const Bytes& bytes) {
  std::ofstream file(path.toStdString(), std::ios::binary);
  file.write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
}

// The error message of loading path, or empty when it loads.
QString loadError(const QString& path) {
  try {
    folio::loadImage(path.toStdString());
  } catch (const folio::Error& e) {
    return QString::fromUtf8(e.what());
  }
  return {};
}

// A big-endian TIFF structure with one IFD0 entry: Orientation (0x0112, SHORT) = orientation.
Bytes exifTiff(int orientation) {
  Bytes tiff = {'M', 'M', 0, 42};
  appendBigEndian(tiff, 8, 4);  // IFD0 offset
  appendBigEndian(tiff, 1, 2);  // one entry
  appendBigEndian(tiff, 0x0112, 2);
  appendBigEndian(tiff, 3, 2);  // SHORT
  appendBigEndian(tiff, 1, 4);  // count
  appendBigEndian(tiff, std::uint32_t(orientation) << 16, 4);
  appendBigEndian(tiff, 0, 4);  // no next IFD
  return tiff;
}

// ---- a minimal PNG writer (stored deflate blocks) for what OpenCV cannot write: grey+alpha and eXIf ----

std::uint32_t crc32(const std::uint8_t* data, std::size_t n) {
  std::uint32_t crc = 0xFFFFFFFFu;
  for (std::size_t i = 0; i < n; ++i) {
    crc ^= data[i];
    for (int k = 0; k < 8; ++k) crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
  }
  return ~crc;
}

void appendChunk(Bytes& png, const char* type, const Bytes& data) {
  appendBigEndian(png, std::uint32_t(data.size()), 4);
  const std::size_t start = png.size();
  png.insert(png.end(), type, type + 4);
  png.insert(png.end(), data.begin(), data.end());
  appendBigEndian(png, crc32(png.data() + start, png.size() - start), 4);
}

// 8-bit PNG of colour type 0 (grey), 2 (RGB) or 4 (grey+alpha); samples row-major, interleaved.
Bytes makePng(int width, int height, int color_type, const Bytes& samples, const Bytes& exif = {}) {
  Bytes png = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
  Bytes header;
  appendBigEndian(header, width, 4);
  appendBigEndian(header, height, 4);
  header.insert(header.end(), {8, std::uint8_t(color_type), 0, 0, 0});
  appendChunk(png, "IHDR", header);
  if (!exif.empty()) appendChunk(png, "eXIf", exif);
  Bytes raw;  // each row: filter type 0, then its samples
  const std::size_t row_bytes = samples.size() / height;
  for (int y = 0; y < height; ++y) {
    raw.push_back(0);
    raw.insert(raw.end(), samples.begin() + y * row_bytes, samples.begin() + (y + 1) * row_bytes);
  }
  Bytes zlib = {0x78, 0x01, 0x01};  // zlib header, one final stored block
  zlib.push_back(std::uint8_t(raw.size()));
  zlib.push_back(std::uint8_t(raw.size() >> 8));
  zlib.push_back(std::uint8_t(~raw.size()));
  zlib.push_back(std::uint8_t(~raw.size() >> 8));
  zlib.insert(zlib.end(), raw.begin(), raw.end());
  std::uint32_t a = 1, b = 0;  // Adler-32
  for (std::uint8_t byte : raw) {
    a = (a + byte) % 65521;
    b = (b + a) % 65521;
  }
  appendBigEndian(zlib, (b << 16) | a, 4);
  appendChunk(png, "IDAT", zlib);
  appendChunk(png, "IEND", {});
  return png;
}

#ifdef FOLIO_HAVE_OPENCV
Bytes encode(const std::string& extension, const cv::Mat& image, const std::vector<int>& params = {}) {
  std::vector<std::uint8_t> bytes;
  if (!cv::imencode(extension, image, bytes, params)) return {};
  return bytes;
}

// 40×20 BGR: left half red, right half blue.
cv::Mat redBlueImage() {
  cv::Mat image(20, 40, CV_8UC3, cv::Scalar(255, 0, 0));
  image(cv::Rect(0, 0, 20, 20)).setTo(cv::Scalar(0, 0, 255));
  return image;
}
#endif

}  // namespace

class TestImageDecode : public QObject {
  Q_OBJECT
  QTemporaryDir dir_;

  QString path(const QString& name) const { return dir_.filePath(name); }

 private slots:
  void binaryPpmDecodes() {
    Bytes ppm = {'P', '6', '\n', '#', ' ', 'c', '\n', '2', ' ', '1', '\n', '2', '5', '5', '\n'};
    ppm.insert(ppm.end(), {10, 20, 30, 40, 50, 60});
    const auto image = folio::decodePpm(ppm, "x.ppm");
    QCOMPARE(image.width, 2);
    QCOMPARE(image.height, 1);
    QCOMPARE(pixelAt(image, 1, 0), (Px{40, 50, 60}));
    writeFile(path("x.ppm"), ppm);
    QCOMPARE(folio::loadImage(path("x.ppm").toStdString()).pixels, image.pixels);
  }

  void badPpmGivesClearErrors() {
    const Bytes truncated = {'P', '6', ' ', '2', ' ', '2', ' ', '2', '5', '5', '\n', 1, 2, 3};
    QVERIFY_THROWS_EXCEPTION(folio::Error, folio::decodePpm(truncated, "t.ppm"));
    try {
      folio::decodePpm(truncated, "t.ppm");
    } catch (const folio::Error& e) {
      QVERIFY2(QString(e.what()).contains("t.ppm") && QString(e.what()).contains("truncated"), e.what());
    }
    const Bytes wide = {'P', '6', ' ', '1', ' ', '1', ' ', '6', '5', '5', '3', '5', '\n', 0, 0, 0, 0, 0, 0};
    QVERIFY_THROWS_EXCEPTION(folio::Error, folio::decodePpm(wide, "w.ppm"));
  }

  void missingFileIsNamed() {
    const QString error = loadError(path("no_such_page.png"));
    QVERIFY2(error.contains("no_such_page.png") && error.contains("not found"), qPrintable(error));
  }

  void textFileIsNotAnImage() {
    const std::string text = "just some notes\n";
    writeFile(path("notes.png"), Bytes(text.begin(), text.end()));
    const QString error = loadError(path("notes.png"));
    QVERIFY2(error.contains("notes.png") && error.contains("not an image"), qPrintable(error));
    writeFile(path("empty.png"), {});
    QVERIFY2(loadError(path("empty.png")).contains("empty"), qPrintable(loadError(path("empty.png"))));
  }

  void exifOrientationIsFoundInJpegPngAndTiff() {
    const Bytes tiff = exifTiff(6);
    QCOMPARE(folio::exifOrientation(tiff), 6);
    Bytes jpeg = {0xFF, 0xD8, 0xFF, 0xE1};
    appendBigEndian(jpeg, std::uint32_t(2 + 6 + tiff.size()), 2);
    jpeg.insert(jpeg.end(), {'E', 'x', 'i', 'f', 0, 0});
    jpeg.insert(jpeg.end(), tiff.begin(), tiff.end());
    jpeg.insert(jpeg.end(), {0xFF, 0xD9});
    QCOMPARE(folio::exifOrientation(jpeg), 6);
    QCOMPARE(folio::exifOrientation(makePng(1, 1, 0, {0}, exifTiff(8))), 8);
    QCOMPARE(folio::exifOrientation(makePng(1, 1, 0, {0})), 1);
  }

#ifdef FOLIO_HAVE_OPENCV
  void pngRgbKeepsChannelOrder() {
    cv::Mat bgr(3, 4, CV_8UC3, cv::Scalar(30, 20, 10));  // RGB (10, 20, 30)
    bgr.at<cv::Vec3b>(2, 3) = cv::Vec3b(0, 0, 250);
    QVERIFY(cv::imwrite(path("rgb.png").toStdString(), bgr));
    const auto image = folio::loadImage(path("rgb.png").toStdString());
    QCOMPARE(image.width, 4);
    QCOMPARE(image.height, 3);
    QCOMPARE(pixelAt(image, 0, 0), (Px{10, 20, 30}));
    QCOMPARE(pixelAt(image, 3, 2), (Px{250, 0, 0}));
  }

  void pngRgbaIsCompositedOverWhite() {
    cv::Mat bgra(1, 3, CV_8UC4);
    bgra.at<cv::Vec4b>(0, 0) = cv::Vec4b(0, 0, 200, 0);    // transparent -> white
    bgra.at<cv::Vec4b>(0, 1) = cv::Vec4b(0, 0, 200, 255);  // opaque red
    bgra.at<cv::Vec4b>(0, 2) = cv::Vec4b(0, 0, 0, 51);     // 20% black over white -> 204
    QVERIFY(cv::imwrite(path("rgba.png").toStdString(), bgra));
    const auto image = folio::loadImage(path("rgba.png").toStdString());
    QCOMPARE(pixelAt(image, 0, 0), (Px{255, 255, 255}));
    QCOMPARE(pixelAt(image, 1, 0), (Px{200, 0, 0}));
    QCOMPARE(pixelAt(image, 2, 0), (Px{204, 204, 204}));
  }

  void pngGreyAndGreyAlpha() {
    cv::Mat grey(2, 2, CV_8UC1, cv::Scalar(77));
    QVERIFY(cv::imwrite(path("grey.png").toStdString(), grey));
    QCOMPARE(pixelAt(folio::loadImage(path("grey.png").toStdString()), 1, 1), (Px{77, 77, 77}));
    // Grey 0 at alpha 255, then grey 0 at alpha 0 (white), grey 100 at alpha 128.
    writeFile(path("grey_alpha.png"), makePng(3, 1, 4, {0, 255, 0, 0, 100, 128}));
    const auto image = folio::loadImage(path("grey_alpha.png").toStdString());
    QCOMPARE(image.width, 3);
    QCOMPARE(pixelAt(image, 0, 0), (Px{0, 0, 0}));
    QCOMPARE(pixelAt(image, 1, 0), (Px{255, 255, 255}));
    const int mixed = int(std::lround(100 * 128 / 255.0 + 255 * (1 - 128 / 255.0)));
    QVERIFY(near(pixelAt(image, 2, 0), Px{mixed, mixed, mixed}, 1));
  }

  void png16BitIsScaledTo8Bit() {
    cv::Mat deep(1, 2, CV_16UC3);
    deep.at<cv::Vec3w>(0, 0) = cv::Vec3w(65535, 257 * 100, 0);  // BGR
    deep.at<cv::Vec3w>(0, 1) = cv::Vec3w(257 * 7, 65535, 257 * 255);
    QVERIFY(cv::imwrite(path("deep.png").toStdString(), deep));
    const auto image = folio::loadImage(path("deep.png").toStdString());
    QCOMPARE(pixelAt(image, 0, 0), (Px{0, 100, 255}));
    QCOMPARE(pixelAt(image, 1, 0), (Px{255, 255, 7}));
  }

  void pngExifOrientationIsApplied() {
    // 2×1 RGB: red then blue; orientation 8 (rotate 90° counter-clockwise) gives 1×2 with blue on top.
    writeFile(path("rot8.png"), makePng(2, 1, 2, {255, 0, 0, 0, 0, 255}, exifTiff(8)));
    const auto image = folio::loadImage(path("rot8.png").toStdString());
    QCOMPARE(image.width, 1);
    QCOMPARE(image.height, 2);
    QCOMPARE(pixelAt(image, 0, 0), (Px{0, 0, 255}));
    QCOMPARE(pixelAt(image, 0, 1), (Px{255, 0, 0}));
  }

  void jpegExifOrientation6RotatesClockwise() {
    const Bytes plain = encode(".jpg", redBlueImage(), {cv::IMWRITE_JPEG_QUALITY, 95});
    QVERIFY(!plain.empty());
    // Splice an APP1 Exif segment right after the SOI marker.
    const Bytes tiff = exifTiff(6);
    Bytes jpeg(plain.begin(), plain.begin() + 2);
    jpeg.insert(jpeg.end(), {0xFF, 0xE1});
    appendBigEndian(jpeg, std::uint32_t(2 + 6 + tiff.size()), 2);
    jpeg.insert(jpeg.end(), {'E', 'x', 'i', 'f', 0, 0});
    jpeg.insert(jpeg.end(), tiff.begin(), tiff.end());
    jpeg.insert(jpeg.end(), plain.begin() + 2, plain.end());
    writeFile(path("rot6.jpg"), jpeg);
    QCOMPARE(folio::exifOrientation(jpeg), 6);
    const auto image = folio::loadImage(path("rot6.jpg").toStdString());
    QCOMPARE(image.width, 20);
    QCOMPARE(image.height, 40);
    // Rotating clockwise puts the left (red) half on top.
    QVERIFY(near(pixelAt(image, 10, 5), Px{255, 0, 0}, 12));
    QVERIFY(near(pixelAt(image, 10, 35), Px{0, 0, 255}, 12));
  }

  void bmpTiffWebpDecode_data() {
    QTest::addColumn<QString>("extension");
    QTest::addColumn<int>("tolerance");
    QTest::newRow("bmp") << ".bmp" << 0;
    QTest::newRow("tiff") << ".tiff" << 0;
    QTest::newRow("webp") << ".webp" << 0;
    QTest::newRow("jpeg") << ".jpg" << 12;
  }
  void bmpTiffWebpDecode() {
    QFETCH(QString, extension);
    QFETCH(int, tolerance);
    // WebP quality above 100 selects lossless coding.
    const std::vector<int> params = extension == ".webp" ? std::vector<int>{cv::IMWRITE_WEBP_QUALITY, 101}
                                                         : std::vector<int>{};
    const Bytes bytes = encode(extension.toStdString(), redBlueImage(), params);
    QVERIFY2(!bytes.empty(), "OpenCV cannot write this format");
    writeFile(path("page" + extension), bytes);
    const auto image = folio::loadImage(path("page" + extension).toStdString());
    QCOMPARE(image.width, 40);
    QCOMPARE(image.height, 20);
    QVERIFY(near(pixelAt(image, 5, 10), Px{255, 0, 0}, tolerance));
    QVERIFY(near(pixelAt(image, 35, 10), Px{0, 0, 255}, tolerance));
  }

  void truncatedFilesGiveClearErrors_data() {
    QTest::addColumn<QString>("extension");
    QTest::newRow("png") << ".png";
    QTest::newRow("jpeg") << ".jpg";
  }
  void truncatedFilesGiveClearErrors() {
    QFETCH(QString, extension);
    cv::Mat noise(64, 64, CV_8UC3);
    cv::randu(noise, 0, 256);
    Bytes bytes = encode(extension.toStdString(), noise);
    QVERIFY(bytes.size() > 1000);
    bytes.resize(bytes.size() / 2);
    const QString file = path("cut" + extension);
    writeFile(file, bytes);
    const QString error = loadError(file);
    QVERIFY2(error.contains("cut" + extension) && error.contains("truncated"), qPrintable(error));
  }
#else
  void otherFormatsNeedOpenCv() {
    writeFile(path("page.png"), makePng(1, 1, 0, {0}));
    const QString error = loadError(path("page.png"));
    QVERIFY2(error.contains("page.png") && error.contains("PPM"), qPrintable(error));
  }
#endif
};

QTEST_GUILESS_MAIN(TestImageDecode)
#include "test_image_decode.moc"
