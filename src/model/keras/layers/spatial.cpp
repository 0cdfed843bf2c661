#include "model/keras/layers/spatial.hpp"

namespace lumos::keras {

WindowOptions read_window(LayerConfig& config, size_t spatial, bool pool) {
  WindowOptions w;
  if (pool) {
    w.kernel = config.integers("pool_size", spatial, 2);
    w.strides = config.has("strides") ? config.integers("strides", spatial) : w.kernel;
    config.ignore({"strides"});
  } else {
    w.kernel = config.integers("kernel_size", spatial);
    w.strides = config.integers("strides", spatial, 1);
    w.dilations = config.integers("dilation_rate", spatial, 1);
  }
  if (w.dilations.empty()) w.dilations.assign(spatial, 1);
  for (size_t i = 0; i < spatial; ++i) {
    if (w.kernel[i] < 1 || w.strides[i] < 1 || w.dilations[i] < 1) {
      config.fail("kernel, strides and dilation_rate must be positive");
    }
  }
  w.padding = config.choice("padding", {"valid", "same"});
  w.channels_last = config.channels_last();
  return w;
}

std::string auto_pad(const WindowOptions& window) { return window.padding == "same" ? "SAME_UPPER" : "VALID"; }

std::vector<int64_t> spatial_axes(int64_t rank, bool channels_last) {
  std::vector<int64_t> axes;
  for (int64_t a = channels_last ? 1 : 2; a < (channels_last ? rank - 1 : rank); ++a) axes.push_back(a);
  return axes;
}

std::vector<int64_t> window_output_shape(const Value& x, const WindowOptions& window, int64_t channels) {
  auto shape = x.shape;
  shape[window.channels_last ? x.rank() - 1 : 1] = channels;
  const auto axes = spatial_axes(x.rank(), window.channels_last);
  for (size_t i = 0; i < axes.size(); ++i) {
    const int64_t in = shape[axes[i]];
    if (in < 0) continue;
    const int64_t extent = (window.kernel[i] - 1) * window.dilations[i] + 1;
    shape[axes[i]] = window.padding == "same" ? (in + window.strides[i] - 1) / window.strides[i]
                                              : std::max<int64_t>((in - extent) / window.strides[i] + 1, 0);
  }
  return shape;
}

int64_t channel_count(const LayerCall& call, const Value& x, bool channels_last) {
  const int64_t c = x.shape[channels_last ? x.rank() - 1 : 1];
  if (c < 0) call.fail("the input's channel count is not known from the model's input shape");
  return c;
}

}  // namespace lumos::keras
