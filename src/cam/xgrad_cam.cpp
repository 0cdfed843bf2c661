// XGrad-CAM (Fu et al. 2020): channel weight = sum(g * A) / (sum(A) + eps).
#include "cam/cam_method.hpp"

#include <ATen/ATen.h>

namespace lumos::cam {

CamFormula xgrad_cam() {
  return {[](const LayerContext& c) {
    constexpr double eps = 1e-7;  // pytorch-grad-cam's
    const auto activation_sums = c.activations.sum({2, 3}, /*keepdim=*/true);
    const auto weights = (c.gradients * c.activations / (activation_sums + eps)).sum({2, 3});
    return channel_weighted(weights, c.activations);
  }};
}

}  // namespace lumos::cam
