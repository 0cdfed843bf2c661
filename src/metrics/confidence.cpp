// Average drop and increase in confidence (Grad-CAM++, Chattopadhyay et al. 2018).
#include "lumos/error.hpp"
#include "lumos/metrics.hpp"
#include "metrics/metric_inputs.hpp"

#include <ATen/ATen.h>

#include <algorithm>

namespace lumos {

std::vector<ConfidenceChange> confidence_changes(Model& model, const at::Tensor& batch, const at::Tensor& maps,
                                                 const std::vector<int64_t>& targets, const MetricOptions& options) {
  const auto in = metrics_detail::check_inputs(model, batch, maps, targets, options, "confidence");
  const int64_t n = in.images.size(0);
  // Inputs 0..n-1 are the images, n..2n-1 the images multiplied by their maps.
  const at::Tensor explained = in.images * in.maps.unsqueeze(1);
  const auto make = [&](int64_t start, int64_t end) {
    const at::Tensor job = at::arange(start, end, at::kLong);
    return at::where((job < n).view({-1, 1, 1, 1}), in.images.index_select(0, job.remainder(n)),
                     explained.index_select(0, job.remainder(n)));
  };
  const auto probabilities = metrics_detail::target_probabilities(
      model, 2 * n, make, [&](int64_t job) { return targets[job % n]; }, options, "confidence");
  std::vector<ConfidenceChange> changes(n);
  for (int64_t i = 0; i < n; ++i) changes[i] = {probabilities[i], probabilities[n + i]};
  return changes;
}

double average_drop(const std::vector<ConfidenceChange>& changes) {
  if (changes.empty()) throw InputError("average drop: no images");
  double sum = 0;
  for (const auto& change : changes) {
    // A zero-probability original cannot drop; count it as no drop rather than divide by 0.
    if (change.original > 0) sum += std::max(0.0, change.original - change.explained) / change.original;
  }
  return 100.0 * sum / static_cast<double>(changes.size());
}

double increase_in_confidence(const std::vector<ConfidenceChange>& changes) {
  if (changes.empty()) throw InputError("increase in confidence: no images");
  const auto increased = std::count_if(changes.begin(), changes.end(),
                                       [](const ConfidenceChange& c) { return c.explained > c.original; });
  return 100.0 * static_cast<double>(increased) / static_cast<double>(changes.size());
}

}  // namespace lumos
