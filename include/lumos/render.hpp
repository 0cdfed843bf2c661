// Pictures of explanations: colour maps, heatmap overlays, PNG files.
#pragma once

#include "lumos/image.hpp"

#include <ATen/core/Tensor.h>
#include <opencv2/core.hpp>

#include <string>
#include <vector>

namespace lumos {

// OpenCV's colour maps of the same names. JET is pytorch-grad-cam's default.
enum class Colormap { jet, turbo, viridis, inferno };

std::string to_string(Colormap colormap);
// Parses "jet", "turbo", "viridis", "inferno"; throws InputError naming them.
Colormap colormap_named(const std::string& name);
const std::vector<std::string>& colormap_names();

// A single-channel float map (CV_32F or CV_64F, values in [0,1]) as 8-bit RGB colours,
// exactly as cv2.applyColorMap(np.uint8(255 * map), colormap) then BGR->RGB: 255*map is
// truncated, as numpy's uint8 cast does. Throws InputError for NaN, infinite or
// out-of-range values (beyond 1e-3 of [0,1]; those within it are clamped).
cv::Mat colorize(const cv::Mat& map, Colormap colormap = Colormap::jet);

// The heatmap blended over the image, as pytorch-grad-cam's show_cam_on_image(img/255,
// map, use_rgb=True, colormap, image_weight) computes it, in float32:
//   cam = (1 - image_weight) * heatmap/255 + image_weight * img/255;  cam /= max(cam);
//   out = uint8(255 * cam)
// `map` may have any size: it is first resized bilinearly (cv::resize INTER_LINEAR) to
// the image, as pytorch-grad-cam's scale_cam_image does. image_weight must be in [0,1].
Image overlay(const Image& image, const cv::Mat& map, Colormap colormap = Colormap::jet, double image_weight = 0.5);
// The same for a 2-D float tensor [H, W] (any device-less CPU tensor).
Image overlay(const Image& image, const at::Tensor& map, Colormap colormap = Colormap::jet,
              double image_weight = 0.5);

// How explanations are drawn over their image (explanation_files.hpp's render_pictures).
struct RenderOptions {
  Colormap colormap = Colormap::jet;
  double image_weight = 0.5;  // of the photo in heatmap overlays, as show_cam_on_image's
  int segments_shown = 5;     // segment explanations (LIME): the best segments outlined
};

// One picture of an explanation, in memory.
struct Picture {
  std::string role;  // "" for a method's main picture, else what it shows: "mask", "heatmap", …
  cv::Mat pixels;    // 8-bit RGB (CV_8UC3) or grey (CV_8UC1)
};

// The PNG file's bytes for an 8-bit RGB (CV_8UC3) or grey (CV_8UC1) picture (to send it
// over a network, or embed it). Throws InputError for other pictures.
std::string encode_png(const cv::Mat& pixels);

// Writes an 8-bit RGB (CV_8UC3) or grey (CV_8UC1) picture as PNG, atomically: the bytes
// go to a temporary file in the same folder, which is then renamed onto `path`, so
// `path` never holds a half-written file. Throws lumos::Error if it cannot be written.
void save_png(const cv::Mat& pixels, const std::string& path);
void save_png(const Image& image, const std::string& path);

// The JPEG file's bytes (quality 0-100) of an 8-bit RGB or grey picture; InputError for others.
std::string encode_jpeg(const cv::Mat& pixels, int quality = 85);

// Pictures in the report's gallery: at most `max_side` pixels a side, aspect kept (INTER_AREA),
// never enlarged.
constexpr int kThumbnailSide = 256;
cv::Mat thumbnail(const cv::Mat& pixels, int max_side = kThumbnailSide);

}  // namespace lumos
