// Core layers: Dense, Identity, and the layers that only act in training (Dropout and
// its kin), which pass their input on at inference.
#include "model/keras/layer.hpp"

#include <ATen/ATen.h>

namespace lumos::keras {
namespace {

Value identity(LayerCall& call) {
  Value y = call.input();
  y.name = call.graph.node("Identity", {y.name}, call.name);
  return y;
}

}  // namespace

// Dense acts on the last axis. On a tensor stored with that axis moved to position 1
// (ConvNeXt's pointwise "convolutions" after a convolution) it runs as a 1x1 Conv.
LUMOS_KERAS_LAYER(Dense, "Dense") {
  auto& c = call.config;
  const int64_t units = c.integer("units");
  const bool use_bias = c.flag("use_bias", true);
  const auto& activation = c.get("activation");
  if (!c.get("quantization_config").is_null()) c.fail("quantized Dense layers are not supported");
  // LoRA factors are merged into the kernel Keras saves.
  c.ignore({"lora_rank", "lora_alpha"});
  const auto& x = call.input();
  if (x.rank() < 2) call.fail("needs an input of rank 2 or more, got shape " + shape_string(x.shape));
  const int64_t in = x.shape.back();
  if (in < 0) call.fail("the input's last axis has no size known from the model's input shape");
  const bool as_conv = x.channels_moved;
  const int64_t spatial = x.rank() - 2;
  std::vector<std::string> kinds{"kernel"};
  if (use_bias) kinds.push_back("bias");
  const auto weights = call.weight_constants(kinds, [&](std::vector<at::Tensor> w) {
    call.check_shape(w[0], "kernel", {in, units});
    if (use_bias) call.check_shape(w[1], "bias", {units});
    if (as_conv) {
      std::vector<int64_t> shape{units, in};
      shape.insert(shape.end(), spatial, 1);
      w[0] = channels_first_kernel(w[0]).reshape(shape);
    }
    return w;
  });
  Value y = x;
  y.shape.back() = units;
  const auto output = preactivation_name(call, activation);
  std::vector<std::string> operands{x.name, weights[0]};
  if (use_bias) operands.push_back(weights[1]);
  if (as_conv) {
    y.name = call.graph.node("Conv", operands, output, {{"kernel_shape", std::vector<int64_t>(spatial, 1)}});
  } else if (x.rank() == 2) {
    y.name = call.graph.node("Gemm", operands, output);
  } else {
    y.name = call.graph.node("MatMul", {x.name, weights[0]}, use_bias ? output + "/matmul" : output);
    if (use_bias) y.name = call.graph.node("Add", {y.name, weights[1]}, output);
  }
  return {apply_activation(call, activation, y, call.name)};
}

LUMOS_KERAS_LAYER(Identity, "Identity", "StochasticDepth") {
  // StochasticDepth (keras.applications.convnext) drops residual paths in training only.
  call.config.ignore({"drop_path_rate"});
  return {identity(call)};
}

LUMOS_KERAS_LAYER(Dropout, "Dropout", "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D", "AlphaDropout",
                  "GaussianDropout", "GaussianNoise", "ActivityRegularization") {
  call.config.ignore({"rate", "noise_shape", "seed", "stddev", "l1", "l2"});
  return {identity(call)};
}

}  // namespace lumos::keras
