// lumos's gradient attributions on ONNX exports of torchvision models equal the PyTorch
// re-implementation of captum's methods in tests/fixtures/make_attribution_reference.py (the
// same noise draws, from the same seed) to 1e-4 of the largest value; Integrated Gradients'
// convergence deltas agree too. Batches of 5 inputs make the steps and samples of one image
// straddle several forward + backward passes.
#include "lumos/gradient.hpp"
#include "lumos/image.hpp"
#include "lumos/npy.hpp"
#include "support/close_to.hpp"
#include "support/fixture_json.hpp"
#include "support/thread_count.hpp"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <iostream>

namespace fs = std::filesystem;
using lumos::testing::close_to;

namespace {

constexpr double kTolerance = 1e-4;
const fs::path kFixtures = LUMOS_FIXTURES;

void check_model(const std::string& model_name) {
  const auto manifest = lumos::testing::read_fixture_json("attribution/manifest.json", "make_attribution_reference.py");
  if (!manifest.contains("cases")) return;
  const lumos::testing::ThreadCount threads(2);  // as the references were made
  std::unique_ptr<lumos::Model> model;
  int checked = 0;
  for (const auto& [name, c] : manifest["cases"].items()) {
    if (c["model"] != model_name) continue;
    if (!model) model = lumos::Model::load((kFixtures / c["onnx"].get<std::string>()).string());
    const auto input = lumos::read_npy((kFixtures / c["input"].get<std::string>()).string());
    std::string method = c["method"];
    if (c.contains("tunnel")) method = method == "saliency" ? c["tunnel"].get<std::string>() : method + "+" + c["tunnel"].get<std::string>();
    lumos::GradientOptions options;
    options.batch_size = 5;
    options.steps = c.value("steps", 50);
    options.rule = lumos::parse_integration_rule(c.value("rule", "gausslegendre"));
    options.baseline = lumos::Baseline::named(c.value("baseline", "zero"), model->input(), lumos::Preprocess::named("imagenet"));
    options.samples = c.value("samples", 1);
    options.noise_stdev = c.value("stdev", 0.0);
    options.seed = c.value("seed", 0);
    options.layer = c["value_name"];
    const auto targets = c["targets"].get<std::vector<int64_t>>();
    const auto result = lumos::GradientExplainer(*model, {lumos::parse_gradient_method(method)}, options)
                            .explain(input, {lumos::Target::top(1), lumos::Target::class_index(targets[1])});
    const auto reference = lumos::read_npy((kFixtures / "attribution" / c["file"].get<std::string>()).string());
    const auto values = at::stack({result[0].maps[0].values, result[1].maps[0].values});
    EXPECT_EQ(result[0].target, targets[0]) << name;
    EXPECT_EQ(result[1].maps[0].method, lumos::to_string(lumos::parse_gradient_method(method)));
    for (int i = 0; i < 2; ++i) EXPECT_TRUE(close_to(name + " image " + std::to_string(i), values[i], reference[i], kTolerance));
    if (c.contains("delta")) {
      for (int i = 0; i < 2; ++i) {
        ASSERT_TRUE(result[i].maps[0].convergence_delta.has_value()) << name;
        // The delta is a difference of sums of float32 terms; PyTorch and lumos sum in other orders.
        EXPECT_NEAR(*result[i].maps[0].convergence_delta, c["delta"][i].get<double>(), 1e-3) << name << " image " << i;
        std::cout << "    " << name << " delta image " << i << ": lumos " << *result[i].maps[0].convergence_delta
                  << ", reference " << c["delta"][i].get<double>() << "\n";
      }
    }
    ++checked;
  }
  EXPECT_GT(checked, 0) << "no reference case for " << model_name << ": run tests/fixtures/make_attribution_reference.py";
}

}  // namespace

TEST(GradientParity, Resnet18) { check_model("resnet18"); }
TEST(GradientParity, MobilenetV2) { check_model("mobilenet_v2"); }
