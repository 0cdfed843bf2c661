// Shared steps of the segmentation functions: checking the input image and numbering
// labels 0 … count-1.
#pragma once

#include "lumos/segmentation.hpp"

#include <string>

namespace lumos::segmentation {

// The image as 8-bit RGB (grey is replicated to three channels, as lime's gray2rgb does).
// Throws InputError naming `who` for empty images or other depths and channel counts.
cv::Mat to_rgb8(const cv::Mat& image, const std::string& who);

// The same for 8-bit or floating-point (CV_32F, CV_64F) images, kept at their depth: the
// images lime and scikit-image take as numpy arrays (floats as they are, e.g. in [-1, 1]).
// Throws InputError for other depths and for NaN or infinite values.
cv::Mat to_rgb(const cv::Mat& image, const std::string& who);

// Renumbers arbitrary integer labels (CV_32S) by increasing value, as numpy's
// np.unique(labels, return_inverse=True) does.
Segmentation relabel_sorted(const cv::Mat& labels);

}  // namespace lumos::segmentation
