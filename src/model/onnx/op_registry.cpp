#include "model/onnx/op_registry.hpp"

#include "lumos/error.hpp"
#include "model/onnx/tensor_proto.hpp"

#include <onnx/onnx_pb.h>

namespace lumos::onnx {

Node::Node(const ::onnx::NodeProto& proto, int opset) : proto_(proto), opset_(opset) {}

const std::string& Node::op_type() const { return proto_.op_type(); }
const std::string& Node::name() const { return proto_.name(); }
int Node::num_inputs() const { return proto_.input_size(); }
int Node::num_outputs() const { return proto_.output_size(); }

const ::onnx::AttributeProto* Node::find(const std::string& attribute) const {
  for (const auto& a : proto_.attribute()) {
    if (a.name() == attribute) return &a;
  }
  return nullptr;
}

bool Node::has(const std::string& attribute) const { return find(attribute) != nullptr; }

int64_t Node::i(const std::string& attribute, int64_t fallback) const {
  const auto* a = find(attribute);
  return a ? a->i() : fallback;
}

float Node::f(const std::string& attribute, float fallback) const {
  const auto* a = find(attribute);
  return a ? a->f() : fallback;
}

std::string Node::s(const std::string& attribute, const std::string& fallback) const {
  const auto* a = find(attribute);
  return a ? a->s() : fallback;
}

std::vector<int64_t> Node::ints(const std::string& attribute, std::vector<int64_t> fallback) const {
  const auto* a = find(attribute);
  if (!a) return fallback;
  return {a->ints().begin(), a->ints().end()};
}

std::vector<float> Node::floats(const std::string& attribute, std::vector<float> fallback) const {
  const auto* a = find(attribute);
  if (!a) return fallback;
  return {a->floats().begin(), a->floats().end()};
}

at::Tensor Node::t(const std::string& attribute) const {
  const auto* a = find(attribute);
  if (!a || !a->has_t()) fail("missing tensor attribute '" + attribute + "'");
  return tensor_from_proto(a->t(), "");
}

std::string Node::describe() const {
  std::string label = proto_.name().empty() ? (proto_.output_size() ? proto_.output(0) : "?") : proto_.name();
  return proto_.op_type() + " node '" + label + "' (opset " + std::to_string(opset_) + ")";
}

void Node::fail(const std::string& message) const { throw ModelError(describe() + ": " + message); }

OpRegistry& OpRegistry::instance() {
  static OpRegistry registry;
  return registry;
}

bool OpRegistry::add(OpVersion version) {
  ops_[version.op_type].push_back(std::move(version));
  return true;
}

std::optional<KernelFactory> OpRegistry::find(const std::string& op_type, int opset) const {
  auto it = ops_.find(op_type);
  if (it == ops_.end()) return std::nullopt;
  for (const auto& v : it->second) {
    if (v.since <= opset && opset <= v.until) return v.make;
  }
  return std::nullopt;
}

bool OpRegistry::claims(const std::string& op_type) const { return ops_.count(op_type) > 0; }

std::vector<OpVersion> OpRegistry::all() const {
  std::vector<OpVersion> out;
  for (const auto& [name, versions] : ops_) out.insert(out.end(), versions.begin(), versions.end());
  return out;
}

}  // namespace lumos::onnx
