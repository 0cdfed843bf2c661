// Normalisations: BatchNormalization, LayerNormalization, and the preprocessing layers
// Normalization and Rescaling.
#include "model/keras/layer.hpp"

#include "lumos/error.hpp"

#include <ATen/ATen.h>

#include <algorithm>

namespace lumos::keras {
namespace {

// The axes an option names (an integer or a list), made non-negative for `rank`.
std::vector<int64_t> read_axes(LayerCall& call, const Json& value, int64_t rank) {
  std::vector<int64_t> axes;
  if (value.is_number_integer()) axes.push_back(value.get<int64_t>());
  if (value.is_array()) {
    for (const auto& a : value) {
      if (!a.is_number_integer()) call.fail("option 'axis' should hold integers");
      axes.push_back(a.get<int64_t>());
    }
  }
  for (auto& a : axes) {
    if (a < 0) a += rank;
    if (a < 0 || a >= rank) call.fail("axis " + value.dump() + " is out of range for an input of rank " + std::to_string(rank));
  }
  std::sort(axes.begin(), axes.end());
  return axes;
}

// `value` laid out to broadcast against a rank-`rank` tensor over the kept `axes`, as
// Keras's Normalization reshapes its mean and variance.
at::Tensor along_axes(LayerCall& call, const at::Tensor& value, const std::vector<int64_t>& axes, int64_t rank,
                      const std::vector<int64_t>& input_shape) {
  std::vector<int64_t> shape(rank, 1);
  if (value.dim() == 0) return value.expand(std::vector<int64_t>(rank, 1)).contiguous();
  if (value.dim() > static_cast<int64_t>(axes.size())) call.fail("mean and variance have more axes than 'axis' names");
  for (int64_t i = 1; i <= value.dim(); ++i) shape[axes[axes.size() - i]] = value.size(value.dim() - i);
  for (auto a : axes) {
    if (input_shape[a] >= 0 && shape[a] != 1 && shape[a] != input_shape[a]) {
      call.fail("mean and variance have " + std::to_string(shape[a]) + " entries for an axis of size " +
                std::to_string(input_shape[a]));
    }
  }
  return value.reshape(shape);
}

// x * scale + shift with constants laid out for how x is stored.
Value scale_shift(LayerCall& call, const Value& x, const std::string& scale, const std::string& shift,
                  const std::string& output) {
  Value y = x;
  y.name = call.graph.node("Mul", {x.name, scale}, shift.empty() ? output : output + "/scaled");
  if (!shift.empty()) y.name = call.graph.node("Add", {y.name, shift}, output);
  return y;
}

}  // namespace

LUMOS_KERAS_LAYER(BatchNormalization, "BatchNormalization") {
  auto& c = call.config;
  const auto& input = call.input();
  const auto axes = read_axes(call, c.get("axis").is_null() ? Json(-1) : c.get("axis"), input.rank());
  if (axes.size() != 1) call.fail("batch normalization over several axes is not supported");
  const double epsilon = c.number("epsilon", 1e-3);
  const bool center = c.flag("center", true);
  const bool scale = c.flag("scale", true);
  if (c.flag("renorm", false)) call.fail("batch renormalization (renorm=True) is not supported");
  c.ignore({"momentum", "synchronized", "renorm_clipping", "renorm_momentum", "virtual_batch_size", "fused"});
  const int64_t axis = axes.front();
  const int64_t channels = input.shape[axis];
  if (channels < 0) call.fail("the size of the normalised axis is not known from the model's input shape");
  // Convolutional features normalise their channels: keep them where the convolutions want them.
  const bool channel_axis = axis == input.rank() - 1 || (axis == 1 && input.rank() > 2);
  const auto x = input.rank() > 2 && channel_axis ? call.graph.channels_at_1(input, axis != 1) : input;
  std::vector<std::string> kinds;
  if (scale) kinds.push_back("gamma");
  if (center) kinds.push_back("beta");
  kinds.insert(kinds.end(), {"moving_mean", "moving_variance"});
  const bool native = x.stored_axis(axis) == 1;
  // ONNX's BatchNormalization takes scale, bias, mean, variance; elsewhere it is x * scale + shift.
  const auto weights = call.weight_constants(kinds, [&](std::vector<at::Tensor> w) {
    for (size_t i = 0; i < w.size(); ++i) call.check_shape(w[i], kinds[i], {channels});
    const auto mean = w[w.size() - 2];
    const auto variance = w[w.size() - 1];
    const auto gamma = scale ? w[0] : at::ones_like(mean);
    const auto beta = center ? w[scale ? 1 : 0] : at::zeros_like(mean);
    if (native) return std::vector<at::Tensor>{gamma, beta, mean, variance};
    const auto factor = gamma / at::sqrt(variance + epsilon);
    std::vector<int64_t> shape(x.rank(), 1);
    shape[x.stored_axis(axis)] = channels;
    return std::vector<at::Tensor>{factor.reshape(shape), (beta - mean * factor).reshape(shape)};
  });
  if (!native) return {scale_shift(call, x, weights[0], weights[1], call.name)};
  Value y = x;
  y.name = call.graph.node("BatchNormalization", {x.name, weights[0], weights[1], weights[2], weights[3]}, call.name,
                           {{"epsilon", static_cast<float>(epsilon)}});
  return {y};
}

LUMOS_KERAS_LAYER(LayerNormalization, "LayerNormalization") {
  auto& c = call.config;
  const auto& input = call.input();
  const auto axes = read_axes(call, c.get("axis").is_null() ? Json(-1) : c.get("axis"), input.rank());
  const double epsilon = c.number("epsilon", 1e-3);
  const bool center = c.flag("center", true);
  const bool scale = c.flag("scale", true);
  if (c.flag("rms_scaling", false)) call.fail("rms_scaling is not supported");
  // ONNX's LayerNormalization normalises the trailing axes: work in Keras's order.
  const auto x = call.graph.keras_order(input);
  for (size_t i = 0; i < axes.size(); ++i) {
    if (axes[i] != x.rank() - static_cast<int64_t>(axes.size() - i)) {
      call.fail("normalising axes " + c.get("axis").dump() + " is not supported (only trailing axes are)");
    }
  }
  std::vector<int64_t> shape;
  for (auto a : axes) {
    if (x.shape[a] < 0) call.fail("the normalised axes' sizes are not known from the model's input shape");
    shape.push_back(x.shape[a]);
  }
  std::vector<std::string> kinds;
  if (scale) kinds.push_back("gamma");
  if (center) kinds.push_back("beta");
  const auto weights = call.weight_constants(kinds, [&](std::vector<at::Tensor> w) {
    for (size_t i = 0; i < w.size(); ++i) call.check_shape(w[i], kinds[i], shape);
    const auto gamma = scale ? w[0] : at::ones(shape);
    const auto beta = center ? w[scale ? 1 : 0] : at::zeros(shape);
    return std::vector<at::Tensor>{gamma, beta};
  });
  Value y = x;
  y.name = call.graph.node("LayerNormalization", {x.name, weights[0], weights[1]}, call.name,
                           {{"axis", axes.front()}, {"epsilon", static_cast<float>(epsilon)}});
  return {y};
}

// (x - mean) / max(sqrt(variance), 1e-7), with mean and variance from the config or,
// when the layer was adapted to data, from its weights (mean, variance, count).
LUMOS_KERAS_LAYER(Normalization, "Normalization") {
  auto& c = call.config;
  const auto& input = call.input();
  const auto& axis_option = c.get("axis");  // [] normalises with one mean for everything
  const auto axes = read_axes(call, axis_option.is_null() ? Json(-1) : axis_option, input.rank());
  const bool invert = c.flag("invert", false);
  const auto& mean_option = c.get("mean");
  const auto& variance_option = c.get("variance");
  at::Tensor mean, variance;
  if (mean_option.is_null()) {
    const auto w = call.weights({"mean", "variance", "count"});
    mean = w[0];
    variance = w[1];
  } else {
    mean = constant_from_json(call, mean_option, "option 'mean'");
    variance = constant_from_json(call, variance_option, "option 'variance'");
  }
  if (mean.sizes() != variance.sizes()) call.fail("mean and variance have different shapes");
  const auto denominator = at::clamp_min(at::sqrt(variance.to(at::kDouble)), 1e-7).to(at::kFloat);
  const auto mean_name = call.graph.broadcast_constant(
      call.name + "/mean", along_axes(call, mean, axes, input.rank(), input.shape), input);
  const auto denominator_name = call.graph.broadcast_constant(
      call.name + "/stddev", along_axes(call, denominator, axes, input.rank(), input.shape), input);
  const std::vector<std::string> weights{mean_name, denominator_name};
  Value y = input;
  if (invert) {
    y.name = call.graph.node("Mul", {input.name, weights[1]}, call.name + "/scaled");
    y.name = call.graph.node("Add", {y.name, weights[0]}, call.name);
  } else {
    y.name = call.graph.node("Sub", {input.name, weights[0]}, call.name + "/centred");
    y.name = call.graph.node("Div", {y.name, weights[1]}, call.name);
  }
  return {y};
}

LUMOS_KERAS_LAYER(Rescaling, "Rescaling") {
  auto& c = call.config;
  const auto& x = call.input();
  const auto scale = constant_from_json(call, c.get("scale").is_null() ? Json(1.0) : c.get("scale"), "option 'scale'");
  const auto offset = constant_from_json(call, c.get("offset").is_null() ? Json(0.0) : c.get("offset"), "option 'offset'");
  const auto scale_name = call.graph.broadcast_constant(call.name + "/scale", scale, x);
  const auto offset_name = call.graph.broadcast_constant(call.name + "/offset", offset, x);
  return {scale_shift(call, x, scale_name, offset_name, call.name)};
}

}  // namespace lumos::keras
