// Folio's image decode path (engine.h loadImage: PNG, JPEG, TIFF, WebP, BMP through OpenCV, PPM of its own, EXIF
// orientation) over arbitrary bytes: an RGB image whose buffer matches its size, or folio::Error.
#include <folio/engine.h>

#include <cstdint>
#include <cstdlib>
#include <span>

#include "image_decode.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::span<const std::uint8_t> bytes(data, size);
  (void)folio::exifOrientation(bytes);
  try {
    const folio::RgbImage image = folio::decodeImage(bytes, "fuzz.img");
    if (image.width <= 0 || image.height <= 0 ||
        image.pixels.size() != std::size_t(image.width) * std::size_t(image.height) * 3)
      std::abort();
  } catch (const folio::Error&) {
  }
  return 0;
}
