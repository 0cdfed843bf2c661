// Felzenszwalb–Huttenlocher graph segmentation through OpenCV ximgproc.
#include "lumos/segmentation.hpp"

#include "lumos/error.hpp"
#include "perturbation/segmentation/labels.hpp"

#include <opencv2/ximgproc/segmentation.hpp>

namespace lumos {

Segmentation felzenszwalb(const cv::Mat& image, const FelzenszwalbOptions& options) {
  if (!(options.scale > 0) || !(options.sigma >= 0) || options.min_size < 0) {
    throw InputError("felzenszwalb: scale must be > 0, sigma and min_size >= 0");
  }
  const cv::Mat rgb = segmentation::to_rgb8(image, "felzenszwalb");
  auto segmenter = cv::ximgproc::segmentation::createGraphSegmentation(options.sigma, static_cast<float>(options.scale),
                                                                       options.min_size);
  cv::Mat labels;
  segmenter->processImage(rgb, labels);
  return segmentation::relabel_sorted(labels);
}

}  // namespace lumos
