// The inference plan (model/onnx/graph.hpp): a BatchNormalization folded into the Conv before
// it at load, run in InferenceMode; the graph as written for autograd, captures and values
// given in place of the folded Conv's output. References: the same ops called on ATen directly.
#include "model/bf16_autocast.hpp"
#include "model/onnx/graph.hpp"
#include "model/onnx/ops/conv.hpp"
#include "support/close_to.hpp"
#include "support/onnx_builder.hpp"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <c10/util/accumulate.h>
#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>

#include <cmath>
#include <tuple>

namespace {

using lumos::onnx::Graph;
using lumos::testing::close_to;
using lumos::testing::OnnxBuilder;

constexpr int64_t kChannels = 4;

std::vector<float> wave(size_t n, float phase, float scale, float offset = 0) {
  std::vector<float> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = offset + scale * std::sin(1.3f * i + phase);
  return v;
}

at::Tensor tensor(const std::vector<float>& values, std::vector<int64_t> shape) {
  return at::tensor(values).view(shape);
}

const auto kWeight = wave(kChannels * 3 * 3 * 3, 0.2f, 0.4f);
const auto kBias = wave(kChannels, 0.7f, 0.3f);
const auto kScale = wave(kChannels, 1.1f, 0.5f, 1.0f);
const auto kShift = wave(kChannels, 2.3f, 0.2f);
const auto kMean = wave(kChannels, 0.4f, 0.3f);
const auto kVariance = wave(kChannels, 1.9f, 0.4f, 0.6f);
constexpr float kEpsilon = 1e-3f;

struct Variant {
  bool conv_is_an_output = false;  // the Conv's output is read besides the normalization
  bool training = false;           // training_mode = 1
  bool weight_is_input = false;    // the Conv's weight is fed, not a constant
};

// x [N, 3, 6, 6] -> Conv(pads 1) -> BatchNormalization -> Relu -> "out".
Graph conv_norm_relu(const Variant& v = {}) {
  OnnxBuilder b(15);
  b.input("x", {-1, 3, 6, 6});
  if (v.weight_is_input) {
    b.input("w", {kChannels, 3, 3, 3});
  } else {
    b.initializer("w", {kChannels, 3, 3, 3}, kWeight);
  }
  b.initializer("b", {kChannels}, kBias);
  for (const auto& [name, values] : {std::pair{"scale", kScale}, {"shift", kShift}, {"mean", kMean}, {"var", kVariance}}) {
    b.initializer(name, {kChannels}, values);
  }
  OnnxBuilder::set_ints(b.node("Conv", {"x", "w", "b"}, {"conv"}, "conv"), "pads", {1, 1, 1, 1});
  auto& norm = b.node("BatchNormalization", {"conv", "scale", "shift", "mean", "var"}, {"norm"}, "norm");
  auto* epsilon = norm.add_attribute();
  epsilon->set_name("epsilon");
  epsilon->set_type(::onnx::AttributeProto::FLOAT);
  epsilon->set_f(kEpsilon);
  if (v.training) {
    auto* mode = norm.add_attribute();
    mode->set_name("training_mode");
    mode->set_type(::onnx::AttributeProto::INT);
    mode->set_i(1);
  }
  b.node("Relu", {"norm"}, {"out"}, "relu");
  b.output("out", {-1, kChannels, 6, 6});
  if (v.conv_is_an_output) b.output("conv", {-1, kChannels, 6, 6});
  return Graph(b.proto(), "");
}

at::Tensor images() { return at::sin(at::arange(2 * 3 * 6 * 6, at::kFloat).mul(0.41)).view({2, 3, 6, 6}); }

at::Tensor conv_reference(const at::Tensor& x) {
  return at::conv2d(x, tensor(kWeight, {kChannels, 3, 3, 3}), tensor(kBias, {kChannels}), 1, 1);
}

at::Tensor reference(const at::Tensor& conv) {
  return at::relu(at::batch_norm(conv, at::tensor(kScale), at::tensor(kShift), at::tensor(kMean),
                                 at::tensor(kVariance), false, 0, kEpsilon, false));
}

}  // namespace

TEST(InferencePlan, FoldsTheBatchNormIntoTheConvForInferenceRunsOnly) {
  const auto graph = conv_norm_relu();
  EXPECT_EQ(graph.folded_batch_norms(), 1);
  const auto x = images();
  const auto expected = reference(conv_reference(x));
  const int out = graph.slot("out");
  const int conv = graph.slot("conv");

  at::Tensor folded;
  {
    c10::InferenceMode inference;
    folded = graph.run({x}, {out}).front();
  }
  EXPECT_TRUE(close_to("folded", folded, expected, 1e-6));

  // Autograd runs the graph as written: the gradient reaches the Conv's output.
  const auto leaf = x.clone().requires_grad_(true);
  at::Tensor conv_value;
  const auto plain = graph.run({leaf}, {out}, [&](int slot, at::Tensor& value) {
    if (slot == conv) conv_value = value;
  }).front();
  EXPECT_TRUE(at::equal(plain.detach(), expected));
  ASSERT_TRUE(conv_value.defined());
  EXPECT_TRUE(at::equal(conv_value.detach(), conv_reference(x)));

  c10::InferenceMode inference;
  // The folded Conv's output asked for, or given, or watched: the graph as written.
  EXPECT_TRUE(at::equal(graph.run({x}, {conv}).front(), conv_reference(x)));
  const auto given = at::full({2, kChannels, 6, 6}, 0.5f);
  EXPECT_TRUE(at::equal(graph.run({x}, {out}, {}, {{conv, given}}).front(), reference(given)));
  int seen = 0;
  graph.run({x}, {out}, [&](int slot, at::Tensor&) { seen += slot == conv; });
  EXPECT_EQ(seen, 1);
}

TEST(InferencePlan, LeavesBatchNormsThatCannotBeFolded) {
  Variant read_twice, training, fed_weight;
  read_twice.conv_is_an_output = true;
  training.training = true;
  fed_weight.weight_is_input = true;
  EXPECT_EQ(conv_norm_relu(read_twice).folded_batch_norms(), 0);
  EXPECT_EQ(conv_norm_relu(training).folded_batch_norms(), 0);
  EXPECT_EQ(conv_norm_relu(fed_weight).folded_batch_norms(), 0);
  const auto graph = conv_norm_relu(read_twice);
  c10::InferenceMode inference;
  const auto both = graph.run({images()}, {graph.slot("out"), graph.slot("conv")});
  EXPECT_TRUE(at::equal(both[0], reference(conv_reference(images()))));
  EXPECT_TRUE(at::equal(both[1], conv_reference(images())));
}

namespace {

// x -> Sub(mean) -> [Transpose NHWC to NCHW] -> Conv(pads 1) -> "out".
Graph normalized_conv(bool nhwc_input) {
  OnnxBuilder b(15);
  b.input("x", nhwc_input ? std::vector<int64_t>{-1, 6, 6, 3} : std::vector<int64_t>{-1, 3, 6, 6});
  b.initializer("mean", nhwc_input ? std::vector<int64_t>{3} : std::vector<int64_t>{3, 1, 1}, {0.1f, -0.2f, 0.3f});
  b.initializer("w", {kChannels, 3, 3, 3}, kWeight);
  b.node("Sub", {"x", "mean"}, {"centred"}, "sub");
  std::string conv_input = "centred";
  if (nhwc_input) {
    OnnxBuilder::set_ints(b.node("Transpose", {"centred"}, {"nchw"}, "transpose"), "perm", {0, 3, 1, 2});
    conv_input = "nchw";
  }
  OnnxBuilder::set_ints(b.node("Conv", {conv_input, "w"}, {"out"}, "conv"), "pads", {1, 1, 1, 1});
  b.output("out", {-1, kChannels, 6, 6});
  return Graph(b.proto(), "");
}

}  // namespace

TEST(InferencePlan, GivesAnImageCnnItsBatchInChannelsLastMemory) {
  const auto x = images();
  const auto mean = at::tensor({0.1f, -0.2f, 0.3f}).view({3, 1, 1});
  const auto expected = at::conv2d(x - mean, tensor(kWeight, {kChannels, 3, 3, 3}), {}, 1, 1);
  auto graph = normalized_conv(false);
  EXPECT_TRUE(graph.channels_last_inference());
  EXPECT_EQ(graph.folded_batch_norms(), 0);
  c10::InferenceMode inference;
  const auto out = graph.run({x}, {graph.slot("out")}).front();
  EXPECT_TRUE(out.is_contiguous());
  EXPECT_TRUE(close_to("channels-last", out, expected, 1e-6));
  graph.limit_inference_plan(lumos::onnx::InferencePlan::folded);
  EXPECT_FALSE(graph.channels_last_inference());
  EXPECT_TRUE(close_to("as written", graph.run({x}, {graph.slot("out")}).front(), expected, 1e-6));

  // An NHWC batch reaches the Conv through a Transpose, whose view is channels-last already.
  const auto nhwc = normalized_conv(true);
  EXPECT_FALSE(nhwc.channels_last_inference());
  EXPECT_TRUE(conv_norm_relu().channels_last_inference());
  EXPECT_TRUE(close_to("folded, channels-last", conv_norm_relu().run({x}, {conv_norm_relu().slot("out")}).front(),
                       reference(conv_reference(x)), 1e-6));
}

namespace {

struct PadVariant {
  std::vector<int64_t> pads{0, 0, 1, 1, 0, 0, 1, 1};  // ONNX order: begins, then ends, per axis
  float value = 0;
  bool pad_is_an_output = false;
  std::vector<int64_t> axes;  // given: opset 18's axes input, `pads` listing those axes only
};

// x [N, 3, 6, 6] -> Pad (Keras's ZeroPadding2D) "padded" -> Conv (no pads) -> BatchNormalization
// -> Relu -> "out": conv_norm_relu with its Conv's padding done by a node before it.
Graph pad_conv_norm_relu(const PadVariant& v = {}) {
  OnnxBuilder b(v.axes.empty() ? 15 : 18);
  b.input("x", {-1, 3, 6, 6});
  b.initializer("pads", v.pads);
  b.initializer("value", {}, {v.value});
  if (!v.axes.empty()) b.initializer("axes", v.axes);
  b.initializer("w", {kChannels, 3, 3, 3}, kWeight);
  b.initializer("b", {kChannels}, kBias);
  for (const auto& [name, values] : {std::pair{"scale", kScale}, {"shift", kShift}, {"mean", kMean}, {"var", kVariance}}) {
    b.initializer(name, {kChannels}, values);
  }
  if (v.axes.empty()) {
    b.node("Pad", {"x", "pads", "value"}, {"padded"}, "pad");
  } else {
    b.node("Pad", {"x", "pads", "value", "axes"}, {"padded"}, "pad");
  }
  b.node("Conv", {"padded", "w", "b"}, {"conv"}, "conv");
  auto& norm = b.node("BatchNormalization", {"conv", "scale", "shift", "mean", "var"}, {"norm"}, "norm");
  auto* epsilon = norm.add_attribute();
  epsilon->set_name("epsilon");
  epsilon->set_type(::onnx::AttributeProto::FLOAT);
  epsilon->set_f(kEpsilon);
  b.node("Relu", {"norm"}, {"out"}, "relu");
  b.output("out", {-1, kChannels, -1, -1});
  if (v.pad_is_an_output) b.output("padded", {-1, 3, -1, -1});
  return Graph(b.proto(), "");
}

at::Tensor padded_reference(const at::Tensor& x, const PadVariant& v = {}) {
  const auto& p = v.pads;
  const auto padded = at::constant_pad_nd(x, {p[3], p[7], p[2], p[6], p[1], p[5], p[0], p[4]}, v.value);
  return reference(at::conv2d(padded, tensor(kWeight, {kChannels, 3, 3, 3}), tensor(kBias, {kChannels})));
}

}  // namespace

// A zero Pad of the spatial axes before the first Conv (keras.applications' ResNet50) leaves
// the model an image CNN, and is folded into the Conv where the Conv's padding stays equal
// on both sides; the Pad's own value asked for, or watched, runs the graph as written.
TEST(InferencePlan, FoldsAZeroPadIntoTheConvAfterIt) {
  PadVariant spatial_axes;  // the same padding as opset 18 writes it
  spatial_axes.axes = {-2, -1};
  spatial_axes.pads = {1, 1, 1, 1};
  {
    const auto on_axes = pad_conv_norm_relu(spatial_axes);
    EXPECT_EQ(on_axes.folded_pads(), 1);
    c10::InferenceMode inference;
    EXPECT_TRUE(close_to("pad on axes folded", on_axes.run({images()}, {on_axes.slot("out")}).front(),
                         padded_reference(images()), 1e-6));
  }
  const auto graph = pad_conv_norm_relu();
  EXPECT_EQ(graph.folded_pads(), 1);
  EXPECT_EQ(graph.folded_batch_norms(), 1);
  EXPECT_TRUE(graph.channels_last_inference());
  if (lumos::onnx::packed_convolutions_available()) EXPECT_EQ(graph.packed_convolutions(), 1);
  const auto x = images();
  const int out = graph.slot("out");
  const int padded = graph.slot("padded");
  c10::InferenceMode inference;
  EXPECT_TRUE(close_to("pad folded", graph.run({x}, {out}).front(), padded_reference(x), 1e-6));
  const auto both = graph.run({x}, {out, padded});
  EXPECT_TRUE(at::equal(both[1], at::constant_pad_nd(x, {1, 1, 1, 1})));
  EXPECT_TRUE(close_to("as written", both[0], padded_reference(x), 1e-6));
  int seen = 0;
  graph.run({x}, {out}, [&](int slot, at::Tensor&) { seen += slot == padded; });
  EXPECT_EQ(seen, 1);
}

// Pads the Conv cannot take as its own padding stay (the image CNN's plan runs them), and
// give what the graph as written gives.
TEST(InferencePlan, LeavesPadsThatCannotBeFolded) {
  PadVariant one_sided, valued, batch, read_twice;
  one_sided.pads = {0, 0, 0, 0, 0, 0, 1, 1};  // MobileNetV2's stride-2 blocks: bottom and right
  valued.value = 0.5f;
  batch.pads = {1, 0, 1, 1, 0, 0, 1, 1};  // an image of zeros added before the batch
  read_twice.pad_is_an_output = true;
  const auto x = images();
  for (const auto& [what, variant, image_cnn] : {std::tuple{"one-sided", one_sided, true}, {"valued", valued, false},
                                                 {"batch padded", batch, false}, {"read twice", read_twice, true}}) {
    SCOPED_TRACE(what);
    const auto graph = pad_conv_norm_relu(variant);
    EXPECT_EQ(graph.folded_pads(), 0);
    EXPECT_EQ(graph.channels_last_inference(), image_cnn);
    c10::InferenceMode inference;
    EXPECT_TRUE(close_to(what, graph.run({x}, {graph.slot("out")}).front(), padded_reference(x, variant), 1e-6));
  }
}

// conv_norm_relu's Conv (BatchNormalization folded in) runs packed with the Relu fused, on any
// batch and image size; asking for the Relu's input runs the folded plan instead.
TEST(InferencePlan, PacksTheConvolutionAndFusesTheRelu) {
  auto graph = conv_norm_relu();
  if (!lumos::onnx::packed_convolutions_available()) GTEST_SKIP() << "LibTorch without oneDNN";
  EXPECT_EQ(graph.packed_convolutions(), 1);
  EXPECT_EQ(graph.fused_relus(), 1);
  c10::InferenceMode inference;
  const int out = graph.slot("out");
  for (const auto& x : {images(), images().repeat({3, 1, 1, 1}), at::sin(at::arange(2 * 3 * 9 * 7, at::kFloat)).view({2, 3, 9, 7})}) {
    EXPECT_TRUE(close_to("packed", graph.run({x}, {out}).front(), reference(conv_reference(x)), 1e-6));
  }
  const auto x = images();
  const auto both = graph.run({x}, {out, graph.slot("norm")});
  EXPECT_TRUE(close_to("folded", both[1], at::batch_norm(conv_reference(x), at::tensor(kScale), at::tensor(kShift),
                                                         at::tensor(kMean), at::tensor(kVariance), false, 0, kEpsilon, false),
                       1e-6));
  graph.limit_inference_plan(lumos::onnx::InferencePlan::channels_last);
  EXPECT_EQ(graph.packed_convolutions(), 0);
  EXPECT_TRUE(close_to("channels-last", graph.run({x}, {out}).front(), reference(conv_reference(x)), 1e-6));
}

namespace {

constexpr int64_t kWidth = 16;  // channels after the first Conv: whole channel blocks (8 or 16)

// A small residual network, every piece a blocked region takes:
//   x [N, 3, H, W] -> Conv 3x3 -> Relu "r1" -> MaxPool 3x3/2 "p" -> Conv 3x3 -> Relu "r2"
//   -> Conv 1x1 "c3" -> Add(c3, p) "a" -> Relu "r3" -> `extra` x (Conv 1x1 -> Relu) "e<i>"
//   -> GlobalAveragePool "g" -> Flatten "out";   Sigmoid(r2) "side" (read outside the region).
// The region has 3 + extra convolutions and two conversions (r2 and g out; the first Conv reads
// x itself).
Graph residual_network(int extra) {
  OnnxBuilder b(15);
  b.input("x", {-1, 3, -1, -1});
  const auto conv = [&](const std::string& input, const std::string& output, int64_t in, int64_t k, float phase) {
    b.initializer(output + "_w", {kWidth, in, k, k}, wave(kWidth * in * k * k, phase, 0.5f / std::sqrt(float(in * k * k))));
    b.initializer(output + "_b", {kWidth}, wave(kWidth, phase + 0.5f, 0.1f));
    auto& node = b.node("Conv", {input, output + "_w", output + "_b"}, {output}, output);
    if (k == 3) OnnxBuilder::set_ints(node, "pads", {1, 1, 1, 1});
  };
  conv("x", "c1", 3, 3, 0.1f);
  b.node("Relu", {"c1"}, {"r1"}, "relu1");
  auto& pool = b.node("MaxPool", {"r1"}, {"p"}, "pool");
  OnnxBuilder::set_ints(pool, "kernel_shape", {3, 3});
  OnnxBuilder::set_ints(pool, "strides", {2, 2});
  OnnxBuilder::set_ints(pool, "pads", {1, 1, 1, 1});
  conv("p", "c2", kWidth, 3, 0.7f);
  b.node("Relu", {"c2"}, {"r2"}, "relu2");
  conv("r2", "c3", kWidth, 1, 1.3f);
  b.node("Add", {"c3", "p"}, {"a"}, "add");
  b.node("Relu", {"a"}, {"r3"}, "relu3");
  std::string last = "r3";
  for (int i = 0; i < extra; ++i) {
    const auto name = "e" + std::to_string(i);
    conv(last, name + "c", kWidth, 1, 2.0f + i);
    b.node("Relu", {name + "c"}, {name}, name);
    last = name;
  }
  b.node("GlobalAveragePool", {last}, {"g"}, "gap");
  b.node("Flatten", {"g"}, {"out"}, "flatten");
  b.node("Sigmoid", {"r2"}, {"side"}, "side");
  b.output("out", {-1, kWidth});
  b.output("side", {-1, kWidth, -1, -1});
  return Graph(b.proto(), "");
}

// residual_network's values computed on ATen, from "p" on (given, or from x).
struct ResidualReference {
  at::Tensor p, r2, a, out, side;
};
ResidualReference residual_reference(const at::Tensor& x, int extra, at::Tensor p = {}) {
  const auto conv = [](const at::Tensor& input, int64_t in, int64_t k, float phase) {
    const auto w = tensor(wave(kWidth * in * k * k, phase, 0.5f / std::sqrt(float(in * k * k))), {kWidth, in, k, k});
    return at::conv2d(input, w, at::tensor(wave(kWidth, phase + 0.5f, 0.1f)), 1, k / 2);
  };
  ResidualReference r;
  r.p = p.defined() ? p : at::max_pool2d(at::relu(conv(x, 3, 3, 0.1f)), 3, 2, 1);
  r.r2 = at::relu(conv(r.p, kWidth, 3, 0.7f));
  r.a = conv(r.r2, kWidth, 1, 1.3f) + r.p;
  auto last = at::relu(r.a);
  for (int i = 0; i < extra; ++i) last = at::relu(conv(last, kWidth, 1, 2.0f + i));
  r.out = last.mean({2, 3});
  r.side = at::sigmoid(r.r2);
  return r;
}

}  // namespace

// The blocked region runs residual_network's convolutions, pools, Add and Relus in oneDNN's
// blocked layout, the Relus after a Conv and the Add (with the Relu after it) inside the
// convolutions, left where a value is read outside: on any batch and image size its results
// match ATen's, are dense, and values asked for or given keep their meaning.
TEST(InferencePlan, RunsARegionOnBlockedTensors) {
  if (!lumos::onnx::packed_convolutions_available()) GTEST_SKIP() << "LibTorch without oneDNN";
  constexpr int kExtra = 3;  // 6 convolutions, 2 conversions: the region pays
  auto graph = residual_network(kExtra);
  EXPECT_EQ(graph.blocked_convolutions(), 3 + kExtra);
  EXPECT_EQ(graph.blocked_regions(), 1);
  EXPECT_EQ(graph.blocked_post_ops(), 2);  // Add and Relu into c3; r1, r2 and the e<i> Relus were fused when packed
  c10::InferenceMode inference;
  const std::vector<int> wanted{graph.slot("out"), graph.slot("side")};
  for (const auto& shape : {std::vector<int64_t>{1, 3, 6, 6}, {2, 3, 6, 6}, {5, 3, 9, 7}}) {
    const auto x = at::sin(at::arange(c10::multiply_integers(shape), at::kFloat).mul(0.37)).view(shape);
    const auto expected = residual_reference(x, kExtra);
    const auto out = graph.run({x}, wanted);
    for (const auto& value : out) EXPECT_TRUE(!value.is_mkldnn() && value.is_contiguous());
    EXPECT_TRUE(close_to("blocked out", out[0], expected.out, 1e-5));
    EXPECT_TRUE(close_to("blocked side", out[1], expected.side, 1e-5));
  }
  const auto x = at::sin(at::arange(2 * 3 * 9 * 7, at::kFloat).mul(0.37)).view({2, 3, 9, 7});
  const auto expected = residual_reference(x, kExtra);
  // A value asked for that the region reads on (the Relu after "a" must not write over it).
  const auto kept = graph.run({x}, {graph.slot("a"), graph.slot("out")});
  EXPECT_FALSE(kept[0].is_mkldnn());
  EXPECT_TRUE(close_to("kept Add", kept[0], expected.a, 1e-5));
  EXPECT_TRUE(close_to("out beside it", kept[1], expected.out, 1e-5));
  // A dense value given in place of one inside the region.
  const auto given = expected.p * 0.5f + 0.25f;
  const auto from_given = residual_reference(x, kExtra, given);
  const auto out = graph.run({x}, wanted, {}, {{graph.slot("p"), given}});
  EXPECT_TRUE(close_to("given p, out", out[0], from_given.out, 1e-5));
  EXPECT_TRUE(close_to("given p, side", out[1], from_given.side, 1e-5));
  // A watched run (captures, traces) runs the graph as written.
  int seen = 0;
  const int a = graph.slot("a");
  const auto watched = graph.run({x}, wanted, [&](int slot, at::Tensor& value) {
    if (slot == a) seen += !value.is_mkldnn();
  });
  EXPECT_EQ(seen, 1);
  EXPECT_TRUE(close_to("as written", watched[0], expected.out, 1e-5));
  // The packed plan alone gives the same.
  graph.limit_inference_plan(lumos::onnx::InferencePlan::packed);
  EXPECT_EQ(graph.blocked_convolutions(), 0);
  EXPECT_TRUE(close_to("packed", graph.run({x}, wanted)[0], expected.out, 1e-5));
}

// With three convolutions the region would convert too often for what it saves: the
// convolutions stay packed.
TEST(InferencePlan, LeavesARegionWithTooFewConvolutionsPacked) {
  if (!lumos::onnx::packed_convolutions_available()) GTEST_SKIP() << "LibTorch without oneDNN";
  const auto graph = residual_network(0);  // 3 convolutions, 2 conversions
  EXPECT_EQ(graph.blocked_convolutions(), 0);
  EXPECT_EQ(graph.packed_convolutions(), 3);
  c10::InferenceMode inference;
  const auto x = at::sin(at::arange(2 * 3 * 6 * 6, at::kFloat).mul(0.37)).view({2, 3, 6, 6});
  EXPECT_TRUE(close_to("packed", graph.run({x}, {graph.slot("out")})[0], residual_reference(x, 0).out, 1e-5));
}

namespace {

// MobileNetV2's pieces: ReLU6 Clips (bounds from Constant nodes and from initializers),
// depthwise convolutions after 1x1 ones (stride 1 and 2), a residual Add after the projecting
// Conv, and a depthwise Conv with asymmetric padding that no 1x1 one feeds:
//   x [N, 3, H, W] -> Conv 3x3/2 (16) -> Clip "r0" -> Conv 1x1 (32) "e" -> Clip "re"
//   -> depthwise Conv 3x3 "d" -> Clip "rd" -> Conv 1x1 (16) "p" -> Add(p, r0) "a"
//   -> Conv 1x1 (32) "e2" -> Clip -> depthwise Conv 3x3/2 "d2" -> Clip "r2"
//   -> depthwise Conv 3x3/2, pads (0, 0, 1, 1) "d3" -> Clip -> GlobalAveragePool -> Flatten "out".
Graph inverted_residual_network() {
  OnnxBuilder b(13);
  b.input("x", {-1, 3, -1, -1});
  auto& zero = b.node("Constant", {}, {"zero"});
  OnnxBuilder::set_tensor(zero, "value", {}, {0.0f});
  auto& six = b.node("Constant", {}, {"six"});
  OnnxBuilder::set_tensor(six, "value", {}, {6.0f});
  b.initializer("low", {}, {0.0f});
  b.initializer("high", {}, {6.0f});
  const auto conv = [&](const std::string& input, const std::string& output, int64_t in, int64_t out, int64_t k,
                        int64_t groups, int64_t stride, std::vector<int64_t> pads, float phase) {
    const int64_t fan_in = in / groups * k * k;
    b.initializer(output + "_w", {out, in / groups, k, k}, wave(out * fan_in, phase, 6.0f / std::sqrt(float(fan_in))));
    b.initializer(output + "_b", {out}, wave(out, phase + 0.5f, 4.0f));
    auto& node = b.node("Conv", {input, output + "_w", output + "_b"}, {output}, output);
    OnnxBuilder::set_ints(node, "pads", pads);
    OnnxBuilder::set_ints(node, "strides", {stride, stride});
    OnnxBuilder::set_int(node, "group", groups);
  };
  // A Conv, then a ReLU6 whose bounds are Constant nodes' outputs or initializers.
  const auto conv_relu6 = [&](const std::string& input, const std::string& output, int64_t in, int64_t out, int64_t k,
                              int64_t groups, int64_t stride, std::vector<int64_t> pads, float phase,
                              const std::string& clipped, bool constant_nodes) {
    conv(input, output, in, out, k, groups, stride, std::move(pads), phase);
    b.node("Clip", {output, constant_nodes ? "zero" : "low", constant_nodes ? "six" : "high"}, {clipped});
  };
  conv_relu6("x", "c0", 3, 16, 3, 1, 2, {1, 1, 1, 1}, 0.3f, "r0", true);
  conv_relu6("r0", "e", 16, 32, 1, 1, 1, {0, 0, 0, 0}, 0.9f, "re", false);
  conv_relu6("re", "d", 32, 32, 3, 32, 1, {1, 1, 1, 1}, 1.7f, "rd", true);
  conv("rd", "p", 32, 16, 1, 1, 1, {0, 0, 0, 0}, 2.1f);
  b.node("Add", {"p", "r0"}, {"a"});
  conv_relu6("a", "e2", 16, 32, 1, 1, 1, {0, 0, 0, 0}, 2.5f, "re2", false);
  conv_relu6("re2", "d2", 32, 32, 3, 32, 2, {1, 1, 1, 1}, 2.9f, "r2", true);
  conv_relu6("r2", "d3", 32, 32, 3, 32, 2, {0, 0, 1, 1}, 3.3f, "r3", false);
  b.node("GlobalAveragePool", {"r3"}, {"g"});
  b.node("Flatten", {"g"}, {"out"});
  b.output("out", {-1, 32});
  return Graph(b.proto(), "");
}

// inverted_residual_network's values on ATen, from "r0" on (given, or from x).
struct InvertedResidualReference {
  at::Tensor r0, e, d, p, out;
};
InvertedResidualReference inverted_residual_reference(const at::Tensor& x, at::Tensor r0 = {}) {
  const auto conv = [](const at::Tensor& input, int64_t in, int64_t out, int64_t k, int64_t groups, int64_t stride,
                       int64_t pad, float phase) {
    const int64_t fan_in = in / groups * k * k;
    const auto w = tensor(wave(out * fan_in, phase, 6.0f / std::sqrt(float(fan_in))), {out, in / groups, k, k});
    return at::conv2d(input, w, at::tensor(wave(out, phase + 0.5f, 4.0f)), stride, pad, 1, groups);
  };
  InvertedResidualReference r;
  r.r0 = r0.defined() ? r0 : conv(x, 3, 16, 3, 1, 2, 1, 0.3f).clamp(0, 6);
  r.e = conv(r.r0, 16, 32, 1, 1, 1, 0, 0.9f);
  r.d = conv(r.e.clamp(0, 6), 32, 32, 3, 32, 1, 1, 1.7f);
  r.p = conv(r.d.clamp(0, 6), 32, 16, 1, 1, 1, 0, 2.1f);
  const auto a = r.p + r.r0;
  const auto r2 = conv(conv(a, 16, 32, 1, 1, 1, 0, 2.5f).clamp(0, 6), 32, 32, 3, 32, 2, 1, 2.9f).clamp(0, 6);
  const auto d3 = conv(at::constant_pad_nd(r2, {0, 1, 0, 1}), 32, 32, 3, 32, 2, 0, 3.3f);
  r.out = d3.clamp(0, 6).mean({2, 3});
  return r;
}

}  // namespace

// A MobileNetV2-like graph runs as one blocked region, every Clip and the residual Add inside a
// convolution (oneDNN post-ops), each depthwise Conv after a 1x1 one inside that one: its
// results match ATen's on any batch and image size; values fused away and asked for, or given
// in place of one in the region, keep their meaning.
TEST(InferencePlan, FusesReluSixResidualAddsAndDepthwiseConvolutions) {
  if (!lumos::onnx::packed_convolutions_available()) GTEST_SKIP() << "LibTorch without oneDNN";
  const auto graph = inverted_residual_network();
  EXPECT_EQ(graph.blocked_convolutions(), 7);
  EXPECT_EQ(graph.blocked_regions(), 1);
  EXPECT_EQ(graph.blocked_post_ops(), 9);  // six Clips, the Add and two depthwise Convs
  c10::InferenceMode inference;
  const std::vector<int> out{graph.slot("out")};
  for (const auto& shape : {std::vector<int64_t>{1, 3, 8, 8}, {3, 3, 13, 10}, {2, 3, 30, 17}}) {
    const auto x = at::sin(at::arange(c10::multiply_integers(shape), at::kFloat).mul(0.37)).view(shape);
    EXPECT_TRUE(close_to("blocked out", graph.run({x}, out)[0], inverted_residual_reference(x).out, 1e-5));
  }
  const auto x = at::sin(at::arange(2 * 3 * 11 * 9, at::kFloat).mul(0.37)).view({2, 3, 11, 9});
  const auto expected = inverted_residual_reference(x);
  // The weights make every ReLU6 clamp at both ends.
  EXPECT_TRUE(at::logical_and((expected.e < 0).any(), (expected.e > 6).any()).item<bool>());
  EXPECT_TRUE(at::logical_and((expected.d < 0).any(), (expected.d > 6).any()).item<bool>());
  // Fused away: the runs that ask for them take the packed plan.
  const auto asked = graph.run({x}, {graph.slot("e"), graph.slot("d"), graph.slot("p"), graph.slot("out")});
  EXPECT_TRUE(close_to("e asked for", asked[0], expected.e, 1e-5));
  EXPECT_TRUE(close_to("d asked for", asked[1], expected.d, 1e-5));
  EXPECT_TRUE(close_to("p asked for", asked[2], expected.p, 1e-5));
  EXPECT_TRUE(close_to("out beside them", asked[3], expected.out, 1e-5));
  // A dense r0 given: the convolution reading it converts it, the one adding it runs dense.
  const auto given = expected.r0 * 0.5f + 0.25f;
  EXPECT_TRUE(close_to("given r0", graph.run({x}, out, {}, {{graph.slot("r0"), given}})[0],
                       inverted_residual_reference(x, given).out, 1e-5));
}

// The blocked convolution kernel in either channel block (a CPU with AVX-512 takes 16 where a
// model's convolutions fill blocks of 16): a 3x3 Conv adding a residual then a Relu, and a 1x1
// Conv with a ReLU6 and a depthwise stride-2 stage after it, from a dense input and from a
// blocked one; converted back, the values are ATen's.
TEST(InferencePlan, BlockedConvolutionsTakeEitherChannelBlock) {
  using lumos::onnx::Clamp;
  using lumos::onnx::ConvolutionPostOps;
  using lumos::onnx::DepthwiseStage;
  using lumos::onnx::Node;
  using lumos::onnx::Tensors;
  if (!lumos::onnx::packed_convolutions_available()) GTEST_SKIP() << "LibTorch without oneDNN";
  OnnxBuilder b(13);
  auto& square = b.node("Conv", {"x", "w", "b"}, {"y"});
  OnnxBuilder::set_ints(square, "pads", {1, 1, 1, 1});
  auto& pointwise = b.node("Conv", {"x", "w", "b"}, {"y"});
  auto& depthwise = b.node("Conv", {"x", "w", "b"}, {"y"});
  OnnxBuilder::set_ints(depthwise, "pads", {1, 1, 1, 1});
  OnnxBuilder::set_ints(depthwise, "strides", {2, 2});
  OnnxBuilder::set_int(depthwise, "group", 32);
  const auto w3 = tensor(wave(32 * 16 * 9, 0.3f, 0.4f), {32, 16, 3, 3});
  const auto w1 = tensor(wave(32 * 16, 1.1f, 2.0f), {32, 16, 1, 1});
  const auto wd = tensor(wave(32 * 9, 1.9f, 1.5f), {32, 1, 3, 3});
  const auto bias = tensor(wave(32, 0.7f, 2.0f), {32});
  const auto x = at::sin(at::arange(2 * 16 * 9 * 7, at::kFloat).mul(0.37)).view({2, 16, 9, 7}).mul(3);
  const auto residual = at::cos(at::arange(2 * 32 * 9 * 7, at::kFloat).mul(0.21)).view({2, 32, 9, 7}).mul(4);
  const auto no_fallback = [](const Tensors&) -> Tensors { throw std::runtime_error("the fallback ran"); };
  const auto to_dense = lumos::onnx::to_dense();
  const auto square_reference = at::relu(at::conv2d(x, w3, bias, 1, 1) + residual);
  const auto depthwise_reference =
      at::conv2d(at::conv2d(x, w1, bias).clamp(0, 6), wd, bias, 2, 1, 1, 32).clamp(0, 6);
  c10::InferenceMode inference;
  for (int64_t block : {8, 16}) {
    SCOPED_TRACE(block);
    const auto as_blocked = [block](const at::Tensor& t) {  // [N, C, H, W] -> [N, C/b, H, W, b]
      return t.view({t.size(0), t.size(1) / block, block, t.size(2), t.size(3)}).permute({0, 1, 3, 4, 2}).contiguous();
    };
    const auto square_conv = lumos::onnx::blocked_convolution(Node(square, 13), w3, bias, ConvolutionPostOps{true, Clamp{}},
                                                              block, no_fallback);
    for (const auto& input : {x, as_blocked(x)}) {
      const auto y = square_conv({input, w3, bias, as_blocked(residual)})[0];
      ASSERT_EQ(y.dim(), 5);
      EXPECT_EQ(y.size(4), block);
      EXPECT_TRUE(close_to("residual", to_dense({y})[0], square_reference, 1e-4));
    }
    const Node depthwise_node(depthwise, 13);
    const auto expand = lumos::onnx::blocked_convolution(
        Node(pointwise, 13), w1, bias, ConvolutionPostOps{false, Clamp{0, 6}}, block, no_fallback,
        DepthwiseStage{depthwise_node, wd, bias, Clamp{0, 6}, no_fallback});
    for (const auto& input : {x, as_blocked(x)}) {
      EXPECT_TRUE(close_to("depthwise", to_dense(expand({input, w1, bias}))[0], depthwise_reference, 1e-4));
    }
  }
}

// A bf16 run (Score-CAM's and LIME's opt-in) takes the folded plan, whose convolutions autocast
// casts: the packed and blocked ones are float32 oneDNN calls it does not reach.
TEST(InferencePlan, Bf16RunsTakeThePlanAutocastReaches) {
  const auto graph = residual_network(3);
  c10::InferenceMode inference;
  const auto x = at::sin(at::arange(2 * 3 * 9 * 7, at::kFloat).mul(0.37)).view({2, 3, 9, 7});
  const std::vector<int> out{graph.slot("out")};
  const auto float32 = graph.run({x}, out)[0];
  at::Tensor bf16;
  {
    const lumos::Bf16Autocast autocast(true);
    bf16 = graph.run({x}, out)[0].to(at::kFloat);
  }
  EXPECT_FALSE(at::equal(bf16, float32)) << "the convolutions ran in float32";
  EXPECT_TRUE(close_to("bf16", bf16, float32, 3e-2));
  EXPECT_TRUE(at::equal(graph.run({x}, out)[0], float32));  // float32 again afterwards
}
