// lumos's perturbation attributions on the ONNX export of torchvision's resnet18 against the
// references of tests/fixtures/make_perturbation_reference.py: Occlusion equals captum's
// algorithm, RISE equals the paper's code given the same cells and shifts (masks and
// saliency), KernelSHAP on 4 segments equals the exact Shapley values, and on quickshift's
// segments gives real captum's KernelShap values on the coalitions captum drew and agrees with
// captum's own draws by rank correlation (tests/fixtures/captum_kernel_shap.json).
#include "lumos/metrics.hpp"
#include "lumos/npy.hpp"
#include "lumos/perturbation.hpp"
#include "support/close_to.hpp"
#include "support/fixture_json.hpp"
#include "support/thread_count.hpp"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>
#include <sstream>

namespace fs = std::filesystem;
using lumos::testing::close_to;

namespace {

constexpr double kTolerance = 1e-4;
const fs::path kFixtures = LUMOS_FIXTURES;

struct Case {
  nlohmann::json spec;
  std::unique_ptr<lumos::Model> model;
  at::Tensor input;
  std::vector<lumos::Target> targets;

  at::Tensor array(const std::string& kind) const {
    return lumos::read_npy((kFixtures / "perturbation" / spec["files"][kind].get<std::string>()).string());
  }
};

// The case's model, its images and targets (image 0: top class; image 1: the reference's class).
Case load_case(const std::string& name) {
  const auto manifest = lumos::testing::read_fixture_json("perturbation/manifest.json", "make_perturbation_reference.py");
  Case c;
  if (!manifest.contains("cases") || !manifest["cases"].contains(name)) {
    ADD_FAILURE() << "no reference case " << name << ": run tests/fixtures/make_perturbation_reference.py";
    return c;
  }
  c.spec = manifest["cases"][name];
  c.model = lumos::Model::load((kFixtures / c.spec["onnx"].get<std::string>()).string());
  const int64_t images = c.spec["images"];
  c.input = lumos::read_npy((kFixtures / c.spec["input"].get<std::string>()).string()).slice(0, 0, images);
  c.targets = {lumos::Target::top(1)};
  if (images > 1) c.targets.push_back(lumos::Target::class_index(c.spec["targets"][1].get<int64_t>()));
  return c;
}

lumos::Segmentation segmentation_of(const at::Tensor& labels) {
  const auto contiguous = labels.to(at::kInt).contiguous();
  cv::Mat mat(static_cast<int>(labels.size(0)), static_cast<int>(labels.size(1)), CV_32SC1);
  std::memcpy(mat.data, contiguous.data_ptr<int>(), contiguous.numel() * sizeof(int));
  return {mat, static_cast<int>(contiguous.max().item<int>()) + 1};
}

at::Tensor stacked_values(const std::vector<lumos::AttributionExplanation>& result) {
  std::vector<at::Tensor> values;
  for (const auto& e : result) values.push_back(e.maps[0].values);
  return at::stack(values);
}

void check_occlusion(const std::string& name) {
  const lumos::testing::ThreadCount threads(2);
  const auto c = load_case(name);
  if (!c.model) return;
  lumos::PerturbationOptions options;
  options.window_height = options.window_width = c.spec["window"];
  options.stride_height = options.stride_width = c.spec["stride"];
  if (c.spec["baseline"] == "blurred") options.baseline = lumos::Baseline::blurred();
  options.batch_size = 20;
  const auto result = lumos::PerturbationExplainer(*c.model, {lumos::PerturbationMethod::occlusion}, options)
                          .explain(c.input, c.targets);
  EXPECT_TRUE(close_to(name, stacked_values(result), c.array("values"), kTolerance));
}

void check_rise(const std::string& name) {
  const lumos::testing::ThreadCount threads(2);
  const auto c = load_case(name);
  if (!c.model) return;
  const lumos::RiseMasks masks{c.array("cells"), c.array("shifts")};
  const auto reference_masks = c.array("masks");
  const auto made = lumos::rise_masks(masks, 0, masks.cells.size(0), 224, 224);
  const double mask_error = (made - reference_masks).abs().max().item<double>();
  std::cout << "    " << name << " masks: max abs diff " << mask_error << "\n";
  EXPECT_LE(mask_error, 1e-6) << name;
  lumos::PerturbationOptions options;
  options.given_rise_masks = masks;
  options.rise_probability = c.spec["probability"];
  options.batch_size = 24;
  const auto result = lumos::PerturbationExplainer(*c.model, {lumos::PerturbationMethod::rise}, options)
                          .explain(c.input, c.targets);
  EXPECT_TRUE(close_to(name, stacked_values(result), c.array("values"), kTolerance));
}

}  // namespace

TEST(PerturbationParity, OcclusionEqualsCaptumsAlgorithm) { check_occlusion("occlusion.56.28.zero"); }
TEST(PerturbationParity, OcclusionClipsItsLastWindowsAtTheBorder) { check_occlusion("occlusion.48.40.blurred"); }

TEST(PerturbationParity, RiseEqualsThePapersCodeGivenTheSameMasks) {
  check_rise("rise.64.7");
  check_rise("rise.40.5");
}

TEST(PerturbationParity, KernelShapOnFourSegmentsIsExact) {
  const lumos::testing::ThreadCount threads(2);
  const auto c = load_case("kernelshap.quadrants");
  if (!c.model) return;
  lumos::PerturbationOptions options;
  options.shap_samples = 16;  // every coalition of 4 segments
  const auto result = lumos::PerturbationExplainer(*c.model, {lumos::PerturbationMethod::kernel_shap}, options)
                          .explain(c.input, c.targets, {segmentation_of(c.array("segments"))});
  std::vector<at::Tensor> values;
  for (const auto& e : result) {
    values.push_back(at::tensor(e.maps[0].segment_values, at::kDouble));
    ASSERT_TRUE(e.maps[0].convergence_delta.has_value());
    EXPECT_LE(std::abs(*e.maps[0].convergence_delta), 1e-9);  // the constraint holds exactly
  }
  EXPECT_TRUE(close_to("kernelshap.quadrants", at::stack(values), c.array("values"), kTolerance));
}

namespace {

// captum's KernelShap on the quickshift case (tests/fixtures/captum_kernel_shap.json, made by
// tests/fixtures/check_attribution_against_captum.py): run 0's values and coalitions, every run's
// values and how far the runs agree; and lumos's KernelSHAP on the same segments and class.
struct CaptumKernelShap {
  Case c;
  nlohmann::json captum;
  lumos::Segmentation segments;

  at::Tensor captum_values(const nlohmann::json& values) const {
    return at::tensor(values.get<std::vector<double>>(), at::kDouble);
  }

  at::Tensor lumos_values(lumos::PerturbationOptions options) const {
    options.shap_samples = captum["samples"];
    options.batch_size = 64;
    int64_t scored = 0;
    options.progress = [&](const lumos::AttributionProgress& p) { scored = p.done; };
    const auto result = lumos::PerturbationExplainer(*c.model, {lumos::PerturbationMethod::kernel_shap}, options)
                            .explain(c.input, c.targets, {segments});
    std::cout << "    KernelSHAP scored " << scored << " inputs for " << options.shap_samples << " samples\n";
    EXPECT_EQ(result[0].target, captum["target"].get<int64_t>());
    return at::tensor(result[0].maps[0].segment_values, at::kDouble);
  }
};

std::optional<CaptumKernelShap> load_captum_kernel_shap() {
  auto c = load_case("kernelshap.quickshift");
  if (!c.model) return std::nullopt;
  const auto path = fs::path(LUMOS_SOURCE_DIR) / "tests" / "fixtures" / "captum_kernel_shap.json";
  std::ifstream in(path);
  if (!in) {
    ADD_FAILURE() << path << " is missing (made by tests/fixtures/check_attribution_against_captum.py)";
    return std::nullopt;
  }
  CaptumKernelShap k{std::move(c), nlohmann::json::parse(in), {}};
  k.segments = segmentation_of(k.c.array("segments"));
  if (k.segments.count != k.captum["segments"].get<int>()) {
    ADD_FAILURE() << "the quickshift segmentation has " << k.segments.count << " segments, captum's runs "
                  << k.captum["segments"] << ": remake " << path;
    return std::nullopt;
  }
  return k;
}

// The seeds of lumos's own draws: 0, or those of LUMOS_KERNEL_SHAP_SEEDS ("0,1,2,3": each draw is
// also compared with the others, which measures lumos's own spread; docs/attribution.md).
std::vector<uint64_t> own_draw_seeds() {
  std::vector<uint64_t> seeds;
  std::stringstream list(std::getenv("LUMOS_KERNEL_SHAP_SEEDS") ? std::getenv("LUMOS_KERNEL_SHAP_SEEDS") : "0");
  for (std::string seed; std::getline(list, seed, ',');) seeds.push_back(std::stoull(seed));
  return seeds;
}

}  // namespace

// The strong test: fitted to the coalitions captum drew, lumos's KernelSHAP is captum's estimator.
// It equals the exact-constraint fit of captum's scores on them (the script's, in double) up to
// the rounding of its own scores, and captum's values up to that plus captum's distance from that
// fit, which the script measures (2.2e-4 of the largest value: captum's end points weigh 10^6, not
// infinitely, and it fits in float32; docs/attribution.md).
TEST(PerturbationParity, KernelShapFitsCaptumsCoalitionsToCaptumsValues) {
  const lumos::testing::ThreadCount threads(2);
  const auto k = load_captum_kernel_shap();
  if (!k) return;
  std::vector<uint8_t> bits;  // the rows of "0" and "1", one per coalition
  for (const auto& row : k->captum["coalitions"]) {
    const auto text = row.get<std::string>();
    ASSERT_EQ(static_cast<int64_t>(text.size()), k->segments.count);
    for (const char bit : text) bits.push_back(bit == '1');
  }
  lumos::PerturbationOptions options;
  options.given_shap_coalitions = at::tensor(bits, at::kByte).view({-1, k->segments.count});
  const auto ours = k->lumos_values(options);
  EXPECT_TRUE(close_to("kernelshap on captum's coalitions, against their exact-constraint fit", ours,
                       k->captum_values(k->captum["exact_constraint_values"]), kTolerance));
  const double captum_gap = k->captum["exact_constraint_to_values_max_rel_diff"];
  EXPECT_TRUE(close_to("kernelshap on captum's coalitions, against captum's values", ours,
                       k->captum_values(k->captum["values"]), kTolerance + captum_gap));
}

// The test: lumos's own draw ranks the segments as captum's does, as far as sampling
// allows. Two independent draws of this estimator at 2000 samples agree by rank correlation at
// 0.70 to 0.87 on this mask (measured: captum's 6 pairs of runs 0.768 to 0.810; lumos's seeds 0,
// 1 and 2 against captum's 4 runs 0.701 to 0.873, lower medians 0.808, 0.812 and 0.744; seeds 1
// and 2 with each other 0.751; docs/attribution.md), far from the 0.95, which not even captum
// meets against itself. So the lower median of the draw's rank correlations with captum's runs
// must reach the least of those measurements. This guards the end-to-end ranking (segments
// misnumbered or a sign lost fall far below); the fit itself is held by the test above and the
// sampler's law by Perturbation.KernelShapDrawsCoalitionsAsCaptum.
constexpr double kIndependentDrawsAgreeAtLeast = 0.70;

TEST(PerturbationParity, KernelShapRanksSegmentsAsCaptumDoes) {
  const lumos::testing::ThreadCount threads(2);
  const auto k = load_captum_kernel_shap();
  if (!k) return;
  const double captum_least = k->captum["run_to_run_rank_correlation"][0];
  std::vector<at::Tensor> ours;
  for (const auto seed : own_draw_seeds()) {
    lumos::PerturbationOptions options;
    options.seed = seed;
    ours.push_back(k->lumos_values(options));
    std::vector<double> with_captum;
    for (const auto& run : k->captum["runs_values"]) {
      with_captum.push_back(lumos::spearman_correlation(ours.back(), k->captum_values(run)));
    }
    std::sort(with_captum.begin(), with_captum.end());
    const double median = with_captum[(with_captum.size() - 1) / 2];  // the lower one of an even count
    std::cout << "    KernelSHAP seed " << seed << ": rank correlation with captum's " << with_captum.size()
              << " runs " << with_captum.front() << " to " << with_captum.back() << ", median " << median
              << "; captum's runs with each other at least " << captum_least << "\n";
    EXPECT_GE(median, kIndependentDrawsAgreeAtLeast) << "seed " << seed;
    for (size_t other = 0; other + 1 < ours.size(); ++other) {
      const double between = lumos::spearman_correlation(ours.back(), ours[other]);
      std::cout << "    KernelSHAP seed " << seed << " with draw " << other << ": rank correlation " << between << "\n";
      EXPECT_GE(between, kIndependentDrawsAgreeAtLeast);
    }
  }
}
