// Pad: constant, reflect and edge modes over any dimensions; negative pads crop.
// Opsets 1-10 give pads and value as attributes, 11 on as inputs, 18 adds `axes`.
#include "model/onnx/ops/pad.hpp"

#include "lumos/error.hpp"
#include "model/onnx/op_registry.hpp"
#include "model/onnx/ops/axes.hpp"
#include "model/onnx/ops/window.hpp"

namespace lumos::onnx {
namespace {

enum class PadMode { Constant, Reflect, Edge };

PadMode read_mode(const Node& node) {
  const auto mode = node.s("mode", "constant");
  if (mode == "constant") return PadMode::Constant;
  if (mode == "reflect") return PadMode::Reflect;
  if (mode == "edge") return PadMode::Edge;
  node.fail("mode '" + mode + "' is not one of constant, reflect, edge");
}

// Source index of each output position along a dimension of `size` entries padded by
// `begin` and `end`: mirrored without repeating the border (reflect) or clamped (edge).
at::Tensor source_indices(int64_t size, int64_t begin, int64_t end, PadMode mode) {
  auto positions = at::arange(-begin, size + end, at::kLong);
  if (mode == PadMode::Edge || size == 1) return positions.clamp(0, size - 1);
  const int64_t period = 2 * (size - 1);
  const auto folded = positions.remainder(period);
  return at::where(folded < size, folded, period - folded);
}

at::Tensor pad(const at::Tensor& x, const std::vector<int64_t>& pads, const std::vector<int64_t>& axes, PadMode mode,
               double value) {
  const int64_t rank = x.dim();
  const auto [begin, end] = dimension_pads(pads, axes, rank);
  std::vector<int64_t> padded(rank);
  for (int64_t d = 0; d < rank; ++d) {
    // The pads may come from a tensor: added with overflow checks.
    int64_t size = 0;
    if (__builtin_add_overflow(x.size(d), begin[d], &size) || __builtin_add_overflow(size, end[d], &size)) {
      throw ModelError("pads of " + std::to_string(begin[d]) + " and " + std::to_string(end[d]) + " are not sizes");
    }
    if (size < 0) {
      throw ModelError("pads crop dimension " + std::to_string(d) + " (size " + std::to_string(x.size(d)) +
                       ") below zero");
    }
    padded[d] = size;
  }
  check_created(padded, "Pad");
  if (mode == PadMode::Constant) return at::constant_pad_nd(x, aten_pad_order(begin, end), value);
  at::Tensor y = x;
  for (int64_t d = 0; d < rank; ++d) {
    if (begin[d] == 0 && end[d] == 0) continue;
    if (x.size(d) == 0) throw ModelError("cannot pad an empty dimension in reflect or edge mode");
    y = y.index_select(d, source_indices(x.size(d), begin[d], end[d], mode));
  }
  return y;
}

std::vector<int64_t> int_values(const at::Tensor& t) {
  const auto values = t.to(at::kLong).contiguous();
  return std::vector<int64_t>(values.data_ptr<int64_t>(), values.data_ptr<int64_t>() + values.numel());
}

Kernel pad_from_inputs(const Node& node) {
  const auto mode = read_mode(node);
  return [mode](const Tensors& in) {
    const auto& x = in[0];
    const bool has_value = in.size() > 2 && in[2].defined() && in[2].numel() > 0;
    const double value = has_value ? in[2].item<double>() : 0.0;
    const bool has_axes = in.size() > 3 && in[3].defined();
    return Tensors{pad(x, int_values(in[1]), has_axes ? int_values(in[3]) : axes::all(x.dim()), mode, value)};
  };
}

}  // namespace

DimensionPads dimension_pads(const std::vector<int64_t>& pads, const std::vector<int64_t>& axes, int64_t rank) {
  if (pads.size() != 2 * axes.size()) {
    throw ModelError("pads has " + std::to_string(pads.size()) + " entries; " + std::to_string(2 * axes.size()) +
                     " expected (begin and end for each padded axis)");
  }
  DimensionPads out{std::vector<int64_t>(rank, 0), std::vector<int64_t>(rank, 0)};
  for (size_t i = 0; i < axes.size(); ++i) {
    const int64_t axis = axes[i] < 0 ? axes[i] + rank : axes[i];
    if (axis < 0 || axis >= rank) {
      throw ModelError("axis " + std::to_string(axes[i]) + " is out of range for an input of rank " +
                       std::to_string(rank));
    }
    out.begin[axis] = pads[i];
    out.end[axis] = pads[axes.size() + i];
  }
  return out;
}

LUMOS_ONNX_OP(PadAttributes, "Pad", 1, 10,
              inputs(1).range("pads", -kMaxExtent, kMaxExtent).range("paddings", -kMaxExtent, kMaxExtent)) {
  const auto mode = read_mode(node);
  const auto pads = node.ints(node.opset() < 2 ? "paddings" : "pads");
  const double value = node.f("value", 0.0f);
  return [mode, pads, value](const Tensors& in) {
    return Tensors{pad(in[0], pads, axes::all(in[0].dim()), mode, value)};
  };
}

// Opset 18 adds the axes input.
LUMOS_ONNX_OP(PadInputs, "Pad", 11, 17, inputs(2, 3)) { return pad_from_inputs(node); }
LUMOS_ONNX_OP(PadAxes, "Pad", 18, kLatestOpset, inputs(2, 4)) { return pad_from_inputs(node); }

}  // namespace lumos::onnx
