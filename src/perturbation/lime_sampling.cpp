// LIME's neighbourhood: which segments each sample keeps, and the images it makes.
#include "lumos/lime.hpp"

#include "perturbation/splitmix.hpp"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <opencv2/imgproc.hpp>

#include <cmath>
#include <exception>
#include <string>
#include <type_traits>
#include <vector>

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

namespace {

// Each segment's mean colour, as lime assigns the float mean to the image's own dtype: 8-bit
// images truncate it, floating-point ones keep it.
template <typename Pixel>
cv::Mat segment_means(const cv::Mat& rgb, const Segmentation& segments) {
  std::vector<cv::Vec3d> sums(static_cast<size_t>(segments.count));
  std::vector<int64_t> counts(static_cast<size_t>(segments.count), 0);
  for (int r = 0; r < rgb.rows; ++r) {
    const auto* pixel = rgb.ptr<Pixel>(r);
    const int* label = segments.labels.ptr<int>(r);
    for (int c = 0; c < rgb.cols; ++c) {
      sums[static_cast<size_t>(label[c])] += cv::Vec3d(pixel[c][0], pixel[c][1], pixel[c][2]);
      ++counts[static_cast<size_t>(label[c])];
    }
  }
  using Value = typename Pixel::value_type;
  std::vector<Pixel> means(sums.size());
  for (size_t s = 0; s < sums.size(); ++s) {
    for (int ch = 0; ch < 3; ++ch) {
      const double mean = counts[s] ? sums[s][ch] / static_cast<double>(counts[s]) : 0;
      means[s][ch] = static_cast<Value>(std::is_integral_v<Value> ? std::trunc(mean) : mean);
    }
  }
  cv::Mat fill(rgb.size(), rgb.type());
  for (int r = 0; r < rgb.rows; ++r) {
    auto* pixel = fill.ptr<Pixel>(r);
    const int* label = segments.labels.ptr<int>(r);
    for (int c = 0; c < rgb.cols; ++c) pixel[c] = means[static_cast<size_t>(label[c])];
  }
  return fill;
}

template <typename Pixel>
void copy_perturbed(const cv::Mat& rgb, const cv::Mat& fill, const Segmentation& segments, const at::Tensor& keep,
                    at::Tensor& images) {
  const int64_t batch = keep.size(0), pixels = static_cast<int64_t>(rgb.total());
  const auto* original = rgb.ptr<Pixel>();
  const auto* hidden = fill.ptr<Pixel>();
  const int* labels = segments.labels.ptr<int>();
  at::parallel_for(0, batch, 1, [&](int64_t begin, int64_t end) {
    for (int64_t b = begin; b < end; ++b) {
      const uint8_t* on = keep.data_ptr<uint8_t>() + b * segments.count;
      auto* out = reinterpret_cast<Pixel*>(static_cast<char*>(images.data_ptr()) + b * pixels * sizeof(Pixel));
      for (int64_t p = 0; p < pixels; ++p) out[p] = on[labels[p]] ? original[p] : hidden[p];
    }
  });
}

}  // namespace

cv::Mat hidden_fill(const cv::Mat& rgb, const Segmentation& segments, const HideColor& hide) {
  CV_Assert((rgb.type() == CV_8UC3 || rgb.type() == CV_32FC3 || rgb.type() == CV_64FC3) &&
            segments.labels.size() == rgb.size());
  switch (hide.kind) {
    case HideColor::Kind::constant:
      return cv::Mat(rgb.size(), rgb.type(), hide.value);
    case HideColor::Kind::blur: {
      if (!(hide.blur_sigma > 0)) throw InputError("LIME blur hide colour needs a sigma > 0");
      cv::Mat fill;
      cv::GaussianBlur(rgb, fill, cv::Size(), hide.blur_sigma, hide.blur_sigma, cv::BORDER_REFLECT_101);
      return fill;
    }
    case HideColor::Kind::segment_mean:
      break;
  }
  switch (rgb.depth()) {
    case CV_32F:
      return segment_means<cv::Vec3f>(rgb, segments);
    case CV_64F:
      return segment_means<cv::Vec3d>(rgb, segments);
    default:
      return segment_means<cv::Vec3b>(rgb, segments);
  }
}

at::Tensor perturbed_images(const cv::Mat& rgb, const cv::Mat& fill, const Segmentation& segments,
                            const at::Tensor& rows) {
  CV_Assert((rgb.type() == CV_8UC3 || rgb.type() == CV_32FC3 || rgb.type() == CV_64FC3) && fill.type() == rgb.type() &&
            rgb.isContinuous() && fill.isContinuous());
  CV_Assert(rows.dim() == 2 && rows.size(1) == segments.count && rows.scalar_type() == at::kByte);
  const at::Tensor keep = rows.contiguous();
  const auto dtype = rgb.depth() == CV_32F ? at::kFloat : rgb.depth() == CV_64F ? at::kDouble : at::kByte;
  at::Tensor images = at::empty({keep.size(0), rgb.rows, rgb.cols, 3}, dtype);
  switch (rgb.depth()) {
    case CV_32F:
      copy_perturbed<cv::Vec3f>(rgb, fill, segments, keep, images);
      break;
    case CV_64F:
      copy_perturbed<cv::Vec3d>(rgb, fill, segments, keep, images);
      break;
    default:
      copy_perturbed<cv::Vec3b>(rgb, fill, segments, keep, images);
  }
  return images;
}

}  // namespace lumos
