// The gradient and perturbation families, and the executor's ReLU backward rules, on a tiny
// ONNX model with closed forms: x [N,3,6,6] -> activation -> flatten -> x W = 4 scores. With
// a = relu(x), score_t = sum_i W[i,t] a_i is additive over pixels, so the input gradient is
// W[:,t] where x > 0, Integrated Gradients from 0 is W[:,t] relu(x), and each segment's Shapley
// value is the sum of W[i,t] (a_i - baseline_i's activation) over its pixels.
#include "lumos/error.hpp"
#include "lumos/gradient.hpp"
#include "lumos/image.hpp"
#include "lumos/metrics.hpp"
#include "lumos/perturbation.hpp"
#include "perturbation/perturbation_method.hpp"
#include "support/error_of.hpp"
#include "support/onnx_builder.hpp"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <iostream>
#include <set>

namespace fs = std::filesystem;
using lumos::GradientAttribution;
using lumos::GradientExplainer;
using lumos::GradientMethod;
using lumos::GradientOptions;
using lumos::NoiseTunnel;
using lumos::PerturbationExplainer;
using lumos::PerturbationMethod;
using lumos::PerturbationOptions;
using lumos::Target;
using lumos::testing::error_of;
using lumos::testing::OnnxBuilder;

namespace {

constexpr int64_t kPixels = 3 * 6 * 6, kClasses = 4;

at::Tensor head() {
  return at::sin(at::arange(kPixels * kClasses, at::kFloat).mul(0.91)).view({kPixels, kClasses});
}

enum class Activation { relu, clip_from_zero, relu6 };

// x -> activation -> flatten -> MatMul(W); NHWC input goes through a Transpose first.
std::string tiny_model(Activation activation = Activation::relu, bool nhwc = false) {
  OnnxBuilder b;
  b.input("x", nhwc ? std::vector<int64_t>{-1, 6, 6, 3} : std::vector<int64_t>{-1, 3, 6, 6});
  std::string x = "x";
  if (nhwc) {
    OnnxBuilder::set_ints(b.node("Transpose", {"x"}, {"x_nchw"}, "to_nchw"), "perm", {0, 3, 1, 2});
    x = "x_nchw";
  }
  if (activation == Activation::relu) {
    b.node("Relu", {x}, {"features"}, "relu");
  } else {
    b.initializer("low", {}, {0.f});
    b.initializer("high", {}, {6.f});
    b.node("Clip", activation == Activation::relu6 ? std::vector<std::string>{x, "low", "high"}
                                                   : std::vector<std::string>{x, "low"},
           {"features"}, "clip");
  }
  b.node("Flatten", {"features"}, {"flat"}, "flatten");
  const auto w = head().contiguous();
  b.initializer("w", {kPixels, kClasses}, std::vector<float>(w.data_ptr<float>(), w.data_ptr<float>() + w.numel()));
  b.node("MatMul", {"flat", "w"}, {"scores"}, "head");
  b.output("scores", {-1, kClasses});
  const auto path = fs::temp_directory_path() /
                    ("lumos_attribution_" + std::to_string(static_cast<int>(activation)) + (nhwc ? "_nhwc" : "") + ".onnx");
  b.save(path.string());
  return path.string();
}

at::Tensor images(int64_t n = 2) { return at::sin(at::arange(n * kPixels, at::kFloat).mul(0.37)).view({n, 3, 6, 6}); }

// W[:, t] as an image [3, 6, 6].
at::Tensor weights_of(int64_t t) { return head().select(1, t).view({3, 6, 6}); }

void expect_near(const at::Tensor& a, const at::Tensor& b, double tolerance, const std::string& what) {
  ASSERT_EQ(a.sizes(), b.sizes()) << what;
  EXPECT_LE((a - b).abs().max().item<double>(), tolerance) << what;
}

std::vector<lumos::AttributionExplanation> gradients(const std::string& model_path, std::vector<std::string> names,
                                                     const at::Tensor& x, std::vector<Target> targets,
                                                     GradientOptions options = {}) {
  auto model = lumos::Model::load(model_path);
  std::vector<GradientAttribution> methods;
  for (const auto& name : names) methods.push_back(lumos::parse_gradient_method(name));
  return GradientExplainer(*model, methods, std::move(options)).explain(x, targets);
}

}  // namespace

TEST(ReluRule, GuidedAndDeconvolutionReplaceReluBackwardInTheExecutor) {
  const auto x = images(1);
  const auto w = weights_of(2);
  const auto positive = (x[0] > 0).to(at::kFloat);
  for (auto activation : {Activation::relu, Activation::clip_from_zero}) {
    const auto r = gradients(tiny_model(activation), {"saliency", "guided-backprop", "deconvolution"}, x,
                             {Target::class_index(2)});
    expect_near(r[0].maps[0].values, w * positive, 1e-6, "saliency");
    expect_near(r[0].maps[1].values, at::relu(w) * positive, 1e-6, "guided backprop");
    expect_near(r[0].maps[2].values, at::relu(w), 1e-6, "deconvolution");
  }
  // ReLU6 keeps its own gradient: captum's rules touch nn.ReLU only.
  const auto relu6 = gradients(tiny_model(Activation::relu6), {"saliency", "guided-backprop"}, x, {Target::class_index(2)});
  expect_near(relu6[0].maps[1].values, relu6[0].maps[0].values, 0, "relu6 guided = plain");
}

TEST(Gradient, SaliencyGradientTimesInputAndIntegratedGradientsHaveTheirClosedForms) {
  const auto x = images();
  GradientOptions options;
  options.batch_size = 7;  // the 2 x 50 steps of Integrated Gradients straddle batches
  const auto r = gradients(tiny_model(), {"saliency", "gradient-x-input", "integrated-gradients"}, x,
                           {Target::class_index(1), Target::class_index(3)}, options);
  for (int i = 0; i < 2; ++i) {
    const int64_t t = i == 0 ? 1 : 3;
    const auto gradient = weights_of(t) * (x[i] > 0).to(at::kFloat);
    EXPECT_EQ(r[i].target, t);
    expect_near(r[i].maps[0].values, gradient, 1e-6, "saliency");
    expect_near(r[i].maps[1].values, gradient * x[i], 1e-6, "gradient x input");
    expect_near(r[i].maps[2].values, weights_of(t) * at::relu(x[i]), 1e-5, "integrated gradients");
    ASSERT_TRUE(r[i].maps[2].convergence_delta.has_value());
    EXPECT_LE(std::abs(*r[i].maps[2].convergence_delta), 1e-4);
    EXPECT_FALSE(r[i].maps[0].convergence_delta.has_value());
    // The map: |values| summed over channels, scaled by their 99th percentile, clipped to [0, 1].
    const auto& map = r[i].maps[0].map;
    EXPECT_EQ(map.sizes(), (at::IntArrayRef{6, 6}));
    EXPECT_GE(map.min().item<float>(), 0.f);
    EXPECT_EQ(map.max().item<float>(), 1.f);
  }
}

TEST(Gradient, IntegrationRulesAreCaptums) {
  const auto gauss = lumos::integration_points(lumos::IntegrationRule::gauss_legendre, 3);
  // numpy.polynomial.legendre.leggauss(3) mapped to [0, 1]
  const double node = 0.5 * std::sqrt(0.6);
  EXPECT_NEAR(gauss.alphas[0], 0.5 - node, 1e-15);
  EXPECT_NEAR(gauss.alphas[1], 0.5, 1e-15);
  EXPECT_NEAR(gauss.weights[0], 5.0 / 18, 1e-15);
  EXPECT_NEAR(gauss.weights[1], 8.0 / 18, 1e-15);
  const auto trapezoid = lumos::integration_points(lumos::IntegrationRule::riemann_trapezoid, 5);
  EXPECT_EQ(trapezoid.alphas.front(), 0);
  EXPECT_EQ(trapezoid.alphas.back(), 1);
  EXPECT_DOUBLE_EQ(trapezoid.weights.front(), 0.1);
  EXPECT_DOUBLE_EQ(trapezoid.weights[1], 0.2);
  const auto middle = lumos::integration_points(lumos::IntegrationRule::riemann_middle, 4);
  EXPECT_FLOAT_EQ(middle.alphas.front(), 0.125f);
  EXPECT_THROW(lumos::integration_points(lumos::IntegrationRule::riemann_left, 1), lumos::InputError);
  for (auto rule : {lumos::IntegrationRule::riemann_left, lumos::IntegrationRule::riemann_right,
                    lumos::IntegrationRule::riemann_middle, lumos::IntegrationRule::riemann_trapezoid,
                    lumos::IntegrationRule::gauss_legendre}) {
    EXPECT_EQ(lumos::parse_integration_rule(lumos::to_string(rule)), rule);
    double sum = 0;
    for (double w : lumos::integration_points(rule, 17).weights) sum += w;
    // captum's trapezoid halves the end weights of 1/n, so its weights sum to 1 - 1/n.
    EXPECT_NEAR(sum, rule == lumos::IntegrationRule::riemann_trapezoid ? 16.0 / 17 : 1, 1e-12) << lumos::to_string(rule);
  }
}

TEST(Gradient, NoiseTunnelIsSeededBatchedAndAggregates) {
  const auto x = images();
  GradientOptions options;
  options.samples = 6;
  options.seed = 5;
  const std::vector<std::string> names = {"smoothgrad", "smoothgrad-sq", "vargrad", "ig+smoothgrad"};
  options.steps = 3;
  options.batch_size = 4;
  const auto a = gradients(tiny_model(), names, x, {Target::top(1)}, options);
  options.batch_size = 32;
  const auto b = gradients(tiny_model(), names, x, {Target::top(1)}, options);
  options.seed = 6;
  const auto other = gradients(tiny_model(), names, x, {Target::top(1)}, options);
  for (int i = 0; i < 2; ++i) {
    for (size_t m = 0; m < names.size(); ++m) {
      EXPECT_TRUE(at::equal(a[i].maps[m].values, b[i].maps[m].values)) << names[m] << ": batch size changed it";
      EXPECT_FALSE(at::equal(a[i].maps[m].values, other[i].maps[m].values)) << names[m] << ": seed ignored";
    }
    // variance = mean of squares - square of the mean
    expect_near(a[i].maps[2].values, a[i].maps[1].values - a[i].maps[0].values * a[i].maps[0].values, 1e-6, "vargrad");
    EXPECT_GE(a[i].maps[1].values.min().item<float>(), 0.f);
    EXPECT_TRUE(a[i].maps[3].convergence_delta.has_value());
    EXPECT_EQ(a[i].maps[3].method, "integrated-gradients+smoothgrad");
  }
}

TEST(Gradient, NhwcModelGivesTheSameAttributionsTransposed) {
  const auto x = images();
  const auto nchw = gradients(tiny_model(), {"saliency", "integrated-gradients", "guided-gradcam"}, x, {Target::top(1)});
  const auto nhwc = gradients(tiny_model(Activation::relu, true), {"saliency", "integrated-gradients", "guided-gradcam"},
                              x.permute({0, 2, 3, 1}).contiguous(), {Target::top(1)});
  for (int i = 0; i < 2; ++i) {
    for (int m = 0; m < 3; ++m) {
      expect_near(nhwc[i].maps[m].values, nchw[i].maps[m].values.permute({1, 2, 0}), 1e-5, "values");
      expect_near(nhwc[i].maps[m].map, nchw[i].maps[m].map, 1e-5, "map");
    }
  }
}

TEST(Gradient, GuidedGradCamIsGuidedBackpropTimesTheLayersGradCam) {
  const auto x = images(1);
  const auto r = gradients(tiny_model(), {"guided-backprop", "guided-gradcam"}, x, {Target::class_index(0)});
  // The layer is relu(x) itself (6x6, no upsampling): Grad-CAM = relu(sum_k mean(W_k) a_k).
  const auto a = at::relu(x[0]);
  const auto cam = at::relu((weights_of(0).mean({1, 2}, true) * a).sum(0));
  expect_near(r[0].maps[1].values, r[0].maps[0].values * cam, 1e-6, "guided grad-cam");
}

TEST(Gradient, ProgressAndCancel) {
  auto model = lumos::Model::load(tiny_model());
  GradientOptions options;
  options.steps = 10;
  options.batch_size = 3;
  std::vector<lumos::AttributionProgress> seen;
  options.progress = [&](const lumos::AttributionProgress& p) { seen.push_back(p); };
  GradientExplainer(*model, {lumos::parse_gradient_method("ig")}, options).explain(images(), {Target::top(1)});
  ASSERT_EQ(seen.size(), 7u);  // 20 steps in batches of 3
  EXPECT_EQ(seen.back().done, 20);
  EXPECT_EQ(seen.back().total, 20);
  EXPECT_EQ(seen.back().method, "integrated-gradients");
  int calls = 0;
  options.cancel = [&] { return ++calls > 2; };
  EXPECT_THROW(GradientExplainer(*model, {lumos::parse_gradient_method("ig")}, options).explain(images(), {Target::top(1)}),
               lumos::CancelledError);
}

TEST(Gradient, NamesAndErrors) {
  for (const auto& m : lumos::all_gradient_methods()) {
    EXPECT_EQ(lumos::parse_gradient_method(lumos::to_string(m)), m) << lumos::to_string(m);
  }
  EXPECT_EQ(lumos::parse_gradient_method("IG"), (GradientAttribution{GradientMethod::integrated_gradients}));
  EXPECT_EQ(lumos::parse_gradient_method("SmoothGrad Squared"),
            (GradientAttribution{GradientMethod::saliency, NoiseTunnel::smoothgrad_sq}));
  EXPECT_EQ(lumos::parse_gradient_method("sg2"), (GradientAttribution{GradientMethod::saliency, NoiseTunnel::smoothgrad_sq}));
  EXPECT_EQ(lumos::parse_gradient_method("Guided Backprop + VarGrad"),
            (GradientAttribution{GradientMethod::guided_backprop, NoiseTunnel::vargrad}));
  EXPECT_NE(error_of<lumos::InputError>([] { lumos::parse_gradient_method("gradcam"); }).find("integrated-gradients"),
            std::string::npos);
  EXPECT_FALSE(lumos::is_gradient_method("saliency+nothing"));

  auto model = lumos::Model::load(tiny_model());
  const auto saliency = lumos::parse_gradient_method("saliency");
  EXPECT_NE(error_of<lumos::InputError>([&] { GradientExplainer(*model, {saliency, saliency}); }).find("twice"),
            std::string::npos);
  GradientOptions bad;
  bad.batch_size = 0;
  EXPECT_THROW(GradientExplainer(*model, {saliency}, bad), lumos::InputError);
  bad = {};
  bad.steps = 1;
  bad.rule = lumos::IntegrationRule::riemann_trapezoid;
  EXPECT_THROW(GradientExplainer(*model, {lumos::parse_gradient_method("ig")}, bad), lumos::InputError);
  bad = {};
  bad.map_percentile = 0;
  EXPECT_THROW(GradientExplainer(*model, {saliency}, bad), lumos::InputError);
  GradientExplainer explainer(*model, {saliency});
  EXPECT_NE(error_of<lumos::InputError>([&] { explainer.explain(images(3), {Target::top(1), Target::top(2)}); })
                .find("2 targets for a batch of 3"),
            std::string::npos);
  EXPECT_NE(error_of<lumos::InputError>([&] { explainer.explain(at::zeros({3, 6, 6}), {Target::top(1)}); }).find("rank 4"),
            std::string::npos);
  GradientOptions baseline;
  baseline.baseline = lumos::Baseline::given(at::zeros({2, 6, 6}));
  EXPECT_NE(error_of<lumos::InputError>([&] {
              GradientExplainer(*model, {lumos::parse_gradient_method("ig")}, baseline).explain(images(), {Target::top(1)});
            }).find("does not broadcast"),
            std::string::npos);
}

TEST(Perturbation, OcclusionWithOneWindowIsTheScoreDrop) {
  auto model = lumos::Model::load(tiny_model());
  const auto x = images();
  PerturbationOptions options;
  options.window_height = options.window_width = options.stride_height = options.stride_width = 6;
  options.baseline = lumos::Baseline::given(at::full({1}, 0.25f));
  const auto r = PerturbationExplainer(*model, {PerturbationMethod::occlusion}, options).explain(x, {Target::top(1)});
  const auto scores = model->scores(x);
  const auto at_baseline = model->scores(at::full_like(x, 0.25f));
  for (int i = 0; i < 2; ++i) {
    const float drop = (scores[i][r[i].target] - at_baseline[i][r[i].target]).item<float>();
    expect_near(r[i].maps[0].values, at::full({3, 6, 6}, drop), 1e-5, "occlusion");
  }
}

TEST(Perturbation, OcclusionOfAnAdditiveModelAveragesTheWindowsCoveringAPixel) {
  auto model = lumos::Model::load(tiny_model());
  const auto x = images(1);
  PerturbationOptions options;
  options.window_height = options.window_width = 2;
  options.stride_height = options.stride_width = 1;
  options.batch_size = 4;
  const auto r = PerturbationExplainer(*model, {PerturbationMethod::occlusion}, options).explain(x, {Target::class_index(1)});
  // Each window's drop is the sum over its pixels of the pixel's contribution c = sum_channels W a.
  const auto c = (weights_of(1) * at::relu(x[0])).sum(0);
  auto total = at::zeros({6, 6}), covered = at::zeros({6, 6});
  for (int top = 0; top < 5; ++top) {
    for (int left = 0; left < 5; ++left) {
      const auto drop = c.slice(0, top, top + 2).slice(1, left, left + 2).sum();
      total.slice(0, top, top + 2).slice(1, left, left + 2).add_(drop);
      covered.slice(0, top, top + 2).slice(1, left, left + 2).add_(1);
    }
  }
  expect_near(r[0].maps[0].values[0], total / covered, 1e-5, "occlusion");
  expect_near(r[0].maps[0].values[2], total / covered, 1e-5, "occlusion, every channel");
}

namespace {

// The 6x6 test images cut into 9 segments of 2x2 pixels, row by row.
lumos::Segmentation nine_squares() {
  cv::Mat labels(6, 6, CV_32SC1);
  for (int r = 0; r < 6; ++r) {
    for (int c = 0; c < 6; ++c) labels.at<int>(r, c) = (r / 2) * 3 + c / 2;
  }
  return {labels, 9};
}

// Square s's part of a per-pixel [6, 6] contribution.
double square_sum(const at::Tensor& contribution, int s) {
  return contribution.slice(0, (s / 3) * 2, (s / 3) * 2 + 2).slice(1, (s % 3) * 2, (s % 3) * 2 + 2).sum().item<double>();
}

}  // namespace

TEST(Perturbation, KernelShapIsExactOnAnAdditiveModelEvenWhenSampled) {
  auto model = lumos::Model::load(tiny_model());
  const auto x = images(1);
  // 9 segments of 2x2 pixels: 512 coalitions; 200 samples draw some of them.
  const auto segments = nine_squares();
  const auto contribution = (weights_of(2) * at::relu(x[0])).sum(0);
  for (int64_t samples : {200, 512}) {
    PerturbationOptions options;
    options.shap_samples = samples;
    options.batch_size = 64;
    const auto r = PerturbationExplainer(*model, {PerturbationMethod::kernel_shap}, options)
                       .explain(x, {Target::class_index(2)}, {segments});
    ASSERT_EQ(r[0].maps[0].segment_values.size(), 9u);
    for (int s = 0; s < 9; ++s) {
      EXPECT_NEAR(r[0].maps[0].segment_values[s], square_sum(contribution, s), 1e-4)
          << "segment " << s << ", " << samples << " samples";
    }
    EXPECT_NEAR(*r[0].maps[0].convergence_delta, 0, 1e-9);
    EXPECT_FLOAT_EQ(r[0].maps[0].values[1][0][0].item<float>(), static_cast<float>(r[0].maps[0].segment_values[0]));
  }
}

TEST(Perturbation, KernelShapDrawsCoalitionsAsCaptum) {
  // captum: a size k in 1..M-1 with probability in proportion to (M-1) / (k (M-k)), then k
  // segments uniformly; a coalition drawn n times appears once with weight n.
  constexpr int64_t m = 41, draws = 100000;
  const auto drawn = lumos::perturbation::kernel_shap_coalitions(m, draws + 2, 7);
  std::vector<double> by_size(m + 1, 0), by_segment(m, 0);
  double total = 0;
  std::set<std::vector<uint8_t>> distinct;
  for (size_t i = 0; i < drawn.kept.size(); ++i) {
    const auto& kept = drawn.kept[i];
    const auto size = std::count(kept.begin(), kept.end(), 1);
    ASSERT_TRUE(size > 0 && size < m) << "coalition " << i << " keeps " << size << " segments";
    ASSERT_TRUE(distinct.insert(kept).second) << "coalition " << i << " listed twice";
    by_size[size] += drawn.weights[i];
    for (int64_t j = 0; j < m; ++j) by_segment[j] += drawn.weights[i] * kept[j];
    total += drawn.weights[i];
  }
  EXPECT_EQ(total, draws);
  EXPECT_LT(drawn.kept.size(), static_cast<size_t>(draws)) << "the 82 coalitions of 1 or 40 segments repeat";
  double mass = 0;
  for (int64_t k = 1; k < m; ++k) mass += 1.0 / static_cast<double>(k * (m - k));
  double size_chi2 = 0, kept_segments = 0;
  for (int64_t k = 1; k < m; ++k) {
    const double expected = draws / static_cast<double>(k * (m - k)) / mass;
    size_chi2 += (by_size[k] - expected) * (by_size[k] - expected) / expected;
    kept_segments += k * by_size[k];
  }
  double segment_chi2 = 0;
  for (int64_t j = 0; j < m; ++j) {
    const double expected = kept_segments / m;
    segment_chi2 += (by_segment[j] - expected) * (by_segment[j] - expected) / expected;
  }
  std::cout << "    " << drawn.kept.size() << " distinct of " << draws << " draws; chi-squared of the sizes "
            << size_chi2 << ", of the segments " << segment_chi2 << "\n";
  // 39 and 40 degrees of freedom: chi-squared above 72.1 and 73.4 has probability 0.001.
  EXPECT_LT(size_chi2, 72.1);
  EXPECT_LT(segment_chi2, 73.4);
  // A wrong size law (uniform sizes) is far outside that.
  double uniform_chi2 = 0;
  for (int64_t k = 1; k < m; ++k) {
    const double expected = draws / static_cast<double>(m - 1);
    uniform_chi2 += (by_size[k] - expected) * (by_size[k] - expected) / expected;
  }
  EXPECT_GT(uniform_chi2, 1000);
}

TEST(Perturbation, KernelShapFitsGivenCoalitions) {
  auto model = lumos::Model::load(tiny_model());
  const auto x = images(1);
  const auto segments = nine_squares();
  // Each segment alone, twice, beside the image and the baseline (which add nothing): on an
  // additive model the values are each segment's contribution.
  auto given = at::cat({at::eye(9, at::kBool), at::eye(9, at::kBool), at::ones({1, 9}, at::kBool),
                        at::zeros({1, 9}, at::kBool)});
  PerturbationOptions options;
  options.given_shap_coalitions = given;
  std::vector<int64_t> scored;
  options.progress = [&](const lumos::AttributionProgress& p) { scored.push_back(p.done); };
  const auto r = PerturbationExplainer(*model, {PerturbationMethod::kernel_shap}, options)
                     .explain(x, {Target::class_index(2)}, {segments});
  EXPECT_EQ(scored.back(), 2 + 9) << "the image, the baseline and each distinct coalition once";
  const auto contribution = (weights_of(2) * at::relu(x[0])).sum(0);
  for (int s = 0; s < 9; ++s) {
    EXPECT_NEAR(r[0].maps[0].segment_values[s], square_sum(contribution, s), 1e-4) << "segment " << s;
  }

  options.given_shap_coalitions = at::ones({3, 8}, at::kBool);
  PerturbationExplainer wrong_columns(*model, {PerturbationMethod::kernel_shap}, options);
  EXPECT_NE(error_of<lumos::InputError>([&] { wrong_columns.explain(x, {Target::top(1)}, {segments}); })
                .find("[coalitions, 9]"),
            std::string::npos);
  options.given_shap_coalitions = at::ones({3, 9}, at::kBool);
  PerturbationExplainer only_ends(*model, {PerturbationMethod::kernel_shap}, options);
  EXPECT_NE(error_of<lumos::InputError>([&] { only_ends.explain(x, {Target::top(1)}, {segments}); })
                .find("every segment or none"),
            std::string::npos);
}

TEST(Perturbation, RiseMasksAreSeededAndDoNotDependOnTheBatchSize) {
  auto model = lumos::Model::load(tiny_model());
  const auto x = images();
  PerturbationOptions options;
  options.rise_masks = 50;
  options.rise_cells = 3;
  options.batch_size = 7;
  const auto a = PerturbationExplainer(*model, {PerturbationMethod::rise}, options).explain(x, {Target::top(1)});
  options.batch_size = 50;
  const auto b = PerturbationExplainer(*model, {PerturbationMethod::rise}, options).explain(x, {Target::top(1)});
  options.seed = 1;
  const auto other = PerturbationExplainer(*model, {PerturbationMethod::rise}, options).explain(x, {Target::top(1)});
  for (int i = 0; i < 2; ++i) {
    EXPECT_LE((a[i].maps[0].values - b[i].maps[0].values).abs().max().item<double>(), 1e-6);
    EXPECT_FALSE(at::allclose(a[i].maps[0].values, other[i].maps[0].values));
    EXPECT_EQ(a[i].maps[0].values.sizes(), (at::IntArrayRef{6, 6}));
  }
  const auto masks = lumos::random_rise_masks(20, 3, 0.5, 6, 6, 9);
  const auto made = lumos::rise_masks(masks, 0, 20, 6, 6);
  EXPECT_GE(made.min().item<float>(), 0.f);
  EXPECT_LE(made.max().item<float>(), 1.f);
  EXPECT_LT(masks.shifts.max().item<int64_t>(), 2);  // ceil(6 / 3)
}

TEST(Perturbation, RiseWithMasksThatKeepEverythingIsTheProbability) {
  auto model = lumos::Model::load(tiny_model());
  const auto x = images(1);
  PerturbationOptions options;
  options.given_rise_masks = lumos::RiseMasks{at::ones({5, 4, 4}, at::kBool), at::zeros({5, 2}, at::kLong)};
  options.rise_probability = 1;
  const auto r = PerturbationExplainer(*model, {PerturbationMethod::rise}, options).explain(x, {Target::class_index(3)});
  const float p = at::softmax(model->scores(x), 1)[0][3].item<float>();
  expect_near(r[0].maps[0].values, at::full({6, 6}, p), 1e-6, "rise");
  // The map shows differences (min to max): a constant saliency has none.
  EXPECT_TRUE(r[0].maps[0].empty);
  EXPECT_NE(r[0].maps[0].warning.find("same everywhere"), std::string::npos);
}

TEST(Perturbation, ProgressCancelNamesAndErrors) {
  auto model = lumos::Model::load(tiny_model());
  PerturbationOptions options;
  options.window_height = options.window_width = 3;
  options.stride_height = options.stride_width = 3;
  options.batch_size = 3;
  std::vector<lumos::AttributionProgress> seen;
  options.progress = [&](const lumos::AttributionProgress& p) { seen.push_back(p); };
  PerturbationExplainer(*model, {PerturbationMethod::occlusion}, options).explain(images(1), {Target::top(1)});
  ASSERT_EQ(seen.size(), 2u);  // 4 windows in batches of 3
  EXPECT_EQ(seen.back().done, 4);
  options.cancel = [] { return true; };
  EXPECT_THROW(PerturbationExplainer(*model, {PerturbationMethod::occlusion}, options).explain(images(1), {Target::top(1)}),
               lumos::CancelledError);

  for (auto m : lumos::all_perturbation_methods()) EXPECT_EQ(lumos::parse_perturbation_method(lumos::to_string(m)), m);
  EXPECT_EQ(lumos::parse_perturbation_method("Kernel-SHAP"), PerturbationMethod::kernel_shap);
  EXPECT_FALSE(lumos::is_perturbation_method("lime"));

  PerturbationExplainer shap(*model, {PerturbationMethod::kernel_shap});
  EXPECT_NE(error_of<lumos::InputError>([&] { shap.explain(images(1), {Target::top(1)}); }).find("segmentation"),
            std::string::npos);
  const lumos::Segmentation wrong{cv::Mat::zeros(5, 5, CV_32SC1), 1};
  EXPECT_NE(error_of<lumos::InputError>([&] { shap.explain(images(1), {Target::top(1)}, {wrong}); }).find("6x6"),
            std::string::npos);
  PerturbationOptions big;
  big.window_height = 7;
  big.stride_height = 7;
  EXPECT_NE(error_of<lumos::InputError>([&] {
              PerturbationExplainer(*model, {PerturbationMethod::occlusion}, big).explain(images(1), {Target::top(1)});
            }).find("larger than the input"),
            std::string::npos);
  PerturbationOptions stride;
  stride.stride_width = 17;
  EXPECT_THROW(PerturbationExplainer(*model, {PerturbationMethod::occlusion}, stride), lumos::InputError);
  EXPECT_THROW(PerturbationExplainer(*model, {}), lumos::InputError);
}

TEST(Baseline, ZeroBlackBlurredAndGiven) {
  const auto x = images();
  const auto black = lumos::Baseline::black(lumos::Model::load(tiny_model())->input(), lumos::Preprocess::named("imagenet"));
  const auto expected = (at::zeros({3}) - at::tensor({0.485f, 0.456f, 0.406f})) / at::tensor({0.229f, 0.224f, 0.225f});
  expect_near(black.of(x, lumos::Layout::NCHW)[1].select(2, 4).select(1, 2), expected, 1e-6, "black");
  expect_near(lumos::Baseline::zero().of(x, lumos::Layout::NCHW), at::zeros_like(x), 0, "zero");
  expect_near(lumos::Baseline::blurred().of(x, lumos::Layout::NCHW), lumos::rise_blur(x, lumos::Layout::NCHW), 0, "blurred");
  EXPECT_EQ(lumos::Baseline::blurred(5, 2).describe(), "blurred (5 px, sigma 2)");
  expect_near(lumos::Baseline::given(at::ones({3, 1, 1})).of(x, lumos::Layout::NCHW), at::ones_like(x), 0, "given");
  EXPECT_THROW(lumos::Baseline::blurred(4, 1), lumos::InputError);
  EXPECT_THROW(lumos::Baseline::given(at::ones({3, 2, 2})).of(x, lumos::Layout::NCHW), lumos::InputError);
}
