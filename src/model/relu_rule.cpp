#include "model/relu_rule.hpp"

#include <ATen/ATen.h>
#include <torch/csrc/autograd/custom_function.h>

namespace lumos {
namespace {

thread_local ReluRule current_rule = ReluRule::standard;

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// The backward of captum's hooks on nn.ReLU: relu(grad_input) for guided backpropagation
// (grad_input is the gradient masked by x > 0), relu(grad_output) for deconvolution.
template <ReluRule rule>
struct RuledRelu : torch::autograd::Function<RuledRelu<rule>> {
  static at::Tensor forward(AutogradContext* context, const at::Tensor& x) {
    auto y = at::relu(x);
    context->save_for_backward({y});
    return y;
  }
  static variable_list backward(AutogradContext* context, variable_list gradients) {
    const auto passed = at::relu(gradients[0]);
    if (rule == ReluRule::deconvolution) return {passed};
    return {passed * (context->get_saved_variables()[0] > 0)};
  }
};

}  // namespace

ReluRuleScope::ReluRuleScope(ReluRule rule) : previous_(current_rule) { current_rule = rule; }
ReluRuleScope::~ReluRuleScope() { current_rule = previous_; }

ReluRule current_relu_rule() { return current_rule; }

at::Tensor relu_with_rule(const at::Tensor& x) {
  if (current_rule == ReluRule::standard || !at::GradMode::is_enabled() || !x.requires_grad()) return at::relu(x);
  if (current_rule == ReluRule::guided) return RuledRelu<ReluRule::guided>::apply(x);
  return RuledRelu<ReluRule::deconvolution>::apply(x);
}

}  // namespace lumos
