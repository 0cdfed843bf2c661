#include "model/onnx/ops/blocked.hpp"

#include "model/onnx/ops/conv.hpp"

#include <map>
#include <memory>
#include <mutex>

namespace lumos::onnx {
namespace {

bool all_blocked(const Tensors& in) {
  return std::all_of(in.begin(), in.end(), [](const at::Tensor& t) { return t.defined() && t.is_mkldnn(); });
}

// The step as the packed plan runs it, on its inputs made dense.
Tensors run_dense(const Kernel& fallback, const Tensors& in) {
  Tensors dense(in);
  for (auto& t : dense)
    if (t.defined() && t.is_mkldnn()) t = t.to_dense();
  return fallback(dense);
}

// The executor hands a value over at its last use: a blocked tensor nobody else holds may be
// overwritten (blocked tensors have no views).
bool is_sole(const at::Tensor& t) { return t.use_count() == 1; }

struct BlockedConvolution : PlannedConvolution {
  using PlannedConvolution::PlannedConvolution;
  std::mutex mutex;
  std::map<std::vector<int64_t>, at::Tensor> weights;  // reordered, by padding

  // oneDNN's reorder depends on the window (padding, stride, dilation); the padding can depend
  // on the input size (auto_pad), so a weight is reordered at the first batch of each padding.
  at::Tensor blocked_weight(const Window& window, const std::vector<int64_t>& padding) {
    const std::lock_guard<std::mutex> lock(mutex);
    const auto found = weights.find(padding);
    if (found != weights.end()) return found->second;
    auto reordered =
        at::mkldnn_reorder_conv2d_weight(weight.to_mkldnn(), padding, window.strides, window.dilations, groups);
    return weights.emplace(padding, std::move(reordered)).first->second;
  }
};

}  // namespace

Kernel to_blocked() {
  return [](const Tensors& in) {
    const auto& x = in[0];
    const bool fits = x.defined() && x.dim() == 4 && x.scalar_type() == at::kFloat && x.device().is_cpu() &&
                      x.layout() == at::kStrided && x.numel() > 0;
    return Tensors{fits ? x.to_mkldnn() : x};
  };
}

at::Tensor dense_contiguous(const at::Tensor& value) {
  return value.defined() && value.is_mkldnn() ? value.to_dense() : value.contiguous();
}

Kernel to_dense() {
  return [](const Tensors& in) {
    return Tensors{in[0].defined() && in[0].is_mkldnn() ? in[0].to_dense() : in[0]};
  };
}

Kernel blocked_convolution(const Node& node, at::Tensor weight, at::Tensor bias, bool relu, Kernel fallback) {
  auto conv = std::make_shared<BlockedConvolution>(node, std::move(weight), std::move(bias), relu, std::move(fallback));
  return [conv](const Tensors& in) {
    const auto& x = in[0];
    const auto& w = conv->weight;
    if (!all_blocked({x}) || x.dim() != 4 || x.size(0) == 0 || x.size(1) != w.size(1) * conv->groups) {
      return run_dense(conv->fallback, in);
    }
    const auto window = resolve_window(conv->attributes, x.sizes().slice(2), w.sizes().slice(2));
    const auto padding = split_padding(window);
    if (padding.has_extra()) return run_dense(conv->fallback, in);  // a blocked tensor cannot be padded
    auto y = at::mkldnn_convolution(x, conv->blocked_weight(window, padding.symmetric), conv->bias, padding.symmetric,
                                    window.strides, window.dilations, conv->groups);
    if (conv->relu) y.relu_();
    return Tensors{y};
  };
}

Kernel blocked_relu(Kernel fallback) {
  return [fallback](const Tensors& in) {
    if (!all_blocked(in)) return run_dense(fallback, in);
    if (!is_sole(in[0])) return Tensors{at::relu(in[0])};
    auto x = in[0];
    return Tensors{x.relu_()};
  };
}

Kernel blocked_add(Kernel fallback) {
  return [fallback](const Tensors& in) {
    if (!all_blocked(in) || in[0].sizes() != in[1].sizes()) return run_dense(fallback, in);
    for (int i : {0, 1}) {
      if (!is_sole(in[i])) continue;
      auto sum = in[i];
      return Tensors{sum.add_(in[1 - i])};
    }
    return Tensors{at::add(in[0], in[1])};
  };
}

Kernel blocked_max_pool(const Node& node, Kernel fallback) {
  const auto attributes = read_window(node);
  return [attributes, fallback](const Tensors& in) {
    const auto& x = in[0];
    if (!all_blocked(in) || x.dim() != 4 || attributes.kernel.size() != 2) return run_dense(fallback, in);
    const auto window = resolve_window(attributes, x.sizes().slice(2), attributes.kernel);
    const auto padding = split_pool_padding(window);
    if (padding.has_extra()) return run_dense(fallback, in);
    return Tensors{at::max_pool2d(x, window.kernel, window.strides, padding.symmetric, window.dilations,
                                  attributes.ceil_mode)};
  };
}

Kernel blocked_global_average_pool(Kernel fallback) {
  return [fallback](const Tensors& in) {
    if (!all_blocked(in) || in[0].dim() != 4) return run_dense(fallback, in);
    return Tensors{at::adaptive_avg_pool2d(in[0], {1, 1})};
  };
}

}  // namespace lumos::onnx
