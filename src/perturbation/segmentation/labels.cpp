#include "perturbation/segmentation/labels.hpp"

#include "lumos/error.hpp"

#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <vector>

namespace lumos::segmentation {

cv::Mat to_rgb8(const cv::Mat& image, const std::string& who) {
  if (image.empty()) throw InputError(who + ": the image is empty");
  if (image.depth() != CV_8U || (image.channels() != 1 && image.channels() != 3)) {
    throw InputError(who + ": expected an 8-bit RGB or grey image, got " + std::to_string(image.channels()) +
                     " channel(s) of OpenCV depth " + std::to_string(image.depth()) +
                     "; convert it to 8-bit RGB first");
  }
  if (image.channels() == 3) return image.isContinuous() ? image : image.clone();
  cv::Mat rgb;
  cv::cvtColor(image, rgb, cv::COLOR_GRAY2RGB);
  return rgb;
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
