// Activations: the functions layers name in their "activation" option, and the
// activation layers (Activation, ReLU, LeakyReLU, PReLU, ELU, Softmax, ThresholdedReLU).
#include "model/keras/layer.hpp"

#include <ATen/ATen.h>

#include <cmath>

namespace lumos::keras {
namespace {

// "relu", or Keras 3's {"module": "keras.activations", "class_name": "function", "config": "relu", ...}.
std::string activation_name(const LayerCall& call, const Json& activation) {
  if (activation.is_null()) return "linear";
  if (activation.is_string()) return activation.get<std::string>();
  if (activation.is_object() && activation.contains("config") && activation["config"].is_string()) {
    return activation["config"].get<std::string>();
  }
  call.fail("its activation " + activation.dump() + " is not a built-in Keras activation");
}

Value unary(LayerCall& call, const std::string& op, const Value& x, const std::string& output,
            const std::vector<Attribute>& attributes = {}) {
  Value y = x;
  y.name = call.graph.node(op, {x.name}, output, attributes);
  return y;
}

Value binary(LayerCall& call, const std::string& op, const Value& x, const std::string& other,
             const std::string& output) {
  Value y = x;
  y.name = call.graph.node(op, {x.name, other}, output);
  return y;
}

Value clip(LayerCall& call, const Value& x, float low, float high, const std::string& output) {
  Value y = x;
  y.name = call.graph.node("Clip", {x.name, call.graph.scalar(output + "/min", low), call.graph.scalar(output + "/max", high)},
                           output);
  return y;
}

// Along Keras's last axis, wherever the graph stores it.
Value softmax(LayerCall& call, const std::string& op, const Value& x, int64_t axis, const std::string& output) {
  return unary(call, op, x, output, {{"axis", x.stored_axis(axis)}});
}

}  // namespace

std::string preactivation_name(const LayerCall& call, const Json& activation) {
  return activation_name(call, activation) == "linear" ? call.name : call.name + "/linear";
}

Value apply_activation(LayerCall& call, const Json& activation, const Value& x, const std::string& output) {
  const auto name = activation_name(call, activation);
  if (name == "linear") return x;
  if (name == "relu") return unary(call, "Relu", x, output);
  if (name == "relu6") return clip(call, x, 0.f, 6.f, output);
  if (name == "sigmoid") return unary(call, "Sigmoid", x, output);
  if (name == "tanh") return unary(call, "Tanh", x, output);
  if (name == "softmax") return softmax(call, "Softmax", x, -1, output);
  if (name == "log_softmax") return softmax(call, "LogSoftmax", x, -1, output);
  if (name == "elu") return unary(call, "Elu", x, output, {{"alpha", 1.f}});
  if (name == "selu") return unary(call, "Selu", x, output);
  if (name == "softplus") return unary(call, "Softplus", x, output);
  if (name == "softsign") return unary(call, "Softsign", x, output);
  if (name == "exponential") return unary(call, "Exp", x, output);
  if (name == "leaky_relu") return unary(call, "LeakyRelu", x, output, {{"alpha", 0.2f}});
  if (name == "hard_swish" || name == "hard_silu") return unary(call, "HardSwish", x, output);
  if (name == "hard_sigmoid") {
    // Keras 2: clip(0.2 x + 0.5, 0, 1); Keras 3: relu6(x + 3) / 6.
    const float slope = call.keras_major >= 3 ? 1.f / 6.f : 0.2f;
    return unary(call, "HardSigmoid", x, output, {{"alpha", slope}, {"beta", 0.5f}});
  }
  if (name == "swish" || name == "silu") {
    const auto gate = unary(call, "Sigmoid", x, output + "/sigmoid");
    return binary(call, "Mul", x, gate.name, output);
  }
  if (name == "mish") {
    const auto soft = unary(call, "Softplus", x, output + "/softplus");
    const auto gate = unary(call, "Tanh", soft, output + "/tanh");
    return binary(call, "Mul", x, gate.name, output);
  }
  if (name == "gelu") {
    // Keras's default gelu is exact: x / 2 * (1 + erf(x / sqrt(2))).
    const auto scaled = binary(call, "Mul", x, call.graph.scalar(output + "/rsqrt2", static_cast<float>(M_SQRT1_2)),
                               output + "/scaled");
    const auto erf = unary(call, "Erf", scaled, output + "/erf");
    const auto shifted = binary(call, "Add", erf, call.graph.scalar(output + "/one", 1.f), output + "/shifted");
    const auto half = binary(call, "Mul", x, call.graph.scalar(output + "/half", 0.5f), output + "/half_x");
    return binary(call, "Mul", half, shifted.name, output);
  }
  call.fail("activation '" + name + "' is not supported");
}

LUMOS_KERAS_LAYER(Activation, "Activation") {
  const auto& activation = call.config.get("activation");
  const auto y = apply_activation(call, activation, call.input(), call.name);
  // A linear activation still names its output, as every layer does.
  return {y.name == call.input().name ? unary(call, "Identity", y, call.name) : y};
}

LUMOS_KERAS_LAYER(ReLU, "ReLU") {
  auto& c = call.config;
  const auto& x = call.input();
  const double slope = c.number("negative_slope", 0.0);
  const double threshold = c.number("threshold", 0.0);
  const bool capped = c.has("max_value");
  const double max_value = capped ? c.number("max_value") : 0.0;
  if (slope != 0.0 || threshold != 0.0) {
    c.fail("ReLU with negative_slope or threshold is not supported (only max_value is)");
  }
  return {capped ? clip(call, x, 0.f, static_cast<float>(max_value), call.name) : unary(call, "Relu", x, call.name)};
}

LUMOS_KERAS_LAYER(LeakyReLU, "LeakyReLU") {
  auto& c = call.config;
  // TF-Keras calls the slope "alpha", Keras 3 "negative_slope" (both default 0.3 in the layer).
  const double slope = c.has("negative_slope") ? c.number("negative_slope") : c.number("alpha", 0.3);
  c.ignore({"alpha", "negative_slope"});
  return {unary(call, "LeakyRelu", call.input(), call.name, {{"alpha", static_cast<float>(slope)}})};
}

LUMOS_KERAS_LAYER(ELU, "ELU") {
  const double alpha = call.config.number("alpha", 1.0);
  return {unary(call, "Elu", call.input(), call.name, {{"alpha", static_cast<float>(alpha)}})};
}

LUMOS_KERAS_LAYER(ThresholdedReLU, "ThresholdedReLU") {
  const double theta = call.config.number("theta", 1.0);
  return {unary(call, "ThresholdedRelu", call.input(), call.name, {{"alpha", static_cast<float>(theta)}})};
}

LUMOS_KERAS_LAYER(Softmax, "Softmax") {
  const auto& axis = call.config.get("axis");
  if (!axis.is_null() && !axis.is_number_integer()) call.fail("softmax over several axes is not supported");
  return {softmax(call, "Softmax", call.input(), axis.is_null() ? -1 : axis.get<int64_t>(), call.name)};
}

LUMOS_KERAS_LAYER(PReLU, "PReLU") {
  const auto& x = call.input();
  auto& c = call.config;
  // alpha has the input's shape without the batch axis, 1 along shared_axes.
  std::vector<int64_t> shape(x.shape.begin() + 1, x.shape.end());
  const auto& shared = c.get("shared_axes");
  if (shared.is_number_integer()) shape.at(shared.get<int64_t>() - 1) = 1;
  if (shared.is_array()) {
    for (const auto& a : shared) shape.at(a.get<int64_t>() - 1) = 1;
  }
  const auto alpha = call.weight_constants({"alpha"}, [&](std::vector<at::Tensor> w) {
    call.check_shape(w[0], "alpha", shape);
    return std::vector<at::Tensor>{w[0].unsqueeze(0)};
  });
  // Keras's shape broadcast against a stored layout: compute in Keras's order.
  const auto input = call.graph.keras_order(x);
  Value y = input;
  y.name = call.graph.node("PRelu", {input.name, alpha[0]}, call.name);
  return {y};
}

}  // namespace lumos::keras
