// Normalizations: BatchNormalization, InstanceNormalization, LayerNormalization, LRN.
#include "lumos/error.hpp"
#include "model/onnx/op_registry.hpp"

namespace lumos::onnx {
namespace {

void require_channels(const at::Tensor& x, const char* op) {
  if (x.dim() < 2) {
    throw ModelError(std::string(op) + " needs an (N, C, ...) input; got rank " + std::to_string(x.dim()));
  }
}

// Y = scale * (X - mean) / sqrt(var + epsilon) + bias with the given statistics.
// Before opset 9, `spatial = 0` models carry statistics per (C, D1, ...) entry; those
// normalize as a batch norm over C * D1 * ... channels.
at::Tensor batch_norm_inference(const at::Tensor& x, const at::Tensor& scale, const at::Tensor& bias,
                                const at::Tensor& mean, const at::Tensor& var, double epsilon) {
  require_channels(x, "BatchNormalization");
  if (scale.numel() == x.size(1) || x.dim() == 2) {
    return at::batch_norm(x, scale, bias, mean, var, false, 0.0, epsilon, false);
  }
  const auto flat = x.reshape({x.size(0), scale.numel(), -1});
  return at::batch_norm(flat, scale.reshape(-1), bias.reshape(-1), mean.reshape(-1), var.reshape(-1), false, 0.0,
                        epsilon, false)
      .reshape(x.sizes());
}

}  // namespace

// Opset 14 on, training_mode = 1 normalizes with the batch's own statistics and also
// returns the updated running statistics (ONNX uses the biased batch variance).
LUMOS_ONNX_OP(BatchNormalization, "BatchNormalization", 1, kLatestOpset, inputs(5).outputs(1, 5)) {
  const double epsilon = node.f("epsilon", 1e-5f);
  const double momentum = node.f("momentum", 0.9f);
  const bool training = node.opset() >= 14 && node.i("training_mode", 0) != 0;
  return [epsilon, momentum, training](const Tensors& in) {
    const auto& x = in[0];
    if (!training) return Tensors{batch_norm_inference(x, in[1], in[2], in[3], in[4], epsilon)};
    require_channels(x, "BatchNormalization");
    std::vector<int64_t> dims{0};
    for (int64_t d = 2; d < x.dim(); ++d) dims.push_back(d);
    const auto batch_mean = x.mean(dims);
    const auto batch_var = x.var(dims, false);
    const auto y = batch_norm_inference(x, in[1], in[2], batch_mean, batch_var, epsilon);
    return Tensors{y, in[3] * momentum + batch_mean * (1 - momentum), in[4] * momentum + batch_var * (1 - momentum)};
  };
}

LUMOS_ONNX_OP(InstanceNormalization, "InstanceNormalization", 1, kLatestOpset, inputs(3)) {
  const double epsilon = node.f("epsilon", 1e-5f);
  return [epsilon](const Tensors& in) {
    require_channels(in[0], "InstanceNormalization");
    return Tensors{at::instance_norm(in[0], in[1], in[2], at::Tensor(), at::Tensor(), true, 0.0, epsilon, false)};
  };
}

// Normalizes over the dimensions from `axis` on; also returns Mean and InvStdDev with
// those dimensions kept as 1. stash_type (default float) is the precision of the
// statistics, so half-precision inputs are normalized in float.
LUMOS_ONNX_OP(LayerNormalization, "LayerNormalization", 17, kLatestOpset, inputs(2, 3).outputs(1, 3)) {
  const int64_t axis_attribute = node.i("axis", -1);
  const double epsilon = node.f("epsilon", 1e-5f);
  const int64_t stash_type = node.i("stash_type", 1);
  if (stash_type != 1 && stash_type != 11) node.fail("stash_type must be 1 (float) or 11 (double)");
  const auto stash = stash_type == 11 ? at::kDouble : at::kFloat;
  return [axis_attribute, epsilon, stash](const Tensors& in) {
    const auto& x = in[0];
    const int64_t rank = x.dim();
    const int64_t axis = axis_attribute < 0 ? axis_attribute + rank : axis_attribute;
    if (axis < 0 || axis >= rank) {
      throw ModelError("axis " + std::to_string(axis_attribute) + " is out of range for an input of rank " +
                       std::to_string(rank));
    }
    const bool reduced = x.scalar_type() == at::kHalf || x.scalar_type() == at::kBFloat16;
    const bool widen = reduced || stash == at::kDouble;
    const auto compute_type = widen ? stash : x.scalar_type();
    const at::Tensor bias = in.size() > 2 ? in[2] : at::Tensor();
    auto [y, mean, inv_std] = at::native_layer_norm(x.to(compute_type), x.sizes().slice(axis), in[1].to(compute_type),
                                                    bias.defined() ? bias.to(compute_type) : bias, epsilon);
    std::vector<int64_t> stats_shape(x.sizes().begin(), x.sizes().begin() + axis);
    stats_shape.resize(rank, 1);
    return Tensors{y.to(x.scalar_type()), mean.reshape(stats_shape).to(stash), inv_std.reshape(stats_shape).to(stash)};
  };
}

// Y = X / (bias + alpha / size * sum of X^2 over `size` neighbouring channels)^beta,
// the window reaching floor((size-1)/2) channels back and ceil((size-1)/2) forward.
LUMOS_ONNX_OP(LRN, "LRN", 1, kLatestOpset, inputs(1).range("size", 1, kMaxExtent)) {
  const double alpha = node.f("alpha", 1e-4f);
  const double beta = node.f("beta", 0.75f);
  const double bias = node.f("bias", 1.0f);
  const int64_t size = node.i("size", 0);
  if (size < 1) node.fail("size must be a positive number of channels");
  return [alpha, beta, bias, size](const Tensors& in) {
    const auto& x = in[0];
    require_channels(x, "LRN");
    // Channel windows as a (size x 1) average pool over (N, 1, C, rest).
    const auto squares = (x * x).reshape({x.size(0), 1, x.size(1), -1});
    const auto padded = at::constant_pad_nd(squares, {0, 0, (size - 1) / 2, size / 2}, 0.0);
    const auto mean_squares = at::avg_pool2d(padded, {size, 1}, {1, 1}).reshape(x.sizes());
    return Tensors{x / (bias + alpha * mean_squares).pow(beta)};
  };
}

}  // namespace lumos::onnx
