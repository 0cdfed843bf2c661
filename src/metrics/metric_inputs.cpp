#include "metrics/metric_inputs.hpp"

#include "lumos/error.hpp"

#include <algorithm>

namespace lumos::metrics_detail {
at::Tensor to_layout(const at::Tensor& nchw, Layout layout) {
  return layout == Layout::NHWC ? nchw.permute({0, 2, 3, 1}).contiguous() : nchw;
}

at::Tensor from_layout(const at::Tensor& batch, Layout layout) {
  return layout == Layout::NHWC ? batch.permute({0, 3, 1, 2}).contiguous() : batch;
}

void check_map_values(const at::Tensor& map, const std::string& what) {
  if (!at::isFloatingType(map.scalar_type())) {
    throw InputError(what + " must be a floating-point tensor, not " + std::string(c10::toString(map.scalar_type())));
  }
  if (map.numel() == 0) throw InputError(what + " is empty");
  if (!at::isfinite(map).all().item<bool>()) throw InputError(what + " has NaN or infinite values");
  const double low = map.min().item<double>(), high = map.max().item<double>();
  if (low < 0 || high > 1) {
    throw InputError(what + " has values in [" + std::to_string(low) + ", " + std::to_string(high) +
                     "]; metrics take maps in [0, 1] (normalise the map first)");
  }
}

CheckedInputs check_inputs(const Model& model, const at::Tensor& batch, const at::Tensor& maps,
                           const std::vector<int64_t>& targets, const MetricOptions& options,
                           const std::string& metric) {
  const std::string where = metric + ": ";
  if (!batch.defined() || batch.dim() != 4) {
    throw InputError(where + "the batch must be 4-D (" + to_string(model.input().layout) + "), got " +
                     (batch.defined() ? shape_string(batch.sizes()) : std::string("no tensor")));
  }
  if (!at::isFloatingType(batch.scalar_type())) throw InputError(where + "the batch must be floating point");
  const at::Tensor images = from_layout(batch, model.input().layout).to(at::kFloat);
  const int64_t n = images.size(0), height = images.size(2), width = images.size(3);
  if (n == 0) throw InputError(where + "the batch is empty");
  if (!maps.defined() || maps.dim() != 3 || maps.size(0) != n || maps.size(1) != height || maps.size(2) != width) {
    throw InputError(where + "maps must be [N,H,W] = " + shape_string({n, height, width}) +
                     " to match the batch, got " + (maps.defined() ? shape_string(maps.sizes()) : "no tensor") +
                     " (resize each map to the model's input size)");
  }
  check_map_values(maps, where + "the maps");
  if (static_cast<int64_t>(targets.size()) != n) {
    throw InputError(where + std::to_string(targets.size()) + " targets for " + std::to_string(n) +
                     " images: give one class index per image");
  }
  for (auto target : targets) {
    if (target < 0) throw InputError(where + "target class " + std::to_string(target) + " is negative");
  }
  if (options.batch_size < 1) throw InputError(where + "batch size must be at least 1");
  return {images, maps.to(at::kFloat)};
}

std::vector<double> target_probabilities(Model& model, int64_t count, const InputMaker& make,
                                         const std::function<int64_t(int64_t)>& target_of,
                                         const MetricOptions& options, const std::string& metric) {
  std::vector<double> probabilities(count);
  const Layout layout = model.input().layout;
  for (int64_t start = 0; start < count; start += options.batch_size) {
    const int64_t end = std::min(count, start + options.batch_size);
    at::Tensor scores = model.scores(to_layout(make(start, end), layout));
    if (scores.dim() != 2 || scores.size(0) != end - start) {
      throw ModelError(metric + ": the model returned scores " + shape_string(scores.sizes()) + " for " +
                       std::to_string(end - start) + " inputs; metrics need [N, classes]");
    }
    scores = scores.to(at::kDouble);
    const at::Tensor probs = model.probabilities(scores);
    const auto accessor = probs.accessor<double, 2>();
    for (int64_t i = start; i < end; ++i) {
      const int64_t target = target_of(i);
      if (target >= probs.size(1)) {
        throw InputError(metric + ": target class " + std::to_string(target) + " is out of range: the model has " +
                         std::to_string(probs.size(1)) + " classes");
      }
      probabilities[i] = accessor[i - start][target];
    }
    if (options.progress) options.progress({metric, end, count});
  }
  return probabilities;
}

}  // namespace lumos::metrics_detail
