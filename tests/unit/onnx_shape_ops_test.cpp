// The shape, join/split and reduce ops where the ONNX node tests (ONNX 1.12, mostly
// opset 13) leave gaps: attribute forms of older opsets, opset 18's axes input,
// extreme Slice bounds, error messages, and gradients flowing through the kernels.
// Expected values are worked out by hand from the ONNX operator specs.
#include "lumos/error.hpp"
#include "model/onnx/graph.hpp"
#include "model/onnx/tensor_proto.hpp"
#include "support/onnx_builder.hpp"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <limits>

using lumos::onnx::Graph;
using lumos::testing::OnnxBuilder;

namespace {

constexpr int64_t kMaxInt = std::numeric_limits<int64_t>::max();
constexpr int64_t kMinInt = std::numeric_limits<int64_t>::min();

void add_ints(OnnxBuilder& b, const std::string& name, const std::vector<int64_t>& values, bool scalar = false) {
  auto* t = b.proto().mutable_graph()->add_initializer();
  t->set_name(name);
  t->set_data_type(::onnx::TensorProto::INT64);
  if (!scalar) t->add_dims(static_cast<int64_t>(values.size()));
  for (auto v : values) t->add_int64_data(v);
}

void set_int(::onnx::NodeProto& node, const std::string& name, int64_t value) {
  auto* a = node.add_attribute();
  a->set_name(name);
  a->set_type(::onnx::AttributeProto::INT);
  a->set_i(value);
}

// Runs the model on x (its one graph input) and returns the named values.
std::vector<at::Tensor> run(OnnxBuilder& b, const at::Tensor& x, const std::vector<std::string>& names) {
  Graph graph(b.proto(), "");
  std::vector<int> wanted;
  for (const auto& name : names) wanted.push_back(graph.slot(name));
  return graph.run({x}, wanted);
}

at::Tensor run1(OnnxBuilder& b, const at::Tensor& x) { return run(b, x, {"y"}).at(0); }

std::string model_error(OnnxBuilder& b, const at::Tensor& x) {
  try {
    run1(b, x);
  } catch (const lumos::ModelError& e) {
    return e.what();
  }
  return "";
}

at::Tensor floats(std::vector<float> values, std::vector<int64_t> shape) {
  return at::tensor(values).reshape(shape);
}

at::Tensor arange(int64_t n) { return at::arange(n, at::kFloat); }

}  // namespace

// The exporters' dynamic-batch chain, in the attribute (11) and input (13) forms of Unsqueeze.
class ShapeChain : public ::testing::TestWithParam<int> {};

TEST_P(ShapeChain, ReshapesToBatchByRest) {
  const int opset = GetParam();
  OnnxBuilder b(opset);
  b.input("x", {-1, 3, 4, 5});
  add_ints(b, "zero", {0}, /*scalar=*/true);
  add_ints(b, "minus_one", {-1});
  b.node("Shape", {"x"}, {"shape"});
  b.node("Gather", {"shape", "zero"}, {"batch"});
  if (opset < 13) {
    OnnxBuilder::set_ints(b.node("Unsqueeze", {"batch"}, {"batch1"}), "axes", {0});
  } else {
    add_ints(b, "axis0", {0});
    b.node("Unsqueeze", {"batch", "axis0"}, {"batch1"});
  }
  set_int(b.node("Concat", {"batch1", "minus_one"}, {"target"}), "axis", 0);
  b.node("Reshape", {"x", "target"}, {"y"});
  const auto x = arange(120).reshape({2, 3, 4, 5});
  auto out = run(b, x, {"batch", "target", "y"});
  EXPECT_EQ(out[0].dim(), 0);
  EXPECT_EQ(out[0].item<int64_t>(), 2);
  EXPECT_TRUE(at::equal(out[1], at::tensor(std::vector<int64_t>{2, -1})));
  EXPECT_EQ(out[2].sizes(), (std::vector<int64_t>{2, 60}));
  EXPECT_TRUE(at::equal(out[2].reshape(-1), arange(120)));
}

INSTANTIATE_TEST_SUITE_P(Opsets, ShapeChain, ::testing::Values(11, 13));

TEST(SqueezeOp, AxesAttributeUpToOpset12) {
  OnnxBuilder b(11);
  b.input("x", {1, 3, 1, 2});
  OnnxBuilder::set_ints(b.node("Squeeze", {"x"}, {"y"}), "axes", {-2});
  EXPECT_EQ(run1(b, at::zeros({1, 3, 1, 2})).sizes(), (std::vector<int64_t>{1, 3, 2}));
}

TEST(SqueezeOp, WithoutAxesDropsEverySizeOneDim) {
  OnnxBuilder b(13);
  b.input("x", {1, 3, 1, 2});
  b.node("Squeeze", {"x"}, {"y"});
  EXPECT_EQ(run1(b, at::zeros({1, 3, 1, 2})).sizes(), (std::vector<int64_t>{3, 2}));
}

TEST(SqueezeOp, RejectsAxisWhoseSizeIsNotOne) {
  OnnxBuilder b(13);
  b.input("x", {1, 3});
  add_ints(b, "axes", {1});
  b.node("Squeeze", {"x", "axes"}, {"y"});
  const auto message = model_error(b, at::zeros({1, 3}));
  EXPECT_NE(message.find("cannot squeeze axis 1: its size is 3"), std::string::npos) << message;
}

TEST(ReshapeOp, ZeroCopiesTheInputSizeUnlessAllowzero) {
  OnnxBuilder b(14);
  b.input("x", {2, 3, 4});
  add_ints(b, "shape", {0, -1});
  b.node("Reshape", {"x", "shape"}, {"y"});
  EXPECT_EQ(run1(b, at::zeros({2, 3, 4})).sizes(), (std::vector<int64_t>{2, 12}));

  OnnxBuilder past_rank(14);
  past_rank.input("x", {6});
  add_ints(past_rank, "shape", {3, 0});
  past_rank.node("Reshape", {"x", "shape"}, {"y"});
  const auto message = model_error(past_rank, at::zeros({6}));
  EXPECT_NE(message.find("input has only 1 dims"), std::string::npos) << message;
}

TEST(ExpandOp, BroadcastsBothWays) {
  OnnxBuilder b(13);
  b.input("x", {3, 1});
  add_ints(b, "shape", {2, 1, 4});
  b.node("Expand", {"x", "shape"}, {"y"});
  const auto y = run1(b, floats({1, 2, 3}, {3, 1}));
  EXPECT_EQ(y.sizes(), (std::vector<int64_t>{2, 3, 4}));
  EXPECT_EQ(y[1][2][3].item<float>(), 3.f);
}

TEST(SliceOp, AttributesUpToOpset9ClampHugeEnds) {
  OnnxBuilder b(9);
  b.input("x", {4, 5});
  auto& slice = b.node("Slice", {"x"}, {"y"});
  OnnxBuilder::set_ints(slice, "starts", {1, 0});
  OnnxBuilder::set_ints(slice, "ends", {1000, -2});
  OnnxBuilder::set_ints(slice, "axes", {0, 1});
  const auto y = run1(b, arange(20).reshape({4, 5}));
  EXPECT_TRUE(at::equal(y, floats({5, 6, 7, 10, 11, 12, 15, 16, 17}, {3, 3})));
}

// starts, ends, steps on a 10-element vector and the elements they pick.
struct SliceCase {
  int64_t start, end, step;
  std::vector<float> picked;
};

class SliceSteps : public ::testing::TestWithParam<SliceCase> {};

TEST_P(SliceSteps, PickTheSpecifiedElements) {
  const auto& c = GetParam();
  OnnxBuilder b(13);
  b.input("x", {10});
  add_ints(b, "starts", {c.start});
  add_ints(b, "ends", {c.end});
  add_ints(b, "axes", {0});
  add_ints(b, "steps", {c.step});
  b.node("Slice", {"x", "starts", "ends", "axes", "steps"}, {"y"});
  const auto y = run1(b, arange(10));
  EXPECT_TRUE(at::equal(y, at::tensor(c.picked).reshape({static_cast<int64_t>(c.picked.size())}))) << y;
}

INSTANTIATE_TEST_SUITE_P(
    Bounds, SliceSteps,
    ::testing::Values(SliceCase{0, kMaxInt, 3, {0, 3, 6, 9}}, SliceCase{-3, kMaxInt, 1, {7, 8, 9}},
                      SliceCase{kMinInt, 2, 1, {0, 1}}, SliceCase{5, 2, 1, {}},
                      SliceCase{-1, kMinInt, -3, {9, 6, 3, 0}}, SliceCase{8, 1, -2, {8, 6, 4, 2}},
                      SliceCase{20, -20, -1, {9, 8, 7, 6, 5, 4, 3, 2, 1, 0}}, SliceCase{2, 5, -1, {}}));

TEST(SliceOp, ZeroStepIsAnError) {
  OnnxBuilder b(13);
  b.input("x", {10});
  add_ints(b, "starts", {0});
  add_ints(b, "ends", {5});
  add_ints(b, "axes", {0});
  add_ints(b, "steps", {0});
  b.node("Slice", {"x", "starts", "ends", "axes", "steps"}, {"y"});
  const auto message = model_error(b, arange(10));
  EXPECT_NE(message.find("step along axis 0 is 0"), std::string::npos) << message;
}

TEST(SliceOp, GradientReachesOnlyPickedElements) {
  OnnxBuilder b(13);
  b.input("x", {6});
  add_ints(b, "starts", {-1});
  add_ints(b, "ends", {0});
  add_ints(b, "steps", {-2});
  add_ints(b, "axes", {0});
  b.node("Slice", {"x", "starts", "ends", "axes", "steps"}, {"y"});
  const auto x = arange(6).requires_grad_();
  const auto y = run1(b, x);
  EXPECT_TRUE(at::equal(y.detach(), floats({5, 3, 1}, {3})));
  (y * floats({1, 2, 3}, {3})).sum().backward();
  EXPECT_TRUE(at::equal(x.grad(), floats({0, 3, 0, 2, 0, 1}, {6}))) << x.grad();
}

TEST(GatherOp, NegativeIndicesAndAccumulatedGradient) {
  OnnxBuilder b(13);
  b.input("x", {3});
  add_ints(b, "indices", {0, -3, 2});
  b.node("Gather", {"x", "indices"}, {"y"});
  const auto x = floats({10, 20, 30}, {3}).requires_grad_();
  const auto y = run1(b, x);
  EXPECT_TRUE(at::equal(y.detach(), floats({10, 10, 30}, {3})));
  y.sum().backward();
  EXPECT_TRUE(at::equal(x.grad(), floats({2, 0, 1}, {3})));
}

TEST(SplitOp, SizesAttributeUpToOpset12) {
  OnnxBuilder b(11);
  b.input("x", {6});
  OnnxBuilder::set_ints(b.node("Split", {"x"}, {"a", "b"}), "split", {2, 4});
  auto out = run(b, arange(6), {"a", "b"});
  EXPECT_TRUE(at::equal(out[0], floats({0, 1}, {2})));
  EXPECT_TRUE(at::equal(out[1], floats({2, 3, 4, 5}, {4})));
}

TEST(SplitOp, UnevenEqualSplitIsAnErrorBeforeOpset18) {
  OnnxBuilder b(13);
  b.input("x", {7});
  b.node("Split", {"x"}, {"y", "b"});
  const auto message = model_error(b, arange(7));
  EXPECT_NE(message.find("into 2 equal parts"), std::string::npos) << message;
}

TEST(SplitOp, NumOutputsLeavesTheLastChunkSmallerInOpset18) {
  OnnxBuilder b(18);
  b.input("x", {7});
  set_int(b.node("Split", {"x"}, {"a", "b", "c", "d"}), "num_outputs", 4);
  auto out = run(b, arange(7), {"a", "b", "c", "d"});
  EXPECT_TRUE(at::equal(out[2], floats({4, 5}, {2})));
  EXPECT_TRUE(at::equal(out[3], floats({6}, {1})));
}

// x = arange(24) as [2,3,4]: the mean over axes 0 and 2 is 4j + 7.5 for row j.
TEST(ReduceMeanOp, AxesAttributeThroughOpset17) {
  for (int opset : {11, 13, 17}) {
    OnnxBuilder b(opset);
    b.input("x", {2, 3, 4});
    auto& mean = b.node("ReduceMean", {"x"}, {"y"});
    OnnxBuilder::set_ints(mean, "axes", {-1, 0});
    set_int(mean, "keepdims", 0);
    EXPECT_TRUE(at::equal(run1(b, arange(24).reshape({2, 3, 4})), floats({7.5, 11.5, 15.5}, {3}))) << opset;
  }
}

TEST(ReduceMeanOp, AxesInputFromOpset18) {
  OnnxBuilder b(18);
  b.input("x", {2, 3, 4});
  add_ints(b, "axes", {-1, 0});
  b.node("ReduceMean", {"x", "axes"}, {"y"});
  EXPECT_TRUE(at::equal(run1(b, arange(24).reshape({2, 3, 4})), floats({7.5, 11.5, 15.5}, {1, 3, 1})));
}

TEST(ReduceMeanOp, EmptyAxesMeanAllOrNothingInOpset18) {
  const auto x = arange(24).reshape({2, 3, 4});
  OnnxBuilder all(18);
  all.input("x", {2, 3, 4});
  all.node("ReduceMean", {"x"}, {"y"});
  EXPECT_TRUE(at::equal(run1(all, x), floats({11.5}, {1, 1, 1})));

  OnnxBuilder noop(18);
  noop.input("x", {2, 3, 4});
  add_ints(noop, "axes", {});
  set_int(noop.node("ReduceMean", {"x", "axes"}, {"y"}), "noop_with_empty_axes", 1);
  EXPECT_TRUE(at::equal(run1(noop, x), x));
}

TEST(ReduceProdOp, SeveralAxesWithoutKeepdims) {
  OnnxBuilder b(13);
  b.input("x", {2, 2, 2});
  auto& prod = b.node("ReduceProd", {"x"}, {"y"});
  OnnxBuilder::set_ints(prod, "axes", {2, 0});
  set_int(prod, "keepdims", 0);
  // Row 0 multiplies 1,2,5,6; row 1 multiplies 3,4,7,8.
  EXPECT_TRUE(at::equal(run1(b, (arange(8) + 1).reshape({2, 2, 2})), floats({60, 672}, {2})));
}

TEST(ReduceL2Op, GradientIsZeroNotNanAtTheOrigin) {
  OnnxBuilder b(13);
  b.input("x", {2, 2});
  OnnxBuilder::set_ints(b.node("ReduceL2", {"x"}, {"y"}), "axes", {1});
  const auto x = at::zeros({2, 2}).requires_grad_();
  run1(b, x).sum().backward();
  EXPECT_TRUE(at::equal(x.grad(), at::zeros({2, 2}))) << x.grad();
}

// torch.onnx's exports of shape chains, channel shuffle, SE pooling, NHWC transposes and
// reductions against PyTorch's outputs and autograd gradient (see the fixture script).
class TorchExports : public ::testing::TestWithParam<int> {};

TEST_P(TorchExports, MatchPyTorchForwardAndGradient) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::path(LUMOS_FIXTURES) / "shape_ops_exports" / ("opset" + std::to_string(GetParam()));
  ASSERT_TRUE(fs::exists(dir / "input_grad.pb"))
      << dir << " is missing: run /usr/bin/python3 tests/fixtures/make_shape_ops_exports.py build/fixtures";
  const auto graph = Graph::load((dir / "model.onnx").string());
  std::vector<int> wanted;
  for (const auto& out : graph.outputs()) wanted.push_back(graph.slot(out.name));
  const auto x = lumos::onnx::read_tensor_file((dir / "input_0.pb").string()).requires_grad_();
  const auto outputs = graph.run({x}, wanted);
  ASSERT_EQ(outputs.size(), wanted.size());

  at::Tensor loss = at::zeros({});
  for (size_t i = 0; i < outputs.size(); ++i) {
    const auto expected = lumos::onnx::read_tensor_file((dir / ("output_" + std::to_string(i) + ".pb")).string());
    const auto& actual = outputs[i];
    SCOPED_TRACE(graph.outputs()[i].name);
    ASSERT_EQ(actual.scalar_type(), expected.scalar_type());
    ASSERT_EQ(actual.sizes(), expected.sizes());
    if (!actual.is_floating_point()) {
      EXPECT_TRUE(at::equal(actual, expected));
      continue;
    }
    EXPECT_TRUE(at::allclose(actual.detach(), expected, 1e-4, 1e-5)) << (actual.detach() - expected).abs().max();
    loss = loss + (actual * at::cos(at::arange(actual.numel(), at::kFloat)).reshape(actual.sizes())).sum();
  }
  loss.backward();
  const auto expected_grad = lumos::onnx::read_tensor_file((dir / "input_grad.pb").string());
  EXPECT_TRUE(at::allclose(x.grad(), expected_grad, 1e-4, 1e-5)) << (x.grad() - expected_grad).abs().max();
}

INSTANTIATE_TEST_SUITE_P(Opsets, TorchExports, ::testing::Values(11, 13, 17));
