// Layer classes keras.applications defines itself: ConvNeXt's LayerScale (x * gamma
// along the last axis). Its StochasticDepth is an identity at inference (core.cpp).
#include "model/keras/layer.hpp"

#include <ATen/ATen.h>

namespace lumos::keras {

LUMOS_KERAS_LAYER(LayerScale, "LayerScale") {
  auto& c = call.config;
  const int64_t dim = c.integer("projection_dim");
  c.ignore({"init_values"});
  const auto& x = call.input();
  if (x.shape.back() >= 0 && x.shape.back() != dim) {
    call.fail("projection_dim " + std::to_string(dim) + " does not match the input's last axis " +
              std::to_string(x.shape.back()));
  }
  const auto gamma = call.weights({"gamma"}).front();
  call.check_shape(gamma, "gamma", {dim});
  Value y = x;
  y.name = call.graph.node("Mul", {x.name, call.graph.broadcast_constant(call.name + "/gamma", gamma, x)}, call.name);
  return {y};
}

}  // namespace lumos::keras
