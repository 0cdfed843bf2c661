// ONNX axis rules and shape-valued inputs, shared by the shape, join/split and reduce
// ops. Axes may be negative (counted from the end) from opset 11 on; shapes, axes,
// starts and the like arrive as small integer tensors read at run time.
#pragma once

#include "lumos/error.hpp"

#include <ATen/ATen.h>

#include <algorithm>
#include <string>
#include <vector>

namespace lumos::onnx::axes {

// axis in [-rank, rank) as an index in [0, rank); throws ModelError otherwise.
inline int64_t normalize(int64_t axis, int64_t rank) {
  if (axis < -rank || axis >= rank) {
    throw ModelError("axis " + std::to_string(axis) + " is out of range for a tensor of rank " +
                     std::to_string(rank) + " (valid: " + std::to_string(-rank) + " to " +
                     std::to_string(rank - 1) + ")");
  }
  return axis < 0 ? axis + rank : axis;
}

// Each axis normalized; throws ModelError if one repeats.
inline std::vector<int64_t> normalize_unique(std::vector<int64_t> list, int64_t rank) {
  std::vector<char> seen(static_cast<size_t>(rank), 0);
  for (auto& axis : list) {
    axis = normalize(axis, rank);
    if (seen[axis]) throw ModelError("axis " + std::to_string(axis) + " is listed twice");
    seen[axis] = 1;
  }
  return list;
}

// 0, 1, ..., rank-1: what "all axes" means for reductions.
inline std::vector<int64_t> all(int64_t rank) {
  std::vector<int64_t> list(static_cast<size_t>(rank));
  for (int64_t d = 0; d < rank; ++d) list[d] = d;
  return list;
}

// The values of an integer tensor holding a shape, axes, starts, ... (any rank, read flat).
inline std::vector<int64_t> read_ints(const at::Tensor& t, const char* what) {
  if (!at::isIntegralType(t.scalar_type(), /*includeBool=*/false)) {
    throw ModelError(std::string(what) + " must be an integer tensor, got " + c10::toString(t.scalar_type()));
  }
  const auto values = t.to(at::kCPU, at::kLong).contiguous();
  const int64_t* data = values.data_ptr<int64_t>();
  return {data, data + values.numel()};
}

// Optional input `i`, or an undefined tensor when the node leaves it out.
inline at::Tensor optional_input(const std::vector<at::Tensor>& in, size_t i) {
  return i < in.size() ? in[i] : at::Tensor();
}

// The sizes of `t` without the listed (normalized) axes: a reduction's output shape
// without keepdims.
inline std::vector<int64_t> sizes_without(const at::Tensor& t, const std::vector<int64_t>& dropped) {
  std::vector<int64_t> sizes;
  for (int64_t d = 0; d < t.dim(); ++d)
    if (std::find(dropped.begin(), dropped.end(), d) == dropped.end()) sizes.push_back(t.size(d));
  return sizes;
}

}  // namespace lumos::onnx::axes
