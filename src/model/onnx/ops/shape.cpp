// Shape queries and layout changes: Shape, Size, Reshape, Flatten, Squeeze, Unsqueeze,
// Expand, Tile, Transpose. All are views or differentiable copies, so gradients flow
// through them; shape-valued inputs are read at run time.
#include "model/onnx/op_registry.hpp"
#include "model/onnx/ops/axes.hpp"
#include "model/onnx/ops/elementwise_util.hpp"

#include <algorithm>

namespace lumos::onnx {
namespace {

at::Tensor int64_vector(const std::vector<int64_t>& values) {
  return at::tensor(at::ArrayRef<int64_t>(values), at::TensorOptions().dtype(at::kLong));
}

at::Tensor squeeze(const at::Tensor& x, const std::vector<int64_t>& listed) {
  const auto dropped = listed.empty() ? std::vector<int64_t>{} : axes::normalize_unique(listed, x.dim());
  for (auto axis : dropped) {
    if (x.size(axis) != 1) {
      throw ModelError("cannot squeeze axis " + std::to_string(axis) + ": its size is " +
                       std::to_string(x.size(axis)) + ", not 1");
    }
  }
  std::vector<int64_t> sizes;
  for (int64_t d = 0; d < x.dim(); ++d) {
    const bool drop = listed.empty() ? x.size(d) == 1 : std::count(dropped.begin(), dropped.end(), d) > 0;
    if (!drop) sizes.push_back(x.size(d));
  }
  return x.reshape(sizes);
}

at::Tensor unsqueeze(const at::Tensor& x, const std::vector<int64_t>& listed) {
  const int64_t rank = x.dim() + static_cast<int64_t>(listed.size());
  const auto inserted = axes::normalize_unique(listed, rank);
  std::vector<int64_t> sizes;
  int64_t next = 0;
  for (int64_t d = 0; d < rank; ++d) {
    const bool is_new = std::count(inserted.begin(), inserted.end(), d) > 0;
    sizes.push_back(is_new ? 1 : x.size(next++));
  }
  return x.reshape(sizes);
}

}  // namespace

LUMOS_ONNX_OP(Shape, "Shape", 1, kLatestOpset, inputs(1)) {
  // Opset 15 adds a [start, end) window over the dims; out-of-range ends are clamped.
  const int64_t start = node.i("start", 0);
  const bool has_end = node.has("end");
  const int64_t end = node.i("end", 0);
  return [=](const Tensors& in) {
    const auto sizes = in[0].sizes();
    const int64_t rank = in[0].dim();
    auto clamp = [rank](int64_t bound) { return std::clamp(bound < 0 ? bound + rank : bound, int64_t{0}, rank); };
    const int64_t first = clamp(start);
    const int64_t last = std::max(first, has_end ? clamp(end) : rank);
    return Tensors{int64_vector({sizes.begin() + first, sizes.begin() + last})};
  };
}

LUMOS_ONNX_OP(Size, "Size", 1, kLatestOpset, inputs(1)) {
  return [](const Tensors& in) { return Tensors{at::scalar_tensor(in[0].numel(), at::kLong)}; };
}

LUMOS_ONNX_OP(Reshape, "Reshape", 5, kLatestOpset, inputs(2)) {
  // A 0 entry copies the input's size at that index, unless allowzero (opset 14) makes it a literal 0.
  const bool allow_zero = node.i("allowzero", 0) != 0;
  return [allow_zero](const Tensors& in) {
    const auto& x = in[0];
    auto shape = axes::read_ints(in[1], "Reshape's shape");
    for (size_t d = 0; d < shape.size() && !allow_zero; ++d) {
      if (shape[d] != 0) continue;
      if (static_cast<int64_t>(d) >= x.dim()) {
        throw ModelError("shape entry " + std::to_string(d) + " is 0 (keep the input's size) but the input has only " +
                         std::to_string(x.dim()) + " dims");
      }
      shape[d] = x.size(d);
    }
    return Tensors{x.reshape(shape)};
  };
}

LUMOS_ONNX_OP(Flatten, "Flatten", 1, kLatestOpset, inputs(1)) {
  const int64_t axis = node.i("axis", 1);
  return [axis](const Tensors& in) {
    const auto& x = in[0];
    const int64_t rank = x.dim();
    // Unlike most axes, Flatten's may equal the rank (everything goes into the first dim).
    if (axis < -rank || axis > rank) {
      throw ModelError("axis " + std::to_string(axis) + " is out of range for a tensor of rank " +
                       std::to_string(rank));
    }
    const int64_t split = axis < 0 ? axis + rank : axis;
    int64_t outer = 1, inner = 1;
    for (int64_t d = 0; d < rank; ++d) (d < split ? outer : inner) *= x.size(d);
    return Tensors{x.reshape({outer, inner})};
  };
}

// Squeeze and Unsqueeze take axes as an attribute up to opset 12 and as an input from 13.
LUMOS_ONNX_OP(Squeeze, "Squeeze", 1, 12, inputs(1)) {
  const auto listed = node.ints("axes");
  return [listed](const Tensors& in) { return Tensors{squeeze(in[0], listed)}; };
}

LUMOS_ONNX_OP(Squeeze13, "Squeeze", 13, kLatestOpset, inputs(1, 2)) {
  return [](const Tensors& in) {
    const auto listed = axes::optional_input(in, 1);
    return Tensors{squeeze(in[0], listed.defined() ? axes::read_ints(listed, "Squeeze's axes") : std::vector<int64_t>{})};
  };
}

LUMOS_ONNX_OP(Unsqueeze, "Unsqueeze", 1, 12, inputs(1)) {
  if (!node.has("axes")) node.fail("needs an 'axes' attribute");
  const auto listed = node.ints("axes");
  return [listed](const Tensors& in) { return Tensors{unsqueeze(in[0], listed)}; };
}

LUMOS_ONNX_OP(Unsqueeze13, "Unsqueeze", 13, kLatestOpset, inputs(2)) {
  return [](const Tensors& in) { return Tensors{unsqueeze(in[0], axes::read_ints(in[1], "Unsqueeze's axes"))}; };
}

LUMOS_ONNX_OP(Expand, "Expand", 8, kLatestOpset, inputs(2)) {
  // Broadcasting goes both ways: a 1 in the shape keeps the input's size.
  return [](const Tensors& in) {
    const auto shape = axes::read_ints(in[1], "Expand's shape");
    check_created(shape, "Expand");  // a view, but the next op makes it whole
    const auto sizes = at::infer_size(in[0].sizes(), shape);
    check_created(sizes, "Expand");
    return Tensors{in[0].expand(sizes)};
  };
}

LUMOS_ONNX_OP(Tile, "Tile", 6, kLatestOpset, inputs(2)) {
  return [](const Tensors& in) {
    const auto repeats = axes::read_ints(in[1], "Tile's repeats");
    if (static_cast<int64_t>(repeats.size()) != in[0].dim()) {
      throw ModelError("repeats has " + std::to_string(repeats.size()) + " entries but the input has rank " +
                       std::to_string(in[0].dim()));
    }
    std::vector<int64_t> sizes;
    for (size_t d = 0; d < repeats.size(); ++d) {
      int64_t size = 0;
      if (repeats[d] < 0 || __builtin_mul_overflow(in[0].size(d), repeats[d], &size)) {
        throw ModelError("repeats " + std::to_string(repeats[d]) + " is not a count of copies");
      }
      sizes.push_back(size);
    }
    check_created(sizes, "Tile");
    return Tensors{in[0].repeat(repeats)};
  };
}

LUMOS_ONNX_OP(Transpose, "Transpose", 1, kLatestOpset, inputs(1)) {
  const auto perm = node.ints("perm");  // default: reverse the dims
  return [perm](const Tensors& in) {
    const auto& x = in[0];
    if (perm.empty()) {
      auto reversed = axes::all(x.dim());
      std::reverse(reversed.begin(), reversed.end());
      return Tensors{x.permute(reversed)};
    }
    if (static_cast<int64_t>(perm.size()) != x.dim()) {
      throw ModelError("perm has " + std::to_string(perm.size()) + " entries but the input has rank " +
                       std::to_string(x.dim()));
    }
    return Tensors{x.permute(axes::normalize_unique(perm, x.dim()))};
  };
}

}  // namespace lumos::onnx
