// Guided Backpropagation (Springenberg et al. 2015; captum's GuidedBackprop): the input
// gradient with every ReLU passing back relu(gradient) where its input was positive.
#include "gradient/gradient_method.hpp"

namespace lumos::gradient {

GradientFormula guided_backprop() {
  return {[](const GradientContext& c, const at::Tensor& inputs, const at::Tensor&, const std::vector<Target>& targets) {
    return input_gradients(c, inputs, targets, ReluRule::guided);
  }};
}

}  // namespace lumos::gradient
