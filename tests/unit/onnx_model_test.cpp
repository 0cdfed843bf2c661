#include "lumos/error.hpp"
#include "lumos/model.hpp"
#include "support/onnx_builder.hpp"
#include "support/error_of.hpp"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

using lumos::testing::error_of;
namespace fs = std::filesystem;
using lumos::testing::OnnxBuilder;

namespace {

fs::path temp_file(const std::string& name) { return fs::temp_directory_path() / ("lumos_test_" + name); }

// x[N,2,3,3] -> Conv(2->2, 1x1) -> Relu -> GlobalAveragePool -> Flatten -> Softmax
OnnxBuilder tiny_classifier() {
  OnnxBuilder b;
  b.input("x", {-1, 2, 3, 3}).output("prob", {-1, 2});
  b.initializer("w", {2, 2, 1, 1}, {1.f, -1.f, 0.5f, 2.f});
  b.node("Conv", {"x", "w"}, {"conv"}, "conv");
  b.node("Relu", {"conv"}, {"relu"}, "relu");
  b.node("GlobalAveragePool", {"relu"}, {"pool"}, "pool");
  b.node("Flatten", {"pool"}, {"flat"}, "flatten");
  b.node("Softmax", {"flat"}, {"prob"}, "softmax");
  return b;
}

}  // namespace

TEST(OnnxModel, RejectsFileThatIsNotOnnx) {
  auto path = temp_file("not_onnx.onnx");
  std::ofstream(path) << "this is a text file, not a model";
  auto msg = error_of<lumos::ModelError>([&] { lumos::Model::load(path.string()); });
  EXPECT_NE(msg.find("not a readable ONNX model"), std::string::npos) << msg;
}

TEST(OnnxModel, RejectsMissingFile) {
  auto msg = error_of<lumos::ModelError>([&] { lumos::Model::load("/nonexistent/model.onnx"); });
  EXPECT_NE(msg.find("model file '/nonexistent/model.onnx' does not exist"), std::string::npos) << msg;
}

TEST(OnnxModel, RejectsTruncatedFile) {
  auto bytes = tiny_classifier().bytes();
  auto path = temp_file("truncated.onnx");
  std::ofstream(path, std::ios::binary) << bytes.substr(0, bytes.size() * 2 / 3);
  auto msg = error_of<lumos::ModelError>([&] { lumos::Model::load(path.string()); });
  EXPECT_FALSE(msg.empty());
}

TEST(OnnxModel, NamesUnsupportedOpNodeAndOpset) {
  auto b = tiny_classifier();
  b.node("FancyNewOp", {"x"}, {"unused"}, "mystery");
  auto path = temp_file("unsupported.onnx");
  b.save(path.string());
  auto msg = error_of<lumos::UnsupportedOpError>([&] { lumos::Model::load(path.string()); });
  EXPECT_NE(msg.find("unsupported op FancyNewOp (opset 13) at node 'mystery'"), std::string::npos) << msg;
}

namespace {

// x[N,2,3,3] -> Conv 1x1 -> Relu -> Add x (a path around the conv) -> GlobalAveragePool -> Flatten
std::unique_ptr<lumos::Model> residual_classifier() {
  OnnxBuilder b;
  b.input("x", {-1, 2, 3, 3}).output("flat", {-1, 2});
  b.initializer("w", {2, 2, 1, 1}, {1.f, -1.f, 0.5f, 2.f});
  b.node("Conv", {"x", "w"}, {"conv"}, "conv");
  b.node("Relu", {"conv"}, {"relu"}, "relu");
  b.node("Add", {"relu", "x"}, {"sum"}, "add");
  b.node("GlobalAveragePool", {"sum"}, {"pool"}, "pool");
  b.node("Flatten", {"pool"}, {"flat"}, "flatten");
  const auto path = temp_file("residual.onnx");
  b.save(path.string());
  return lumos::Model::load(path.string());
}

at::Tensor residual_input() {
  at::manual_seed(3);
  return at::randn({4, 2, 3, 3});
}

}  // namespace

TEST(OnnxModel, ScoresGivenALayerUseThatValueAndThePathAroundIt) {
  auto model = residual_classifier();
  const auto x = residual_input();
  const auto own = model->trace(x, {"relu"}, false).activations.at("relu");
  EXPECT_TRUE(at::allclose(model->scores_given(x, "relu", own), model->scores(x)));
  // With the branch zeroed only the path around it remains: the spatial mean of x.
  EXPECT_TRUE(at::allclose(model->scores_given(x, "relu", at::zeros_like(own)), x.mean({2, 3})));
  const auto msg = error_of<lumos::InputError>([&] { model->scores_given(x, "relu", own.slice(0, 0, 2)); });
  EXPECT_NE(msg.find("holds 2 images, the batch 4"), std::string::npos) << msg;
}

// Activations run in place only on values nobody else holds: a captured value and a value
// read again later keep their contents.
TEST(OnnxModel, InPlaceActivationsLeaveValuesStillInUseIntact) {
  auto model = residual_classifier();
  const auto x = residual_input();
  const auto conv = at::conv2d(x, at::tensor({1.f, -1.f, 0.5f, 2.f}).reshape({2, 2, 1, 1}));
  const auto trace = model->trace(x, {"conv"}, false);
  EXPECT_TRUE(at::equal(trace.activations.at("conv"), conv));
  EXPECT_TRUE(at::allclose(trace.scores, (at::relu(conv) + x).mean({2, 3})));
  // x is the graph input and is read again by the Add after the Conv.
  const auto copy = x.clone();
  model->scores(x);
  EXPECT_TRUE(at::equal(x, copy));
}
