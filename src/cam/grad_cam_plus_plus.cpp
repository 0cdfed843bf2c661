// Grad-CAM++ (Chattopadhyay et al. 2018, eq. 19) in the closed form that exp(score) gives:
// the 2nd and 3rd derivatives are g^2 and g^3, so
//   alpha = g^2 / (2 g^2 + sum_ab(A) g^3 + eps),  alpha = 0 where g = 0,
//   weight = sum_ij alpha * relu(g).
#include "cam/cam_method.hpp"

#include <ATen/ATen.h>

namespace lumos::cam {

CamFormula grad_cam_plus_plus() {
  return {[](const LayerContext& c) {
    constexpr double eps = 1e-6;  // pytorch-grad-cam's
    const auto& g = c.gradients;
    const auto g2 = g * g;
    const auto g3 = g2 * g;
    const auto activation_sums = c.activations.sum({2, 3}, /*keepdim=*/true);
    auto alpha = g2 / (2 * g2 + activation_sums * g3 + eps);
    alpha = at::where(g != 0, alpha, at::zeros({}, alpha.options()));
    return channel_weighted((at::relu(g) * alpha).sum({2, 3}), c.activations);
  }};
}

}  // namespace lumos::cam
