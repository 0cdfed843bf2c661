// SLIC superpixels through OpenCV ximgproc, on Lab colour as the SLIC paper does.
#include "lumos/segmentation.hpp"

#include "lumos/error.hpp"
#include "perturbation/segmentation/labels.hpp"

#include <opencv2/imgproc.hpp>
#include <opencv2/ximgproc/slic.hpp>

namespace lumos {

Segmentation slic(const cv::Mat& image, const SlicOptions& options) {
  if (options.region_size < 1 || options.iterations < 1 || options.min_element_percent < 0) {
    throw InputError("slic: region_size and iterations must be >= 1, min_element_percent >= 0");
  }
  const cv::Mat rgb = segmentation::to_rgb8(image, "slic");
  cv::Mat lab;
  cv::cvtColor(rgb, lab, cv::COLOR_RGB2Lab);
  static const int kAlgorithm[] = {cv::ximgproc::SLIC, cv::ximgproc::SLICO, cv::ximgproc::MSLIC};
  auto superpixels =
      cv::ximgproc::createSuperpixelSLIC(lab, kAlgorithm[static_cast<int>(options.variant)], options.region_size, options.ruler);
  superpixels->iterate(options.iterations);
  if (options.min_element_percent > 0) superpixels->enforceLabelConnectivity(options.min_element_percent);
  cv::Mat labels;
  superpixels->getLabels(labels);
  return segmentation::relabel_sorted(labels);
}

}  // namespace lumos
