// What convolution and pooling layers share: Keras's window options, TensorFlow's
// padding rule and the output size it gives.
#pragma once

#include "model/keras/layer.hpp"

#include <string>
#include <vector>

namespace lumos::keras {

struct WindowOptions {
  std::vector<int64_t> kernel;
  std::vector<int64_t> strides;
  std::vector<int64_t> dilations;
  std::string padding;  // "valid" or "same"
  bool channels_last = true;
};

// kernel_size (or pool_size for pools, whose strides default to it), strides, padding,
// data_format, dilation_rate.
WindowOptions read_window(LayerConfig& config, size_t spatial, bool pool);

// The ONNX auto_pad of a Keras padding. "same" is TensorFlow's rule: the output has
// ceil(in / stride) positions and an odd padding puts the extra pixel at the end
// (bottom / right), which is ONNX's SAME_UPPER.
std::string auto_pad(const WindowOptions& window);

// The Keras shape of a window layer's output; -1 stays unknown.
std::vector<int64_t> window_output_shape(const Value& x, const WindowOptions& window, int64_t channels);

// The channel count of a Keras tensor (its last axis, or the second for channels_first).
int64_t channel_count(const LayerCall& call, const Value& x, bool channels_last);

// Keras's spatial axes of a rank-r tensor.
std::vector<int64_t> spatial_axes(int64_t rank, bool channels_last);

}  // namespace lumos::keras
