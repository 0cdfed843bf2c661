// Cast and CastLike: element-wise dtype conversion (floats to integers truncate).
#include "model/onnx/ops/elementwise_util.hpp"
#include "model/onnx/tensor_proto.hpp"

namespace lumos::onnx {

// Opset 1 named the target type by string; opset 6 on uses the TensorProto enum.
LUMOS_ONNX_OP(Cast, "Cast", 6, kLatestOpset, inputs(1)) {
  if (!node.has("to")) node.fail("has no 'to' attribute naming the target type");
  const auto type = scalar_type_from_onnx(static_cast<int32_t>(node.i("to", 0)), node.describe() + " target");
  return unary(node, [type](const at::Tensor& x) { return x.to(type); });
}

LUMOS_ONNX_OP(CastLike, "CastLike", 15, kLatestOpset, inputs(2)) {
  return binary(node, [](const at::Tensor& x, const at::Tensor& like) { return x.to(like.scalar_type()); });
}

}  // namespace lumos::onnx
