// Saliency (Simonyan et al. 2014): the gradient of the target's score with respect to the
// input, signed (captum's Saliency with abs=False; the map takes the magnitude).
#include "gradient/gradient_method.hpp"

namespace lumos::gradient {

GradientFormula saliency() {
  return {[](const GradientContext& c, const at::Tensor& inputs, const at::Tensor&, const std::vector<Target>& targets) {
    return input_gradients(c, inputs, targets);
  }};
}

}  // namespace lumos::gradient
