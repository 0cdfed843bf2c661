// lumos against PyTorch eager on torchvision classifiers exported by torch.onnx (opsets 11-17):
// logits, the last convolutional block's activation, and the gradient of the top logits there
// and at the input.
// Fixtures: /usr/bin/python3 tests/fixtures/make_torchvision_models.py build/fixtures
#include "lumos/model.hpp"
#include "lumos/npy.hpp"
#include "model/onnx/onnx_model.hpp"
#include "support/close_to.hpp"
#include "support/thread_count.hpp"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>

namespace fs = std::filesystem;
using lumos::testing::close_to;
using lumos::testing::ThreadCount;

namespace {

constexpr double kTolerance = 1e-4;
const fs::path kDir = fs::path(LUMOS_FIXTURES) / "torchvision";
const std::string kMakeFixtures = "/usr/bin/python3 tests/fixtures/make_torchvision_models.py " LUMOS_FIXTURES;

// Where lumos's default layer (the last spatial value before global pooling) is not the block
// pytorch-grad-cam recommends, and why.
const std::map<std::string, std::string> kDefaultLayerExceptions = {
    // The classifier is Dropout, a 1x1 Conv to 1000 channels and ReLU on the 13x13 map, then
    // global pooling: the last spatial value is that class-score map, not features' output.
    {"squeezenet1_1", "/classifier/classifier.2/Relu_output_0"},
};

// Input gradients go back through ReLU gates and MaxPool's argmax, so they match only where the
// forward arithmetic does; it does in every model. (mobilenet_v3_large's Hardsigmoid, exported as
// HardSigmoid(alpha=1/6, beta=0.5), must run as ATen's hardsigmoid for that: clamp(x/6 + 0.5)
// rounds differently and flips squeeze-and-excitation gates, 8.3e-4 off.)



struct Fixture {
  std::string onnx;
  std::string value_name;
  at::Tensor input, logits, activation, grad, input_grad;
};

Fixture load_fixture(const std::string& name) {
  const auto manifest_path = kDir / "manifest.json";
  std::ifstream manifest_file(manifest_path);
  if (!manifest_file) throw std::runtime_error("missing " + manifest_path.string() + "; run " + kMakeFixtures);
  const auto manifest = nlohmann::json::parse(manifest_file);
  if (!manifest.contains(name)) {
    throw std::runtime_error(manifest_path.string() + " has no entry for " + name + "; run " + kMakeFixtures);
  }
  const auto& entry = manifest[name];
  auto file = [&](const std::string& kind) {
    const auto path = kDir / entry["files"][kind].get<std::string>();
    if (!fs::exists(path)) throw std::runtime_error("missing " + path.string() + "; run " + kMakeFixtures);
    return path.string();
  };
  return {file("onnx"),
          entry["value_name"].get<std::string>(),
          lumos::read_npy(file("input")),
          lumos::read_npy(file("logits")),
          lumos::read_npy(file("activation")),
          lumos::read_npy(file("grad")),
          lumos::read_npy(file("input_grad"))};
}

class TorchvisionParity : public ::testing::TestWithParam<std::string> {};

TEST_P(TorchvisionParity, MatchesPyTorch) {
  Fixture fixture;
  try {
    fixture = load_fixture(GetParam());
  } catch (const std::exception& e) {
    FAIL() << e.what();
  }
  const ThreadCount threads(2);
  const auto model = lumos::Model::load(fixture.onnx);

  const auto scores = model->scores(fixture.input);
  EXPECT_TRUE(close_to("scores()", scores, fixture.logits, kTolerance));

  // The gradient PyTorch took: of the sum over the batch of each image's top logit.
  const auto trace = model->trace(fixture.input, {fixture.value_name}, true);
  ASSERT_EQ(trace.activations.count(fixture.value_name), 1u);
  const auto& activation = trace.activations.at(fixture.value_name);
  const auto top = fixture.logits.argmax(1, /*keepdim=*/true);
  trace.scores.gather(1, top).sum().backward();
  ASSERT_TRUE(activation.grad().defined()) << "no gradient reached " << fixture.value_name;
  EXPECT_TRUE(close_to("trace scores", trace.scores, fixture.logits, kTolerance));
  EXPECT_TRUE(close_to("activation", activation, fixture.activation, kTolerance));
  EXPECT_TRUE(close_to("gradient", activation.grad(), fixture.grad, kTolerance));

  // The same score's gradient w.r.t. the input goes back through every op of the model.
  const auto input_name = model->input().name;
  const auto whole = model->trace(fixture.input, {input_name}, true);
  whole.scores.gather(1, top).sum().backward();
  EXPECT_TRUE(close_to("input gradient", whole.activations.at(input_name).grad(), fixture.input_grad, kTolerance));

  // lumos's default CAM layer: the recommended block's output, or a value of the same shape
  // computed right from it (DenseNet's final ReLU, VGG's 7x7 adaptive average pool).
  const auto default_layer = model->default_layer();
  std::cout << "    default layer: " << default_layer << " (recommended block: " << fixture.value_name << ")\n";
  if (auto exception = kDefaultLayerExceptions.find(GetParam()); exception != kDefaultLayerExceptions.end()) {
    EXPECT_EQ(default_layer, exception->second);
    return;
  }
  const auto& layers = model->layers();
  auto index_of = [&](const std::string& layer) {
    return std::find_if(layers.begin(), layers.end(), [&](const auto& l) { return l.name == layer; }) - layers.begin();
  };
  const auto block = index_of(fixture.value_name);
  const auto chosen = index_of(default_layer);
  ASSERT_LT(block, static_cast<long>(layers.size()));
  ASSERT_GE(chosen, block) << "default layer " << default_layer << " comes before " << fixture.value_name;
  for (auto i = block + 1; i <= chosen; ++i) {
    if (layers[i].shape.size() == 4) {
      EXPECT_EQ(layers[i].shape, layers[block].shape)
          << layers[i].name << " between " << fixture.value_name << " and the default layer " << default_layer;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Torchvision, TorchvisionParity,
                         ::testing::Values("resnet18", "resnet50", "vgg16", "mobilenet_v2", "mobilenet_v3_large",
                                           "efficientnet_b0", "densenet121", "squeezenet1_1", "shufflenet_v2_x1_0",
                                           "googlenet", "inception_v3", "regnet_y_400mf", "convnext_tiny",
                                           "resnet18_bn", "mobilenet_v2_bn"),
                         [](const auto& info) { return info.param; });

// The fixture, or a test failure saying what is missing (nullopt).
std::optional<Fixture> fixture_or_failure(const std::string& name) {
  try {
    return load_fixture(name);
  } catch (const std::exception& e) {
    ADD_FAILURE() << e.what();
    return std::nullopt;
  }
}

// Exports that keep their BatchNormalization nodes: every one follows a Conv and is folded into
// it at load; scores() (the folded graph) stay within float rounding of the graph as written,
// which autograd traces run (MatchesPyTorch checks both against PyTorch).
TEST(InferencePlan, TorchvisionBatchNormsAreFoldedAtLoad) {
  for (const auto& [name, norms] : {std::pair{"resnet18_bn", 20}, {"mobilenet_v2_bn", 52}}) {
    const auto fixture = fixture_or_failure(name);
    if (!fixture) continue;
    const ThreadCount threads(2);
    lumos::onnx::OnnxModel model(fixture->onnx, {});
    EXPECT_EQ(model.graph().folded_batch_norms(), norms) << name;
    const auto folded = model.scores(fixture->input);
    const auto plain = model.trace(fixture->input, {}, false).scores;
    EXPECT_TRUE(close_to(name, folded, plain, 1e-5));
    EXPECT_FALSE(at::equal(folded, plain)) << name << ": the folded graph did not run";
  }
  // torch.onnx folds them itself in an ordinary export: nothing is left.
  EXPECT_EQ(lumos::onnx::OnnxModel(load_fixture("resnet18").onnx, {}).graph().folded_batch_norms(), 0);
}

// The default plan runs the convolutions on oneDNN in one blocked region each (oneDNN's blocked
// layout from the first Conv to the global pool): resnet50's with each residual Add and the
// Relu after it inside a convolution, mobilenet_v2's with every ReLU6, each residual Add and
// the 16 depthwise convolutions that follow a 1x1 one inside a convolution. Its scores stay
// within 1e-4 of the packed plan (convolutions on oneDNN in channels-last memory, a ReLU fused
// where one alone reads the Conv), of the folded plan in NCHW memory and of the graph as
// written; a second batch size reuses the packed weights.
TEST(InferencePlan, TorchvisionConvolutionsArePacked) {
  struct Expected {
    const char* name;
    int convolutions, relus, blocked, post_ops;
  };
  for (const auto& [name, convolutions, relus, blocked, post_ops] :
       {Expected{"resnet50", 53, 33, 53, 32}, Expected{"mobilenet_v2", 52, 0, 52, 61}}) {
    const auto fixture = fixture_or_failure(name);
    if (!fixture) continue;
    const ThreadCount threads(2);
    lumos::onnx::OnnxModel model(fixture->onnx, {});
    EXPECT_TRUE(model.graph().channels_last_inference()) << name;
    EXPECT_EQ(model.graph().packed_convolutions(), convolutions) << name;
    EXPECT_EQ(model.graph().fused_relus(), relus) << name;
    EXPECT_EQ(model.graph().blocked_convolutions(), blocked) << name;
    EXPECT_EQ(model.graph().blocked_regions(), 1) << name;
    EXPECT_EQ(model.graph().blocked_post_ops(), post_ops) << name;
    const auto best = model.scores(fixture->input);
    const auto again = model.scores(at::cat({fixture->input, fixture->input.flip(0)}));  // another batch size
    const auto plain = model.trace(fixture->input, {}, false).scores;
    model.limit_inference_plan(lumos::onnx::InferencePlan::packed);
    EXPECT_EQ(model.graph().blocked_convolutions(), 0);
    const auto packed = model.scores(fixture->input);
    model.limit_inference_plan(lumos::onnx::InferencePlan::folded);
    EXPECT_EQ(model.graph().packed_convolutions(), 0);
    const auto folded = model.scores(fixture->input);
    const std::string label(name);
    EXPECT_TRUE(close_to(label + " default vs packed", best, packed, 1e-4));
    EXPECT_TRUE(close_to(label + " default vs folded", best, folded, 1e-4));
    EXPECT_TRUE(close_to(label + " default vs as written", best, plain, 1e-4));
    EXPECT_TRUE(close_to(label + " default, batch twice", again.slice(0, 0, best.size(0)), best, 1e-5));
  }
}

// Values inside resnet50's blocked region asked for or given (what Score-CAM and the metrics
// do): layer4's activation comes out dense and matches PyTorch's, and scores given a changed
// activation match the graph as written given the same.
TEST(InferencePlan, TorchvisionBlockedRegionValuesAskedForOrGiven) {
  const auto fixture = fixture_or_failure("resnet50");
  if (!fixture) return;
  const ThreadCount threads(2);
  lumos::onnx::OnnxModel model(fixture->onnx, {});
  const auto& graph = model.graph();
  if (graph.blocked_convolutions() == 0) GTEST_SKIP() << "LibTorch without oneDNN";
  const int layer = graph.slot(fixture->value_name);
  const int logits = graph.slot(graph.outputs().front().name);
  ASSERT_GE(layer, 0);
  const auto given = fixture->activation * 0.5f + 0.1f;
  const auto no_op = [](int, at::Tensor&) {};  // a watched run: the graph as written
  c10::InferenceMode inference;
  const auto both = graph.run({fixture->input}, {layer, logits});
  EXPECT_FALSE(both[0].is_mkldnn());
  EXPECT_TRUE(close_to("layer4 asked for", both[0], fixture->activation, kTolerance));
  EXPECT_TRUE(close_to("logits beside it", both[1], fixture->logits, kTolerance));
  EXPECT_TRUE(close_to("logits given layer4", graph.run({fixture->input}, {logits}, {}, {{layer, given}})[0],
                       graph.run({fixture->input}, {logits}, no_op, {{layer, given}})[0], 1e-5));
}

}  // namespace
