// Gradient x input (Shrikumar et al. 2016; captum's InputXGradient).
#include "gradient/gradient_method.hpp"

#include <ATen/ATen.h>

namespace lumos::gradient {

GradientFormula gradient_x_input() {
  return {[](const GradientContext& c, const at::Tensor& inputs, const at::Tensor&, const std::vector<Target>& targets) {
    auto result = input_gradients(c, inputs, targets);
    result.values = result.values * inputs;
    return result;
  }};
}

}  // namespace lumos::gradient
