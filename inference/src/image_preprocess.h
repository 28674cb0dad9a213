// The model's image preprocessing (MODEL.md "Image preprocessing"), following the vLLM processor that the
// reference goldens were made with: a letterboxed global view of the whole page plus, in Gundam mode,
// 640×640 tiles (DeepSeek-OCR-2: 768×768) of the page stretched onto a grid chosen by aspect ratio.
#pragma once

#include <folio/engine.h>
#include <torch/torch.h>

#include <vector>

namespace folio {

// Sizes of a resolution mode: the global view is base_size², tiles are image_size².
struct ModeGeometry {
  int base_size = 1024;
  int image_size = 1024;
  bool crop = false;     // Gundam: tiles of image_size² besides the global view
  bool stretch = false;  // the page is stretched to a square before the letterbox (the small non-crop modes)
  bool row_newlines = true;  // DeepSeek-OCR ends every row of features with image_newline; OCR-2 has none
};
// Throws folio::Error for a mode the family lacks (DeepSeek-OCR-2: Tiny, Large).
ModeGeometry modeGeometry(Mode mode, ModelFamily family = ModelFamily::DeepseekOcr);

// Tile grid: w tiles across, h tiles down. 1×1 means no tiles.
struct TileGrid {
  int w = 1, h = 1;
  bool hasTiles() const { return w * h > 1; }
};

// The grid (min_crops ≤ w·h ≤ max_crops) whose aspect ratio w/h is closest to the page's.
constexpr int kMinCrops = 2, kMaxCrops = 6;  // the vLLM processor's: every Gundam page gets 2..6 tiles
TileGrid chooseTileGrid(int page_w, int page_h, int image_size = 640, int min_crops = kMinCrops,
                        int max_crops = kMaxCrops);

// Number of <image> tokens the vision encoder produces for a page of this mode and grid.
int imageTokenCount(Mode mode, TileGrid grid, ModelFamily family = ModelFamily::DeepseekOcr);

// The preprocessed views as 8-bit images (what upstream's PIL pipeline produces before normalising).
struct PageViews {
  RgbImage global_view;        // base_size²
  std::vector<RgbImage> tiles;  // row-major, image_size² each; empty when the grid is 1×1
  TileGrid grid;
};
PageViews preprocessViews(const RgbImage& page, Mode mode, ModelFamily family = ModelFamily::DeepseekOcr);

// The views as 8-bit RGB planes, a quarter of the bytes of the normalised input: they travel to the GPU like
// this and are normalised there (normalizeViews).
struct PreprocessedPage {
  torch::Tensor global_view;  // [1,3,S,S] uint8
  torch::Tensor tiles;        // [n,3,s,s] uint8 (s: 640, OCR-2 768), or undefined when there are no tiles
  TileGrid grid;
  int n_image_tokens = 0;
};
// pinned: the planes go to page-locked memory, so their copy to a GPU runs at full speed and asynchronously
// (needs a CUDA build with a GPU).
PreprocessedPage preprocessPage(const RgbImage& page, Mode mode, bool pinned = false,
                                ModelFamily family = ModelFamily::DeepseekOcr);

// One 8-bit view as [1,3,H,W] uint8 planes.
torch::Tensor viewPlanes(const RgbImage& view);

// The vision encoder's input value of each 8-bit value: (x/255 - 0.5)/0.5 in float32, computed on the CPU by the
// ops of torchvision's ToTensor + Normalize ([256], on the CPU).
const torch::Tensor& pixelValueTable();

// uint8 planes -> the vision encoder's input in float32 on the planes' device, bit-identical to upstream's
// torchvision ToTensor + Normalize: a lookup in `table` (pixelValueTable(), ideally already on that device).
torch::Tensor normalizeViews(const torch::Tensor& planes, const torch::Tensor& table = pixelValueTable());

// Resizes like PIL's Image.resize with BICUBIC on an 8-bit RGB image (antialiased when shrinking,
// rounded to 8 bits after each axis). Exposed for tests.
RgbImage resizeBicubic(const RgbImage& image, int width, int height);

// PIL's ImageOps.pad: resize keeping the aspect ratio to fit size², centre, fill the rest with fill.
RgbImage padToSquare(const RgbImage& image, int size, std::uint8_t fill);

}  // namespace folio
