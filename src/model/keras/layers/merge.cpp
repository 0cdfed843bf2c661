// Merge layers: Add, Subtract, Multiply, Average, Maximum, Minimum (element-wise, with
// broadcasting) and Concatenate.
#include "model/keras/layers/merge.hpp"

namespace lumos::keras {

std::vector<int64_t> broadcast_shape(const LayerCall& call, const std::vector<Value>& values) {
  std::vector<int64_t> shape;
  for (const auto& v : values) {
    if (v.rank() > static_cast<int64_t>(shape.size())) shape.insert(shape.begin(), v.rank() - shape.size(), 1);
    for (int64_t i = 1; i <= v.rank(); ++i) {
      auto& out = shape[shape.size() - i];
      const int64_t d = v.shape[v.rank() - i];
      if (out == 1 || (out < 0 && d > 1)) {
        out = d;
      } else if (d != 1 && d >= 0 && out >= 0 && d != out) {
        call.fail("cannot combine tensors of shapes " + shape_string(values.front().shape) + " and " +
                  shape_string(v.shape));
      }
    }
  }
  return shape;
}

Value elementwise(LayerCall& call, const std::string& op, const std::vector<Value>& operands, bool variadic,
                  const std::string& output) {
  if (operands.size() < 2) call.fail("needs at least two inputs, got " + std::to_string(operands.size()));
  const auto values = call.graph.stored_alike(operands);
  Value y = values.front();
  y.shape = broadcast_shape(call, values);
  if (variadic) {
    std::vector<std::string> names;
    for (const auto& v : values) names.push_back(v.name);
    y.name = call.graph.node(op, names, output);
    return y;
  }
  // Pairwise, as Keras folds them (Add and Mul may reuse an operand's memory).
  for (size_t i = 1; i < values.size(); ++i) {
    y.name = call.graph.node(op, {y.name, values[i].name}, i + 1 == values.size() ? output : output + "/" + std::to_string(i));
  }
  return y;
}

LUMOS_KERAS_LAYER(Add, "Add") { return {elementwise(call, "Add", call.inputs, false, call.name)}; }

LUMOS_KERAS_LAYER(Multiply, "Multiply") { return {elementwise(call, "Mul", call.inputs, false, call.name)}; }

LUMOS_KERAS_LAYER(Maximum, "Maximum") { return {elementwise(call, "Max", call.inputs, true, call.name)}; }

LUMOS_KERAS_LAYER(Minimum, "Minimum") { return {elementwise(call, "Min", call.inputs, true, call.name)}; }

LUMOS_KERAS_LAYER(Average, "Average") { return {elementwise(call, "Mean", call.inputs, true, call.name)}; }

LUMOS_KERAS_LAYER(Subtract, "Subtract") {
  if (call.inputs.size() != 2) call.fail("takes exactly two inputs, got " + std::to_string(call.inputs.size()));
  return {elementwise(call, "Sub", call.inputs, false, call.name)};
}

LUMOS_KERAS_LAYER(Concatenate, "Concatenate") {
  auto& c = call.config;
  const int64_t axis = c.integer("axis", -1);
  if (call.inputs.size() < 2) call.fail("needs at least two inputs, got " + std::to_string(call.inputs.size()));
  const auto values = call.graph.stored_alike(call.inputs);
  const int64_t rank = values.front().rank();
  const int64_t a = axis < 0 ? axis + rank : axis;
  if (a <= 0 || a >= rank) call.fail("axis " + std::to_string(axis) + " is out of range for inputs of rank " + std::to_string(rank));
  Value y = values.front();
  std::vector<std::string> names;
  for (const auto& v : values) {
    if (v.rank() != rank) call.fail("inputs have different ranks");
    names.push_back(v.name);
    if (&v != &values.front()) y.shape[a] = y.shape[a] < 0 || v.shape[a] < 0 ? -1 : y.shape[a] + v.shape[a];
  }
  y.name = call.graph.node("Concat", names, call.name, {{"axis", y.stored_axis(a)}});
  return {y};
}

}  // namespace lumos::keras
