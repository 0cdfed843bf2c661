// Backward rules that attribution methods put in place of ReLU's gradient (Guided
// Backpropagation, Deconvolution). The ONNX executor's Relu kernel asks for the rule in force
// on the running thread; the forward records it, so the backward that follows obeys it.
#pragma once

#include <ATen/core/Tensor.h>

namespace lumos {

enum class ReluRule {
  standard,       // d relu(x)/dx: the gradient where x > 0
  guided,         // Springenberg et al. 2015: relu(gradient) where x > 0
  deconvolution,  // Zeiler & Fergus 2014: relu(gradient), whatever x was
};

// Sets the rule for ReLUs run on this thread while the scope lives; restores the previous one.
class ReluRuleScope {
 public:
  explicit ReluRuleScope(ReluRule rule);
  ~ReluRuleScope();
  ReluRuleScope(const ReluRuleScope&) = delete;
  ReluRuleScope& operator=(const ReluRuleScope&) = delete;

 private:
  ReluRule previous_;
};

ReluRule current_relu_rule();

// relu(x); when autograd records it and a rule other than the standard one is in force, its
// backward is the rule's.
at::Tensor relu_with_rule(const at::Tensor& x);

}  // namespace lumos
