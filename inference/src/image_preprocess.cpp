#include "image_preprocess.h"

#include <cmath>
#include <cstring>
#include <string>

namespace folio {
namespace {

// The global view's letterbox colour: upstream fills with int(mean·255) for mean 0.5.
constexpr std::uint8_t kPadGrey = 127;

// Python's round(): halves go to the even neighbour (the default FE_TONEAREST mode of nearbyint).
int pythonRound(double value) { return static_cast<int>(std::nearbyint(value)); }

void checkImage(const RgbImage& image, const char* what) {
  if (image.empty() || image.pixels.size() != std::size_t(image.width) * image.height * 3)
    throw Error(std::string(what) + ": expected an RGB image, got " + std::to_string(image.width) + "x" +
                std::to_string(image.height) + " with " + std::to_string(image.pixels.size()) + " bytes");
}

// The image as a [1,3,H,W] uint8 tensor viewing the pixels in place (channels-last strides).
torch::Tensor planarView(const RgbImage& image) {
  auto hwc = torch::from_blob(const_cast<std::uint8_t*>(image.pixels.data()), {image.height, image.width, 3},
                              torch::kUInt8);
  return hwc.permute({2, 0, 1}).unsqueeze(0);
}

RgbImage fromPlanar(const torch::Tensor& planar) {
  auto hwc = planar.squeeze(0).permute({1, 2, 0}).contiguous();
  RgbImage image;
  image.height = static_cast<int>(hwc.size(0));
  image.width = static_cast<int>(hwc.size(1));
  image.pixels.resize(hwc.numel());
  std::memcpy(image.pixels.data(), hwc.data_ptr<std::uint8_t>(), hwc.numel());
  return image;
}

RgbImage cropTile(const RgbImage& image, int x0, int y0, int size) {
  RgbImage tile;
  tile.width = tile.height = size;
  tile.pixels.resize(std::size_t(size) * size * 3);
  for (int y = 0; y < size; ++y) {
    const auto* row = image.pixels.data() + (std::size_t(y0 + y) * image.width + x0) * 3;
    std::memcpy(tile.pixels.data() + std::size_t(y) * size * 3, row, std::size_t(size) * 3);
  }
  return tile;
}

// The page stretched onto the grid and cut into image_size² tiles, row-major.
std::vector<RgbImage> cutTiles(const RgbImage& page, TileGrid grid, int image_size) {
  const RgbImage stretched = resizeBicubic(page, image_size * grid.w, image_size * grid.h);
  std::vector<RgbImage> tiles;
  for (int row = 0; row < grid.h; ++row)
    for (int col = 0; col < grid.w; ++col) tiles.push_back(cropTile(stretched, col * image_size, row * image_size, image_size));
  return tiles;
}

// Tokens of one view of side `size` pixels: SAM's 16× patches, then the projector's 4× downsampling, one row
// newline token per row.
int viewTokensPerSide(int size) { return static_cast<int>(std::ceil((size / 16) / 4.0)); }

}  // namespace

ModeGeometry modeGeometry(Mode mode, ModelFamily family) {
  if (family == ModelFamily::DeepseekOcr2) {
    // Views of 768 or 1024 only: the encoder has learnable queries for those two sizes alone. The official
    // non-crop 768 path stretches the page to the square (OCR2.md "Image token layout").
    switch (mode) {
      case Mode::Small: return {768, 768, false, true, false};
      case Mode::Base: return {1024, 1024, false, false, false};
      case Mode::Gundam: return {1024, 768, true, false, false};
      default:
        throw Error("DeepSeek-OCR-2 has no " + std::string(modeName(mode)) +
                    " mode (its encoder reads 768 and 1024 views only); use small, base or gundam");
    }
  }
  switch (mode) {
    case Mode::Tiny: return {512, 512, false, true};
    case Mode::Small: return {640, 640, false, true};
    case Mode::Base: return {1024, 1024, false};
    case Mode::Large: return {1280, 1280, false};
    case Mode::Gundam: return {1024, 640, true};
  }
  throw Error("unknown resolution mode " + std::to_string(static_cast<int>(mode)));
}

std::vector<Mode> supportedModes(ModelFamily family) {
  if (family == ModelFamily::DeepseekOcr2) return {Mode::Small, Mode::Base, Mode::Gundam};
  return {Mode::Tiny, Mode::Small, Mode::Base, Mode::Large, Mode::Gundam};
}

TileGrid chooseTileGrid(int page_w, int page_h, int image_size, int min_crops, int max_crops) {
  if (page_w <= 0 || page_h <= 0)
    throw Error("tile grid: page size " + std::to_string(page_w) + "x" + std::to_string(page_h) + " is empty");
  if (min_crops < 1 || max_crops < min_crops)
    throw Error("tile grid: crop range [" + std::to_string(min_crops) + ", " + std::to_string(max_crops) + "] is empty");
  // Candidates in increasing tile count, as upstream orders them. Within one count the order cannot change the
  // result: two grids of equal count tie only at the midpoint of their ratios, where a third grid is closer.
  std::vector<TileGrid> candidates;
  for (int count = min_crops; count <= max_crops; ++count)
    for (int w = 1; w <= count; ++w)
      if (count % w == 0) candidates.push_back({w, count / w});

  const double page_aspect = double(page_w) / double(page_h);
  const double page_area = double(page_w) * double(page_h);
  TileGrid best;
  double best_diff = INFINITY;
  for (const TileGrid& grid : candidates) {
    const double diff = std::abs(page_aspect - double(grid.w) / double(grid.h));
    if (diff < best_diff) {
      best_diff = diff;
      best = grid;
    } else if (diff == best_diff && page_area > 0.5 * image_size * image_size * grid.w * grid.h) {
      best = grid;  // a tie goes to the larger grid when the page has pixels enough to fill half of it
    }
  }
  return best;
}

int imageTokenCount(Mode mode, TileGrid grid, ModelFamily family) {
  const ModeGeometry geometry = modeGeometry(mode, family);
  const int q_global = viewTokensPerSide(geometry.base_size);
  if (!geometry.row_newlines) {  // each view's positions, then the view separator
    const int q_tile = viewTokensPerSide(geometry.image_size);
    return q_global * q_global + (grid.hasTiles() ? grid.w * grid.h * q_tile * q_tile : 0) + 1;
  }
  int tokens = (q_global + 1) * q_global + 1;  // rows of q + newline, then the view separator
  if (grid.hasTiles()) {
    const int q_tile = viewTokensPerSide(geometry.image_size);
    tokens += (q_tile * grid.w + 1) * (q_tile * grid.h);  // the tile mosaic, one newline per mosaic row
  }
  return tokens;
}

RgbImage resizeBicubic(const RgbImage& image, int width, int height) {
  checkImage(image, "resize");
  if (width <= 0 || height <= 0)
    throw Error("resize: target size " + std::to_string(width) + "x" + std::to_string(height) + " is empty");
  if (width == image.width && height == image.height) return image;  // PIL returns a copy too
  // torch's antialiased bicubic on uint8 is PIL's algorithm: kernel a = -0.5, support widened by the scale when
  // shrinking, fixed-point weights, one axis at a time with an 8-bit intermediate. It is 6x faster than the
  // float path and stays within 1/255 of PIL on the goldens.
  namespace F = torch::nn::functional;
  torch::NoGradGuard no_grad;
  const auto options = F::InterpolateFuncOptions()
                           .size(std::vector<int64_t>{height, width})
                           .mode(torch::kBicubic)
                           .align_corners(false)
                           .antialias(true);
  return fromPlanar(F::interpolate(planarView(image), options));
}

RgbImage padToSquare(const RgbImage& image, int size, std::uint8_t fill) {
  checkImage(image, "pad");
  // ImageOps.contain: the side that does not fill `size` is rounded from the aspect ratio.
  int fit_w = size, fit_h = size;
  if (image.width > image.height)
    fit_h = pythonRound(double(image.height) / double(image.width) * size);
  else if (image.width < image.height)
    fit_w = pythonRound(double(image.width) / double(image.height) * size);

  RgbImage out;
  out.width = out.height = size;
  out.pixels.assign(std::size_t(size) * size * 3, fill);
  if (fit_w == 0 || fit_h == 0) return out;  // a sliver page vanishes, as in PIL
  const RgbImage fitted = resizeBicubic(image, fit_w, fit_h);
  const int x0 = pythonRound((size - fit_w) * 0.5);
  const int y0 = pythonRound((size - fit_h) * 0.5);
  for (int y = 0; y < fit_h; ++y)
    std::memcpy(out.pixels.data() + (std::size_t(y0 + y) * size + x0) * 3,
                fitted.pixels.data() + std::size_t(y) * fit_w * 3, std::size_t(fit_w) * 3);
  return out;
}

PageViews preprocessViews(const RgbImage& page, Mode mode, ModelFamily family) {
  checkImage(page, "preprocess");
  const ModeGeometry geometry = modeGeometry(mode, family);
  PageViews views;
  const bool page_exceeds_tile = page.width > geometry.image_size || page.height > geometry.image_size;
  if (geometry.crop && page_exceeds_tile) {
    views.grid = chooseTileGrid(page.width, page.height, geometry.image_size);
    if (views.grid.hasTiles()) views.tiles = cutTiles(page, views.grid, geometry.image_size);
  }
  views.global_view = geometry.stretch
                          ? padToSquare(resizeBicubic(page, geometry.image_size, geometry.image_size),
                                        geometry.base_size, kPadGrey)
                          : padToSquare(page, geometry.base_size, kPadGrey);
  return views;
}

namespace {

// The view's pixels as 3 planes (R, G, B) at `planes`.
void writePlanes(const RgbImage& view, std::uint8_t* planes) {
  checkImage(view, "normalize");
  const std::size_t plane = std::size_t(view.width) * view.height;
  const std::uint8_t* rgb = view.pixels.data();
  for (std::size_t i = 0; i < plane; ++i)
    for (std::size_t c = 0; c < 3; ++c) planes[c * plane + i] = rgb[i * 3 + c];
}

// Views of one size as [n, 3, H, W] uint8 planes.
torch::Tensor stackedPlanes(const std::vector<const RgbImage*>& same_size, const torch::TensorOptions& options) {
  const auto& first = *same_size.front();
  auto out = torch::empty({static_cast<std::int64_t>(same_size.size()), 3, first.height, first.width}, options);
  for (std::size_t k = 0; k < same_size.size(); ++k) writePlanes(*same_size[k], out[k].data_ptr<std::uint8_t>());
  return out;
}

}  // namespace

torch::Tensor viewPlanes(const RgbImage& view) { return stackedPlanes({&view}, torch::kUInt8); }

const torch::Tensor& pixelValueTable() {
  // CUDA divides by a scalar as a multiplication by its reciprocal, so the values are not computed there.
  static const torch::Tensor values = torch::arange(256, torch::kFloat32).div_(255.0).sub_(0.5).div_(0.5);
  return values;
}

torch::Tensor normalizeViews(const torch::Tensor& planes, const torch::Tensor& table) {
  torch::NoGradGuard no_grad;
  return table.to(planes.device()).index_select(0, planes.flatten().to(torch::kInt32)).view(planes.sizes());
}

PreprocessedPage preprocessPage(const RgbImage& page, Mode mode, bool pinned, ModelFamily family) {
  const PageViews views = preprocessViews(page, mode, family);
  const auto options = torch::TensorOptions().dtype(torch::kUInt8).pinned_memory(pinned);
  PreprocessedPage result;
  result.global_view = stackedPlanes({&views.global_view}, options);
  if (!views.tiles.empty()) {
    std::vector<const RgbImage*> tiles;
    for (const RgbImage& tile : views.tiles) tiles.push_back(&tile);
    result.tiles = stackedPlanes(tiles, options);
  }
  result.grid = views.grid;
  result.n_image_tokens = imageTokenCount(mode, views.grid, family);
  return result;
}

}  // namespace folio
