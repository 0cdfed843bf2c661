// Where LIME and KernelSHAP segment a picture: quickshift finds only a handful of segments on a
// small input (a 112 px face), so they segment at the model's input size scaled up to at least
// `min_side` pixels a side (LimeSettings::min_side; 0: the input size itself).
#pragma once

#include <opencv2/core.hpp>

#include <algorithm>
#include <cmath>

namespace lumos {

inline cv::Size segmentation_size(cv::Size input, int min_side) {
  const double scale = std::max(1.0, static_cast<double>(min_side) / std::min(input.width, input.height));
  return {static_cast<int>(std::lround(input.width * scale)), static_cast<int>(std::lround(input.height * scale))};
}

}  // namespace lumos
