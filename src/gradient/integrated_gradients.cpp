// Integrated Gradients (Sundararajan et al. 2017), as captum's IntegratedGradients:
//   values = (x - b) * sum_s w_s * d score / d input at b + alpha_s (x - b),
// the steps of all inputs run options.batch_size at a time, and the convergence delta
// sum(values) - (score(x) - score(b)) from two more forwards.
#include "gradient/gradient_method.hpp"

#include "lumos/error.hpp"

#include <ATen/ATen.h>

#include <cmath>

namespace lumos {
namespace {

struct RuleName {
  IntegrationRule rule;
  const char* name;
};
constexpr RuleName kRuleNames[] = {
    {IntegrationRule::riemann_left, "riemann_left"},
    {IntegrationRule::riemann_right, "riemann_right"},
    {IntegrationRule::riemann_middle, "riemann_middle"},
    {IntegrationRule::riemann_trapezoid, "riemann_trapezoid"},
    {IntegrationRule::gauss_legendre, "gausslegendre"},
};

// Nodes (ascending) and weights of the n-point Gauss-Legendre rule on [-1, 1]: Newton's
// method on P_n from the usual first guesses, P_n and its derivative by the recurrence.
void gauss_legendre(int64_t n, std::vector<double>& nodes, std::vector<double>& weights) {
  nodes.assign(n, 0);
  weights.assign(n, 0);
  for (int64_t i = 0; i < n; ++i) {
    double x = -std::cos(M_PI * (i + 0.75) / (n + 0.5));
    double derivative = 0;
    for (int iteration = 0; iteration < 100; ++iteration) {
      double p = 1, previous = 0;
      for (int64_t k = 1; k <= n; ++k) {
        const double next = ((2 * k - 1) * x * p - (k - 1) * previous) / k;
        previous = p;
        p = next;
      }
      derivative = n * (x * p - previous) / (x * x - 1);
      const double step = p / derivative;
      x -= step;
      if (std::abs(step) < 1e-16) break;
    }
    nodes[i] = x;
    weights[i] = 2 / ((1 - x * x) * derivative * derivative);
  }
}

}  // namespace

std::string to_string(IntegrationRule rule) {
  for (const auto& r : kRuleNames) {
    if (r.rule == rule) return r.name;
  }
  return "unknown";
}

IntegrationRule parse_integration_rule(const std::string& name) {
  std::string known;
  for (const auto& r : kRuleNames) {
    if (name == r.name || (r.rule == IntegrationRule::gauss_legendre && name == "gauss_legendre")) return r.rule;
    known += (known.empty() ? "" : ", ") + std::string(r.name);
  }
  throw InputError("unknown integration rule '" + name + "'; choose from " + known);
}

IntegrationPoints integration_points(IntegrationRule rule, int64_t steps) {
  const bool riemann = rule != IntegrationRule::gauss_legendre;
  if (steps < (riemann ? 2 : 1)) {
    throw InputError("Integrated Gradients needs at least " + std::string(riemann ? "2 steps" : "1 step") + " with " +
                     to_string(rule) + ", got " + std::to_string(steps));
  }
  IntegrationPoints points;
  if (!riemann) {
    gauss_legendre(steps, points.alphas, points.weights);
    for (auto& a : points.alphas) a = 0.5 * (1 + a);
    for (auto& w : points.weights) w *= 0.5;
    return points;
  }
  // captum: alphas from torch.linspace in float32, equal step sizes (halved at the ends for the trapezoid).
  const double n = static_cast<double>(steps);
  double first = 0, last = 1;
  if (rule == IntegrationRule::riemann_left) last = 1 - 1 / n;
  if (rule == IntegrationRule::riemann_middle) first = 1 / (2 * n), last = 1 - 1 / (2 * n);
  if (rule == IntegrationRule::riemann_right) first = 1 / n;
  const auto alphas = at::linspace(first, last, steps, at::kFloat);
  for (int64_t s = 0; s < steps; ++s) points.alphas.push_back(alphas[s].item<float>());
  points.weights.assign(steps, 1 / n);
  if (rule == IntegrationRule::riemann_trapezoid) {
    points.weights.front() /= 2;
    points.weights.back() /= 2;
  }
  return points;
}

namespace gradient {

GradientFormula integrated_gradients(const GradientOptions& options) {
  GradientFormula formula{[](const GradientContext& c, const at::Tensor& inputs, const at::Tensor& baselines,
                             const std::vector<Target>& targets) {
    const auto points = integration_points(c.options.rule, c.options.steps);
    const int64_t steps = static_cast<int64_t>(points.alphas.size());
    const int64_t count = inputs.size(0);
    const auto difference = inputs - baselines;
    // Step sizes and alphas as captum's float32 tensors.
    const auto weights = at::tensor(points.weights, at::kDouble).to(at::kFloat);
    const auto alphas = at::tensor(points.alphas, at::kDouble).to(at::kFloat);
    auto view = [&](const at::Tensor& t) {
      std::vector<int64_t> shape(inputs.dim(), 1);
      shape[0] = t.size(0);
      return t.view(shape);
    };
    auto total = at::zeros_like(inputs);
    Attributed result;
    result.classes.assign(count, -1);
    // Job j is step j % steps of input j / steps.
    for_each_gradient_batch(
        c, count * steps,
        [&](int64_t begin, int64_t end) {
          const auto job = at::arange(begin, end, at::kLong);
          const auto input = at::floor_divide(job, steps);
          const auto alpha = view(alphas.index_select(0, at::remainder(job, steps)));
          return baselines.index_select(0, input) + alpha * difference.index_select(0, input);
        },
        [&](int64_t begin, int64_t end) {
          std::vector<Target> wanted;
          for (int64_t j = begin; j < end; ++j) wanted.push_back(targets[targets.size() == 1 ? 0 : j / steps]);
          return wanted;
        },
        ReluRule::standard,
        [&](int64_t begin, int64_t end, const GradientBatch& batch) {
          const auto job = at::arange(begin, end, at::kLong);
          const auto input = at::floor_divide(job, steps);
          total.index_add_(0, input, batch.gradients * view(weights.index_select(0, at::remainder(job, steps))));
          for (int64_t j = begin; j < end; ++j) result.classes[j / steps] = batch.classes[j - begin];
        });
    result.values = total * difference;
    const auto at_inputs = class_scores(c, inputs, result.classes);
    const auto at_baselines = class_scores(c, baselines, result.classes);
    result.scores = at_inputs;
    result.deltas = (result.values.flatten(1).sum(1) - (at_inputs - at_baselines)).to(at::kDouble);
    return result;
  }};
  formula.passes_per_input = options.steps;
  formula.resolves_targets = false;
  return formula;
}

}  // namespace gradient
}  // namespace lumos
