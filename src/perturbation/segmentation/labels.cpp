#include "perturbation/segmentation/labels.hpp"

#include "lumos/error.hpp"

#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <vector>

namespace lumos::segmentation {

namespace {

std::string describe(const cv::Mat& image) {
  static const char* kDepths[] = {"8-bit unsigned", "8-bit signed", "16-bit unsigned", "16-bit signed",
                                  "32-bit integer", "32-bit float", "64-bit float", "16-bit float"};
  return std::to_string(image.channels()) + " channel(s) of " + kDepths[image.depth()] + " values";
}

cv::Mat three_channels(const cv::Mat& image) {
  if (image.channels() == 3) return image.isContinuous() ? image : image.clone();
  cv::Mat rgb;
  cv::cvtColor(image, rgb, cv::COLOR_GRAY2RGB);
  return rgb;
}

void check_channels(const cv::Mat& image, const std::string& who, const std::string& expected) {
  if (image.empty()) throw InputError(who + ": the image is empty");
  if (image.channels() != 1 && image.channels() != 3) {
    throw InputError(who + ": expected " + expected + ", got " + describe(image));
  }
}

}  // namespace

cv::Mat to_rgb8(const cv::Mat& image, const std::string& who) {
  check_channels(image, who, "an 8-bit RGB or grey image");
  if (image.depth() != CV_8U) {
    throw InputError(who + ": expected an 8-bit RGB or grey image, got " + describe(image) +
                     "; convert it to 8-bit RGB first");
  }
  return three_channels(image);
}

cv::Mat to_rgb(const cv::Mat& image, const std::string& who) {
  check_channels(image, who, "an RGB or grey image");
  if (image.depth() != CV_8U && image.depth() != CV_32F && image.depth() != CV_64F) {
    throw InputError(who + ": expected 8-bit or floating-point pixels, got " + describe(image));
  }
  if (image.depth() != CV_8U && !cv::checkRange(image)) {
    throw InputError(who + ": the image holds NaN or infinite values");
  }
  return three_channels(image);
}

Segmentation relabel_sorted(const cv::Mat& labels) {
  CV_Assert(labels.type() == CV_32SC1);
  std::vector<int> values(labels.begin<int>(), labels.end<int>());
  std::sort(values.begin(), values.end());
  values.erase(std::unique(values.begin(), values.end()), values.end());
  Segmentation out;
  out.count = static_cast<int>(values.size());
  out.labels.create(labels.size(), CV_32SC1);
  // Dense lookup when the label range is small (the usual case), binary search otherwise.
  const int64_t lo = values.front(), span = static_cast<int64_t>(values.back()) - lo + 1;
  std::vector<int> rank;
  if (span <= 4 * static_cast<int64_t>(labels.total()) + 1024) {
    rank.assign(static_cast<size_t>(span), -1);
    for (size_t i = 0; i < values.size(); ++i) rank[static_cast<size_t>(values[i] - lo)] = static_cast<int>(i);
  }
  auto in = labels.begin<int>();
  for (auto it = out.labels.begin<int>(); it != out.labels.end<int>(); ++it, ++in) {
    *it = rank.empty() ? static_cast<int>(std::lower_bound(values.begin(), values.end(), *in) - values.begin())
                       : rank[static_cast<size_t>(*in - lo)];
  }
  return out;
}

}  // namespace lumos::segmentation
