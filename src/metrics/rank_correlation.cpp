// Spearman's rank correlation, for the model-randomisation sanity check (Adebayo et al. 2018).
#include "lumos/error.hpp"
#include "lumos/metrics.hpp"

#include <ATen/ATen.h>

#include <cmath>
#include <limits>
#include <vector>

namespace lumos {
namespace {

// Ranks 1..n; equal values share the mean of the ranks they span (scipy's rankdata "average").
std::vector<double> average_ranks(const at::Tensor& values) {
  const at::Tensor flat = values.reshape({-1}).to(at::kDouble).contiguous();
  const auto [sorted, order] = at::sort(flat, /*stable=*/true, 0, /*descending=*/false);
  const double* v = sorted.data_ptr<double>();
  const int64_t* index = order.data_ptr<int64_t>();
  const int64_t n = flat.numel();
  std::vector<double> ranks(n);
  for (int64_t first = 0; first < n;) {
    int64_t last = first;
    while (last + 1 < n && v[last + 1] == v[first]) ++last;
    const double rank = (first + last) / 2.0 + 1;
    for (int64_t k = first; k <= last; ++k) ranks[index[k]] = rank;
    first = last + 1;
  }
  return ranks;
}

}  // namespace

double spearman_correlation(const at::Tensor& a, const at::Tensor& b) {
  if (!a.defined() || !b.defined() || !a.sizes().equals(b.sizes()) || a.numel() < 2) {
    throw InputError("rank correlation: the two maps must have the same shape and at least two values");
  }
  if (!at::isfinite(a).all().item<bool>() || !at::isfinite(b).all().item<bool>()) {
    throw InputError("rank correlation: the maps have NaN or infinite values");
  }
  const auto ra = average_ranks(a), rb = average_ranks(b);
  const double mean = (static_cast<double>(ra.size()) + 1) / 2;  // the mean of average ranks is always (n+1)/2
  double cov = 0, var_a = 0, var_b = 0;
  for (size_t i = 0; i < ra.size(); ++i) {
    cov += (ra[i] - mean) * (rb[i] - mean);
    var_a += (ra[i] - mean) * (ra[i] - mean);
    var_b += (rb[i] - mean) * (rb[i] - mean);
  }
  if (var_a == 0 || var_b == 0) return std::numeric_limits<double>::quiet_NaN();
  return cov / std::sqrt(var_a * var_b);
}

}  // namespace lumos
