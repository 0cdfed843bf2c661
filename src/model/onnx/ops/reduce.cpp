// Reductions over axes (ReduceMean, ReduceSum, ... ReduceLogSumExp) and ArgMax/ArgMin.
//
// The axes are an attribute until they became an optional input: opset 13 for
// ReduceSum, 18 for the others; each op has a registry entry for each form. With the input form, an empty axes list means "all
// axes" unless noop_with_empty_axes asks for the input back unchanged.
#include "model/onnx/op_registry.hpp"
#include "model/onnx/ops/axes.hpp"
#include "model/onnx/ops/elementwise_util.hpp"

namespace lumos::onnx {
namespace {

// Reduces x over `dims` (normalized, non-empty unless x is a scalar).
using Reduction = at::Tensor (*)(const at::Tensor& x, at::IntArrayRef dims, bool keepdim);

Kernel reduce(const Node& node, Reduction reduction, bool axes_from_input) {
  const auto axes_attribute = node.ints("axes");
  const bool keepdims = node.i("keepdims", 1) != 0;
  const bool noop_with_empty_axes = axes_from_input && node.i("noop_with_empty_axes", 0) != 0;
  return [=](const Tensors& in) {
    const auto& x = in[0];
    std::vector<int64_t> listed = axes_attribute;
    if (axes_from_input) {
      const auto axes_input = axes::optional_input(in, 1);
      listed = axes_input.defined() ? axes::read_ints(axes_input, "the axes input") : std::vector<int64_t>{};
      if (listed.empty() && noop_with_empty_axes) return Tensors{x};
    }
    const auto dims = listed.empty() ? axes::all(x.dim()) : axes::normalize_unique(listed, x.dim());
    return Tensors{reduction(x, dims, keepdims)};
  };
}

at::Tensor mean(const at::Tensor& x, at::IntArrayRef dims, bool keepdim) { return at::mean(x, dims, keepdim); }

// The input's dtype is kept (ATen would widen integer sums to int64).
at::Tensor sum(const at::Tensor& x, at::IntArrayRef dims, bool keepdim) {
  return at::sum(x, dims, keepdim, x.scalar_type());
}

at::Tensor max(const at::Tensor& x, at::IntArrayRef dims, bool keepdim) { return at::amax(x, dims, keepdim); }
at::Tensor min(const at::Tensor& x, at::IntArrayRef dims, bool keepdim) { return at::amin(x, dims, keepdim); }

// at::prod reduces one axis at a time.
at::Tensor prod(const at::Tensor& x, at::IntArrayRef dims, bool keepdim) {
  at::Tensor result = x;
  for (auto d : dims) result = at::prod(result, d, /*keepdim=*/true, x.scalar_type());
  return keepdim ? result : result.reshape(axes::sizes_without(x, dims.vec()));
}

at::Tensor l1(const at::Tensor& x, at::IntArrayRef dims, bool keepdim) { return sum(at::abs(x), dims, keepdim); }

// linalg_vector_norm's gradient is 0 (not NaN) where the norm is 0.
at::Tensor l2(const at::Tensor& x, at::IntArrayRef dims, bool keepdim) {
  return at::linalg_vector_norm(x, 2, dims, keepdim);
}

at::Tensor sum_square(const at::Tensor& x, at::IntArrayRef dims, bool keepdim) {
  return sum(x * x, dims, keepdim);
}

at::Tensor log_sum(const at::Tensor& x, at::IntArrayRef dims, bool keepdim) { return at::log(sum(x, dims, keepdim)); }

at::Tensor log_sum_exp(const at::Tensor& x, at::IntArrayRef dims, bool keepdim) {
  return at::logsumexp(x, dims, keepdim);
}

// ArgMax / ArgMin along one axis; ties go to the first index, or the last with
// select_last_index (opset 12), found by searching the flipped axis.
Kernel arg_reduce(const Node& node, bool find_max) {
  const int64_t axis = node.i("axis", 0);
  const bool keepdims = node.i("keepdims", 1) != 0;
  const bool last_index = node.i("select_last_index", 0) != 0;
  return [=](const Tensors& in) {
    const auto& x = in[0];
    const int64_t a = axes::normalize(axis, x.dim());
    auto first_extreme = [&](const at::Tensor& t) {
      return find_max ? at::argmax(t, a, keepdims) : at::argmin(t, a, keepdims);
    };
    if (!last_index) return Tensors{first_extreme(x)};
    return Tensors{(x.size(a) - 1) - first_extreme(x.flip(a))};
  };
}

}  // namespace

// Each reduction has two entries: axes as an attribute before opset `since`, as an
// optional input from it on.
#define LUMOS_ONNX_REDUCTION(id, op_type, reduction, since)                                              \
  LUMOS_ONNX_OP(id, op_type, 1, since - 1, inputs(1)) { return reduce(node, reduction, false); }         \
  LUMOS_ONNX_OP(id##_axes_input, op_type, since, kLatestOpset, inputs(1, 2)) { return reduce(node, reduction, true); }

LUMOS_ONNX_REDUCTION(ReduceMean, "ReduceMean", mean, 18)
LUMOS_ONNX_REDUCTION(ReduceSum, "ReduceSum", sum, 13)
LUMOS_ONNX_REDUCTION(ReduceMax, "ReduceMax", max, 18)
LUMOS_ONNX_REDUCTION(ReduceMin, "ReduceMin", min, 18)
LUMOS_ONNX_REDUCTION(ReduceProd, "ReduceProd", prod, 18)
LUMOS_ONNX_REDUCTION(ReduceL1, "ReduceL1", l1, 18)
LUMOS_ONNX_REDUCTION(ReduceL2, "ReduceL2", l2, 18)
LUMOS_ONNX_REDUCTION(ReduceSumSquare, "ReduceSumSquare", sum_square, 18)
LUMOS_ONNX_REDUCTION(ReduceLogSum, "ReduceLogSum", log_sum, 18)
LUMOS_ONNX_REDUCTION(ReduceLogSumExp, "ReduceLogSumExp", log_sum_exp, 18)

LUMOS_ONNX_OP(ArgMax, "ArgMax", 1, kLatestOpset, inputs(1)) { return arg_reduce(node, true); }
LUMOS_ONNX_OP(ArgMin, "ArgMin", 1, kLatestOpset, inputs(1)) { return arg_reduce(node, false); }

}  // namespace lumos::onnx
