// Comparisons (bool results), boolean logic and Where, with numpy broadcasting. Binary
// ops start at opset 7: older opsets' explicit `broadcast`/`axis` attributes are not supported.
#include "model/onnx/ops/elementwise_util.hpp"

namespace lumos::onnx {

LUMOS_ONNX_OP(Equal, "Equal", 7, kLatestOpset, inputs(2)) { return binary(node, at::eq); }
LUMOS_ONNX_OP(Less, "Less", 7, kLatestOpset, inputs(2)) { return binary(node, at::lt); }
LUMOS_ONNX_OP(Greater, "Greater", 7, kLatestOpset, inputs(2)) { return binary(node, at::gt); }
LUMOS_ONNX_OP(LessOrEqual, "LessOrEqual", 12, kLatestOpset, inputs(2)) { return binary(node, at::le); }
LUMOS_ONNX_OP(GreaterOrEqual, "GreaterOrEqual", 12, kLatestOpset, inputs(2)) { return binary(node, at::ge); }

LUMOS_ONNX_OP(Not, "Not", 1, kLatestOpset, inputs(1)) { return unary(node, at::logical_not); }
LUMOS_ONNX_OP(And, "And", 7, kLatestOpset, inputs(2)) { return binary(node, at::logical_and); }
LUMOS_ONNX_OP(Or, "Or", 7, kLatestOpset, inputs(2)) { return binary(node, at::logical_or); }
LUMOS_ONNX_OP(Xor, "Xor", 7, kLatestOpset, inputs(2)) { return binary(node, at::logical_xor); }

LUMOS_ONNX_OP(Where, "Where", 9, kLatestOpset, inputs(3)) {
  return [](const Tensors& in) { return Tensors{at::where(in[0], in[1], in[2])}; };
}

}  // namespace lumos::onnx
