// Colour maps: OpenCV's applyColorMap on the map's values in 0-255.
#include "lumos/error.hpp"
#include "lumos/render.hpp"

#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <utility>

namespace lumos {
namespace {

constexpr std::array<std::pair<Colormap, int>, 4> kOpenCvCodes{{
    {Colormap::jet, cv::COLORMAP_JET},
    {Colormap::turbo, cv::COLORMAP_TURBO},
    {Colormap::viridis, cv::COLORMAP_VIRIDIS},
    {Colormap::inferno, cv::COLORMAP_INFERNO},
}};

// Values this far outside [0,1] are rounding noise from min-max scaling and resizing.
constexpr double kRangeTolerance = 1e-3;

int opencv_code(Colormap colormap) {
  for (const auto& [map, code] : kOpenCvCodes) {
    if (map == colormap) return code;
  }
  throw InputError("unknown colour map value " + std::to_string(static_cast<int>(colormap)));
}

}  // namespace

std::string to_string(Colormap colormap) {
  switch (colormap) {
    case Colormap::jet: return "jet";
    case Colormap::turbo: return "turbo";
    case Colormap::viridis: return "viridis";
    case Colormap::inferno: return "inferno";
  }
  return "unknown";
}

const std::vector<std::string>& colormap_names() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> n;
    for (const auto& [map, code] : kOpenCvCodes) n.push_back(to_string(map));
    return n;
  }();
  return names;
}

Colormap colormap_named(const std::string& name) {
  for (const auto& [map, code] : kOpenCvCodes) {
    if (to_string(map) == name) return map;
  }
  throw InputError("unknown colour map '" + name + "'; use one of: jet, turbo, viridis, inferno");
}

cv::Mat colorize(const cv::Mat& map, Colormap colormap) {
  if (map.empty() || map.channels() != 1 || (map.depth() != CV_32F && map.depth() != CV_64F)) {
    throw InputError("a colour map needs a non-empty one-channel float map (CV_32F or CV_64F)");
  }
  cv::Mat values;
  map.convertTo(values, CV_32F);
  if (!cv::checkRange(values)) throw InputError("the map holds NaN or infinite values; it cannot be drawn");
  double low = 0, high = 0;
  cv::minMaxLoc(values, &low, &high);
  if (low < -kRangeTolerance || high > 1 + kRangeTolerance) {
    throw InputError("map values must lie in [0,1] but range over [" + std::to_string(low) + ", " +
                     std::to_string(high) + "]; min-max normalise the map first");
  }
  cv::Mat levels(values.size(), CV_8UC1);
  for (int r = 0; r < values.rows; ++r) {
    const float* in = values.ptr<float>(r);
    uchar* out = levels.ptr<uchar>(r);
    // Truncation, as numpy's uint8(255 * map); clamping keeps the tolerated noise in range.
    for (int c = 0; c < values.cols; ++c) out[c] = static_cast<uchar>(std::clamp(255.f * in[c], 0.f, 255.f));
  }
  cv::Mat bgr, rgb;
  cv::applyColorMap(levels, bgr, opencv_code(colormap));
  cv::cvtColor(bgr, rgb, cv::COLOR_BGR2RGB);
  return rgb;
}

}  // namespace lumos
