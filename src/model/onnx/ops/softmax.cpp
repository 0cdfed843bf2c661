// Softmax, LogSoftmax and Hardmax. Before opset 13 each views its input as a 2-D
// matrix split at `axis` (default 1) and normalises whole rows; from opset 13 it
// normalises along `axis` alone (default -1).
#include "lumos/error.hpp"
#include "model/onnx/ops/elementwise_util.hpp"

#include <c10/util/accumulate.h>

namespace lumos::onnx {
namespace {

using AxisFn = at::Tensor (*)(const at::Tensor& x, int64_t axis);

at::Tensor softmax(const at::Tensor& x, int64_t axis) { return at::softmax(x, axis); }
at::Tensor log_softmax(const at::Tensor& x, int64_t axis) { return at::log_softmax(x, axis); }
// One-hot of the first maximum along axis (zero gradient, as the op is piecewise constant).
at::Tensor hardmax(const at::Tensor& x, int64_t axis) {
  return at::zeros_like(x).scatter(axis, x.argmax(axis, /*keepdim=*/true), 1);
}

Kernel along_axis(const Node& node, AxisFn f) {
  const int64_t axis = node.i("axis", -1);
  return [axis, f](const Tensors& in) { return Tensors{f(in[0], axis)}; };
}

Kernel on_rows(const Node& node, AxisFn f) {
  const int64_t axis = node.i("axis", 1);
  const std::string where = node.describe();
  return [axis, f, where](const Tensors& in) {
    const auto& x = in[0];
    const int64_t rank = x.dim();
    const int64_t split = axis < 0 ? axis + rank : axis;
    if (split < 0 || split > rank) {
      throw ModelError(where + ": axis " + std::to_string(axis) + " is out of range for a rank-" +
                       std::to_string(rank) + " input");
    }
    const auto sizes = x.sizes();
    const int64_t rows = c10::multiply_integers(sizes.begin(), sizes.begin() + split);
    const int64_t columns = c10::multiply_integers(sizes.begin() + split, sizes.end());
    return Tensors{f(x.reshape({rows, columns}), 1).reshape(sizes)};
  };
}

}  // namespace

LUMOS_ONNX_OP(Softmax1, "Softmax", 1, 12, inputs(1)) { return on_rows(node, softmax); }
LUMOS_ONNX_OP(Softmax13, "Softmax", 13, kLatestOpset, inputs(1)) { return along_axis(node, softmax); }
LUMOS_ONNX_OP(LogSoftmax1, "LogSoftmax", 1, 12, inputs(1)) { return on_rows(node, log_softmax); }
LUMOS_ONNX_OP(LogSoftmax13, "LogSoftmax", 13, kLatestOpset, inputs(1)) { return along_axis(node, log_softmax); }
LUMOS_ONNX_OP(Hardmax1, "Hardmax", 1, 12, inputs(1)) { return on_rows(node, hardmax); }
LUMOS_ONNX_OP(Hardmax13, "Hardmax", 13, kLatestOpset, inputs(1)) { return along_axis(node, hardmax); }

}  // namespace lumos::onnx
