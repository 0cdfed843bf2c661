// Element-wise activations.
#include "model/onnx/op_registry.hpp"

namespace lumos::onnx {

LUMOS_ONNX_OP(Relu, "Relu", 1, kLatestOpset) {
  return [](const Tensors& in) { return Tensors{at::relu(in[0])}; };
}

}  // namespace lumos::onnx
