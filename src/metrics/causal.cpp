// Deletion and insertion (RISE, Petsiuk et al. 2018), as their CausalMetric computes them.
#include "lumos/error.hpp"
#include "lumos/metrics.hpp"
#include "metrics/metric_inputs.hpp"

#include <ATen/ATen.h>

#include <cmath>

namespace lumos {
namespace {

using metrics_detail::CheckedInputs;

// RISE's gkern: scipy.ndimage.gaussian_filter(sigma) of a centred unit impulse in a
// size x size array (truncate 4, mode 'reflect'), which is the outer product of the 1-D
// filter of a centred impulse. The reflections fold the tails back, so the kernel is
// flatter than a sampled Gaussian, and sums to 1.
at::Tensor rise_kernel(int64_t size, double sigma) {
  const int64_t radius = static_cast<int64_t>(4.0 * sigma + 0.5);
  std::vector<double> taps(2 * radius + 1);
  double sum = 0;
  for (int64_t t = -radius; t <= radius; ++t) sum += taps[t + radius] = std::exp(-0.5 * t * t / (sigma * sigma));
  const int64_t centre = size / 2, period = 2 * size;
  at::Tensor line = at::zeros({size}, at::kDouble);
  auto values = line.accessor<double, 1>();
  for (int64_t x = 0; x < size; ++x) {
    for (int64_t t = -radius; t <= radius; ++t) {
      int64_t m = ((x + t) % period + period) % period;  // 'reflect': d c b a | a b c d | d c b a
      if (m >= size) m = period - 1 - m;
      if (m == centre) values[x] += taps[t + radius] / sum;
    }
  }
  return at::outer(line, line).to(at::kFloat);
}

enum class Direction { deletion, insertion };

std::vector<Curve> causal_curves(Direction direction, Model& model, const at::Tensor& batch, const at::Tensor& maps,
                                 const std::vector<int64_t>& targets, const CausalOptions& causal,
                                 const MetricOptions& options) {
  const std::string metric = direction == Direction::deletion ? "deletion" : "insertion";
  if (causal.steps < 1) throw InputError(metric + ": steps must be at least 1");
  const CheckedInputs in = metrics_detail::check_inputs(model, batch, maps, targets, options, metric);
  const int64_t n = in.images.size(0), height = in.images.size(2), width = in.images.size(3);
  const int64_t pixels = height * width;
  const int64_t per_step = (pixels + causal.steps - 1) / causal.steps;
  const int64_t steps = (pixels + per_step - 1) / per_step;

  at::Tensor start, finish;
  if (direction == Direction::deletion) {
    start = in.images;
    at::Tensor baseline = causal.baseline.defined() ? causal.baseline.to(at::kFloat) : at::zeros({}, at::kFloat);
    if (baseline.dim() == 3) baseline = metrics_detail::from_layout(baseline.unsqueeze(0), model.input().layout);
    try {
      finish = at::broadcast_to(baseline, in.images.sizes()).contiguous();
    } catch (const c10::Error&) {
      throw InputError("deletion: the baseline cannot be broadcast to one image of the batch; give a scalar or "
                       "one image's shape");
    }
  } else {
    start = rise_blur(in.images, Layout::NCHW, causal.blur_size, causal.blur_sigma);
    finish = in.images;
  }

  // rank[i, y, x]: the position of pixel (y, x) in image i's saliency order (0 = most salient).
  const at::Tensor order = std::get<1>(at::sort(in.maps.reshape({n, pixels}), /*stable=*/true, 1, /*descending=*/true));
  const at::Tensor rank = at::empty_like(order).scatter_(1, order, at::arange(pixels, order.options()).expand({n, pixels}))
                              .reshape({n, 1, height, width});

  const int64_t points = steps + 1;
  const auto make = [&](int64_t first, int64_t end) {
    const at::Tensor job = at::arange(first, end, at::kLong);
    const at::Tensor image = at::floor_divide(job, points);
    const at::Tensor moved = at::remainder(job, points) * per_step;
    const at::Tensor replaced = rank.index_select(0, image) < moved.view({-1, 1, 1, 1});
    return at::where(replaced, finish.index_select(0, image), start.index_select(0, image));
  };
  const auto probabilities = metrics_detail::target_probabilities(
      model, n * points, make, [&](int64_t job) { return targets[job / points]; }, options, metric);

  std::vector<Curve> curves(n);
  for (int64_t i = 0; i < n; ++i) {
    curves[i].probabilities.assign(probabilities.begin() + i * points, probabilities.begin() + (i + 1) * points);
    curves[i].auc = area_under_curve(curves[i].probabilities);
  }
  return curves;
}

}  // namespace

at::Tensor rise_blur(const at::Tensor& batch, Layout layout, int64_t size, double sigma) {
  if (size < 1 || size % 2 == 0 || !(sigma > 0)) {
    throw InputError("blur: the kernel size must be odd and positive and sigma positive, got size " +
                     std::to_string(size) + ", sigma " + std::to_string(sigma));
  }
  if (batch.dim() != 4) throw InputError("blur: the batch must be 4-D");
  const at::Tensor images = metrics_detail::from_layout(batch, layout).to(at::kFloat);
  const int64_t n = images.size(0), channels = images.size(1);
  const at::Tensor kernel = rise_kernel(size, sigma).view({1, 1, size, size});
  const at::Tensor blurred = at::conv2d(images.reshape({n * channels, 1, images.size(2), images.size(3)}), kernel,
                                        {}, 1, size / 2);
  return metrics_detail::to_layout(blurred.view(images.sizes()), layout);
}

double area_under_curve(const std::vector<double>& curve) {
  if (curve.size() < 2) throw InputError("area under curve: need at least two points");
  double sum = 0;
  for (double value : curve) sum += value;
  return (sum - curve.front() / 2 - curve.back() / 2) / static_cast<double>(curve.size() - 1);
}

std::vector<Curve> deletion_curves(Model& model, const at::Tensor& batch, const at::Tensor& maps,
                                   const std::vector<int64_t>& targets, const CausalOptions& causal,
                                   const MetricOptions& options) {
  return causal_curves(Direction::deletion, model, batch, maps, targets, causal, options);
}

std::vector<Curve> insertion_curves(Model& model, const at::Tensor& batch, const at::Tensor& maps,
                                    const std::vector<int64_t>& targets, const CausalOptions& causal,
                                    const MetricOptions& options) {
  return causal_curves(Direction::insertion, model, batch, maps, targets, causal, options);
}

}  // namespace lumos
