// Explanation metrics: hand-computed cases on a model whose probability is known in closed
// form, and a cross-check against tests/fixtures/make_metrics_reference.py (PyTorch/SciPy).
#include "lumos/error.hpp"
#include "lumos/metrics.hpp"
#include "lumos/npy.hpp"
#include "support/onnx_builder.hpp"
#include "support/error_of.hpp"

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <filesystem>
#include <fstream>

using lumos::testing::error_of;
namespace fs = std::filesystem;
using lumos::testing::OnnxBuilder;

namespace {

double sigmoid(double x) { return 1 / (1 + std::exp(-x)); }

// x[N,1,2,2] -> Flatten -> MatMul [[1,0]]*4 -> logits [sum(x), 0]: p(class 0) = sigmoid(sum(x)).
std::unique_ptr<lumos::Model> sum_model() {
  OnnxBuilder b;
  b.input("x", {-1, 1, 2, 2}).output("logits", {-1, 2});
  b.initializer("w", {4, 2}, {1, 0, 1, 0, 1, 0, 1, 0});
  b.node("Flatten", {"x"}, {"flat"});
  b.node("MatMul", {"flat", "w"}, {"logits"});
  const auto path = fs::temp_directory_path() / "lumos_test_metrics_sum_model.onnx";
  b.save(path.string());
  return lumos::Model::load(path.string());
}

at::Tensor tensor_2x2(std::vector<float> values, std::vector<int64_t> shape) {
  return at::tensor(values, at::kFloat).reshape(shape);
}

fs::path fixture_dir() {
  const fs::path dir = fs::path(LUMOS_FIXTURES) / "metrics";
  if (!fs::exists(dir / "manifest.json")) {
    ADD_FAILURE() << dir << " is missing: run /usr/bin/python3 tests/fixtures/make_metrics_reference.py "
                  << LUMOS_FIXTURES;
  }
  return dir;
}

std::vector<double> to_vector(const at::Tensor& t) {
  const at::Tensor d = t.to(at::kDouble).contiguous();
  return {d.data_ptr<double>(), d.data_ptr<double>() + d.numel()};
}

void expect_near_all(const std::vector<double>& actual, const std::vector<double>& expected, double tolerance,
                     const std::string& what) {
  ASSERT_EQ(actual.size(), expected.size()) << what;
  for (size_t i = 0; i < actual.size(); ++i) EXPECT_NEAR(actual[i], expected[i], tolerance) << what << " [" << i << "]";
}

}  // namespace

TEST(Metrics, AreaUnderCurveIsTheNormalisedTrapezoid) {
  EXPECT_DOUBLE_EQ(lumos::area_under_curve({1, 0}), 0.5);
  EXPECT_DOUBLE_EQ(lumos::area_under_curve({1, 1, 1}), 1.0);
  EXPECT_DOUBLE_EQ(lumos::area_under_curve({0, 0.5, 1}), 0.5);
  EXPECT_DOUBLE_EQ(lumos::area_under_curve({1, 0, 0, 0, 0}), 0.125);
  EXPECT_THROW(lumos::area_under_curve({1}), lumos::InputError);
}

// Pixels 1,2,3,4 (row-major); the map orders them 2nd, 3rd, 4th, 1st. Each deletion step
// zeroes one pixel, so the sums are 10, 8, 5, 1, 0.
TEST(Metrics, DeletionRemovesTheMostSalientPixelsFirst) {
  auto model = sum_model();
  const auto image = tensor_2x2({1, 2, 3, 4}, {1, 1, 2, 2});
  const auto map = tensor_2x2({0.1f, 0.9f, 0.5f, 0.3f}, {1, 2, 2});
  lumos::CausalOptions causal;
  causal.steps = 4;
  const auto curves = lumos::deletion_curves(*model, image, map, {0}, causal);
  ASSERT_EQ(curves.size(), 1u);
  const std::vector<double> expected{sigmoid(10), sigmoid(8), sigmoid(5), sigmoid(1), sigmoid(0)};
  expect_near_all(curves[0].probabilities, expected, 1e-6, "deletion curve");
  const double auc = (expected[0] / 2 + expected[1] + expected[2] + expected[3] + expected[4] / 2) / 4;
  EXPECT_NEAR(curves[0].auc, auc, 1e-6);

  // Class 1's probability is 1 - sigmoid(sum), and a baseline of 0.5 leaves sum = 10 - deleted + 0.5 per pixel.
  causal.baseline = at::full({}, 0.5f);
  const auto class_one = lumos::deletion_curves(*model, image, map, {1}, causal);
  expect_near_all(class_one[0].probabilities,
                  {1 - sigmoid(10), 1 - sigmoid(8.5), 1 - sigmoid(6), 1 - sigmoid(2.5), 1 - sigmoid(2)}, 1e-6,
                  "deletion curve to 0.5, class 1");
}

// 4 pixels in 3 steps: ceil(4/3) = 2 pixels per step, so 2 steps and 3 points (RISE's rule).
TEST(Metrics, DeletionStepsThatDoNotDivideThePixels) {
  auto model = sum_model();
  const auto curves = lumos::deletion_curves(*model, tensor_2x2({1, 2, 3, 4}, {1, 1, 2, 2}),
                                             tensor_2x2({0.1f, 0.9f, 0.5f, 0.3f}, {1, 2, 2}), {0}, {3});
  expect_near_all(curves[0].probabilities, {sigmoid(10), sigmoid(5), sigmoid(0)}, 1e-6, "deletion curve");
}

// Equal saliency: row-major order, so the pixels go 1, 2, 3, 4.
TEST(Metrics, DeletionBreaksTiesByPosition) {
  auto model = sum_model();
  const auto curves = lumos::deletion_curves(*model, tensor_2x2({1, 2, 3, 4}, {1, 1, 2, 2}), at::zeros({1, 2, 2}),
                                             {0}, {4});
  expect_near_all(curves[0].probabilities, {sigmoid(10), sigmoid(9), sigmoid(7), sigmoid(4), sigmoid(0)}, 1e-6,
                  "deletion curve");
}

// The blur of an impulse far from the border is the kernel itself: symmetric, sums to 1,
// peaked at the centre. With sigma 0.3 nothing reaches past the 3x3 window and no
// reflection happens, so the kernel is the sampled Gaussian.
TEST(Metrics, RiseBlurOfAnImpulseIsTheKernel) {
  at::Tensor impulse = at::zeros({1, 1, 31, 31});
  impulse.index_put_({0, 0, 15, 15}, 1.0f);
  const at::Tensor kernel = lumos::rise_blur(impulse, lumos::Layout::NCHW).index({0, 0}).slice(0, 10, 21).slice(1, 10, 21);
  EXPECT_NEAR(kernel.sum().item<double>(), 1.0, 1e-5);
  EXPECT_TRUE(at::allclose(kernel, kernel.flip({0}), 0, 1e-7));
  EXPECT_TRUE(at::allclose(kernel, kernel.t(), 0, 1e-7));
  EXPECT_EQ(kernel.argmax().item<int64_t>(), 5 * 11 + 5);

  const at::Tensor small = lumos::rise_blur(impulse, lumos::Layout::NCHW, 3, 0.3).index({0, 0});
  const double w1 = std::exp(-0.5 / 0.09), norm = 1 + 2 * w1;
  EXPECT_NEAR(small.index({15, 15}).item<double>(), 1 / (norm * norm), 1e-6);
  EXPECT_NEAR(small.index({14, 15}).item<double>(), w1 / (norm * norm), 1e-6);
  EXPECT_NEAR(small.index({14, 14}).item<double>(), w1 * w1 / (norm * norm), 1e-6);
}

// Insertion starts from the blurred image and puts the original pixels back, most salient first.
TEST(Metrics, InsertionRestoresTheMostSalientPixelsFirst) {
  auto model = sum_model();
  const auto image = tensor_2x2({1, 2, 3, 4}, {1, 1, 2, 2});
  const auto blurred = lumos::rise_blur(image, lumos::Layout::NCHW).reshape({4});
  const auto b = blurred.accessor<float, 1>();
  // Order: pixel 1, 2, 3, 0.
  std::vector<double> sums{b[0] + b[1] + b[2] + b[3]};
  sums.push_back(sums.back() - b[1] + 2);
  sums.push_back(sums.back() - b[2] + 3);
  sums.push_back(sums.back() - b[3] + 4);
  sums.push_back(10);
  std::vector<double> expected;
  for (double s : sums) expected.push_back(sigmoid(s));
  const auto curves = lumos::insertion_curves(*model, image, tensor_2x2({0.1f, 0.9f, 0.5f, 0.3f}, {1, 2, 2}), {0}, {4});
  expect_near_all(curves[0].probabilities, expected, 1e-6, "insertion curve");
  EXPECT_NEAR(curves[0].auc, lumos::area_under_curve(expected), 1e-6);
}

// Y = sigmoid(sum x), O = sigmoid(sum x * map).
TEST(Metrics, AverageDropAndIncreaseInConfidence) {
  auto model = sum_model();
  const auto images = tensor_2x2({1, 2, 3, 4, -1, -1, -1, -1}, {2, 1, 2, 2});
  const auto maps = tensor_2x2({1, 0, 0.5f, 0, 0.5f, 0.5f, 0.5f, 0.5f}, {2, 2, 2});
  const auto changes = lumos::confidence_changes(*model, images, maps, {0, 0});
  ASSERT_EQ(changes.size(), 2u);
  EXPECT_NEAR(changes[0].original, sigmoid(10), 1e-6);
  EXPECT_NEAR(changes[0].explained, sigmoid(2.5), 1e-6);
  EXPECT_NEAR(changes[1].original, sigmoid(-4), 1e-6);
  EXPECT_NEAR(changes[1].explained, sigmoid(-2), 1e-6);
  const double drop = 100.0 / 2 * (sigmoid(10) - sigmoid(2.5)) / sigmoid(10);
  EXPECT_NEAR(lumos::average_drop(changes), drop, 1e-4);
  EXPECT_DOUBLE_EQ(lumos::increase_in_confidence(changes), 50.0);
  EXPECT_THROW(lumos::average_drop({}), lumos::InputError);
}

TEST(Metrics, BatchSizeChangesNothingAndProgressCountsForwardPasses) {
  auto model = sum_model();
  const at::Tensor images = at::rand({3, 1, 2, 2}, at::TensorOptions().dtype(at::kFloat)) * 4 - 2;
  const at::Tensor maps = at::rand({3, 2, 2});
  lumos::MetricOptions one;
  one.batch_size = 1;
  lumos::MetricOptions seven;
  seven.batch_size = 7;
  std::vector<int64_t> done;
  seven.progress = [&](const lumos::MetricProgress& p) {
    EXPECT_EQ(p.metric, "insertion");
    EXPECT_EQ(p.total, 15);  // 3 images x (4 steps + 1)
    done.push_back(p.done);
  };
  const auto a = lumos::insertion_curves(*model, images, maps, {0, 1, 0}, {4}, one);
  const auto b = lumos::insertion_curves(*model, images, maps, {0, 1, 0}, {4}, seven);
  EXPECT_EQ(done, (std::vector<int64_t>{7, 14, 15}));
  for (int i = 0; i < 3; ++i) expect_near_all(a[i].probabilities, b[i].probabilities, 1e-7, "curve");
}

TEST(Metrics, BadInputsAreInputErrors) {
  auto model = sum_model();
  const auto image = tensor_2x2({1, 2, 3, 4}, {1, 1, 2, 2});
  const auto map = tensor_2x2({0.1f, 0.9f, 0.5f, 0.3f}, {1, 2, 2});
  using lumos::InputError;
  EXPECT_NE(error_of<InputError>([&] { lumos::deletion_curves(*model, image, at::zeros({1, 3, 3}), {0}); })
                .find("resize each map"),
            std::string::npos);
  EXPECT_NE(error_of<InputError>([&] { lumos::deletion_curves(*model, image, map * 2, {0}); }).find("[0, 1]"),
            std::string::npos);
  EXPECT_NE(error_of<InputError>([&] { lumos::deletion_curves(*model, image, map, {0, 1}); }).find("one class index"),
            std::string::npos);
  EXPECT_NE(error_of<InputError>([&] { lumos::insertion_curves(*model, image, map, {2}); }).find("2 classes"),
            std::string::npos);
  EXPECT_NE(error_of<InputError>([&] { lumos::confidence_changes(*model, image.squeeze(0), map, {0}); }).find("4-D"),
            std::string::npos);
  EXPECT_THROW(lumos::deletion_curves(*model, image, map, {0}, {0}), InputError);
  lumos::CausalOptions wrong_baseline;
  wrong_baseline.baseline = at::zeros({2, 3, 3});
  EXPECT_THROW(lumos::deletion_curves(*model, image, map, {0}, wrong_baseline), InputError);
  lumos::MetricOptions no_batch;
  no_batch.batch_size = 0;
  EXPECT_THROW(lumos::confidence_changes(*model, image, map, {0}, no_batch), InputError);
  const at::Tensor nan_map = map.clone().index_put_({0, 0, 0}, NAN);
  EXPECT_THROW(lumos::confidence_changes(*model, image, nan_map, {0}), InputError);
}

TEST(Metrics, PointingGameMeasuresTheDistanceFromThePeakToTheRegion) {
  at::Tensor map = at::zeros({40, 40});
  map.index_put_({10, 30}, 1.0f);  // peak at x 30, y 10
  const auto box = lumos::box_mask({0, 20, 12, 40}, 40, 40);  // x 0..11, y 20..39
  // Nearest box pixel: (x 11, y 20): dx 19, dy 10, distance sqrt(461) = 21.47.
  EXPECT_FALSE(lumos::pointing_game_hit(map, box, 15));
  EXPECT_FALSE(lumos::pointing_game_hit(map, box, 21.4));
  EXPECT_TRUE(lumos::pointing_game_hit(map, box, 21.5));
  EXPECT_TRUE(lumos::pointing_game_hit(map, lumos::box_mask({30, 10, 31, 11}, 40, 40), 0));
  EXPECT_FALSE(lumos::pointing_game_hit(map, lumos::box_mask({31, 10, 32, 11}, 40, 40), 0));
  EXPECT_TRUE(lumos::pointing_game_hit(map, lumos::box_mask({31, 10, 32, 11}, 40, 40), 1));
  // Two equal peaks: the first in row-major order counts.
  map.index_put_({35, 5}, 1.0f);
  EXPECT_FALSE(lumos::pointing_game_hit(map, box, 0));
  map.index_put_({10, 30}, 0.5f);
  EXPECT_TRUE(lumos::pointing_game_hit(map, box, 0));
  EXPECT_THROW(lumos::pointing_game_hit(map, box.to(at::kFloat), 0), lumos::InputError);
  EXPECT_THROW(lumos::pointing_game_hit(map, box, -1), lumos::InputError);
}

TEST(Metrics, EnergyInRegionIsTheShareOfTheMapsSum) {
  at::Tensor map = at::zeros({4, 5});
  map.index_put_({1, 1}, 0.5f);
  map.index_put_({1, 2}, 0.25f);
  map.index_put_({3, 4}, 1.0f);
  EXPECT_NEAR(lumos::energy_in_region(map, lumos::box_mask({1, 1, 3, 2}, 4, 5)), 0.75 / 1.75, 1e-9);
  EXPECT_NEAR(lumos::energy_in_region(map, lumos::box_mask({0, 0, 9, 9}, 4, 5)), 1.0, 1e-9);
  EXPECT_EQ(lumos::energy_in_region(at::zeros({4, 5}), lumos::box_mask({0, 0, 2, 2}, 4, 5)), 0.0);
}

TEST(Metrics, BoxMaskIsHalfOpenAndClipped) {
  const at::Tensor mask = lumos::box_mask({-2, 1, 2, 3}, 4, 5);
  EXPECT_EQ(mask.sum().item<int64_t>(), 4);  // x 0..1, y 1..2
  EXPECT_TRUE(mask.index({1, 0}).item<bool>());
  EXPECT_TRUE(mask.index({2, 1}).item<bool>());
  EXPECT_FALSE(mask.index({3, 1}).item<bool>());
  EXPECT_FALSE(mask.index({1, 2}).item<bool>());
  EXPECT_THROW(lumos::box_mask({2, 2, 2, 3}, 4, 5), lumos::InputError);
  EXPECT_THROW(lumos::box_mask({6, 0, 8, 2}, 4, 5), lumos::InputError);
}

TEST(Metrics, SpearmanCorrelationAveragesTiedRanks) {
  // scipy.stats.spearmanr([1,2,3,4,5], [5,6,7,8,7]): ranks of b are 1,2,3.5,5,3.5.
  const double expected = 0.82078268166812329;
  EXPECT_NEAR(lumos::spearman_correlation(at::tensor({1., 2., 3., 4., 5.}), at::tensor({5., 6., 7., 8., 7.})),
              expected, 1e-12);
  EXPECT_NEAR(lumos::spearman_correlation(at::tensor({1., 2., 3.}), at::tensor({30., 20., 10.})), -1.0, 1e-12);
  EXPECT_TRUE(std::isnan(lumos::spearman_correlation(at::zeros({2, 2}), at::rand({2, 2}))));
  EXPECT_THROW(lumos::spearman_correlation(at::zeros({2, 2}), at::zeros({4})), lumos::InputError);
}

class MetricsReference : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fixture_dir();
    ASSERT_TRUE(fs::exists(dir_ / "manifest.json"));
    std::ifstream(dir_ / "manifest.json") >> manifest_;
    images_ = load("images");
    maps_ = load("maps");
    const at::Tensor t = load("targets");
    targets_.assign(t.data_ptr<int64_t>(), t.data_ptr<int64_t>() + t.numel());
  }
  at::Tensor load(const std::string& name) const { return lumos::read_npy((dir_ / (name + ".npy")).string()); }
  std::unique_ptr<lumos::Model> model(const std::string& layout) const {
    return lumos::Model::load((dir_ / ("model_" + layout + ".onnx")).string());
  }
  void expect_curves(const std::vector<lumos::Curve>& curves, const std::string& name) const {
    const at::Tensor expected = load(name), auc = load(name + "_auc");
    ASSERT_EQ(static_cast<int64_t>(curves.size()), expected.size(0));
    for (size_t i = 0; i < curves.size(); ++i) {
      expect_near_all(curves[i].probabilities, to_vector(expected[i]), 2e-6, name + " image " + std::to_string(i));
      EXPECT_NEAR(curves[i].auc, auc[i].item<double>(), 2e-6) << name << " image " << i;
    }
  }

  fs::path dir_;
  nlohmann::json manifest_;
  at::Tensor images_, maps_;
  std::vector<int64_t> targets_;
};

TEST_F(MetricsReference, CausalCurvesMatchRiseProtocolInBothLayouts) {
  lumos::CausalOptions causal;
  causal.steps = manifest_["steps"];
  lumos::MetricOptions options;
  options.batch_size = 16;
  for (const std::string layout : {"nchw", "nhwc"}) {
    SCOPED_TRACE(layout);
    auto m = model(layout);
    const at::Tensor batch = layout == "nhwc" ? images_.permute({0, 2, 3, 1}).contiguous() : images_;
    expect_curves(lumos::deletion_curves(*m, batch, maps_, targets_, causal, options), "deletion");
    expect_curves(lumos::insertion_curves(*m, batch, maps_, targets_, causal, options), "insertion");
    const auto baseline = at::tensor(manifest_["baseline"].get<std::vector<float>>());
    lumos::CausalOptions with_baseline = causal;
    with_baseline.baseline = layout == "nhwc" ? baseline.view({1, 1, 3}) : baseline.view({3, 1, 1});
    expect_curves(lumos::deletion_curves(*m, batch, maps_, targets_, with_baseline, options), "deletion_baseline");
  }
}

TEST_F(MetricsReference, RiseBlurMatchesScipyKernel) {
  const at::Tensor blurred = lumos::rise_blur(images_, lumos::Layout::NCHW);
  EXPECT_TRUE(at::allclose(blurred, load("blurred"), 1e-5, 1e-6)) << (blurred - load("blurred")).abs().max();
}

TEST_F(MetricsReference, ConfidenceChangesMatch) {
  auto m = model("nchw");
  const auto changes = lumos::confidence_changes(*m, images_, maps_, targets_);
  const at::Tensor expected = load("confidence");
  for (size_t i = 0; i < changes.size(); ++i) {
    EXPECT_NEAR(changes[i].original, expected[i][0].item<double>(), 1e-6);
    EXPECT_NEAR(changes[i].explained, expected[i][1].item<double>(), 1e-6);
  }
}

TEST_F(MetricsReference, LocalisationAndRankCorrelationMatch) {
  const at::Tensor boxes = load("boxes"), pointing = load("pointing"), energy = load("energy");
  const auto tolerances = manifest_["tolerances"].get<std::vector<double>>();
  const int64_t n = maps_.size(0);
  for (int64_t b = 0; b < boxes.size(0); ++b) {
    const auto x = boxes[b];
    const lumos::Box box{x[0].item<int64_t>(), x[1].item<int64_t>(), x[2].item<int64_t>(), x[3].item<int64_t>()};
    const at::Tensor region = lumos::box_mask(box, maps_.size(1), maps_.size(2));
    for (size_t t = 0; t < tolerances.size(); ++t) {
      EXPECT_EQ(lumos::pointing_game_hit(maps_[b % n], region, tolerances[t]), pointing[b][t].item<uint8_t>() != 0)
          << "box " << b << ", tolerance " << tolerances[t];
    }
    EXPECT_NEAR(lumos::energy_in_region(maps_[b % n], region), energy[b].item<double>(), 1e-6) << "box " << b;
  }
  const at::Tensor spearman = load("spearman");
  const auto pairs = manifest_["spearman_pairs"].get<std::vector<std::vector<int64_t>>>();
  for (size_t p = 0; p < pairs.size(); ++p) {
    EXPECT_NEAR(lumos::spearman_correlation(maps_[pairs[p][0]], maps_[pairs[p][1]]), spearman[p].item<double>(), 1e-9);
  }
}
