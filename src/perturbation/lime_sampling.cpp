// LIME's neighbourhood: which segments each sample keeps, and the images it makes.
#include "lumos/lime.hpp"

#include "perturbation/splitmix.hpp"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <opencv2/imgproc.hpp>

#include <cmath>
#include <exception>
#include <string>

namespace lumos {

HideColor HideColor::parse(const std::string& text) {
  if (text == "mean") return segment_mean();
  if (text == "blur") return blurred(10);
  try {
    size_t used = 0;
    const double value = std::stod(text, &used);
    if (used == text.size() && value >= 0 && value <= 255) return constant(value);
  } catch (const std::exception&) {
  }
  throw InputError("'" + text + "' is not a hide colour — give a grey level 0-255, mean, or blur");
}

at::Tensor sample_matrix(int64_t num_samples, int64_t num_segments, uint64_t seed) {
  if (num_samples < 1 || num_segments < 1) {
    throw InputError("LIME sample matrix: need >= 1 sample and >= 1 segment, got " + std::to_string(num_samples) +
                     " x " + std::to_string(num_segments));
  }
  at::Tensor samples = at::empty({num_samples, num_segments}, at::kByte);
  uint8_t* out = samples.data_ptr<uint8_t>();
  SplitMix64 random(seed);
  uint64_t bits = 0;
  for (int64_t i = 0; i < num_samples * num_segments; ++i) {
    if (i % 64 == 0) bits = random.next();
    out[i] = static_cast<uint8_t>(bits & 1);
    bits >>= 1;
  }
  samples[0].fill_(1);  // row 0 is the image itself
  return samples;
}

cv::Mat hidden_fill(const cv::Mat& rgb, const Segmentation& segments, const HideColor& hide) {
  CV_Assert(rgb.type() == CV_8UC3 && segments.labels.size() == rgb.size());
  cv::Mat fill;
  switch (hide.kind) {
    case HideColor::Kind::constant:
      fill = cv::Mat(rgb.size(), CV_8UC3, hide.value);
      break;
    case HideColor::Kind::blur:
      if (!(hide.blur_sigma > 0)) throw InputError("LIME blur hide colour needs a sigma > 0");
      cv::GaussianBlur(rgb, fill, cv::Size(), hide.blur_sigma, hide.blur_sigma, cv::BORDER_REFLECT_101);
      break;
    case HideColor::Kind::segment_mean: {
      // lime assigns the float mean to the uint8 image, which truncates it.
      std::vector<cv::Vec3d> sums(static_cast<size_t>(segments.count));
      std::vector<int64_t> counts(static_cast<size_t>(segments.count), 0);
      for (int r = 0; r < rgb.rows; ++r) {
        const auto* pixel = rgb.ptr<cv::Vec3b>(r);
        const int* label = segments.labels.ptr<int>(r);
        for (int c = 0; c < rgb.cols; ++c) {
          sums[static_cast<size_t>(label[c])] += cv::Vec3d(pixel[c][0], pixel[c][1], pixel[c][2]);
          ++counts[static_cast<size_t>(label[c])];
        }
      }
      std::vector<cv::Vec3b> means(sums.size());
      for (size_t s = 0; s < sums.size(); ++s) {
        for (int ch = 0; ch < 3; ++ch) {
          means[s][ch] = counts[s] ? static_cast<uint8_t>(std::trunc(sums[s][ch] / static_cast<double>(counts[s]))) : 0;
        }
      }
      fill.create(rgb.size(), CV_8UC3);
      for (int r = 0; r < rgb.rows; ++r) {
        auto* pixel = fill.ptr<cv::Vec3b>(r);
        const int* label = segments.labels.ptr<int>(r);
        for (int c = 0; c < rgb.cols; ++c) pixel[c] = means[static_cast<size_t>(label[c])];
      }
      break;
    }
  }
  return fill;
}

at::Tensor perturbed_images(const cv::Mat& rgb, const cv::Mat& fill, const Segmentation& segments,
                            const at::Tensor& rows) {
  CV_Assert(rgb.type() == CV_8UC3 && fill.type() == CV_8UC3 && rgb.isContinuous() && fill.isContinuous());
  CV_Assert(rows.dim() == 2 && rows.size(1) == segments.count && rows.scalar_type() == at::kByte);
  const at::Tensor keep = rows.contiguous();
  const int64_t batch = keep.size(0), pixels = static_cast<int64_t>(rgb.total());
  at::Tensor images = at::empty({batch, rgb.rows, rgb.cols, 3}, at::kByte);
  const uint8_t* original = rgb.data;
  const uint8_t* hidden = fill.data;
  const int* labels = segments.labels.ptr<int>();
  at::parallel_for(0, batch, 1, [&](int64_t begin, int64_t end) {
    for (int64_t b = begin; b < end; ++b) {
      const uint8_t* on = keep.data_ptr<uint8_t>() + b * segments.count;
      uint8_t* out = images.data_ptr<uint8_t>() + b * pixels * 3;
      for (int64_t p = 0; p < pixels; ++p) {
        const uint8_t* from = on[labels[p]] ? original : hidden;
        out[3 * p] = from[3 * p];
        out[3 * p + 1] = from[3 * p + 1];
        out[3 * p + 2] = from[3 * p + 2];
      }
    }
  });
  return images;
}

}  // namespace lumos
