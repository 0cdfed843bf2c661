// The executor hands a value to its last reader, and element-wise kernels then write over it
// (docs/architecture.md, "In place at the last use"). These graphs try to catch that
// overwriting something still in use; the expected values are computed in ATen.
#include "model/onnx/graph.hpp"
#include "support/onnx_builder.hpp"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

using lumos::onnx::Graph;
using lumos::testing::OnnxBuilder;

namespace {

at::Tensor input() {
  at::manual_seed(5);
  return at::randn({2, 3, 4, 4});
}

std::vector<at::Tensor> run(const OnnxBuilder& b, const at::Tensor& x, const std::vector<std::string>& names) {
  OnnxBuilder copy = b;
  Graph graph(copy.proto(), "");
  std::vector<int> wanted;
  for (const auto& name : names) wanted.push_back(graph.slot(name));
  return graph.run({x}, wanted);
}

OnnxBuilder with_input() {
  OnnxBuilder b;
  b.input("x", {2, 3, 4, 4}).initializer("two", {}, {2.f});
  return b;
}

}  // namespace

TEST(InPlace, AValueAlsoAskedForKeepsItsContents) {
  auto b = with_input();
  b.node("Mul", {"x", "two"}, {"m"});
  b.node("Relu", {"m"}, {"r"});
  b.output("r", {2, 3, 4, 4});
  const auto x = input();
  const auto out = run(b, x, {"m", "r"});
  EXPECT_TRUE(at::equal(out[0], x * 2));
  EXPECT_TRUE(at::equal(out[1], at::relu(x * 2)));
}

TEST(InPlace, AValueReadTwiceByOneNodeIsNotOverwrittenHalfway) {
  auto b = with_input();
  b.node("Mul", {"x", "two"}, {"m"});
  b.node("Add", {"m", "m"}, {"y"});
  b.output("y", {2, 3, 4, 4});
  const auto x = input();
  const auto copy = x.clone();
  EXPECT_TRUE(at::allclose(run(b, x, {"y"})[0], x * 4));
  EXPECT_TRUE(at::equal(x, copy));  // the graph input is never written
}

TEST(InPlace, AViewStillInUseKeepsItsContents) {
  auto b = with_input();
  b.node("Mul", {"x", "two"}, {"m"});
  b.node("Flatten", {"m"}, {"view"});  // shares m's memory
  b.node("Relu", {"m"}, {"r"});        // m's last reader
  b.node("Flatten", {"r"}, {"flat"});
  b.node("Add", {"flat", "view"}, {"y"});
  b.output("y", {2, 48});
  const auto x = input();
  const auto m = x * 2;
  EXPECT_TRUE(at::allclose(run(b, x, {"y"})[0], at::relu(m).flatten(1) + m.flatten(1)));
}

TEST(InPlace, BroadcastAddWritesIntoTheLargerOperandOnly) {
  auto b = with_input();
  b.initializer("bias", {1, 3, 1, 1}, {1.f, -2.f, 3.f});
  b.node("Mul", {"bias", "two"}, {"scaled"});  // a fresh [1,3,1,1] value at its last use
  b.node("Mul", {"x", "two"}, {"m"});
  b.node("Add", {"scaled", "m"}, {"y"});
  b.output("y", {2, 3, 4, 4});
  const auto x = input();
  const auto bias = at::tensor({1.f, -2.f, 3.f}).reshape({1, 3, 1, 1});
  EXPECT_TRUE(at::allclose(run(b, x, {"y"})[0], bias * 2 + x * 2));
  // And the initializer survives for the next run.
  EXPECT_TRUE(at::allclose(run(b, x, {"y"})[0], bias * 2 + x * 2));
}
