// Dropout: the identity at inference. From opset 12 a true `training_mode` input
// drops entries at random with probability `ratio` and scales the rest by 1/(1-ratio).
#include "lumos/error.hpp"
#include "model/onnx/op_registry.hpp"

namespace lumos::onnx {

namespace {

Kernel dropout(const Node& node, bool training_inputs) {
  const bool want_mask = node.num_outputs() > 1;
  // The mask is boolean from opset 10; before, it has the data's type.
  const bool bool_mask = node.opset() >= 10;
  return [want_mask, bool_mask, training_inputs](const Tensors& in) {
    const auto& x = in[0];
    const bool training = training_inputs && in.size() > 2 && in[2].defined() && in[2].item<bool>();
    const double ratio = training && in[1].defined() ? in[1].item<double>() : 0.0;
    if (ratio < 0.0 || ratio > 1.0) throw ModelError("ratio " + std::to_string(ratio) + " is outside [0, 1]");
    if (ratio == 0.0) {
      if (!want_mask) return Tensors{x};
      return Tensors{x, at::ones_like(x, x.options().dtype(bool_mask ? at::kBool : x.scalar_type()))};
    }
    const auto keep = at::bernoulli(at::full_like(x, 1.0 - ratio, x.options().dtype(at::kFloat))).to(at::kBool);
    const double scale = ratio < 1.0 ? 1.0 / (1.0 - ratio) : 0.0;
    return Tensors{x * keep * scale, keep};
  };
}

}  // namespace

LUMOS_ONNX_OP(Dropout, "Dropout", 1, 11, inputs(1).outputs(1, 2)) { return dropout(node, false); }
LUMOS_ONNX_OP(Dropout12, "Dropout", 12, kLatestOpset, inputs(1, 3).outputs(1, 2)) { return dropout(node, true); }

}  // namespace lumos::onnx
