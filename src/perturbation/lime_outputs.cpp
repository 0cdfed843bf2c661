// What a LIME explanation is shown as: lime's get_image_and_mask, scikit-image's
// find_boundaries / mark_boundaries, and a per-pixel map of segment weights.
#include "lumos/lime.hpp"

#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <climits>
#include <cmath>

namespace lumos {
namespace {

// The extreme label over a (2·radius+1)² or cross neighbourhood. Outside the image the
// edge pixel repeats, which is what scipy's 'reflect' mode gives for a radius of 1.
template <typename Pick>
cv::Mat neighbourhood(const cv::Mat& labels, bool full_square, Pick pick) {
  cv::Mat out(labels.size(), CV_32SC1);
  for (int r = 0; r < labels.rows; ++r) {
    for (int c = 0; c < labels.cols; ++c) {
      int value = labels.at<int>(r, c);
      for (int dr = -1; dr <= 1; ++dr) {
        for (int dc = -1; dc <= 1; ++dc) {
          if (!full_square && dr != 0 && dc != 0) continue;
          const int rr = std::clamp(r + dr, 0, labels.rows - 1), cc = std::clamp(c + dc, 0, labels.cols - 1);
          value = pick(value, labels.at<int>(rr, cc));
        }
      }
      out.at<int>(r, c) = value;
    }
  }
  return out;
}

const auto kMax = [](int a, int b) { return std::max(a, b); };
const auto kMin = [](int a, int b) { return std::min(a, b); };

}  // namespace

cv::Mat segment_mask(const Segmentation& segments, const LinearExplanation& explanation, const MaskOptions& options) {
  if (options.positive_only && options.negative_only) {
    throw InputError("image_and_mask: positive_only and negative_only cannot both be true");
  }
  const auto& weights = explanation.weights;
  cv::Mat mask = cv::Mat::zeros(segments.labels.size(), CV_32SC1);
  const size_t limit = static_cast<size_t>(std::max(options.num_features, 0));
  if (options.positive_only || options.negative_only) {
    size_t taken = 0;
    for (const auto& [segment, weight] : weights) {
      if (taken == limit) break;
      const bool wanted = options.positive_only ? weight > 0 && weight > options.min_weight
                                                : weight < 0 && std::abs(weight) > options.min_weight;
      if (!wanted) continue;
      ++taken;
      mask.setTo(1, segments.labels == segment);
    }
    return mask;
  }
  for (size_t i = 0; i < std::min(limit, weights.size()); ++i) {
    const auto& [segment, weight] = weights[i];
    if (std::abs(weight) < options.min_weight) continue;
    mask.setTo(weight < 0 ? -1 : 1, segments.labels == segment);
  }
  return mask;
}

ImageAndMask image_and_mask(const LimeExplanation& explanation, int64_t label, const MaskOptions& options) {
  const cv::Mat& image = explanation.image;
  ImageAndMask out;
  out.mask = segment_mask(explanation.segments, explanation.of(label), options);
  out.image = options.hide_rest ? cv::Mat::zeros(image.size(), image.type()) : image.clone();
  image.copyTo(out.image, out.mask != 0);
  if (options.positive_only || options.negative_only) return out;
  // Negative segments are tinted in channel 0 (red), positive ones in channel 1 (green).
  double brightest;
  cv::minMaxLoc(image.reshape(1), nullptr, &brightest);
  std::vector<cv::Mat> channels;
  cv::split(out.image, channels);
  channels[0].setTo(brightest, out.mask == -1);
  channels[1].setTo(brightest, out.mask == 1);
  cv::merge(channels, out.image);
  return out;
}

cv::Mat find_boundaries(const cv::Mat& labels, BoundaryMode mode, int background) {
  CV_Assert(labels.type() == CV_32SC1);
  cv::Mat boundaries = neighbourhood(labels, false, kMax) != neighbourhood(labels, false, kMin);
  if (mode == BoundaryMode::inner) {
    boundaries &= labels != background;
  } else if (mode == BoundaryMode::outer) {
    // Background pixels next to an object, and object pixels touching another object.
    const cv::Mat is_background = labels == background;
    cv::Mat inverted = labels.clone();
    inverted.setTo(INT_MAX, is_background);
    const cv::Mat adjacent_objects =
        (neighbourhood(labels, true, kMax) != neighbourhood(inverted, true, kMin)) & ~is_background;
    boundaries &= is_background | adjacent_objects;
  }
  return boundaries / 255;
}

cv::Mat mark_boundaries(const cv::Mat& image, const cv::Mat& labels, const cv::Scalar& color, BoundaryMode mode,
                        int background) {
  if (image.size() != labels.size()) throw InputError("mark_boundaries: image and labels differ in size");
  if (image.channels() != 1 && image.channels() != 3) throw InputError("mark_boundaries: expected a grey or RGB image");
  cv::Mat marked;
  // skimage's img_as_float: integers are scaled to [0, 1], floats are kept.
  const double scale = image.depth() == CV_8U ? 1.0 / 255 : image.depth() == CV_16U ? 1.0 / 65535 : 1.0;
  image.convertTo(marked, CV_64F, scale);
  if (marked.channels() == 1) cv::merge(std::vector<cv::Mat>{marked, marked, marked}, marked);
  marked.setTo(color, find_boundaries(labels, mode, background));
  return marked;
}

cv::Mat weight_heatmap(const Segmentation& segments, const LinearExplanation& explanation) {
  std::vector<float> by_segment(static_cast<size_t>(segments.count), 0.f);
  for (const auto& [segment, weight] : explanation.weights) {
    if (segment >= 0 && segment < segments.count) by_segment[static_cast<size_t>(segment)] = static_cast<float>(weight);
  }
  cv::Mat heatmap(segments.labels.size(), CV_32FC1);
  auto label = segments.labels.begin<int>();
  for (auto it = heatmap.begin<float>(); it != heatmap.end<float>(); ++it, ++label) {
    *it = by_segment[static_cast<size_t>(*label)];
  }
  return heatmap;
}

cv::Mat positive_weight_map(const Segmentation& segments, const LinearExplanation& explanation) {
  const cv::Mat weights = weight_heatmap(segments, explanation);
  double largest = 0;
  cv::minMaxLoc(weights, nullptr, &largest);
  const cv::Mat positive = cv::max(weights, 0.0);
  return largest > 0 ? cv::Mat(positive / largest) : positive;
}

}  // namespace lumos
