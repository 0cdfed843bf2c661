// The shapes shared by element-wise kernels: one input, two inputs, or many inputs
// folded together. The op's registry signature fixes the input count (checked when the
// graph is built), so the kernels index their inputs freely.
#pragma once

#include "model/onnx/op_registry.hpp"


namespace lumos::onnx {

using UnaryFn = at::Tensor (*)(const at::Tensor&);
using BinaryFn = at::Tensor (*)(const at::Tensor&, const at::Tensor&);

// Whether a kernel may write its result over `t`. The executor hands a value over at its
// last use, so a tensor that is the sole owner of its memory and that autograd does not
// track is free for reuse; saving the allocation and a pass over memory matters for the
// cheap activations between convolutions.
inline bool is_reusable(const at::Tensor& t) {
  return t.defined() && !t.requires_grad() && t.layout() == at::kStrided && t.use_count() == 1 &&
         t.storage().use_count() == 1 && t.is_non_overlapping_and_dense();
}

// A kernel applying `f` to the node's one input.
template <typename F>
Kernel unary(const Node& node, F f) {
  return [f](const Tensors& in) { return Tensors{f(in[0])}; };
}
// Lets overloaded ATen functions (at::round, ...) be passed by name.
inline Kernel unary(const Node& node, UnaryFn f) { return unary<UnaryFn>(node, f); }

// As above, with `f_in_place` used when the input is reusable.
template <typename F, typename G>
Kernel unary(const Node& node, F f, G f_in_place) {
  return [f, f_in_place](const Tensors& in) { return Tensors{is_reusable(in[0]) ? f_in_place(in[0]) : f(in[0])}; };
}

// A kernel applying `f` to the node's two inputs (broadcasting is f's business).
template <typename F>
Kernel binary(const Node& node, F f) {
  return [f](const Tensors& in) { return Tensors{f(in[0], in[1])}; };
}
inline Kernel binary(const Node& node, BinaryFn f) { return binary<BinaryFn>(node, f); }

// Whether `a op= b` gives `a op b`: same dtype, and b broadcasts to a's shape.
inline bool can_update(const at::Tensor& a, const at::Tensor& b) {
  return is_reusable(a) && !b.requires_grad() && at::result_type(a, b) == a.scalar_type() &&
         at::infer_size(a.sizes(), b.sizes()) == a.sizes().vec();
}

// A commutative binary op (Add, Mul) that writes into whichever input is reusable.
template <typename F, typename G>
Kernel commutative(const Node& node, F f, G f_in_place) {
  return [f, f_in_place](const Tensors& in) {
    if (can_update(in[0], in[1])) return Tensors{f_in_place(in[0], in[1])};
    if (can_update(in[1], in[0])) return Tensors{f_in_place(in[1], in[0])};
    return Tensors{f(in[0], in[1])};
  };
}

// A kernel folding `f` left over any number of inputs (Sum, Max, ...); one input is
// returned as it is.
template <typename F>
Kernel fold(const Node& node, F f) {
  return [f](const Tensors& in) {
    at::Tensor result = in[0];
    for (size_t i = 1; i < in.size(); ++i) result = f(result, in[i]);
    return Tensors{result};
  };
}
inline Kernel fold(const Node& node, BinaryFn f) { return fold<BinaryFn>(node, f); }

}  // namespace lumos::onnx
