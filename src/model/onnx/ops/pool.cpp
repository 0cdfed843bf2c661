// Pooling: MaxPool (with ONNX's Indices output), AveragePool, LpPool and the global pools.
#include "lumos/error.hpp"
#include "model/onnx/op_registry.hpp"
#include "model/onnx/ops/window.hpp"

#include <c10/util/accumulate.h>

#include <limits>
#include <numeric>

namespace lumos::onnx {
namespace {

// Reads the window attributes of a pool, which must name its kernel_shape.
WindowAttributes read_pool_window(const Node& node) {
  auto attributes = read_window(node);
  if (attributes.kernel.empty()) node.fail("kernel_shape is required");
  return attributes;
}

Window resolve_pool_window(const WindowAttributes& attributes, const at::Tensor& x) {
  if (x.dim() != static_cast<int64_t>(attributes.kernel.size()) + 2) {
    throw ModelError("the input has rank " + std::to_string(x.dim()) + "; a pool with a " +
                     std::to_string(attributes.kernel.size()) + "-D kernel needs (N, C, spatial...) of rank " +
                     std::to_string(attributes.kernel.size() + 2));
  }
  return resolve_window(attributes, x.sizes().slice(2), attributes.kernel);
}

void check_pool_rank(size_t spatial) {
  if (spatial < 1 || spatial > 3) {
    throw ModelError("pools over " + std::to_string(spatial) + " spatial dimensions are not supported (1 to 3 are)");
  }
}

// 1-D pools run as 2-D pools over a height of one.
std::vector<int64_t> as_2d(const std::vector<int64_t>& values, int64_t height_value) {
  return values.size() == 1 ? std::vector<int64_t>{height_value, values[0]} : values;
}

// ATen's plain max pools skip the index bookkeeping (and have faster CPU kernels).
at::Tensor max_pool_values(const at::Tensor& x, const Window& w, const std::vector<int64_t>& padding, bool ceil_mode) {
  const size_t n = w.kernel.size();
  check_pool_rank(n);
  if (n == 1) return at::max_pool1d(x, w.kernel, w.strides, padding, w.dilations, ceil_mode);
  if (n == 2) return at::max_pool2d(x, w.kernel, w.strides, padding, w.dilations, ceil_mode);
  return at::max_pool3d(x, w.kernel, w.strides, padding, w.dilations, ceil_mode);
}

std::tuple<at::Tensor, at::Tensor> max_pool(const at::Tensor& x, const Window& w, const std::vector<int64_t>& padding,
                                            bool ceil_mode) {
  const size_t n = w.kernel.size();
  check_pool_rank(n);
  if (n == 3) return at::max_pool3d_with_indices(x, w.kernel, w.strides, padding, w.dilations, ceil_mode);
  const auto input = n == 1 ? x.unsqueeze(-2) : x;
  auto [y, indices] = at::max_pool2d_with_indices(input, as_2d(w.kernel, 1), as_2d(w.strides, 1), as_2d(padding, 0),
                                                  as_2d(w.dilations, 1), ceil_mode);
  if (n == 1) return {y.squeeze(-2), indices.squeeze(-2)};
  return {y, indices};
}

at::Tensor average_pool(const at::Tensor& x, const Window& w, const std::vector<int64_t>& padding, bool ceil_mode,
                        bool count_include_pad, c10::optional<int64_t> divisor) {
  const size_t n = w.kernel.size();
  check_pool_rank(n);
  if (n == 3) return at::avg_pool3d(x, w.kernel, w.strides, padding, ceil_mode, count_include_pad, divisor);
  const auto input = n == 1 ? x.unsqueeze(-2) : x;
  auto y = at::avg_pool2d(input, as_2d(w.kernel, 1), as_2d(w.strides, 1), as_2d(padding, 0), ceil_mode,
                          count_include_pad, divisor);
  return n == 1 ? y.squeeze(-2) : y;
}

// Sums over each window, zero padding included.
at::Tensor window_sums(const at::Tensor& x, const Window& w, bool ceil_mode) {
  const auto padding = split_pool_padding(w);
  return average_pool(padding.apply(x, 0.0), w, padding.symmetric, ceil_mode, true, 1);
}

void require_unit_dilations(const Node& node, const WindowAttributes& attributes) {
  for (auto d : attributes.dilations)
    if (d != 1) node.fail("dilations other than 1 are not supported for " + node.op_type());
}

// ATen's indices count within one (n, c) plane of the tensor it pooled (which may carry
// explicit padding); ONNX's count over the whole unpadded input, row-major
// (storage_order 0) or column-major within the plane (storage_order 1).
at::Tensor onnx_indices(const at::Tensor& aten_indices, at::IntArrayRef pooled_shape, const PaddingSplit& padding,
                        at::IntArrayRef input_shape, bool column_major) {
  const size_t n = input_shape.size() - 2;
  std::vector<at::Tensor> coords(n);
  at::Tensor rest = aten_indices;
  for (size_t i = n; i-- > 0;) {
    const int64_t extent = pooled_shape[i + 2];
    coords[i] = rest.remainder(extent) - padding.extra_begin[i];
    rest = at::div(rest, extent, "floor");
  }
  at::Tensor flat = at::zeros_like(aten_indices);
  for (size_t k = 0; k < n; ++k) {
    const size_t i = column_major ? n - 1 - k : k;
    flat = flat * input_shape[i + 2] + coords[i];
  }
  const int64_t plane = c10::multiply_integers(input_shape.begin() + 2, input_shape.end());
  std::vector<int64_t> plane_shape(input_shape.size(), 1);
  plane_shape[0] = input_shape[0];
  plane_shape[1] = input_shape[1];
  const auto plane_start = at::arange(input_shape[0] * input_shape[1], aten_indices.options()).view(plane_shape) * plane;
  return flat + plane_start;
}

// The dimensions a global pool reduces.
std::vector<int64_t> spatial_dims(const at::Tensor& x) {
  if (x.dim() < 3) {
    throw ModelError("a global pool needs an (N, C, spatial...) input; got rank " + std::to_string(x.dim()));
  }
  std::vector<int64_t> dims(x.dim() - 2);
  std::iota(dims.begin(), dims.end(), 2);
  return dims;
}

}  // namespace

LUMOS_ONNX_OP(MaxPool, "MaxPool", 1, kLatestOpset, window(inputs(1)).outputs(1, 2).range("storage_order", 0, 1)) {
  const auto attributes = read_pool_window(node);
  const bool column_major = node.i("storage_order", 0) != 0;
  const bool want_indices = node.num_outputs() > 1;
  return [attributes, column_major, want_indices](const Tensors& in) {
    const auto& x = in[0];
    const auto window = resolve_pool_window(attributes, x);
    const auto padding = split_pool_padding(window);
    // ATen max-pools floating types only; integers pool exactly as doubles.
    const auto compute = at::isFloatingType(x.scalar_type()) ? x : x.to(at::kDouble);
    const auto padded = padding.apply(compute, -std::numeric_limits<double>::infinity());
    if (!want_indices) {
      return Tensors{max_pool_values(padded, window, padding.symmetric, attributes.ceil_mode).to(x.scalar_type())};
    }
    const auto [y, indices] = max_pool(padded, window, padding.symmetric, attributes.ceil_mode);
    return Tensors{y.to(x.scalar_type()), onnx_indices(indices, padded.sizes(), padding, x.sizes(), column_major)};
  };
}

LUMOS_ONNX_OP(AveragePool, "AveragePool", 1, kLatestOpset, window(inputs(1))) {
  const auto attributes = read_pool_window(node);
  require_unit_dilations(node, attributes);
  const bool count_include_pad = node.i("count_include_pad", 0) != 0;
  return [attributes, count_include_pad](const Tensors& in) {
    const auto& x = in[0];
    const auto window = resolve_pool_window(attributes, x);
    const auto padding = split_pool_padding(window);
    if (!padding.has_extra() || count_include_pad) {
      return Tensors{average_pool(padding.apply(x, 0.0), window, padding.symmetric, attributes.ceil_mode,
                                  count_include_pad, c10::nullopt)};
    }
    // Padding ATen cannot apply itself must not count: divide window sums by the
    // number of input entries each window covers.
    std::vector<int64_t> plane_shape(x.dim(), 1);
    std::copy(x.sizes().begin() + 2, x.sizes().end(), plane_shape.begin() + 2);
    const auto counts = window_sums(at::ones(plane_shape, x.options()), window, attributes.ceil_mode);
    return Tensors{window_sums(x, window, attributes.ceil_mode) / counts};
  };
}

// (sum over the window of |x|^p)^(1/p); p is a float in opset 1, an int after.
LUMOS_ONNX_OP(LpPool, "LpPool", 1, kLatestOpset, window(inputs(1))) {
  const auto attributes = read_pool_window(node);
  require_unit_dilations(node, attributes);
  const double p = node.opset() < 2 ? node.f("p", 2.0f) : static_cast<double>(node.i("p", 2));
  return [attributes, p](const Tensors& in) {
    const auto& x = in[0];
    const auto window = resolve_pool_window(attributes, x);
    return Tensors{window_sums(x.abs().pow(p), window, attributes.ceil_mode).pow(1.0 / p)};
  };
}

LUMOS_ONNX_OP(GlobalAveragePool, "GlobalAveragePool", 1, kLatestOpset, inputs(1)) {
  return [](const Tensors& in) { return Tensors{in[0].mean(spatial_dims(in[0]), true)}; };
}

LUMOS_ONNX_OP(GlobalMaxPool, "GlobalMaxPool", 1, kLatestOpset, inputs(1)) {
  return [](const Tensors& in) { return Tensors{in[0].amax(spatial_dims(in[0]), true)}; };
}

LUMOS_ONNX_OP(GlobalLpPool, "GlobalLpPool", 1, kLatestOpset, inputs(1)) {
  const double p = node.opset() < 2 ? node.f("p", 2.0f) : static_cast<double>(node.i("p", 2));
  return [p](const Tensors& in) { return Tensors{at::norm(in[0], p, spatial_dims(in[0]), true)}; };
}

}  // namespace lumos::onnx
