// Crops the figure ("image") regions of a page to the JPEG files their markdown links name.
#pragma once

#include <folio/engine.h>

#include <filesystem>
#include <vector>

namespace folio {

// Writes each region with a figure_link to out_dir/figure_link (the union of its boxes, clamped to the page).
// Returns the number of files written. Without OpenCV (GPU builds) nothing is written and 0 is returned.
int writeFigureCrops(const RgbImage& page, const std::vector<Region>& regions, const std::filesystem::path& out_dir);

}  // namespace folio
