#include "figure_crops.h"

#include <algorithm>
#include <cmath>

#ifdef FOLIO_HAVE_OPENCV
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#endif

namespace folio {

int writeFigureCrops(const RgbImage& page, const std::vector<Region>& regions, const std::filesystem::path& out_dir) {
#ifdef FOLIO_HAVE_OPENCV
  const cv::Mat rgb(page.height, page.width, CV_8UC3, const_cast<std::uint8_t*>(page.pixels.data()));
  int written = 0;
  for (const auto& region : regions) {
    if (region.figure_link.empty() || region.boxes.empty()) continue;
    Box u = region.boxes.front();
    for (const auto& b : region.boxes)
      u = {std::min(u.x1, b.x1), std::min(u.y1, b.y1), std::max(u.x2, b.x2), std::max(u.y2, b.y2)};
    const int x1 = std::clamp(static_cast<int>(std::floor(u.x1)), 0, page.width);
    const int y1 = std::clamp(static_cast<int>(std::floor(u.y1)), 0, page.height);
    const int x2 = std::clamp(static_cast<int>(std::ceil(u.x2)), 0, page.width);
    const int y2 = std::clamp(static_cast<int>(std::ceil(u.y2)), 0, page.height);
    if (x2 <= x1 || y2 <= y1) continue;
    cv::Mat bgr;
    cv::cvtColor(rgb(cv::Rect(x1, y1, x2 - x1, y2 - y1)), bgr, cv::COLOR_RGB2BGR);
    const auto path = out_dir / region.figure_link;
    std::filesystem::create_directories(path.parent_path());
    if (!cv::imwrite(path.string(), bgr)) throw Error(path.string() + ": cannot write the figure crop");
    ++written;
  }
  return written;
#else
  (void)page, (void)regions, (void)out_dir;
  return 0;
#endif
}

}  // namespace folio
