// Element-wise activations. Versions before opset 6 differ only by the legacy
// `consumed_inputs` attribute, which is ignored, so most ops start at opset 1.
#include "model/onnx/ops/elementwise_util.hpp"
#include "model/relu_rule.hpp"

#include <limits>

namespace lumos::onnx {

// Guided Backpropagation and Deconvolution replace ReLU's backward (model/relu_rule.hpp); an
// input autograd tracks is never reused in place, so the in-place form needs no rule.
LUMOS_ONNX_OP(Relu, "Relu", 1, kLatestOpset, inputs(1)) {
  return unary(node, relu_with_rule, [](const at::Tensor& x) { return x.relu_(); });
}
LUMOS_ONNX_OP(Sigmoid, "Sigmoid", 1, kLatestOpset, inputs(1)) {
  return unary(node, at::sigmoid, [](const at::Tensor& x) { return x.sigmoid_(); });
}
LUMOS_ONNX_OP(Tanh, "Tanh", 1, kLatestOpset, inputs(1)) { return unary(node, at::tanh); }
LUMOS_ONNX_OP(Erf, "Erf", 9, kLatestOpset, inputs(1)) { return unary(node, at::erf); }
LUMOS_ONNX_OP(HardSwish, "HardSwish", 14, kLatestOpset, inputs(1)) {
  return unary(node, at::hardswish, [](at::Tensor x) -> at::Tensor { return at::hardswish_(x); });
}

LUMOS_ONNX_OP(Softplus, "Softplus", 1, kLatestOpset, inputs(1)) {
  return unary(node, [](const at::Tensor& x) { return at::softplus(x); });
}

LUMOS_ONNX_OP(Softsign, "Softsign", 1, kLatestOpset, inputs(1)) {
  return unary(node, [](const at::Tensor& x) { return x / (x.abs() + 1); });
}

LUMOS_ONNX_OP(LeakyRelu, "LeakyRelu", 1, kLatestOpset, inputs(1)) {
  const double alpha = node.f("alpha", 0.01f);
  return unary(node, [alpha](const at::Tensor& x) { return at::leaky_relu(x, alpha); });
}

// Slope broadcasts to x numpy-style (trailing axes), unlike at::prelu's channel axis.
LUMOS_ONNX_OP(PRelu, "PRelu", 7, kLatestOpset, inputs(2)) {
  return binary(node, [](const at::Tensor& x, const at::Tensor& slope) { return at::where(x < 0, x * slope, x); });
}

LUMOS_ONNX_OP(Elu, "Elu", 1, kLatestOpset, inputs(1)) {
  const double alpha = node.f("alpha", 1.0f);
  return unary(node, [alpha](const at::Tensor& x) { return at::elu(x, alpha); });
}

LUMOS_ONNX_OP(Selu, "Selu", 1, kLatestOpset, inputs(1)) {
  const double alpha = node.f("alpha", 1.67326319217681884765625f);
  const double gamma = node.f("gamma", 1.05070102214813232421875f);
  return unary(node, [alpha, gamma](const at::Tensor& x) { return at::elu(x, alpha, gamma); });
}

LUMOS_ONNX_OP(Celu, "Celu", 12, kLatestOpset, inputs(1)) {
  const double alpha = node.f("alpha", 1.0f);
  return unary(node, [alpha](const at::Tensor& x) { return at::celu(x, alpha); });
}

LUMOS_ONNX_OP(HardSigmoid, "HardSigmoid", 1, kLatestOpset, inputs(1)) {
  const double alpha = node.f("alpha", 0.2f);
  const double beta = node.f("beta", 0.5f);
  // torch.onnx writes hardsigmoid as alpha=1/6, beta=0.5; ATen's (x+3)/6 then gives PyTorch's values.
  if (alpha == 1.0f / 6 && beta == 0.5f) return unary(node, at::hardsigmoid,
                 [](at::Tensor x) -> at::Tensor { return at::hardsigmoid_(x); });
  return unary(node, [alpha, beta](const at::Tensor& x) { return (x * alpha + beta).clamp_(0, 1); });
}

LUMOS_ONNX_OP(ThresholdedRelu, "ThresholdedRelu", 10, kLatestOpset, inputs(1)) {
  const double alpha = node.f("alpha", 1.0f);
  return unary(node, [alpha](const at::Tensor& x) { return at::threshold(x, alpha, 0); });
}

// A Clip from 0 with no upper bound is a ReLU, and takes ReLU's backward rule; a bounded one
// (ReLU6) does not, as captum's rules apply to nn.ReLU only.
namespace {
at::Tensor clamp_or_relu(const at::Tensor& x, const c10::optional<at::Scalar>& low,
                         const c10::optional<at::Scalar>& high) {
  const bool relu = low && low->toDouble() == 0 && (!high || high->toDouble() == std::numeric_limits<float>::max());
  return relu ? relu_with_rule(x) : at::clamp(x, low, high);
}
}  // namespace

// Opsets 1-10 take the bounds as attributes.
LUMOS_ONNX_OP(Clip1, "Clip", 1, 10, inputs(1)) {
  const double low = node.f("min", std::numeric_limits<float>::lowest());
  const double high = node.f("max", std::numeric_limits<float>::max());
  return unary(
      node, [low, high](const at::Tensor& x) { return clamp_or_relu(x, low, high); },
      [low, high](const at::Tensor& x) { return x.clamp_(low, high); });
}

// Opset 11 on takes the bounds as optional inputs; either or both may be absent.
LUMOS_ONNX_OP(Clip11, "Clip", 11, kLatestOpset, inputs(1, 3)) {
  return [](const Tensors& in) {
    const auto bound = [&in](size_t i) -> c10::optional<at::Tensor> {
      if (i < in.size() && in[i].defined()) return in[i];
      return c10::nullopt;
    };
    const auto low = bound(1);
    const auto high = bound(2);
    if (!low && !high) return Tensors{in[0]};
    // Bounds are scalars in practice (ReLU6 = Clip(0, 6)); ATen's scalar clamp is several
    // times faster than its broadcasting tensor form and can run in place.
    const auto scalar = [](const c10::optional<at::Tensor>& b) {
      return !b || (b->numel() == 1 && !b->requires_grad());
    };
    if (scalar(low) && scalar(high)) {
      const auto value = [](const c10::optional<at::Tensor>& b) -> c10::optional<at::Scalar> {
        if (!b) return c10::nullopt;
        return b->item();
      };
      return Tensors{is_reusable(in[0]) ? in[0].clamp_(value(low), value(high))
                                        : clamp_or_relu(in[0], value(low), value(high))};
    }
    return Tensors{at::clamp(in[0], low, high)};
  };
}

}  // namespace lumos::onnx
