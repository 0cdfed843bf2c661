// Pooling: MaxPooling2D, AveragePooling2D and the global pools.
#include "model/keras/layers/spatial.hpp"

namespace lumos::keras {
namespace {

Value pool(LayerCall& call, const std::string& op, bool exclude_padding) {
  auto& c = call.config;
  const auto window = read_window(c, 2, true);
  const auto& input = call.input();
  if (input.rank() != 4) call.fail("needs an input of rank 4, got shape " + shape_string(input.shape));
  const auto x = call.graph.channels_at_1(input, window.channels_last);
  Value y = x;
  y.shape = window_output_shape(x, window, x.shape[window.channels_last ? 3 : 1]);
  y.channels_last = window.channels_last;
  std::vector<Attribute> attributes{
      {"kernel_shape", window.kernel}, {"strides", window.strides}, {"auto_pad", auto_pad(window)}};
  // TensorFlow's "same" average pooling divides by the window's pixels inside the image.
  if (exclude_padding) attributes.push_back({"count_include_pad", int64_t{0}});
  y.name = call.graph.node(op, {x.name}, call.name, attributes);
  return y;
}

Value global_pool(LayerCall& call, const std::string& op) {
  auto& c = call.config;
  const bool channels_last = c.channels_last();
  const bool keepdims = c.flag("keepdims", false);
  const auto& input = call.input();
  if (input.rank() < 3) call.fail("needs an input with spatial axes, got shape " + shape_string(input.shape));
  const auto x = call.graph.channels_at_1(input, channels_last);
  Value y = x;
  for (auto axis : spatial_axes(x.rank(), channels_last)) y.shape[axis] = 1;
  y.name = call.graph.node(op, {x.name}, keepdims ? call.name : call.name + "/pooled");
  if (keepdims) return y;
  y.shape = {x.shape[0], x.shape[channels_last ? x.rank() - 1 : 1]};
  y.channels_moved = false;
  y.name = call.graph.node("Flatten", {y.name}, call.name, {{"axis", int64_t{1}}});
  return y;
}

}  // namespace

LUMOS_KERAS_LAYER(MaxPooling2D, "MaxPooling2D", "MaxPool2D") { return {pool(call, "MaxPool", false)}; }

LUMOS_KERAS_LAYER(AveragePooling2D, "AveragePooling2D", "AvgPool2D") { return {pool(call, "AveragePool", true)}; }

LUMOS_KERAS_LAYER(GlobalAveragePooling2D, "GlobalAveragePooling2D", "GlobalAvgPool2D") {
  return {global_pool(call, "GlobalAveragePool")};
}

LUMOS_KERAS_LAYER(GlobalMaxPooling2D, "GlobalMaxPooling2D", "GlobalMaxPool2D") {
  return {global_pool(call, "GlobalMaxPool")};
}

}  // namespace lumos::keras
