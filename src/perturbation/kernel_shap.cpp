// KernelSHAP (Lundberg & Lee 2017) over superpixels: a coalition keeps some segments of the
// image and sets the others to the baseline. The Shapley values are the weighted least-squares
// fit of score(coalition) - score(baseline) by the sum of the kept segments' values, under the
// constraint that all values sum to score(image) - score(baseline), with the Shapley kernel's
// weight (M-1) / (C(M,k) k (M-k)) for a coalition of k segments. The coalitions are chosen as
// shap's KernelExplainer chooses them: all of them when they fit in the budget (then the values
// are exact); otherwise every coalition of the sizes k and M-k whose share of the kernel's mass
// buys them all, smallest k first, and for the other sizes paired draws (a coalition and its
// complement) with sizes in proportion to their mass, duplicates merged, sharing the mass left.
#include "perturbation/perturbation_method.hpp"

#include "lumos/error.hpp"
#include "perturbation/splitmix.hpp"

#include <ATen/ATen.h>
#include <Eigen/Dense>

#include <cmath>
#include <map>
#include <numeric>

namespace lumos::perturbation {
namespace {

struct Coalitions {
  std::vector<std::vector<uint8_t>> kept;  // [K][M]
  std::vector<double> weights;             // [K]

  void add(std::vector<uint8_t> coalition, double weight) {
    kept.push_back(std::move(coalition));
    weights.push_back(weight);
  }
};

double binomial(int64_t n, int64_t k) {
  return std::exp(std::lgamma(n + 1.0) - std::lgamma(k + 1.0) - std::lgamma(n - k + 1.0));
}

std::vector<uint8_t> complement(std::vector<uint8_t> coalition) {
  for (auto& k : coalition) k = !k;
  return coalition;
}

Coalitions every_coalition(int64_t m) {
  Coalitions all;
  for (uint64_t bits = 1; bits + 1 < (uint64_t{1} << m); ++bits) {
    std::vector<uint8_t> kept(m);
    int64_t size = 0;
    for (int64_t j = 0; j < m; ++j) size += kept[j] = (bits >> j) & 1;
    all.add(std::move(kept), (m - 1) / (binomial(m, size) * size * (m - size)));
  }
  return all;
}

// Calls f with every coalition of `size` of the m segments.
template <typename F>
void for_each_subset(int64_t m, int64_t size, F f) {
  std::vector<int64_t> chosen(size);
  std::iota(chosen.begin(), chosen.end(), 0);
  while (true) {
    std::vector<uint8_t> kept(m, 0);
    for (auto j : chosen) kept[j] = 1;
    f(std::move(kept));
    int64_t i = size - 1;
    while (i >= 0 && chosen[i] == m - size + i) --i;
    if (i < 0) return;
    ++chosen[i];
    for (int64_t j = i + 1; j < size; ++j) chosen[j] = chosen[j - 1] + 1;
  }
}

Coalitions choose_coalitions(int64_t m, int64_t budget, uint64_t seed) {
  if (m < 63 && (int64_t{1} << m) - 2 <= budget) return every_coalition(m);
  const int64_t sizes = m / 2;         // sizes 1..m/2, each standing with its complement m - k
  const int64_t paired = (m - 1) / 2;  // sizes with k < m - k
  std::vector<double> mass(sizes + 1, 0);
  double total = 0;
  for (int64_t k = 1; k <= sizes; ++k) total += mass[k] = (m - 1.0) / (k * (m - k)) * (k <= paired ? 2 : 1);
  for (auto& w : mass) w /= total;

  Coalitions chosen;
  int64_t left = budget, complete = 0;
  double rest = 1;  // the mass of the sizes not yet complete
  for (int64_t k = 1; k <= sizes; ++k) {
    const double group = binomial(m, k) * (k <= paired ? 2 : 1);
    if (group > left || left * mass[k] / rest / group < 1 - 1e-8) break;
    for_each_subset(m, k, [&](std::vector<uint8_t> kept) {
      if (k <= paired) chosen.add(complement(kept), mass[k] / group);
      chosen.add(std::move(kept), mass[k] / group);
    });
    left -= static_cast<int64_t>(std::llround(group));
    rest -= mass[k];
    complete = k;
  }
  if (complete == sizes || left <= 0) return chosen;

  // Paired draws for the other sizes: a paired size is drawn half as often, as each draw adds two.
  std::vector<double> cumulative;
  double sum = 0;
  for (int64_t k = complete + 1; k <= sizes; ++k) cumulative.push_back(sum += mass[k] / (k <= paired ? 2 : 1));
  SplitMix64 random(seed);
  std::map<std::vector<uint8_t>, int64_t> drawn;  // coalition -> times drawn
  std::vector<std::vector<uint8_t>> order;        // first-drawn order, so the fit sees the same rows every time
  std::vector<int64_t> segment(m);
  int64_t draws = 0;
  auto add = [&](std::vector<uint8_t> kept) {
    ++draws;
    auto [it, fresh] = drawn.emplace(std::move(kept), 0);
    if (fresh) order.push_back(it->first);
    ++it->second;
  };
  for (int64_t attempt = 0; static_cast<int64_t>(order.size()) < left && attempt < 100 * budget; ++attempt) {
    const auto at = std::lower_bound(cumulative.begin(), cumulative.end(), random.unit() * sum);
    const int64_t size = complete + 1 + (at - cumulative.begin());
    std::iota(segment.begin(), segment.end(), 0);
    std::vector<uint8_t> kept(m, 0);
    for (int64_t j = 0; j < size; ++j) {  // the first `size` of a partial Fisher-Yates shuffle
      const auto pick = j + static_cast<int64_t>(random.unit() * static_cast<double>(m - j));
      std::swap(segment[j], segment[pick]);
      kept[segment[j]] = 1;
    }
    if (size <= paired && static_cast<int64_t>(order.size()) + 1 < left) add(complement(kept));
    add(std::move(kept));
  }
  for (auto& kept : order) {
    const double weight = rest * static_cast<double>(drawn[kept]) / static_cast<double>(draws);
    chosen.add(std::move(kept), weight);
  }
  return chosen;
}

// How well the values explain the coalitions' scores, f(z) - f(baseline) against z . phi: the
// weighted R² over the coalitions (the image and the baseline are fitted exactly).
double weighted_r2(const Coalitions& coalitions, const at::Tensor& scores, const Eigen::VectorXd& phi) {
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
  const auto coalitions = choose_coalitions(m, c.options.shap_samples - 2, c.options.seed);
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
