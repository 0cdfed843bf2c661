// quickshift as scikit-image computes it (skimage.segmentation.quickshift):
//   1. colour in CIE Lab scaled by `ratio`, position in pixels: a 5-D point per pixel;
//   2. density(p) = Σ_q exp(-|p-q|² / (2·kernel_size²)) over the window |Δr|,|Δc| ≤ ceil(3·kernel_size),
//      plus tiny seeded Gaussian noise that breaks ties (from a portable generator, not
//      numpy's: only on exactly flat areas can the split then differ from skimage's);
//   3. each pixel links to the nearest pixel of higher density in its window (the first one
//      in raster order on equal distance), unless that distance exceeds max_dist;
//   4. each tree of links is a segment, numbered by its root's raster index.
// The inner loops work on four pixels of a row at once (GCC vector extensions, cloned for
// AVX2), in double precision so that density comparisons agree with skimage's.
#include "lumos/segmentation.hpp"

#include "lumos/error.hpp"
#include "perturbation/segmentation/labels.hpp"
#include "perturbation/splitmix.hpp"

#include <ATen/Parallel.h>
#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <vector>

// The vector helpers below are inlined into AVX2 clones; their ABI note does not apply.
#pragma GCC diagnostic ignored "-Wpsabi"

namespace lumos {
namespace {

using v4d = double __attribute__((vector_size(32)));
using v4l = int64_t __attribute__((vector_size(32)));
constexpr int kLanes = 4;

// exp(x) for x in [-700, 0]: Cody–Waite reduction to |r| ≤ ln2/2 and a degree-10 Taylor
// polynomial (relative error ~2e-13, far below the 1e-5 tie-break noise).
inline v4d exp_nonpositive(v4d x) {
  const v4d magic = v4d{} + 0x1.8p52;
  const v4d k = x * 1.4426950408889634 + magic;  // round(x / ln2), kept in the low mantissa bits
  const v4d n = k - magic;
  const v4d r = (x - n * 0.693145751953125) - n * 1.42860682030941723212e-6;
  v4d p = v4d{} + 1.0 / 3628800.0;
  for (double c : {1.0 / 362880.0, 1.0 / 40320.0, 1.0 / 5040.0, 1.0 / 720.0, 1.0 / 120.0, 1.0 / 24.0, 1.0 / 6.0, 0.5,
                   1.0, 1.0}) {
    p = p * r + c;
  }
  const v4l exponent = ((v4l)k - (v4l)magic + 1023) << 52;
  return p * (v4d)exponent;
}

inline v4d load4(const double* p) {
  v4d v;
  __builtin_memcpy(&v, p, sizeof v);
  return v;
}

// Lab (or RGB) planes scaled by ratio, each row padded so that a 4-wide load never leaves it.
struct Planes {
  int height = 0, width = 0, stride = 0;
  std::vector<double> data[3];
  const double* at(int channel, int row) const { return data[channel].data() + static_cast<size_t>(row) * stride; }
};

Planes make_planes(const cv::Mat& features, double ratio) {
  Planes planes;
  planes.height = features.rows;
  planes.width = features.cols;
  planes.stride = features.cols + kLanes;
  for (auto& plane : planes.data) plane.assign(static_cast<size_t>(planes.stride) * planes.height, 0.0);
  for (int r = 0; r < features.rows; ++r) {
    const auto* row = features.ptr<cv::Vec3d>(r);
    for (int c = 0; c < features.cols; ++c) {
      for (int ch = 0; ch < 3; ++ch) planes.data[ch][static_cast<size_t>(r) * planes.stride + c] = row[c][ch] * ratio;
    }
  }
  return planes;
}

// The pixels within ±half (= ceil(3·kernel_size)) of (r, c), clipped to the image.
struct Window {
  int r_min, r_max, c_min, c_max;
  Window(int half, int r, int c, int height, int width)
      : r_min(std::max(r - half, 0)), r_max(std::min(r + half + 1, height)), c_min(std::max(c - half, 0)),
        c_max(std::min(c + half + 1, width)) {}
};

const v4d kLaneOffsets = {0, 1, 2, 3};

// Squared 5-D distance from pixel (r, c) to the four pixels (r_, c_ … c_+3).
inline v4d distances4(const Planes& planes, const double centre[3], int r, int c, int r_, int c_) {
  v4d dist = v4d{};
  for (int ch = 0; ch < 3; ++ch) {
    const v4d t = centre[ch] - load4(planes.at(ch, r_) + c_);
    dist += t * t;
  }
  const v4d dc = static_cast<double>(c - c_) - kLaneOffsets;
  const double dr = r - r_;
  return dist + dr * dr + dc * dc;
}

inline v4d lanes_before(int count) { return kLaneOffsets < static_cast<double>(count) ? v4d{} + 1.0 : v4d{}; }

// Rows are processed in blocks of a fixed height, whatever the thread count, and the
// blocks' partial sums are added in block order: densities are bit-identical for any
// number of threads.
constexpr int kBlockRows = 16;

// Each pair of pixels (p, q) with q after p in raster order is visited once and its kernel
// value added to both densities (the kernel is symmetric). The loops run over offsets
// (dr, dc) first and pixels of a row innermost, so that four neighbouring pixels are
// done at once with plain vector loads and stores. A block writes its own rows and up to
// `half` rows below into its own buffer, which starts at its first row.
__attribute__((target_clones("arch=x86-64-v3", "default")))
void block_densities(const Planes& planes, int half, double kernel_size, int row_begin, int row_end,
                     std::vector<double>& out) {
  const double inv_two_sigma_sqr = -0.5 / (kernel_size * kernel_size);
  const int stride = planes.stride, width = planes.width;
  out.assign(static_cast<size_t>(row_end - row_begin + half) * stride, 0.0);
  for (int r = row_begin; r < row_end; ++r) {
    double* row = out.data() + static_cast<size_t>(r - row_begin) * stride;
    for (int c = 0; c < width; ++c) row[c] = 1.0;  // each pixel's own kernel value
  }
  for (int dr = 0; dr <= half; ++dr) {
    for (int dc = dr == 0 ? 1 : -half; dc <= half; ++dc) {
      const double spatial = static_cast<double>(dr * dr + dc * dc);
      const int c_lo = std::max(0, -dc), c_hi = std::min(width, width - dc);
      for (int r = row_begin; r < row_end && r + dr < planes.height; ++r) {
        double* p_row = out.data() + static_cast<size_t>(r - row_begin) * stride;
        double* q_row = out.data() + static_cast<size_t>(r + dr - row_begin) * stride + dc;
        const double* p_planes[3] = {planes.at(0, r), planes.at(1, r), planes.at(2, r)};
        const double* q_planes[3] = {planes.at(0, r + dr) + dc, planes.at(1, r + dr) + dc, planes.at(2, r + dr) + dc};
        for (int c = c_lo; c < c_hi; c += kLanes) {
          v4d dist = v4d{} + spatial;
          for (int ch = 0; ch < 3; ++ch) {
            const v4d t = load4(p_planes[ch] + c) - load4(q_planes[ch] + c);
            dist += t * t;
          }
          v4d e = exp_nonpositive(dist * inv_two_sigma_sqr);
          if (c_hi - c < kLanes) e *= lanes_before(c_hi - c);
          const v4d p_sum = load4(p_row + c) + e;
          __builtin_memcpy(p_row + c, &p_sum, sizeof p_sum);
          const v4d q_sum = load4(q_row + c) + e;
          __builtin_memcpy(q_row + c, &q_sum, sizeof q_sum);
        }
      }
    }
  }
}

// The nearest higher-density pixel in the window. Rows are visited outwards from the
// pixel's own, and a row (or a column range) that is farther in position alone than the
// best candidate so far cannot hold a closer one, so it is skipped. Equal distances go
// to the earlier pixel in raster order, as skimage's scan does.
__attribute__((target_clones("arch=x86-64-v3", "default")))
void parents_rows(const Planes& planes, int half, const std::vector<double>& densities, int64_t row_begin,
                  int64_t row_end, double max_dist, int* parent) {
  const int width = planes.width;
  for (int r = static_cast<int>(row_begin); r < row_end; ++r) {
    for (int c = 0; c < width; ++c) {
      const Window w(half, r, c, planes.height, width);
      const double centre[3] = {planes.at(0, r)[c], planes.at(1, r)[c], planes.at(2, r)[c]};
      const double own = densities[static_cast<size_t>(r) * width + c];
      double closest = DBL_MAX;
      int64_t closest_index = -1;
      for (int step = 0; step <= 2 * half; ++step) {
        const int dr = step % 2 ? -(step + 1) / 2 : step / 2;
        const int r_ = r + dr;
        if (r_ < w.r_min || r_ >= w.r_max) continue;
        if (static_cast<double>(dr) * dr > closest) break;
        // Columns whose offset alone exceeds the best distance cannot win.
        const double slack = closest - static_cast<double>(dr) * dr;
        const int reach = slack >= static_cast<double>(half) * half ? half : static_cast<int>(std::sqrt(slack)) + 1;
        const int c_lo = std::max(w.c_min, c - reach), c_hi = std::min(w.c_max, c + reach + 1);
        const double* dens_row = densities.data() + static_cast<size_t>(r_) * width;
        v4d best = v4d{} + closest;
        v4l best_index = v4l{} + closest_index;
        for (int c_ = c_lo; c_ < c_hi; c_ += kLanes) {
          v4d dens;
          const int valid = std::min(kLanes, c_hi - c_);
          if (valid == kLanes) {
            dens = load4(dens_row + c_);
          } else {
            dens = v4d{} - DBL_MAX;
            for (int i = 0; i < valid; ++i) dens[i] = dens_row[c_ + i];
          }
          const v4d dist = distances4(planes, centre, r, c, r_, c_);
          const int64_t base = static_cast<int64_t>(r_) * width + c_;
          const v4l index = v4l{base, base + 1, base + 2, base + 3};
          const v4l closer = (dens > own) & ((dist < best) | ((dist == best) & (index < best_index)));
          best = closer ? dist : best;
          best_index = closer ? index : best_index;
        }
        for (int i = 0; i < kLanes; ++i) {
          if (best_index[i] < 0) continue;
          if (best[i] < closest || (best[i] == closest && best_index[i] < closest_index)) {
            closest = best[i];
            closest_index = best_index[i];
          }
        }
      }
      const int self = r * width + c;
      parent[self] = closest_index >= 0 && std::sqrt(closest) <= max_dist ? static_cast<int>(closest_index) : self;
    }
  }
}

// Noise of standard deviation 1e-5 per pixel (Box–Muller on a portable generator).
std::vector<double> tie_break_noise(size_t count, uint64_t seed) {
  SplitMix64 random(seed);
  std::vector<double> noise(count);
  for (size_t i = 0; i < count; i += 2) {
    const double radius = std::sqrt(-2.0 * std::log(random.unit()));
    const double angle = 2.0 * M_PI * random.unit();
    noise[i] = 1e-5 * radius * std::cos(angle);
    if (i + 1 < count) noise[i + 1] = 1e-5 * radius * std::sin(angle);
  }
  return noise;
}

// Kernel density of every pixel plus the tie-break noise, [height * width].
std::vector<double> pixel_densities(const Planes& planes, int half, double kernel_size, uint64_t seed) {
  const int height = planes.height, width = planes.width;
  const int blocks = (height + kBlockRows - 1) / kBlockRows;
  std::vector<std::vector<double>> partial(static_cast<size_t>(blocks));
  at::parallel_for(0, blocks, 1, [&](int64_t begin, int64_t end) {
    for (int64_t b = begin; b < end; ++b) {
      const int first = static_cast<int>(b) * kBlockRows;
      block_densities(planes, half, kernel_size, first, std::min(first + kBlockRows, height),
                      partial[static_cast<size_t>(b)]);
    }
  });
  std::vector<double> densities = tie_break_noise(static_cast<size_t>(height) * width, seed);
  for (int b = 0; b < blocks; ++b) {
    const int first = b * kBlockRows, last = std::min(first + kBlockRows + half, height);
    for (int r = first; r < last; ++r) {
      const double* from = partial[static_cast<size_t>(b)].data() + static_cast<size_t>(r - first) * planes.stride;
      double* to = densities.data() + static_cast<size_t>(r) * width;
      for (int c = 0; c < width; ++c) to[c] += from[c];
    }
  }
  return densities;
}

}  // namespace

cv::Mat rgb_to_lab(const cv::Mat& rgb) {
  CV_Assert(rgb.channels() == 3 && (rgb.depth() == CV_8U || rgb.depth() == CV_32F || rgb.depth() == CV_64F));
  // skimage.img_as_float: bytes / 255, floats as they are; then sRGB decoding (piecewise gamma).
  auto decode = [](double v) { return v > 0.04045 ? std::pow((v + 0.055) / 1.055, 2.4) : v / 12.92; };
  double linear_byte[256];
  for (int i = 0; i < 256; ++i) linear_byte[i] = decode(i / 255.0);
  cv::Mat values;
  if (rgb.depth() != CV_8U) rgb.convertTo(values, CV_64FC3);
  static const double kXyzFromRgb[3][3] = {
      {0.412453, 0.357580, 0.180423}, {0.212671, 0.715160, 0.072169}, {0.019334, 0.119193, 0.950227}};
  static const double kWhiteD65[3] = {0.95047, 1.0, 1.08883};
  auto f = [](double t) { return t > 0.008856 ? std::cbrt(t) : 7.787 * t + 16.0 / 116.0; };
  cv::Mat lab(rgb.size(), CV_64FC3);
  for (int r = 0; r < rgb.rows; ++r) {
    auto* out = lab.ptr<cv::Vec3d>(r);
    for (int c = 0; c < rgb.cols; ++c) {
      double lin[3];
      if (values.empty()) {
        const auto& byte = rgb.ptr<cv::Vec3b>(r)[c];
        for (int i = 0; i < 3; ++i) lin[i] = linear_byte[byte[i]];
      } else {
        const auto& value = values.ptr<cv::Vec3d>(r)[c];
        for (int i = 0; i < 3; ++i) lin[i] = decode(value[i]);
      }
      double xyz[3];
      for (int i = 0; i < 3; ++i) {
        xyz[i] = f((lin[0] * kXyzFromRgb[i][0] + lin[1] * kXyzFromRgb[i][1] + lin[2] * kXyzFromRgb[i][2]) / kWhiteD65[i]);
      }
      out[c] = cv::Vec3d(116.0 * xyz[1] - 16.0, 500.0 * (xyz[0] - xyz[1]), 200.0 * (xyz[1] - xyz[2]));
    }
  }
  return lab;
}

Segmentation quickshift(const cv::Mat& image, const QuickshiftOptions& options) {
  if (!(options.kernel_size >= 1)) throw InputError("quickshift: kernel_size must be >= 1");
  if (!(options.max_dist >= 0) || !(options.ratio >= 0) || !(options.sigma >= 0)) {
    throw InputError("quickshift: max_dist, ratio and sigma must be >= 0");
  }
  const cv::Mat rgb = segmentation::to_rgb(image, "quickshift");
  cv::Mat features;
  if (options.convert2lab) {
    features = rgb_to_lab(rgb);
  } else {
    rgb.convertTo(features, CV_64FC3, rgb.depth() == CV_8U ? 1.0 / 255.0 : 1.0);
  }
  if (options.sigma > 0) {
    // scipy's gaussian_filter: truncate at 4σ, mirror border without repeating the edge pixel.
    const int radius = static_cast<int>(4.0 * options.sigma + 0.5);
    cv::GaussianBlur(features, features, cv::Size(2 * radius + 1, 2 * radius + 1), options.sigma, options.sigma,
                     cv::BORDER_REFLECT);
  }
  const Planes planes = make_planes(features, options.ratio);
  const int half = static_cast<int>(std::ceil(3 * options.kernel_size));
  const int height = rgb.rows, width = rgb.cols;

  const std::vector<double> densities = pixel_densities(planes, half, options.kernel_size, options.seed);
  cv::Mat parent(rgb.size(), CV_32SC1);
  at::parallel_for(0, height, 8, [&](int64_t begin, int64_t end) {
    parents_rows(planes, half, densities, begin, end, options.max_dist, parent.ptr<int>());
  });

  // Every link goes to a strictly higher density, so following links ends at a root.
  int* links = parent.ptr<int>();
  const int count = height * width;
  std::vector<int> path;
  for (int i = 0; i < count; ++i) {
    int root = i;
    while (links[root] != root) {
      path.push_back(root);
      root = links[root];
    }
    for (int p : path) links[p] = root;
    path.clear();
  }
  return segmentation::relabel_sorted(parent);
}

}  // namespace lumos
