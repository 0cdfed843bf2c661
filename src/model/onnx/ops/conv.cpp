// Convolutions: Conv and ConvTranspose over 1-D, 2-D and 3-D inputs.
#include "model/onnx/ops/conv.hpp"

#include "lumos/error.hpp"
#include "model/onnx/ops/window.hpp"

#include <ATen/core/dispatch/Dispatcher.h>

#include <map>
#include <memory>
#include <mutex>
#include <optional>

namespace lumos::onnx {
namespace {

void check_operands(const at::Tensor& x, const at::Tensor& w, const char* op) {
  if (x.dim() < 3 || w.dim() != x.dim()) {
    throw ModelError(std::string(op) + " needs an (N, C, spatial...) input and a weight of the same rank; got ranks " +
                     std::to_string(x.dim()) + " and " + std::to_string(w.dim()));
  }
}

// Python-style floor division, so negative total padding extends the end.
int64_t floor_half(int64_t total) { return total >= 0 ? total / 2 : -((-total + 1) / 2); }

}  // namespace

LUMOS_ONNX_OP(Conv, "Conv", 1, kLatestOpset, window(inputs(2, 3)).range("group", 1, kMaxExtent)) {
  const auto attributes = read_window(node);
  const int64_t groups = node.i("group", 1);
  return [attributes, groups](const Tensors& in) {
    const auto& x = in[0];
    const auto& w = in[1];
    check_operands(x, w, "Conv");
    const auto window = resolve_window(attributes, x.sizes().slice(2), w.sizes().slice(2));
    // Equal padding goes to the convolution (so oneDNN can run it); the rest is padded first.
    const auto padding = split_padding(window);
    const at::Tensor bias = in.size() > 2 ? in[2] : at::Tensor();
    const std::vector<int64_t> no_output_padding(window.kernel.size(), 0);
    return Tensors{at::convolution(padding.apply(x, 0.0), w, bias, window.strides, padding.symmetric,
                                   window.dilations, false, no_output_padding, groups)};
  };
}

// ONNX's transposed convolution: the full result has stride*(in-1) + (k-1)*dilation + 1
// entries, output_padding adds zero-input entries at the end, and pads crop both sides
// (or output_shape / auto_pad decide the crop).
LUMOS_ONNX_OP(ConvTranspose, "ConvTranspose", 1, kLatestOpset,
              window(inputs(2, 3))
                  .range("group", 1, kMaxExtent)
                  .range("output_padding", 0, kMaxExtent)
                  .range("output_shape", 0, kMaxExtent)) {
  const auto attributes = read_window(node);
  const int64_t groups = node.i("group", 1);
  const auto output_padding_attr = node.ints("output_padding");
  const auto output_shape_attr = node.ints("output_shape");
  return [attributes, groups, output_padding_attr, output_shape_attr](const Tensors& in) {
    const auto& x = in[0];
    const auto& w = in[1];
    check_operands(x, w, "ConvTranspose");
    const auto input = x.sizes().slice(2);
    const size_t n = input.size();
    const auto kernel = w.sizes().slice(2).vec();
    const auto strides = per_dimension(attributes.strides, n, 1, "strides");
    const auto dilations = per_dimension(attributes.dilations, n, 1, "dilations");
    const auto output_padding = per_dimension(output_padding_attr, n, 0, "output_padding");
    std::vector<int64_t> begin(n, 0), end(n, 0), full(n);
    for (size_t i = 0; i < n; ++i) full[i] = strides[i] * (input[i] - 1) + (kernel[i] - 1) * dilations[i] + 1;

    // output_shape may list the spatial sizes only or the whole shape.
    std::vector<int64_t> output_shape;
    if (output_shape_attr.size() == n) output_shape = output_shape_attr;
    if (output_shape_attr.size() == n + 2) output_shape.assign(output_shape_attr.begin() + 2, output_shape_attr.end());
    if (!output_shape_attr.empty() && output_shape.empty()) {
      throw ModelError("output_shape has " + std::to_string(output_shape_attr.size()) + " entries for " +
                       std::to_string(n) + " spatial dimensions");
    }
    const bool same = attributes.auto_pad == AutoPad::SameUpper || attributes.auto_pad == AutoPad::SameLower;
    if (output_shape.empty() && same) {
      for (size_t i = 0; i < n; ++i) output_shape.push_back(input[i] * strides[i]);
    }
    if (!output_shape.empty()) {
      for (size_t i = 0; i < n; ++i) {
        const int64_t total = full[i] + output_padding[i] - output_shape[i];
        if (attributes.auto_pad == AutoPad::SameUpper) {
          begin[i] = floor_half(total);
          end[i] = total - begin[i];
        } else {
          end[i] = floor_half(total);
          begin[i] = total - end[i];
        }
      }
    } else if (attributes.auto_pad == AutoPad::NotSet) {
      const auto pads = per_dimension(attributes.pads, 2 * n, 0, "pads");
      begin.assign(pads.begin(), pads.begin() + n);
      end.assign(pads.begin() + n, pads.end());
    }

    const at::Tensor bias = in.size() > 2 ? in[2] : at::Tensor();
    bool aten_can_pad = true;
    for (size_t i = 0; i < n; ++i) {
      aten_can_pad = aten_can_pad && begin[i] == end[i] && begin[i] >= 0 &&
                     output_padding[i] < std::max(strides[i], dilations[i]);
    }
    if (aten_can_pad) {
      return Tensors{at::convolution(x, w, bias, strides, begin, dilations, true, output_padding, groups)};
    }
    // Otherwise compute the full result, then crop or extend it with zeros, then add the bias.
    const std::vector<int64_t> zeros(n, 0);
    auto y = at::convolution(x, w, at::Tensor(), strides, zeros, dilations, true, zeros, groups);
    std::vector<int64_t> grow_begin(n), grow_end(n);
    for (size_t i = 0; i < n; ++i) {
      grow_begin[i] = -begin[i];
      grow_end[i] = output_padding[i] - end[i];
    }
    y = at::constant_pad_nd(y, aten_pad_order(grow_begin, grow_end), 0.0);
    if (bias.defined()) {
      std::vector<int64_t> shape(n + 2, 1);
      shape[1] = -1;
      y = y + bias.view(shape);
    }
    return Tensors{y};
  };
}

namespace {

// mkldnn_prepacked's ops: LibTorch registers them but installs no header for them.
std::optional<c10::OperatorHandle> prepacked_op(const char* name) {
  const auto handle = c10::Dispatcher::singleton().findSchema({name, ""});
  return handle ? std::optional<c10::OperatorHandle>(*handle) : std::nullopt;
}
const std::optional<c10::OperatorHandle>& conv2d_prepack() {
  static const auto op = prepacked_op("mkldnn_prepacked::conv2d_prepack");
  return op;
}
const std::optional<c10::OperatorHandle>& conv2d_run() {
  static const auto op = prepacked_op("mkldnn_prepacked::conv2d_run");
  return op;
}

c10::IValue call(const c10::OperatorHandle& op, std::vector<c10::IValue> stack) {
  op.callBoxed(&stack);
  return std::move(stack.front());
}

// A Conv's weight packed for each input size it met (channels, height, width: oneDNN picks
// the weight's layout for the input's shape; the batch size may change).
struct PackedConvolution : PlannedConvolution {
  using PlannedConvolution::PlannedConvolution;
  std::mutex mutex;
  std::map<std::vector<int64_t>, c10::IValue> contexts;

  c10::IValue context(const at::Tensor& x, const Window& window, const PaddingSplit& padding) {
    std::vector<int64_t> key(x.sizes().begin() + 1, x.sizes().end());
    const std::lock_guard<std::mutex> lock(mutex);
    const auto found = contexts.find(key);
    if (found != contexts.end()) return found->second;
    // A channels-last weight makes the packed kernel take and give channels-last values.
    const auto nhwc_weight = weight.contiguous(at::MemoryFormat::ChannelsLast);
    auto packed = call(*conv2d_prepack(), {nhwc_weight, bias.defined() ? c10::IValue(bias) : c10::IValue(), window.strides,
                                           padding.symmetric, window.dilations, groups, x.sizes().vec(),
                                           std::string(relu ? "relu" : "none")});
    return contexts.emplace(std::move(key), std::move(packed)).first->second;
  }
};

}  // namespace

bool packed_convolutions_available() { return conv2d_prepack() && conv2d_run(); }

Kernel packed_convolution(const Node& node, at::Tensor weight, at::Tensor bias, bool relu, Kernel plain) {
  auto conv = std::make_shared<PackedConvolution>(node, std::move(weight), std::move(bias), relu, std::move(plain));
  return [conv](const Tensors& in) {
    const auto& x = in[0];
    const auto& w = conv->weight;
    if (x.dim() != 4 || x.scalar_type() != at::kFloat || !x.device().is_cpu() || x.size(0) == 0 ||
        x.size(1) != w.size(1) * conv->groups) {
      auto out = conv->fallback(in);
      if (conv->relu) out[0] = at::relu(out[0]);
      return out;
    }
    const auto window = resolve_window(conv->attributes, x.sizes().slice(2), w.sizes().slice(2));
    const auto padding = split_padding(window);
    const auto padded = padding.apply(x, 0.0);
    return Tensors{call(*conv2d_run(), {padded, conv->context(padded, window, padding)}).toTensor()};
  };
}

}  // namespace lumos::onnx
