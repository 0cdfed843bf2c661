// Element-wise arithmetic and math functions. Binary ops use numpy broadcasting, so
// they start at opset 7 (older opsets' explicit `broadcast`/`axis` attributes are not
// supported); unary ops start where they first appeared, as their opset 1-5 versions
// differ only by the ignored legacy `consumed_inputs` attribute.
#include "model/onnx/ops/elementwise_util.hpp"

namespace lumos::onnx {
namespace {

bool is_integer(const at::Tensor& t) { return at::isIntegralType(t.scalar_type(), /*includeBool=*/true); }

// Integer division truncates toward zero, as the ONNX reference's cast of numpy's quotient does.
at::Tensor divide(const at::Tensor& a, const at::Tensor& b) {
  return is_integer(a) ? at::div(a, b, "trunc") : at::div(a, b);
}

// The result has the base's dtype whatever the exponent's; integer bases with a
// floating exponent are computed in double so large results stay exact.
at::Tensor power(const at::Tensor& base, const at::Tensor& exponent) {
  const auto type = base.scalar_type();
  if (is_integer(base) && !is_integer(exponent)) {
    return at::pow(base.to(at::kDouble), exponent.to(at::kDouble)).to(type);
  }
  return at::pow(base, exponent).to(type);
}

at::Tensor add(const at::Tensor& a, const at::Tensor& b) { return a + b; }
at::Tensor subtract(const at::Tensor& a, const at::Tensor& b) { return a - b; }

}  // namespace

LUMOS_ONNX_OP(Add, "Add", 7, kLatestOpset, inputs(2)) {
  return commutative(node, add, [](const at::Tensor& a, const at::Tensor& b) { return a.add_(b); });
}
LUMOS_ONNX_OP(Sub, "Sub", 7, kLatestOpset, inputs(2)) { return binary(node, subtract); }
LUMOS_ONNX_OP(Mul, "Mul", 7, kLatestOpset, inputs(2)) {
  return commutative(node, static_cast<BinaryFn>(at::mul),
                     [](const at::Tensor& a, const at::Tensor& b) { return a.mul_(b); });
}
LUMOS_ONNX_OP(Div, "Div", 7, kLatestOpset, inputs(2)) { return binary(node, divide); }
LUMOS_ONNX_OP(Pow, "Pow", 7, kLatestOpset, inputs(2)) { return binary(node, power); }

// fmod=0: the remainder takes the divisor's sign (numpy mod); fmod=1: the dividend's (C fmod).
LUMOS_ONNX_OP(Mod, "Mod", 10, kLatestOpset, inputs(2)) {
  const bool c_fmod = node.i("fmod", 0) != 0;
  return binary(node, c_fmod ? static_cast<BinaryFn>(at::fmod) : static_cast<BinaryFn>(at::remainder));
}

// Variadic ops; opset 6-7 require equal shapes, which broadcasting also covers.
LUMOS_ONNX_OP(Max, "Max", 6, kLatestOpset, inputs(1, kVariadic)) { return fold(node, at::maximum); }
LUMOS_ONNX_OP(Min, "Min", 6, kLatestOpset, inputs(1, kVariadic)) { return fold(node, at::minimum); }
LUMOS_ONNX_OP(Sum, "Sum", 6, kLatestOpset, inputs(1, kVariadic)) { return fold(node, add); }
LUMOS_ONNX_OP(Mean, "Mean", 6, kLatestOpset, inputs(1, kVariadic)) {
  const auto sum = fold(node, add);
  return [sum](const Tensors& in) { return Tensors{sum(in)[0] / static_cast<double>(in.size())}; };
}

LUMOS_ONNX_OP(Neg, "Neg", 1, kLatestOpset, inputs(1)) { return unary(node, at::neg); }
LUMOS_ONNX_OP(Abs, "Abs", 1, kLatestOpset, inputs(1)) { return unary(node, at::abs); }
LUMOS_ONNX_OP(Sqrt, "Sqrt", 1, kLatestOpset, inputs(1)) { return unary(node, at::sqrt); }
LUMOS_ONNX_OP(Exp, "Exp", 1, kLatestOpset, inputs(1)) { return unary(node, at::exp); }
LUMOS_ONNX_OP(Log, "Log", 1, kLatestOpset, inputs(1)) { return unary(node, at::log); }
LUMOS_ONNX_OP(Reciprocal, "Reciprocal", 1, kLatestOpset, inputs(1)) { return unary(node, at::reciprocal); }
LUMOS_ONNX_OP(Floor, "Floor", 1, kLatestOpset, inputs(1)) { return unary(node, at::floor); }
LUMOS_ONNX_OP(Ceil, "Ceil", 1, kLatestOpset, inputs(1)) { return unary(node, at::ceil); }
LUMOS_ONNX_OP(Round, "Round", 11, kLatestOpset, inputs(1)) { return unary(node, at::round); }  // halves to even
LUMOS_ONNX_OP(Sign, "Sign", 9, kLatestOpset, inputs(1)) { return unary(node, at::sign); }

LUMOS_ONNX_OP(Sin, "Sin", 7, kLatestOpset, inputs(1)) { return unary(node, at::sin); }
LUMOS_ONNX_OP(Cos, "Cos", 7, kLatestOpset, inputs(1)) { return unary(node, at::cos); }
LUMOS_ONNX_OP(Tan, "Tan", 7, kLatestOpset, inputs(1)) { return unary(node, at::tan); }
LUMOS_ONNX_OP(Asin, "Asin", 7, kLatestOpset, inputs(1)) { return unary(node, at::asin); }
LUMOS_ONNX_OP(Acos, "Acos", 7, kLatestOpset, inputs(1)) { return unary(node, at::acos); }
LUMOS_ONNX_OP(Atan, "Atan", 7, kLatestOpset, inputs(1)) { return unary(node, at::atan); }
LUMOS_ONNX_OP(Sinh, "Sinh", 9, kLatestOpset, inputs(1)) { return unary(node, at::sinh); }
LUMOS_ONNX_OP(Cosh, "Cosh", 9, kLatestOpset, inputs(1)) { return unary(node, at::cosh); }
LUMOS_ONNX_OP(Asinh, "Asinh", 9, kLatestOpset, inputs(1)) { return unary(node, at::asinh); }
LUMOS_ONNX_OP(Acosh, "Acosh", 9, kLatestOpset, inputs(1)) { return unary(node, at::acosh); }
LUMOS_ONNX_OP(Atanh, "Atanh", 9, kLatestOpset, inputs(1)) { return unary(node, at::atanh); }

}  // namespace lumos::onnx
