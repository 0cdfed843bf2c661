// Deconvolution (Zeiler & Fergus 2014; captum's Deconvolution): the input gradient with every
// ReLU passing back relu(gradient), whatever its input was.
#include "gradient/gradient_method.hpp"

namespace lumos::gradient {

GradientFormula deconvolution() {
  return {[](const GradientContext& c, const at::Tensor& inputs, const at::Tensor&, const std::vector<Target>& targets) {
    return input_gradients(c, inputs, targets, ReluRule::deconvolution);
  }};
}

}  // namespace lumos::gradient
