// Grad-CAM++ as Keras code computes it (samson6460/tf_keras_gradcamplusplus, the TF2 form of
// the authors' formula): the first, second and third derivatives
// of the class's softmax probability with respect to the activations by nested automatic
// differentiation (each the gradient of the sum of the previous one, as nested GradientTapes),
//   alpha = g2 / (2 g2 + g3 * sum_ab(A)),  zero denominators replaced by 1e-10,
//   alpha /= sum_ij(alpha) per channel,    weight = sum_ij relu(g1) * alpha;
// the map is ReLU, divided by its maximum, then resized.
#include "cam/cam_method.hpp"

#include <ATen/ATen.h>

namespace lumos::cam {

CamFormula grad_cam_plus_plus_keras() {
  CamFormula formula{[](const LayerContext& c) {
    const auto zero = at::zeros({}, c.activations.options());
    const auto global_sum = c.activations.sum({2, 3}, /*keepdim=*/true);
    auto denominator = 2 * c.second_gradients + c.third_gradients * global_sum;
    denominator = at::where(denominator != 0, denominator, at::full({}, 1e-10, denominator.options()));
    auto alphas = c.second_gradients / denominator;
    // A channel whose alphas sum to 0 (its gradient is zero everywhere) keeps zero weight; the
    // Keras code divides 0 by 0 there, and the NaN spreads over the whole map.
    const auto alpha_sums = alphas.sum({2, 3}, /*keepdim=*/true);
    alphas = at::where(alpha_sums != 0, alphas / alpha_sums, zero);
    return channel_weighted((at::relu(c.gradients) * alphas).sum({2, 3}), c.activations);
  }};
  formula.derivatives = 3;
  formula.explained = Explained::probability;
  formula.normalisation = Normalisation::max_then_resize;
  return formula;
}

}  // namespace lumos::cam
