// KernelSHAP (Lundberg & Lee 2017) over superpixels: a coalition keeps some segments of the
// image and sets the others to the baseline. The Shapley values are the weighted least-squares
// fit of score(coalition) - score(baseline) by the sum of the kept segments' values, under the
// constraint that all values sum to score(image) - score(baseline). When every coalition fits in
// the sample budget each is evaluated with the Shapley kernel's weight (M-1) / (C(M,k) k (M-k)),
// which gives the exact Shapley values; otherwise coalition sizes are drawn with probability
// proportional to (M-1) / (k (M-k)) and their segments uniformly (captum's KernelShap sampling),
// each with weight 1.
#include "perturbation/perturbation_method.hpp"

#include "lumos/error.hpp"
#include "perturbation/splitmix.hpp"

#include <ATen/ATen.h>
#include <Eigen/Dense>

#include <cmath>
#include <numeric>

namespace lumos::perturbation {
namespace {

struct Coalitions {
  std::vector<std::vector<uint8_t>> kept;  // [K][M]
  std::vector<double> weights;             // [K]
};

double binomial(int64_t n, int64_t k) {
  return std::exp(std::lgamma(n + 1.0) - std::lgamma(k + 1.0) - std::lgamma(n - k + 1.0));
}

Coalitions every_coalition(int64_t m) {
  Coalitions all;
  for (uint64_t bits = 1; bits + 1 < (uint64_t{1} << m); ++bits) {
    std::vector<uint8_t> kept(m);
    int64_t size = 0;
    for (int64_t j = 0; j < m; ++j) size += kept[j] = (bits >> j) & 1;
    all.kept.push_back(std::move(kept));
    all.weights.push_back((m - 1) / (binomial(m, size) * size * (m - size)));
  }
  return all;
}

Coalitions sampled_coalitions(int64_t m, int64_t count, uint64_t seed) {
  std::vector<double> cumulative;
  double sum = 0;
  for (int64_t k = 1; k < m; ++k) cumulative.push_back(sum += (m - 1.0) / (k * (m - k)));
  SplitMix64 random(seed);
  Coalitions drawn;
  std::vector<int64_t> order(m);
  for (int64_t i = 0; i < count; ++i) {
    const double u = random.unit() * sum;
    const int64_t size = std::lower_bound(cumulative.begin(), cumulative.end(), u) - cumulative.begin() + 1;
    std::iota(order.begin(), order.end(), 0);
    std::vector<uint8_t> kept(m, 0);
    for (int64_t j = 0; j < size; ++j) {  // the first `size` of a partial Fisher-Yates shuffle
      const auto pick = j + static_cast<int64_t>(random.unit() * static_cast<double>(m - j));
      std::swap(order[j], order[pick]);
      kept[order[j]] = 1;
    }
    drawn.kept.push_back(std::move(kept));
    drawn.weights.push_back(1);
  }
  return drawn;
}

}  // namespace

Attributed kernel_shap(const ImageContext& c) {
  const auto& segments = *c.segments;
  const int64_t m = segments.count;
  const bool exact = m < 63 && (int64_t{1} << m) <= c.options.shap_samples;
  const auto coalitions = exact ? every_coalition(m) : sampled_coalitions(m, c.options.shap_samples - 2, c.options.seed);
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
  const auto pixels = at::tensor(result.segment_values, at::kDouble).index({labels});
  const bool nhwc = c.model.input().layout == Layout::NHWC;
  const int64_t channels = c.input.size(nhwc ? 3 : 1);
  result.values = nhwc ? pixels.unsqueeze(2).expand({labels.size(0), labels.size(1), channels})
                       : pixels.unsqueeze(0).expand({channels, labels.size(0), labels.size(1)});
  return result;
}

}  // namespace lumos::perturbation
