// Operations on tensors that Keras records in a functional model's config: Keras 2
// wraps them in TFOpLambda layers ({"function": "math.multiply"}, the second operand in
// the call's kwargs), Keras 3 writes them as operations of keras.src.ops ("Add" with the
// operands as the call's args). keras.applications records x + 3.0, x * (1 / 6) and
// inputs + residual this way. lumos supports element-wise arithmetic and the common
// activations; any other operation is an error naming it.
#include "model/keras/layers/merge.hpp"

#include <ATen/ATen.h>

namespace lumos::keras {
namespace {

// One operand of a binary operation may be a constant; it broadcasts as numpy does.
Value binary(LayerCall& call, const std::string& op, const Operand& a, const Operand& b) {
  if (a.tensor && b.tensor) return elementwise(call, op, {*a.tensor, *b.tensor}, false, call.name);
  if (!a.tensor && !b.tensor) call.fail("has no tensor operand");
  const auto& x = a.tensor ? *a.tensor : *b.tensor;
  const auto constant = constant_from_json(call, a.tensor ? b.constant : a.constant, "the constant operand");
  if (constant.dim() > x.rank()) call.fail("its constant has more axes than its tensor");
  const auto name = call.graph.broadcast_constant(call.name + "/constant", constant, x);
  Value like_constant;
  like_constant.shape = constant.sizes().vec();
  Value y = x;
  y.shape = broadcast_shape(call, {x, like_constant});
  y.name = call.graph.node(op, a.tensor ? std::vector<std::string>{x.name, name} : std::vector<std::string>{name, x.name},
                           call.name);
  return y;
}

const std::map<std::string, std::string>& binary_ops() {
  static const std::map<std::string, std::string> ops = {
      {"add", "Add"},     {"subtract", "Sub"}, {"sub", "Sub"},      {"multiply", "Mul"}, {"mul", "Mul"},
      {"divide", "Div"},  {"truediv", "Div"},  {"true_divide", "Div"}, {"maximum", "Max"}, {"minimum", "Min"},
      {"pow", "Pow"},     {"power", "Pow"}};
  return ops;
}

// Activations by the names TensorFlow and Keras give the functions.
const std::map<std::string, std::string>& unary_activations() {
  static const std::map<std::string, std::string> ops = {
      {"relu", "relu"},       {"relu6", "relu6"},     {"sigmoid", "sigmoid"}, {"tanh", "tanh"},
      {"silu", "swish"},      {"swish", "swish"},     {"gelu", "gelu"},       {"softplus", "softplus"},
      {"elu", "elu"},         {"selu", "selu"},       {"hard_sigmoid", "hard_sigmoid"},
      {"hard_silu", "hard_swish"}, {"hard_swish", "hard_swish"}};
  return ops;
}

const std::map<std::string, std::string>& unary_ops() {
  static const std::map<std::string, std::string> ops = {
      {"negative", "Neg"}, {"neg", "Neg"}, {"abs", "Abs"}, {"absolute", "Abs"}, {"exp", "Exp"}, {"sqrt", "Sqrt"}};
  return ops;
}

// `function` names the operation in snake case ("add", "relu"); operands come from the
// call's args, then kwargs (TF's second operand is "y").
std::vector<Value> operation(LayerCall& call, const std::string& function) {
  std::vector<Operand> operands = call.args;
  for (const char* key : {"x", "y"}) {
    if (auto it = call.kwargs.find(key); it != call.kwargs.end()) operands.push_back(it->second);
  }
  if (auto it = binary_ops().find(function); it != binary_ops().end()) {
    if (operands.size() != 2) call.fail("operation '" + function + "' needs two operands");
    return {binary(call, it->second, operands[0], operands[1])};
  }
  if (operands.size() != 1 || !operands[0].tensor) call.fail("operation '" + function + "' needs one tensor operand");
  const auto& x = *operands[0].tensor;
  if (auto it = unary_ops().find(function); it != unary_ops().end()) {
    Value y = x;
    y.name = call.graph.node(it->second, {x.name}, call.name);
    return {y};
  }
  if (auto it = unary_activations().find(function); it != unary_activations().end()) {
    return {apply_activation(call, it->second, x, call.name)};
  }
  call.fail("operation '" + function + "' is not supported (lumos runs element-wise arithmetic and activations)");
}

// "HardSigmoid" -> "hard_sigmoid", "TrueDivide" -> "true_divide".
std::string snake(const std::string& name) {
  std::string out;
  for (size_t i = 0; i < name.size(); ++i) {
    if (std::isupper(static_cast<unsigned char>(name[i]))) {
      if (i) out += '_';
      out += static_cast<char>(std::tolower(static_cast<unsigned char>(name[i])));
    } else {
      out += name[i];
    }
  }
  return out;
}

std::vector<Value> keras3_operation(LayerCall& call) {
  // Operations keep no state; their config is their name.
  return operation(call, snake(call.class_name));
}

}  // namespace

LUMOS_KERAS_LAYER(TFOpLambda, "TFOpLambda") {
  auto function = call.config.text("function");
  // "math.multiply", "__operators__.add", "nn.relu": the last part names the operation.
  function = function.substr(function.rfind('.') + 1);
  call.kwargs.erase("name");
  return operation(call, function);
}

LUMOS_KERAS_LAYER(KerasOps, "ops.Add", "ops.Subtract", "ops.Multiply", "ops.Divide", "ops.TrueDivide", "ops.Maximum",
                  "ops.Minimum", "ops.Power", "ops.Negative", "ops.Absolute", "ops.Abs", "ops.Exp", "ops.Sqrt",
                  "ops.Relu", "ops.Relu6", "ops.Sigmoid", "ops.Tanh", "ops.Silu", "ops.Swish", "ops.Gelu",
                  "ops.Softplus", "ops.Elu", "ops.Selu", "ops.HardSigmoid", "ops.HardSilu", "ops.HardSwish") {
  return keras3_operation(call);
}

}  // namespace lumos::keras
