// The shapes shared by element-wise kernels: one input, two inputs, or many inputs
// folded together. Each checks the node's input count when the graph is built, so the
// kernels can index their inputs freely.
#pragma once

#include "model/onnx/op_registry.hpp"

#include <limits>
#include <string>

namespace lumos::onnx {

using UnaryFn = at::Tensor (*)(const at::Tensor&);
using BinaryFn = at::Tensor (*)(const at::Tensor&, const at::Tensor&);

// Fails (ModelError) unless the node has between `least` and `most` inputs.
inline void require_inputs(const Node& node, int least, int most) {
  const int n = node.num_inputs();
  if (n >= least && n <= most) return;
  const std::string wanted = least == most ? std::to_string(least)
                             : most == std::numeric_limits<int>::max()
                                 ? "at least " + std::to_string(least)
                                 : std::to_string(least) + " to " + std::to_string(most);
  node.fail("takes " + wanted + " input(s), the node has " + std::to_string(n));
}

// A kernel applying `f` to the node's one input.
template <typename F>
Kernel unary(const Node& node, F f) {
  require_inputs(node, 1, 1);
  return [f](const Tensors& in) { return Tensors{f(in[0])}; };
}
// Lets overloaded ATen functions (at::round, ...) be passed by name.
inline Kernel unary(const Node& node, UnaryFn f) { return unary<UnaryFn>(node, f); }

// A kernel applying `f` to the node's two inputs (broadcasting is f's business).
template <typename F>
Kernel binary(const Node& node, F f) {
  require_inputs(node, 2, 2);
  return [f](const Tensors& in) { return Tensors{f(in[0], in[1])}; };
}
inline Kernel binary(const Node& node, BinaryFn f) { return binary<BinaryFn>(node, f); }

// A kernel folding `f` left over any number of inputs (Sum, Max, ...); one input is
// returned as it is.
template <typename F>
Kernel fold(const Node& node, F f) {
  require_inputs(node, 1, std::numeric_limits<int>::max());
  return [f](const Tensors& in) {
    at::Tensor result = in[0];
    for (size_t i = 1; i < in.size(); ++i) result = f(result, in[i]);
    return Tensors{result};
  };
}
inline Kernel fold(const Node& node, BinaryFn f) { return fold<BinaryFn>(node, f); }

}  // namespace lumos::onnx
