// Joining, splitting and picking: Concat, Split, Slice, Gather, GatherElements, Compress.
// Each is a view or a differentiable gather, so gradients reach the data input.
#include "model/onnx/op_registry.hpp"
#include "model/onnx/ops/axes.hpp"
#include "model/onnx/ops/elementwise_util.hpp"

#include <algorithm>

namespace lumos::onnx {
namespace {

// x[start:end:step] along `axis` with ONNX's clamping: out-of-range bounds (such as
// INT64_MAX for "to the end") are clipped, negative ones count from the end.
at::Tensor slice_axis(const at::Tensor& x, int64_t axis, int64_t start, int64_t end, int64_t step) {
  if (step == 0) throw ModelError("Slice step along axis " + std::to_string(axis) + " is 0");
  const int64_t size = x.size(axis);
  // A step longer than the axis takes one entry, as a step of the axis's length does;
  // bounding it keeps ATen's and the arithmetic below from overflowing.
  step = std::clamp(step, -std::max<int64_t>(size, 1), std::max<int64_t>(size, 1));
  if (start < 0) start += size;
  if (end < 0) end += size;
  if (step > 0) {
    start = std::clamp(start, int64_t{0}, size);
    end = std::clamp(end, start, size);
    return x.slice(axis, start, end, step);
  }
  if (size == 0) return x;
  // Backwards (the spec clamps start to [0, size-1] and end to [-1, size-1]): take the
  // same elements forwards with stride -step, then flip them.
  start = std::clamp(start, int64_t{0}, size - 1);
  end = std::clamp(end, int64_t{-1}, size - 1);
  if (start <= end) return x.slice(axis, 0, 0);
  const int64_t stride = -step;
  const int64_t count = (start - end - 1) / stride + 1;
  const int64_t lowest = start - (count - 1) * stride;
  return x.slice(axis, lowest, start + 1, stride).flip(axis);
}

at::Tensor slice(at::Tensor x, const std::vector<int64_t>& starts, const std::vector<int64_t>& ends,
                 std::vector<int64_t> listed_axes, std::vector<int64_t> steps) {
  const size_t n = starts.size();
  if (listed_axes.empty()) listed_axes = axes::all(static_cast<int64_t>(n));
  if (steps.empty()) steps.assign(n, 1);
  if (ends.size() != n || listed_axes.size() != n || steps.size() != n) {
    throw ModelError("starts, ends, axes and steps must have the same length; got " + std::to_string(n) + ", " +
                     std::to_string(ends.size()) + ", " + std::to_string(listed_axes.size()) + ", " +
                     std::to_string(steps.size()));
  }
  const auto sliced_axes = axes::normalize_unique(listed_axes, x.dim());
  for (size_t i = 0; i < n; ++i) x = slice_axis(x, sliced_axes[i], starts[i], ends[i], steps[i]);
  return x;
}

// Negative indices count from the end of an axis of length `size` (opset 11 on).
at::Tensor wrap_indices(const at::Tensor& indices, int64_t size) {
  const auto long_indices = indices.to(at::kLong);
  return at::where(long_indices < 0, long_indices + size, long_indices);
}

// Sizes of `parts` equal chunks of `length`; from opset 18 the last may be smaller.
std::vector<int64_t> equal_parts(int64_t length, int64_t parts, bool last_may_be_smaller) {
  if (parts < 1) throw ModelError("Split needs at least one output");
  const int64_t chunk = last_may_be_smaller ? (length + parts - 1) / parts : length / parts;
  if (!last_may_be_smaller && chunk * parts != length) {
    throw ModelError("cannot split a dimension of size " + std::to_string(length) + " into " + std::to_string(parts) +
                     " equal parts; give the 'split' sizes");
  }
  std::vector<int64_t> sizes(static_cast<size_t>(parts), chunk);
  sizes.back() = length - chunk * (parts - 1);
  return sizes;
}

// The split sizes are an attribute up to opset 12 and an optional input from 13; without
// them the axis is cut into equal parts, one per output (or num_outputs, opset 18).
Kernel split(const Node& node, bool sizes_from_input) {
  const int64_t axis = node.i("axis", 0);
  const auto split_attribute = node.ints("split");
  const bool last_may_be_smaller = node.opset() >= 18;
  const int64_t parts = last_may_be_smaller && node.has("num_outputs") ? node.i("num_outputs", 0) : node.num_outputs();
  const int64_t outputs = node.num_outputs();
  return [=](const Tensors& in) {
    const auto& x = in[0];
    const int64_t a = axes::normalize(axis, x.dim());
    const auto split_input = axes::optional_input(in, 1);
    auto sizes = sizes_from_input ? (split_input.defined() ? axes::read_ints(split_input, "Split's split")
                                                           : std::vector<int64_t>{})
                                  : split_attribute;
    if (sizes.empty()) sizes = equal_parts(x.size(a), parts, last_may_be_smaller);
    // Each size is checked before it is added, so the sum cannot overflow.
    int64_t total = 0;
    bool fits = static_cast<int64_t>(sizes.size()) == outputs;
    for (auto size : sizes) {
      fits = fits && size >= 0 && size <= x.size(a) - total;
      if (fits) total += size;
    }
    if (!fits || total != x.size(a)) {
      throw ModelError("split sizes must be " + std::to_string(outputs) + " non-negative numbers adding up to " +
                       std::to_string(x.size(a)) + " (the size of axis " + std::to_string(a) + ")");
    }
    return at::split_with_sizes(x, sizes, a);
  };
}

}  // namespace

LUMOS_ONNX_OP(Concat, "Concat", 4, kLatestOpset, inputs(1, kVariadic)) {
  if (!node.has("axis")) node.fail("needs an 'axis' attribute");
  const int64_t axis = node.i("axis", 0);
  return [axis](const Tensors& in) { return Tensors{at::cat(in, axes::normalize(axis, in[0].dim()))}; };
}

LUMOS_ONNX_OP(Split, "Split", 2, 12, inputs(1).outputs(1, kVariadic)) { return split(node, false); }
LUMOS_ONNX_OP(Split13, "Split", 13, kLatestOpset, inputs(1, 2).outputs(1, kVariadic).range("num_outputs", 1, kMaxExtent)) {
  return split(node, true);
}

// Up to opset 9 starts/ends/axes are attributes; from 10 they are inputs, with steps.
LUMOS_ONNX_OP(Slice, "Slice", 1, 9, inputs(1)) {
  const auto starts = node.ints("starts");
  const auto ends = node.ints("ends");
  const auto listed_axes = node.ints("axes");
  return [=](const Tensors& in) { return Tensors{slice(in[0], starts, ends, listed_axes, {})}; };
}

LUMOS_ONNX_OP(Slice10, "Slice", 10, kLatestOpset, inputs(3, 5)) {
  return [](const Tensors& in) {
    const auto listed_axes = axes::optional_input(in, 3);
    const auto steps = axes::optional_input(in, 4);
    return Tensors{slice(in[0], axes::read_ints(in[1], "Slice's starts"), axes::read_ints(in[2], "Slice's ends"),
                         listed_axes.defined() ? axes::read_ints(listed_axes, "Slice's axes") : std::vector<int64_t>{},
                         steps.defined() ? axes::read_ints(steps, "Slice's steps") : std::vector<int64_t>{})};
  };
}

LUMOS_ONNX_OP(Gather, "Gather", 1, kLatestOpset, inputs(2)) {
  const int64_t axis = node.i("axis", 0);
  return [axis](const Tensors& in) {
    const auto& x = in[0];
    const int64_t a = axes::normalize(axis, x.dim());
    const auto indices = wrap_indices(in[1], x.size(a));
    // Output shape: x's dims before the axis, then the indices' dims, then x's dims after it.
    std::vector<int64_t> sizes(x.sizes().begin(), x.sizes().begin() + a);
    sizes.insert(sizes.end(), indices.sizes().begin(), indices.sizes().end());
    sizes.insert(sizes.end(), x.sizes().begin() + a + 1, x.sizes().end());
    return Tensors{at::index_select(x, a, indices.reshape(-1)).reshape(sizes)};
  };
}

LUMOS_ONNX_OP(GatherElements, "GatherElements", 11, kLatestOpset, inputs(2)) {
  const int64_t axis = node.i("axis", 0);
  return [axis](const Tensors& in) {
    const auto& x = in[0];
    const int64_t a = axes::normalize(axis, x.dim());
    return Tensors{at::gather(x, a, wrap_indices(in[1], x.size(a)))};
  };
}

LUMOS_ONNX_OP(Compress, "Compress", 9, kLatestOpset, inputs(2)) {
  // Without an axis the input is flattened first.
  const bool has_axis = node.has("axis");
  const int64_t axis = node.i("axis", 0);
  return [=](const Tensors& in) {
    const auto x = has_axis ? in[0] : in[0].reshape(-1);
    const int64_t a = has_axis ? axes::normalize(axis, x.dim()) : 0;
    const auto condition = in[1].to(at::kBool).reshape(-1);
    // A condition shorter than the axis drops the slices past its end.
    if (condition.numel() > x.size(a)) {
      throw ModelError("condition has " + std::to_string(condition.numel()) + " entries, more than the " +
                       std::to_string(x.size(a)) + " slices along axis " + std::to_string(a));
    }
    return Tensors{at::index_select(x, a, at::nonzero(condition).reshape(-1))};
  };
}

}  // namespace lumos::onnx
