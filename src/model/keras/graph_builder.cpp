#include "model/keras/graph_builder.hpp"

#include "lumos/error.hpp"

#include <ATen/ATen.h>
#include <onnx/onnx_pb.h>

namespace lumos::keras {
namespace {

// Keras's order -> stored with the last axis at position 1, and back.
std::vector<int64_t> moving_permutation(int64_t rank, bool to_moved) {
  std::vector<int64_t> perm{0};
  if (to_moved) {
    perm.push_back(rank - 1);
    for (int64_t i = 1; i < rank - 1; ++i) perm.push_back(i);
  } else {
    for (int64_t i = 2; i < rank; ++i) perm.push_back(i);
    perm.push_back(1);
  }
  return perm;
}

void set_attribute(::onnx::AttributeProto& proto, const Attribute& attribute) {
  proto.set_name(attribute.name);
  if (auto* i = std::get_if<int64_t>(&attribute.value)) {
    proto.set_type(::onnx::AttributeProto::INT);
    proto.set_i(*i);
  } else if (auto* f = std::get_if<float>(&attribute.value)) {
    proto.set_type(::onnx::AttributeProto::FLOAT);
    proto.set_f(*f);
  } else if (auto* s = std::get_if<std::string>(&attribute.value)) {
    proto.set_type(::onnx::AttributeProto::STRING);
    proto.set_s(*s);
  } else if (auto* ints = std::get_if<std::vector<int64_t>>(&attribute.value)) {
    proto.set_type(::onnx::AttributeProto::INTS);
    for (auto v : *ints) proto.add_ints(v);
  } else if (auto* floats = std::get_if<std::vector<float>>(&attribute.value)) {
    proto.set_type(::onnx::AttributeProto::FLOATS);
    for (auto v : *floats) proto.add_floats(v);
  }
}

}  // namespace

std::vector<int64_t> Value::stored_shape() const {
  if (!channels_moved) return shape;
  std::vector<int64_t> out;
  for (auto axis : moving_permutation(rank(), true)) out.push_back(shape[axis]);
  return out;
}

int64_t Value::stored_axis(int64_t axis) const {
  const int64_t a = axis < 0 ? axis + rank() : axis;
  if (!channels_moved || a == 0) return a;
  return a == rank() - 1 ? 1 : a + 1;
}

GraphBuilder::GraphBuilder() : model_(std::make_unique<::onnx::ModelProto>()) {
  model_->set_ir_version(8);
  auto* opset = model_->add_opset_import();
  opset->set_domain("");
  opset->set_version(kGraphOpset);
}

GraphBuilder::~GraphBuilder() = default;
GraphBuilder::GraphBuilder(GraphBuilder&&) noexcept = default;

std::string GraphBuilder::fresh(const std::string& base) {
  std::string name = base;
  while (taken_.count(name)) name = base + "_" + std::to_string(++next_suffix_[base]);
  taken_.insert(name);
  return name;
}

std::string GraphBuilder::add_input(const std::string& name, const std::vector<int64_t>& stored_dims) {
  auto* input = model_->mutable_graph()->add_input();
  input->set_name(fresh(name));
  auto* tensor = input->mutable_type()->mutable_tensor_type();
  tensor->set_elem_type(::onnx::TensorProto::FLOAT);
  for (auto d : stored_dims) {
    auto* dim = tensor->mutable_shape()->add_dim();
    if (d >= 0) dim->set_dim_value(d);
  }
  return input->name();
}

void GraphBuilder::add_output(const std::string& name) { model_->mutable_graph()->add_output()->set_name(name); }

std::string GraphBuilder::node(const std::string& op, const std::vector<std::string>& inputs,
                               const std::string& output, const std::vector<Attribute>& attributes) {
  auto* node = model_->mutable_graph()->add_node();
  const auto name = fresh(output);
  node->set_op_type(op);
  node->set_name(name);
  for (const auto& in : inputs) node->add_input(in);
  node->add_output(name);
  for (const auto& attribute : attributes) set_attribute(*node->add_attribute(), attribute);
  return name;
}

std::string GraphBuilder::constant(const std::string& name, at::Tensor value) {
  const auto unique = fresh(name);
  constants_.emplace_back(unique, value.contiguous());
  return unique;
}

std::string GraphBuilder::int64s(const std::string& name, const std::vector<int64_t>& values) {
  return constant(name, at::tensor(values, at::kLong));
}

std::string GraphBuilder::scalar(const std::string& name, float value) {
  return constant(name, at::scalar_tensor(value, at::kFloat));
}

Value GraphBuilder::transposed(const Value& value, bool to_moved) {
  auto& cached = converted_[{value.name, to_moved}];
  Value out = value;
  out.channels_moved = to_moved;
  if (cached.empty()) {
    cached = node("Transpose", {value.name}, value.name + (to_moved ? "/channels_first" : "/channels_last"),
                  {{"perm", moving_permutation(value.rank(), to_moved)}});
  }
  out.name = cached;
  return out;
}

Value GraphBuilder::channels_at_1(const Value& value, bool channels_last) {
  if (value.rank() < 3) return value;
  const bool want_moved = channels_last;
  return value.channels_moved == want_moved ? value : transposed(value, want_moved);
}

Value GraphBuilder::keras_order(const Value& value) {
  return value.channels_moved ? transposed(value, false) : value;
}

std::vector<Value> GraphBuilder::stored_alike(const std::vector<Value>& values) {
  // Operands of lower rank broadcast against Keras's trailing axes: they meet the others
  // in Keras's order.
  bool moved = values.front().channels_moved;
  for (const auto& v : values) moved = moved && v.rank() == values.front().rank();
  std::vector<Value> out;
  for (const auto& v : values) out.push_back(v.rank() < 3 || v.channels_moved == moved ? v : transposed(v, moved));
  return out;
}

std::string GraphBuilder::broadcast_constant(const std::string& name, at::Tensor value, const Value& like) {
  if (value.dim() == 0 || !like.channels_moved) return constant(name, value);
  auto shape = value.sizes().vec();
  if (static_cast<int64_t>(shape.size()) > like.rank()) {
    throw ModelError("constant '" + name + "' of rank " + std::to_string(shape.size()) +
                     " does not broadcast against a tensor of rank " + std::to_string(like.rank()));
  }
  shape.insert(shape.begin(), like.rank() - shape.size(), 1);
  return constant(name, value.reshape(shape).permute(moving_permutation(like.rank(), true)));
}

void GraphBuilder::expose(const Value& value, const std::string& maker) {
  exposed_[value.name] = maker;
  if (value.rank() == 4) {
    layouts_[value.name] = value.channels_moved || !value.channels_last ? Layout::NCHW : Layout::NHWC;
  }
}

::onnx::ModelProto& GraphBuilder::model() { return *model_; }

std::vector<std::pair<std::string, at::Tensor>> GraphBuilder::take_constants() { return std::move(constants_); }

}  // namespace lumos::keras
