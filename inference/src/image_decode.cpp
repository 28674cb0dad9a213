#include "image_decode.h"

#include <cctype>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string_view>
#include <vector>

#ifdef FOLIO_HAVE_OPENCV
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#endif

namespace folio {
namespace {

using namespace std::string_view_literals;
using Bytes = std::span<const std::uint8_t>;

bool startsWith(Bytes bytes, std::string_view prefix, std::size_t at = 0) {
  return bytes.size() >= at + prefix.size() && std::memcmp(bytes.data() + at, prefix.data(), prefix.size()) == 0;
}

unsigned readBigEndian(Bytes bytes, std::size_t at, int n) {
  unsigned value = 0;
  for (int i = 0; i < n; ++i) value = (value << 8) | bytes[at + i];
  return value;
}

unsigned readLittleEndian(Bytes bytes, std::size_t at, int n) {
  unsigned value = 0;
  for (int i = n - 1; i >= 0; --i) value = (value << 8) | bytes[at + i];
  return value;
}

// The container format, from the file's signature; empty when unknown.
std::string_view formatName(Bytes bytes) {
  if (startsWith(bytes, "\xFF\xD8\xFF")) return "JPEG";
  if (startsWith(bytes, "\x89PNG\r\n\x1A\n")) return "PNG";
  if (startsWith(bytes, "II*\0"sv) || startsWith(bytes, "MM\0*"sv)) return "TIFF";
  if (startsWith(bytes, "RIFF") && startsWith(bytes, "WEBP", 8)) return "WebP";
  if (startsWith(bytes, "BM")) return "BMP";
  // Netpbm puts whitespace after the magic number, and OpenCV's reader wants it.
  if (bytes.size() >= 3 && bytes[0] == 'P' && bytes[1] >= '1' && bytes[1] <= '7' && std::isspace(bytes[2])) return "PNM";
  return {};
}

// OpenCV picks its decoder by signature itself. When the one for our format refuses the data, the next whose
// signature matches takes it; among those OpenCV is built with here, only DICOM's (GDCM) looks anywhere but the
// first bytes, at "DICM" at byte 128, and GDCM aborts the process on malformed input (found by
// fuzz_image_decode: a broken WebP header with DICM at 128). Such data never reaches OpenCV.
bool carriesDicomSignature(Bytes bytes) { return startsWith(bytes, "DICM", 128); }

// ---- EXIF orientation: tag 0x0112 of IFD0 inside a TIFF structure -------------------------------------

int orientationInTiff(Bytes tiff) {
  if (tiff.size() < 8) return 1;
  const bool little = startsWith(tiff, "II");
  if (!little && !startsWith(tiff, "MM")) return 1;
  auto read = [&](std::size_t at, int n) { return little ? readLittleEndian(tiff, at, n) : readBigEndian(tiff, at, n); };
  const std::size_t ifd = read(4, 4);
  if (ifd + 2 > tiff.size()) return 1;
  const unsigned entries = read(ifd, 2);
  for (unsigned i = 0; i < entries; ++i) {
    const std::size_t entry = ifd + 2 + std::size_t(i) * 12;
    if (entry + 12 > tiff.size()) return 1;
    if (read(entry, 2) != 0x0112) continue;
    const unsigned value = read(entry + 8, 2);  // type SHORT, count 1: the value sits in the entry
    return value >= 1 && value <= 8 ? static_cast<int>(value) : 1;
  }
  return 1;
}

// JPEG: the APP1 segment that starts with "Exif\0\0", among the segments before the first scan.
std::optional<Bytes> jpegExif(Bytes bytes) {
  std::size_t at = 2;
  while (at + 4 <= bytes.size() && bytes[at] == 0xFF) {
    const unsigned marker = bytes[at + 1];
    if (marker == 0xDA || marker == 0xD9) break;  // start of scan / end of image
    const std::size_t length = readBigEndian(bytes, at + 2, 2);
    if (length < 2 || at + 2 + length > bytes.size()) break;
    Bytes segment = bytes.subspan(at + 4, length - 2);
    if (marker == 0xE1 && startsWith(segment, "Exif\0\0"sv)) return segment.subspan(6);
    at += 2 + length;
  }
  return std::nullopt;
}

// PNG: the eXIf chunk.
std::optional<Bytes> pngExif(Bytes bytes) {
  std::size_t at = 8;
  while (at + 12 <= bytes.size()) {
    const std::size_t length = readBigEndian(bytes, at, 4);
    if (at + 12 + length > bytes.size()) break;
    if (startsWith(bytes, "eXIf", at + 4)) return bytes.subspan(at + 8, length);
    if (startsWith(bytes, "IEND", at + 4)) break;
    at += 12 + length;
  }
  return std::nullopt;
}

// WebP: the EXIF chunk of the RIFF container (some writers keep the JPEG "Exif\0\0" prefix).
std::optional<Bytes> webpExif(Bytes bytes) {
  std::size_t at = 12;
  while (at + 8 <= bytes.size()) {
    const std::size_t length = readLittleEndian(bytes, at + 4, 4);
    if (at + 8 + length > bytes.size()) break;
    if (startsWith(bytes, "EXIF", at)) {
      Bytes chunk = bytes.subspan(at + 8, length);
      return startsWith(chunk, "Exif\0\0"sv) ? chunk.subspan(6) : chunk;
    }
    at += 8 + length + (length & 1);
  }
  return std::nullopt;
}

// JPEG data is cut short when no end-of-image marker follows the first scan (0xFF 0xD9 cannot occur inside
// entropy-coded data). libjpeg would otherwise fill the missing rows with grey and only warn.
bool jpegIsTruncated(Bytes bytes) {
  std::size_t at = 2;
  while (at + 4 <= bytes.size() && bytes[at] == 0xFF && bytes[at + 1] != 0xDA) {
    at += 2 + readBigEndian(bytes, at + 2, 2);
  }
  for (std::size_t i = at; i + 1 < bytes.size(); ++i)
    if (bytes[i] == 0xFF && bytes[i + 1] == 0xD9) return false;
  return true;
}

[[noreturn]] void fail(const std::string& source_name, const std::string& problem) {
  throw Error(source_name + ": " + problem);
}

// ---- PPM ---------------------------------------------------------------------------------------------------

// Reads one header number of a PNM file, skipping whitespace and # comments.
int readPnmNumber(Bytes bytes, std::size_t& at, const std::string& source_name) {
  while (at < bytes.size()) {
    if (bytes[at] == '#') {
      while (at < bytes.size() && bytes[at] != '\n') ++at;
    } else if (std::isspace(bytes[at])) {
      ++at;
    } else {
      break;
    }
  }
  if (at >= bytes.size() || !std::isdigit(bytes[at])) fail(source_name, "malformed PPM header");
  long value = 0;
  while (at < bytes.size() && std::isdigit(bytes[at])) {
    value = value * 10 + (bytes[at++] - '0');
    if (value > 1'000'000) fail(source_name, "PPM header number out of range");
  }
  // Netpbm separates header fields by whitespace. OpenCV's reader swallows the byte after a number whatever it
  // is, so "4022#2222\n" is 4022 × 2222 to it but 4022 and a comment to a comment-aware reader: refusing
  // anything else keeps the size checked above equal to the size OpenCV allocates.
  if (at < bytes.size() && !std::isspace(bytes[at])) fail(source_name, "malformed PPM header");
  return static_cast<int>(value);
}

// ---- the size a header claims, read before a decoder allocates it -----------------------------------------

struct ClaimedSize {
  std::uint64_t width = 0, height = 0;
};

// The frame header's size, found the way libjpeg finds it: stray bytes before a marker and fill bytes skipped.
std::optional<ClaimedSize> jpegSize(Bytes bytes) {
  std::size_t at = 2;
  while (at + 1 < bytes.size()) {
    const unsigned marker = bytes[at + 1];
    if (bytes[at] != 0xFF || marker == 0xFF) {
      ++at;
      continue;
    }
    // Start of frame: every SOFn except DHT (C4), JPG (C8) and DAC (CC).
    if (marker >= 0xC0 && marker <= 0xCF && marker != 0xC4 && marker != 0xC8 && marker != 0xCC) {
      if (at + 9 > bytes.size()) break;
      return ClaimedSize{readBigEndian(bytes, at + 7, 2), readBigEndian(bytes, at + 5, 2)};
    }
    if (marker == 0xDA || marker == 0xD9) break;  // a scan or the end before any frame header
    if (marker == 0x00 || marker == 0x01 || (marker >= 0xD0 && marker <= 0xD7)) {  // markers without a length
      at += 2;
      continue;
    }
    if (at + 4 > bytes.size()) break;
    at += 2 + readBigEndian(bytes, at + 2, 2);
  }
  return std::nullopt;
}

std::optional<ClaimedSize> webpSize(Bytes bytes) {
  if (bytes.size() < 30) return std::nullopt;
  if (startsWith(bytes, "VP8 ", 12))
    return ClaimedSize{readLittleEndian(bytes, 26, 2) & 0x3FFFu, readLittleEndian(bytes, 28, 2) & 0x3FFFu};
  if (startsWith(bytes, "VP8L", 12)) {
    const unsigned bits = readLittleEndian(bytes, 21, 4);
    return ClaimedSize{1 + (bits & 0x3FFFu), 1 + ((bits >> 14) & 0x3FFFu)};
  }
  if (startsWith(bytes, "VP8X", 12))
    return ClaimedSize{1 + std::uint64_t(readLittleEndian(bytes, 24, 3)), 1 + std::uint64_t(readLittleEndian(bytes, 27, 3))};
  return std::nullopt;
}

// ImageWidth (256) and ImageLength (257) of the first image file directory.
std::optional<ClaimedSize> tiffSize(Bytes bytes) {
  if (bytes.size() < 8) return std::nullopt;
  const bool little = startsWith(bytes, "II");
  auto read = [&](std::size_t at, int n) { return little ? readLittleEndian(bytes, at, n) : readBigEndian(bytes, at, n); };
  const std::size_t ifd = read(4, 4);
  if (ifd + 2 > bytes.size()) return std::nullopt;
  ClaimedSize size;
  const unsigned entries = read(ifd, 2);
  for (unsigned i = 0; i < entries; ++i) {
    const std::size_t entry = ifd + 2 + std::size_t(i) * 12;
    if (entry + 12 > bytes.size()) break;
    const unsigned tag = read(entry, 2), type = read(entry + 2, 2);
    const std::uint64_t value = type == 3 ? read(entry + 8, 2) : read(entry + 8, 4);  // SHORT or LONG
    if (tag == 256) size.width = value;
    if (tag == 257) size.height = value;
  }
  return size.width && size.height ? std::optional(size) : std::nullopt;
}

std::optional<ClaimedSize> claimedSize(Bytes bytes, std::string_view format, const std::string& source_name) {
  if (format == "PNG" && bytes.size() >= 24 && startsWith(bytes, "IHDR", 12))
    return ClaimedSize{readBigEndian(bytes, 16, 4), readBigEndian(bytes, 20, 4)};
  if (format == "BMP" && bytes.size() >= 26) {
    if (readLittleEndian(bytes, 14, 4) == 12)  // OS/2 core header: 16-bit sizes
      return ClaimedSize{readLittleEndian(bytes, 18, 2), readLittleEndian(bytes, 20, 2)};
    // 32-bit signed; a negative height means top-down rows
    const auto magnitude = [&](std::size_t at) {
      return std::uint64_t(std::llabs(std::int64_t(static_cast<std::int32_t>(readLittleEndian(bytes, at, 4)))));
    };
    return ClaimedSize{magnitude(18), magnitude(22)};
  }
  if (format == "PNM" && bytes[1] != '7') {  // P1-P6: width and height follow the magic number
    std::size_t at = 2;
    const std::uint64_t width = readPnmNumber(bytes, at, source_name);
    return ClaimedSize{width, std::uint64_t(readPnmNumber(bytes, at, source_name))};
  }
  if (format == "JPEG") return jpegSize(bytes);
  if (format == "WebP") return webpSize(bytes);
  if (format == "TIFF") return tiffSize(bytes);
  return std::nullopt;
}

// Refuses an image whose header claims more than kMaxPagePixels (folio/engine.h), before anything is allocated for it.
void checkClaimedSize(Bytes bytes, std::string_view format, const std::string& source_name) {
  const auto size = claimedSize(bytes, format, source_name);
  constexpr auto limit = static_cast<std::uint64_t>(kMaxPagePixels);
  if (size && size->width * size->height > limit)
    fail(source_name, "the image is " + std::to_string(size->width) + " × " + std::to_string(size->height) +
                          " pixels, more than Folio reads (" + std::to_string(limit / 1'000'000) +
                          " million)");
}

#ifdef FOLIO_HAVE_OPENCV

// Orientation as PIL's ImageOps.exif_transpose applies it.
cv::Mat applyOrientation(const cv::Mat& image, int orientation) {
  cv::Mat out;
  switch (orientation) {
    case 2: cv::flip(image, out, 1); break;
    case 3: cv::rotate(image, out, cv::ROTATE_180); break;
    case 4: cv::flip(image, out, 0); break;
    case 5: cv::transpose(image, out); break;
    case 6: cv::rotate(image, out, cv::ROTATE_90_CLOCKWISE); break;
    case 7: cv::transpose(image, out); cv::flip(out, out, -1); break;
    case 8: cv::rotate(image, out, cv::ROTATE_90_COUNTERCLOCKWISE); break;
    default: out = image;
  }
  return out;
}

// Any decoded depth to float 0..255: 16-bit is scaled down, float images are taken as 0..1.
cv::Mat toFloat255(const cv::Mat& image, const std::string& source_name) {
  double scale = 1.0;
  switch (image.depth()) {
    case CV_8U: scale = 1.0; break;
    case CV_16U: scale = 255.0 / 65535.0; break;
    case CV_16S: scale = 255.0 / 32767.0; break;
    case CV_32F:
    case CV_64F: scale = 255.0; break;
    default: fail(source_name, "unsupported pixel depth");
  }
  cv::Mat out;
  image.convertTo(out, CV_32F, scale);
  return out;
}

// Grey, grey+alpha, BGR or BGRA of any depth to 8-bit RGB; alpha is composited over white.
cv::Mat toRgb8(const cv::Mat& decoded, const std::string& source_name) {
  cv::Mat rgb;
  const int channels = decoded.channels();
  if (decoded.depth() == CV_8U && (channels == 1 || channels == 3)) {
    cv::cvtColor(decoded, rgb, channels == 1 ? cv::COLOR_GRAY2RGB : cv::COLOR_BGR2RGB);
    return rgb;
  }
  std::vector<cv::Mat> planes;
  cv::split(toFloat255(decoded, source_name), planes);
  if (channels == 2 || channels == 4) {
    const cv::Mat alpha = planes.back() / 255.0;
    planes.pop_back();
    for (cv::Mat& plane : planes) plane = plane.mul(alpha) + (1.0 - alpha) * 255.0;
  }
  if (planes.size() == 1) planes = {planes[0], planes[0], planes[0]};
  if (planes.size() != 3) fail(source_name, "unsupported channel count " + std::to_string(channels));
  std::swap(planes[0], planes[2]);  // OpenCV decodes to BGR
  cv::Mat merged;
  cv::merge(planes, merged);
  merged.convertTo(rgb, CV_8U);  // rounds and saturates
  return rgb;
}

RgbImage fromMat(const cv::Mat& rgb) {
  RgbImage image;
  image.width = rgb.cols;
  image.height = rgb.rows;
  image.pixels.resize(std::size_t(rgb.cols) * rgb.rows * 3);
  for (int y = 0; y < rgb.rows; ++y)
    std::memcpy(image.pixels.data() + std::size_t(y) * rgb.cols * 3, rgb.ptr(y), std::size_t(rgb.cols) * 3);
  return image;
}

RgbImage decodeWithOpenCv(Bytes bytes, std::string_view format, const std::string& source_name) {
  if (format == "JPEG" && jpegIsTruncated(bytes)) fail(source_name, "truncated JPEG data (no end-of-image marker)");
  cv::Mat decoded;
  try {
    const cv::Mat buffer(1, static_cast<int>(bytes.size()), CV_8U, const_cast<std::uint8_t*>(bytes.data()));
    // UNCHANGED keeps alpha and 16-bit; it also skips OpenCV's orientation handling, so we apply EXIF ourselves.
    decoded = cv::imdecode(buffer, cv::IMREAD_UNCHANGED);
  } catch (const cv::Exception& e) {
    fail(source_name, "cannot decode the " + std::string(format) + " data: " + e.what());
  }
  if (decoded.empty()) fail(source_name, "cannot decode the " + std::string(format) + " data (truncated or corrupt)");
  return fromMat(applyOrientation(toRgb8(decoded, source_name), exifOrientation(bytes)));
}

#endif

std::vector<std::uint8_t> readFile(const std::string& path) {
  std::error_code error;
  if (!std::filesystem::exists(path, error)) fail(path, "file not found");
  if (std::filesystem::is_directory(path, error)) fail(path, "is a folder, not an image file");
  std::ifstream file(path, std::ios::binary);
  if (!file) fail(path, "cannot open the file for reading");
  std::vector<std::uint8_t> bytes((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  if (file.bad()) fail(path, "read error");
  return bytes;
}

}  // namespace

int exifOrientation(Bytes bytes) {
  const std::string_view format = formatName(bytes);
  std::optional<Bytes> tiff;
  if (format == "JPEG") tiff = jpegExif(bytes);
  else if (format == "PNG") tiff = pngExif(bytes);
  else if (format == "WebP") tiff = webpExif(bytes);
  else if (format == "TIFF") tiff = bytes;
  return tiff ? orientationInTiff(*tiff) : 1;
}

RgbImage decodePpm(Bytes bytes, const std::string& source_name) {
  if (!startsWith(bytes, "P6")) fail(source_name, "not a binary PPM (P6) file");
  std::size_t at = 2;
  const int width = readPnmNumber(bytes, at, source_name);
  const int height = readPnmNumber(bytes, at, source_name);
  const int maxval = readPnmNumber(bytes, at, source_name);
  if (width <= 0 || height <= 0) fail(source_name, "PPM image has no pixels");
  if (maxval != 255) fail(source_name, "PPM maxval " + std::to_string(maxval) + " is not supported (only 255)");
  if (at >= bytes.size() || !std::isspace(bytes[at])) fail(source_name, "malformed PPM header");
  ++at;  // the single whitespace byte before the raster
  const std::size_t size = std::size_t(width) * height * 3;
  if (bytes.size() - at < size)
    fail(source_name, "truncated PPM data (" + std::to_string(bytes.size() - at) + " of " + std::to_string(size) +
                          " pixel bytes)");
  RgbImage image;
  image.width = width;
  image.height = height;
  image.pixels.assign(bytes.begin() + at, bytes.begin() + at + size);
  return image;
}

RgbImage decodeImage(Bytes bytes, const std::string& source_name) {
  if (bytes.empty()) fail(source_name, "the file is empty");
  const std::string_view format = formatName(bytes);
  if (format.empty()) fail(source_name, "not an image (unknown file format)");
  if (carriesDicomSignature(bytes))
    fail(source_name, "the " + std::string(format) + " data also carries a DICOM signature; Folio does not read DICOM files");
  checkClaimedSize(bytes, format, source_name);
#ifdef FOLIO_HAVE_OPENCV
  return decodeWithOpenCv(bytes, format, source_name);
#else
  if (format != "PNM") fail(source_name, std::string(format) + " images need OpenCV; this build reads binary PPM (P6) only");
  return decodePpm(bytes, source_name);
#endif
}

RgbImage loadImage(const std::string& path) {
  const std::vector<std::uint8_t> bytes = readFile(path);
  return decodeImage(bytes, path);
}

}  // namespace folio
