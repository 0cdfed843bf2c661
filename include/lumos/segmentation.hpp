// Superpixel segmentations for perturbation methods (LIME). Every function takes an
// 8-bit RGB (CV_8UC3) or grey (CV_8UC1) image — quickshift also a floating-point one, as
// scikit-image does — and returns labels that start at 0 and are contiguous, so a label is
// directly a column of LIME's sample matrix.
#pragma once

#include <opencv2/core/mat.hpp>

#include <cstdint>

namespace lumos {

struct Segmentation {
  cv::Mat labels;  // CV_32SC1, same size as the image, values 0 … count-1
  int count = 0;
};

// scikit-image's quickshift; the defaults are LIME's (lime_image.LimeImageExplainer).
struct QuickshiftOptions {
  double kernel_size = 4;   // Gaussian width of the density; the window is ±ceil(3·kernel_size)
  double max_dist = 200;    // links longer than this are cut
  double ratio = 0.2;       // weight of colour against position
  double sigma = 0;         // Gaussian pre-smoothing, 0 = none
  bool convert2lab = true;  // segment in CIE Lab (D65, as skimage.color.rgb2lab)
  uint64_t seed = 42;       // seeds the tiny density noise that breaks ties
};

// Floating-point images (CV_32F, CV_64F; 1 or 3 channels) are taken as scikit-image takes
// them: values as they are, 1.0 being white (lime's tutorials pass images in [-1, 1]).
Segmentation quickshift(const cv::Mat& image, const QuickshiftOptions& options = {});

// OpenCV ximgproc's SLIC superpixels.
struct SlicOptions {
  enum class Variant { slic, slico, mslic };
  Variant variant = Variant::slico;
  int region_size = 20;  // average superpixel side in pixels
  float ruler = 10.0f;   // compactness (SLIC and MSLIC)
  int iterations = 10;
  int min_element_percent = 25;  // merge superpixels smaller than this % of region_size²
};

Segmentation slic(const cv::Mat& image, const SlicOptions& options = {});

// Felzenszwalb–Huttenlocher graph segmentation (OpenCV ximgproc).
struct FelzenszwalbOptions {
  double scale = 100;  // higher means larger segments (k in the paper)
  double sigma = 0.8;  // Gaussian pre-smoothing
  int min_size = 50;   // segments smaller than this are merged into a neighbour
};

Segmentation felzenszwalb(const cv::Mat& image, const FelzenszwalbOptions& options = {});

// scikit-image's rgb2lab (sRGB gamma, D65 2° white) of an RGB image, as CV_64FC3: 8-bit
// values are divided by 255, floating-point ones (CV_32FC3, CV_64FC3) taken as they are.
cv::Mat rgb_to_lab(const cv::Mat& rgb);

}  // namespace lumos
