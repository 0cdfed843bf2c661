// KernelSHAP (Lundberg & Lee 2017) over superpixels, the estimator of captum's KernelShap: a
// coalition keeps some segments of the image and sets the others to the baseline. The Shapley
// values are the weighted least-squares fit of score(coalition) - score(baseline) by the sum of
// the kept segments' values, under the constraint that all values sum to score(image) -
// score(baseline). When every coalition fits in the budget all are fitted with the Shapley
// kernel's weight (M-1) / (C(M,k) k (M-k)) for k kept segments, and the values are exact.
// Otherwise the coalitions are drawn as captum draws them: a size k in 1..M-1 with probability in
// proportion to the kernel's mass of that size, (M-1) / (k (M-k)), then k segments uniformly, each
// draw with weight 1 (drawn from the kernel, so unweighted). A coalition drawn n times is scored
// once and weighs n, which is the fit captum makes scoring it n times. captum keeps the constraint
// by weight 10^6 on the image and the baseline beside an intercept; lumos keeps it exactly, the
// limit of that weight.
#include "perturbation/perturbation_method.hpp"

#include "lumos/error.hpp"
#include "perturbation/splitmix.hpp"

#include <ATen/ATen.h>
#include <Eigen/Dense>

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>

namespace lumos::perturbation {
namespace {

double binomial(int64_t n, int64_t k) {
  return std::exp(std::lgamma(n + 1.0) - std::lgamma(k + 1.0) - std::lgamma(n - k + 1.0));
}

ShapCoalitions every_coalition(int64_t m) {
  ShapCoalitions all;
  for (uint64_t bits = 1; bits + 1 < (uint64_t{1} << m); ++bits) {
    std::vector<uint8_t> kept(m);
    int64_t size = 0;
    for (int64_t j = 0; j < m; ++j) size += kept[j] = (bits >> j) & 1;
    all.kept.push_back(std::move(kept));
    all.weights.push_back((m - 1) / (binomial(m, size) * size * (m - size)));
  }
  return all;
}

// Collects coalitions, each once, in first-seen order (so the fit sees the same rows every
// time); one seen again weighs one more.
class CoalitionCounter {
 public:
  void add(std::vector<uint8_t> kept) {
    const auto [at, fresh] = index_.emplace(kept, counted_.kept.size());
    if (fresh) {
      counted_.kept.push_back(std::move(kept));
      counted_.weights.push_back(0);
    }
    counted_.weights[at->second] += 1;
  }
  ShapCoalitions take() { return std::move(counted_); }

 private:
  std::map<std::vector<uint8_t>, size_t> index_;
  ShapCoalitions counted_;
};

// The given coalitions, weight 1 each; the image and the baseline (all or no segments kept) are
// the constraint's end points, which the fit keeps anyway.
ShapCoalitions given_coalitions(const at::Tensor& given, int64_t m) {
  if (!given.defined() || given.dim() != 2 || given.size(1) != m) {
    throw InputError("the given KernelSHAP coalitions must be a [coalitions, " + std::to_string(m) +
                     "] tensor, one column per segment of the segmentation");
  }
  const auto rows = given.ne(0).to(at::kByte).cpu().contiguous();
  const auto bits = rows.accessor<uint8_t, 2>();
  CoalitionCounter counter;
  for (int64_t i = 0; i < rows.size(0); ++i) {
    std::vector<uint8_t> kept(bits[i].data(), bits[i].data() + m);
    const auto size = std::count(kept.begin(), kept.end(), 1);
    if (size > 0 && size < m) counter.add(std::move(kept));
  }
  auto coalitions = counter.take();
  if (coalitions.kept.empty() && m > 1) {
    throw InputError("the given KernelSHAP coalitions all keep every segment or none: give at least one other");
  }
  return coalitions;
}

}  // namespace

ShapCoalitions kernel_shap_coalitions(int64_t m, int64_t samples, uint64_t seed) {
  const int64_t draws = samples - 2;  // the image and the baseline are the other two samples
  if (m < 63 && (int64_t{1} << m) - 2 <= draws) return every_coalition(m);
  std::vector<double> cumulative;  // of the kernel's mass over the sizes 1..m-1
  double mass = 0;
  for (int64_t k = 1; k < m; ++k) cumulative.push_back(mass += (m - 1.0) / static_cast<double>(k * (m - k)));
  SplitMix64 random(seed);
  CoalitionCounter counter;
  std::vector<int64_t> segment(m);
  for (int64_t draw = 0; draw < draws; ++draw) {
    const auto at = std::lower_bound(cumulative.begin(), cumulative.end(), random.unit() * mass);
    const int64_t size = 1 + std::min<int64_t>(at - cumulative.begin(), m - 2);
    std::iota(segment.begin(), segment.end(), 0);
    std::vector<uint8_t> kept(m, 0);
    for (int64_t j = 0; j < size; ++j) {  // the first `size` of a partial Fisher-Yates shuffle
      const auto pick = j + static_cast<int64_t>(random.unit() * static_cast<double>(m - j));
      std::swap(segment[j], segment[pick]);
      kept[segment[j]] = 1;
    }
    counter.add(std::move(kept));
  }
  return counter.take();
}

namespace {

// How well the values explain the coalitions' scores, f(z) - f(baseline) against z . phi: the
// weighted R² over the coalitions (the image and the baseline are fitted exactly).
double weighted_r2(const ShapCoalitions& coalitions, const at::Tensor& scores, const Eigen::VectorXd& phi) {
  double weight = 0, mean = 0;
  const auto y = scores.accessor<double, 1>();
  for (size_t i = 0; i < coalitions.kept.size(); ++i) {
    weight += coalitions.weights[i];
    mean += coalitions.weights[i] * y[i];
  }
  if (weight == 0) return 1;
  mean /= weight;
  double residual = 0, spread = 0;
  for (size_t i = 0; i < coalitions.kept.size(); ++i) {
    double predicted = 0;
    for (size_t j = 0; j < coalitions.kept[i].size(); ++j) predicted += coalitions.kept[i][j] * phi[j];
    residual += coalitions.weights[i] * (y[i] - predicted) * (y[i] - predicted);
    spread += coalitions.weights[i] * (y[i] - mean) * (y[i] - mean);
  }
  return spread > 0 ? 1 - residual / spread : 1;
}

}  // namespace

Attributed kernel_shap(const ImageContext& c) {
  const auto& segments = *c.segments;
  const int64_t m = segments.count;
  const auto coalitions = c.options.given_shap_coalitions
                              ? given_coalitions(*c.options.given_shap_coalitions, m)
                              : kernel_shap_coalitions(m, c.options.shap_samples, c.options.seed);
  const int64_t count = static_cast<int64_t>(coalitions.kept.size());

  const cv::Mat& labels_mat = segments.labels;
  const auto labels = at::from_blob(const_cast<int*>(labels_mat.ptr<int>()), {labels_mat.rows, labels_mat.cols}, at::kInt)
                          .to(at::kLong);
  // Row 0 keeps every segment (the image), row 1 none (the baseline), then the coalitions.
  auto kept_of = [&](int64_t row) {
    if (row > 1) return at::tensor(coalitions.kept[row - 2], at::kByte).to(at::kBool);
    return row == 0 ? at::ones({m}, at::kBool) : at::zeros({m}, at::kBool);
  };
  const auto scores = score_perturbed(c, count + 2, [&](int64_t begin, int64_t end) {
    std::vector<at::Tensor> present;
    for (int64_t row = begin; row < end; ++row) present.push_back(kept_of(row).index({labels}));
    return at::where(as_input_mask(c, at::stack(present)), c.input, c.baseline);
  });
  const double full = scores[0].item<double>(), empty = scores[1].item<double>();
  const double total = full - empty;

  // phi_M = total - sum_{j<M} phi_j turns the constrained fit into an unconstrained one in M-1 unknowns.
  Eigen::VectorXd phi(m);
  if (m == 1) {
    phi[0] = total;
  } else {
    Eigen::MatrixXd design(count, m - 1);
    Eigen::VectorXd target(count);
    for (int64_t i = 0; i < count; ++i) {
      const auto& kept = coalitions.kept[i];
      const double root = std::sqrt(coalitions.weights[i]);
      for (int64_t j = 0; j + 1 < m; ++j) design(i, j) = root * (kept[j] - kept[m - 1]);
      target[i] = root * (scores[i + 2].item<double>() - empty - kept[m - 1] * total);
    }
    const Eigen::VectorXd head = design.completeOrthogonalDecomposition().solve(target);
    phi.head(m - 1) = head;
    phi[m - 1] = total - head.sum();
  }
  Attributed result;
  result.segment_values.assign(phi.data(), phi.data() + m);
  result.convergence_delta = phi.sum() - total;
  result.r2 = weighted_r2(coalitions, scores.slice(0, 2).sub(empty), phi);
  const auto pixels = at::tensor(result.segment_values, at::kDouble).index({labels});
  const bool nhwc = c.model.input().layout == Layout::NHWC;
  const int64_t channels = c.input.size(nhwc ? 3 : 1);
  result.values = nhwc ? pixels.unsqueeze(2).expand({labels.size(0), labels.size(1), channels})
                       : pixels.unsqueeze(0).expand({channels, labels.size(0), labels.size(1)});
  return result;
}

}  // namespace lumos::perturbation
