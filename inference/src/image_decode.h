// Image file decoding behind folio::loadImage (engine.h). With OpenCV: PNG, JPEG, TIFF, WebP, BMP, PPM;
// without: binary PPM (P6, maxval 255) only.
#pragma once

#include <folio/engine.h>

#include <cstdint>
#include <span>
#include <string>

namespace folio {

// Decodes an image file's bytes to RGB: EXIF orientation applied, grey expanded, alpha composited over white,
// 16-bit scaled to 8-bit, CMYK converted. source_name names the data in error messages.
RgbImage decodeImage(std::span<const std::uint8_t> bytes, const std::string& source_name);

// Binary PPM (P6, maxval 255), the format every build reads.
RgbImage decodePpm(std::span<const std::uint8_t> bytes, const std::string& source_name);

// The EXIF orientation (1..8) stored in a JPEG, PNG, WebP or TIFF file; 1 when there is none.
int exifOrientation(std::span<const std::uint8_t> bytes);

}  // namespace folio
