// Convolutions: Conv2D (grouped too), DepthwiseConv2D, SeparableConv2D. Keras stores
// kernels as [kh, kw, in, out]; ONNX's Conv takes [out, in / group, kh, kw].
#include "model/keras/layers/spatial.hpp"

#include <ATen/ATen.h>

namespace lumos::keras {
namespace {

Value convolve(LayerCall& call, const Value& x, const WindowOptions& window, const std::vector<std::string>& operands,
               int64_t out_channels, int64_t group, const std::string& output) {
  Value y = x;
  y.shape = window_output_shape(x, window, out_channels);
  y.channels_last = window.channels_last;
  std::vector<std::string> inputs{x.name};
  inputs.insert(inputs.end(), operands.begin(), operands.end());
  y.name = call.graph.node("Conv", inputs, output,
                           {{"kernel_shape", window.kernel},
                            {"strides", window.strides},
                            {"dilations", window.dilations},
                            {"group", group},
                            {"auto_pad", auto_pad(window)}});
  return y;
}

// [kh, kw, channels, multiplier] -> [channels * multiplier, 1, kh, kw], TensorFlow's
// depthwise output order (channel-major).
at::Tensor depthwise_kernel(const at::Tensor& kernel) {
  const auto kh = kernel.size(0), kw = kernel.size(1), outputs = kernel.size(2) * kernel.size(3);
  return channels_first_kernel(kernel.reshape({kh, kw, 1, outputs})).reshape({outputs, 1, kh, kw});
}

const Value& image_input(const LayerCall& call, size_t spatial) {
  const auto& x = call.input();
  if (x.rank() != static_cast<int64_t>(spatial) + 2) {
    call.fail("needs an input of rank " + std::to_string(spatial + 2) + ", got shape " + shape_string(x.shape));
  }
  return x;
}

}  // namespace

LUMOS_KERAS_LAYER(Conv2D, "Conv2D", "Convolution2D") {
  auto& c = call.config;
  const auto window = read_window(c, 2, false);
  const int64_t filters = c.integer("filters");
  const int64_t groups = c.integer("groups", 1);
  const bool use_bias = c.flag("use_bias", true);
  const auto& activation = c.get("activation");
  const auto x = call.graph.channels_at_1(image_input(call, 2), window.channels_last);
  const int64_t in = channel_count(call, x, window.channels_last);
  if (filters < 1 || groups < 1 || in % groups || filters % groups) {
    call.fail(std::to_string(in) + " input channels and " + std::to_string(filters) + " filters do not split into " +
              std::to_string(groups) + " groups");
  }
  std::vector<std::string> kinds{"kernel"};
  if (use_bias) kinds.push_back("bias");
  const auto weights = call.weight_constants(kinds, [&](std::vector<at::Tensor> w) {
    call.check_shape(w[0], "kernel", {window.kernel[0], window.kernel[1], in / groups, filters});
    w[0] = channels_first_kernel(w[0]);
    if (use_bias) call.check_shape(w[1], "bias", {filters});
    return w;
  });
  const auto y = convolve(call, x, window, weights, filters, groups, preactivation_name(call, activation));
  return {apply_activation(call, activation, y, call.name)};
}

LUMOS_KERAS_LAYER(DepthwiseConv2D, "DepthwiseConv2D") {
  auto& c = call.config;
  const auto window = read_window(c, 2, false);
  const int64_t multiplier = c.integer("depth_multiplier", 1);
  const bool use_bias = c.flag("use_bias", true);
  const auto& activation = c.get("activation");
  // TF-Keras writes the options of Conv2D it does not use.
  if (c.integer("groups", 1) != 1) c.fail("option 'groups' must be 1 for a depthwise convolution");
  c.ignore({"filters"});
  const auto x = call.graph.channels_at_1(image_input(call, 2), window.channels_last);
  const int64_t in = channel_count(call, x, window.channels_last);
  std::vector<std::string> kinds{"depthwise_kernel"};
  if (use_bias) kinds.push_back("bias");
  const auto weights = call.weight_constants(kinds, [&](std::vector<at::Tensor> w) {
    call.check_shape(w[0], "depthwise_kernel", {window.kernel[0], window.kernel[1], in, multiplier});
    w[0] = depthwise_kernel(w[0]);
    if (use_bias) call.check_shape(w[1], "bias", {in * multiplier});
    return w;
  });
  const auto y = convolve(call, x, window, weights, in * multiplier, in, preactivation_name(call, activation));
  return {apply_activation(call, activation, y, call.name)};
}

LUMOS_KERAS_LAYER(SeparableConv2D, "SeparableConv2D", "SeparableConvolution2D") {
  auto& c = call.config;
  const auto window = read_window(c, 2, false);
  const int64_t multiplier = c.integer("depth_multiplier", 1);
  const int64_t filters = c.integer("filters");
  const bool use_bias = c.flag("use_bias", true);
  const auto& activation = c.get("activation");
  const auto x = call.graph.channels_at_1(image_input(call, 2), window.channels_last);
  const int64_t in = channel_count(call, x, window.channels_last);
  std::vector<std::string> kinds{"depthwise_kernel", "pointwise_kernel"};
  if (use_bias) kinds.push_back("bias");
  const auto weights = call.weight_constants(kinds, [&](std::vector<at::Tensor> w) {
    call.check_shape(w[0], "depthwise_kernel", {window.kernel[0], window.kernel[1], in, multiplier});
    call.check_shape(w[1], "pointwise_kernel", {1, 1, in * multiplier, filters});
    w[0] = depthwise_kernel(w[0]);
    w[1] = channels_first_kernel(w[1]);
    if (use_bias) call.check_shape(w[2], "bias", {filters});
    return w;
  });
  const auto depthwise = convolve(call, x, window, {weights[0]}, in * multiplier, in, call.name + "/depthwise");
  WindowOptions pointwise{{1, 1}, {1, 1}, {1, 1}, "valid", window.channels_last};
  std::vector<std::string> operands{weights[1]};
  if (use_bias) operands.push_back(weights[2]);
  const auto y = convolve(call, depthwise, pointwise, operands, filters, 1, preactivation_name(call, activation));
  return {apply_activation(call, activation, y, call.name)};
}

}  // namespace lumos::keras
