// Values made by the graph itself: Constant, ConstantOfShape, Identity, Range, EyeLike.
#include "model/onnx/op_registry.hpp"
#include "model/onnx/ops/axes.hpp"
#include "model/onnx/ops/elementwise_util.hpp"
#include "model/onnx/tensor_proto.hpp"

#include <cmath>

namespace lumos::onnx {

// The value is read once, when the graph is built; opset 12 adds the scalar and list forms.
LUMOS_ONNX_OP(Constant, "Constant", 1, kLatestOpset, inputs(0)) {
  at::Tensor value;
  if (node.has("value")) {
    value = node.t("value");
  } else if (node.has("value_float")) {
    value = at::scalar_tensor(node.f("value_float", 0.f), at::kFloat);
  } else if (node.has("value_floats")) {
    const auto floats = node.floats("value_floats");
    value = at::tensor(at::ArrayRef<float>(floats), at::TensorOptions().dtype(at::kFloat));
  } else if (node.has("value_int")) {
    value = at::scalar_tensor(node.i("value_int", 0), at::kLong);
  } else if (node.has("value_ints")) {
    const auto ints = node.ints("value_ints");
    value = at::tensor(at::ArrayRef<int64_t>(ints), at::TensorOptions().dtype(at::kLong));
  } else if (node.has("sparse_value") || node.has("value_string") || node.has("value_strings")) {
    node.fail("sparse and string constants are not supported");
  } else {
    node.fail("has none of the attributes value, value_float(s), value_int(s)");
  }
  return [value](const Tensors&) { return Tensors{value}; };
}

LUMOS_ONNX_OP(ConstantOfShape, "ConstantOfShape", 9, kLatestOpset, inputs(1)) {
  const at::Tensor value = node.has("value") ? node.t("value") : at::zeros({1}, at::kFloat);
  if (value.numel() != 1) node.fail("'value' must hold exactly one element, it holds " + std::to_string(value.numel()));
  const auto fill = value.reshape({}).item();
  const auto options = value.options();
  return [fill, options](const Tensors& in) {
    const auto shape = axes::read_ints(in[0], "ConstantOfShape's shape");
    check_created(shape, "ConstantOfShape");
    return Tensors{at::full(shape, fill, options)};
  };
}

LUMOS_ONNX_OP(Identity, "Identity", 1, kLatestOpset, inputs(1)) {
  return [](const Tensors& in) { return Tensors{in[0]}; };
}

LUMOS_ONNX_OP(Range, "Range", 11, kLatestOpset, inputs(3)) {
  return [](const Tensors& in) {
    const auto type = in[0].scalar_type();
    if (in[0].numel() != 1 || in[1].numel() != 1 || in[2].numel() != 1) {
      throw ModelError("start, limit and delta must be scalars");
    }
    const double start = in[0].item<double>(), limit = in[1].item<double>(), delta = in[2].item<double>();
    // Counted in double (NaN for delta 0 or infinite bounds), so checked before it becomes an integer.
    const double steps_wanted = std::ceil((limit - start) / delta);
    if (!(steps_wanted <= static_cast<double>(max_created_elements()))) {
      throw ModelError("start, limit and delta give " + std::to_string(steps_wanted) + " values (at most " +
                       std::to_string(max_created_elements()) + ")");
    }
    const auto count = static_cast<int64_t>(std::max(steps_wanted, 0.0));
    // start + i * delta, computed exactly for integers and in double for floats.
    const auto wide = at::isFloatingType(type) ? at::kDouble : at::kLong;
    const auto steps = at::arange(count, at::TensorOptions().dtype(wide));
    return Tensors{(steps * in[2].to(wide).reshape({}) + in[0].to(wide).reshape({})).to(type)};
  };
}

LUMOS_ONNX_OP(EyeLike, "EyeLike", 9, kLatestOpset, inputs(1)) {
  const bool has_dtype = node.has("dtype");
  const auto dtype = has_dtype ? scalar_type_from_onnx(static_cast<int32_t>(node.i("dtype", 0)), node.describe())
                               : at::kFloat;
  const int64_t k = node.i("k", 0);  // which diagonal: > 0 above the main one, < 0 below
  return [=](const Tensors& in) {
    const auto& x = in[0];
    if (x.dim() != 2) throw ModelError("EyeLike needs a 2-D input, got rank " + std::to_string(x.dim()));
    const auto rows = at::arange(x.size(0), at::kLong).unsqueeze(1);
    const auto cols = at::arange(x.size(1), at::kLong).unsqueeze(0);
    return Tensors{(cols - rows == k).to(has_dtype ? dtype : x.scalar_type())};
  };
}

}  // namespace lumos::onnx
