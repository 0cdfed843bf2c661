// Element-wise arithmetic with numpy broadcasting (opset 7 on; older opsets'
// explicit `broadcast`/`axis` attributes are not supported).
#include "model/onnx/op_registry.hpp"

namespace lumos::onnx {

LUMOS_ONNX_OP(Add, "Add", 7, kLatestOpset) {
  return [](const Tensors& in) { return Tensors{at::add(in[0], in[1])}; };
}

}  // namespace lumos::onnx
