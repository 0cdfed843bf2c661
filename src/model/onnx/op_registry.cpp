#include "model/onnx/op_registry.hpp"

#include "lumos/error.hpp"
#include "lumos/model.hpp"
#include "model/onnx/tensor_proto.hpp"
#include "util/checked.hpp"

#include <onnx/onnx_pb.h>

#include <atomic>

namespace lumos::onnx {

Node::Node(const ::onnx::NodeProto& proto, int opset, std::string model_dir)
    : proto_(proto), opset_(opset), model_dir_(std::move(model_dir)) {}

const std::string& Node::op_type() const { return proto_.op_type(); }
const std::string& Node::name() const { return proto_.name(); }
int Node::num_inputs() const { return proto_.input_size(); }
int Node::num_outputs() const { return proto_.output_size(); }
bool Node::has_input(int i) const { return i >= 0 && i < proto_.input_size() && !proto_.input(i).empty(); }

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
  return tensor_from_proto(a->t(), model_dir_);
}

std::string Node::label() const {
  if (!proto_.name().empty()) return proto_.name();
  return proto_.output_size() && !proto_.output(0).empty() ? proto_.output(0) : "?";
}

std::string Node::describe() const {
  return proto_.op_type() + " node '" + label() + "' (opset " + std::to_string(opset_) + ")";
}

void Node::fail(const std::string& message) const { throw ModelError(describe() + ": " + message); }

namespace {

std::atomic<int64_t> created_elements_limit{int64_t{1} << 30};

std::string count_text(int least, int most) {
  if (least == most) return std::to_string(least);
  if (most == kVariadic) return "at least " + std::to_string(least);
  return std::to_string(least) + " to " + std::to_string(most);
}

}  // namespace

int64_t max_created_elements() { return created_elements_limit.load(); }
void set_max_created_elements(int64_t elements) { created_elements_limit.store(elements); }

void check_created(at::IntArrayRef sizes, const std::string& what) {
  const auto count = checked_product(sizes);
  if (!count || *count > max_created_elements()) {
    throw ModelError(what + " would make a tensor of shape " + shape_string(sizes) + ", " +
                     (count ? std::to_string(*count) + " elements" : std::string("not a valid size")) +
                     " (lumos makes at most " + std::to_string(max_created_elements()) +
                     " from sizes given as data); the model asks for more than any classifier needs");
  }
}

void OpSignature::check(const Node& node) const {
  const int in = node.num_inputs();
  if (in < least_inputs_ || in > most_inputs_) {
    node.fail("takes " + count_text(least_inputs_, most_inputs_) + " input(s), the node lists " + std::to_string(in));
  }
  for (int i = 0; i < least_inputs_; ++i) {
    if (!node.has_input(i)) node.fail("input " + std::to_string(i) + " is required but left empty");
  }
  const int out = node.num_outputs();
  if (out < least_outputs_ || out > most_outputs_) {
    node.fail("has " + count_text(least_outputs_, most_outputs_) + " output(s), the node lists " + std::to_string(out));
  }
  for (const auto& range : ranges_) {
    const auto* a = node.find(range.attribute);
    if (!a) continue;
    const bool one = a->type() == ::onnx::AttributeProto::INT || (a->type() == 0 && a->ints_size() == 0);
    const bool many = a->type() == ::onnx::AttributeProto::INTS || (a->type() == 0 && a->ints_size() > 0);
    if (!one && !many) node.fail("attribute '" + range.attribute + "' must be an integer");
    const auto values = one ? std::vector<int64_t>{a->i()} : std::vector<int64_t>(a->ints().begin(), a->ints().end());
    for (auto v : values) {
      if (v < range.low || v > range.high) {
        node.fail("attribute '" + range.attribute + "' is " + std::to_string(v) + "; it must be between " +
                  std::to_string(range.low) + " and " + std::to_string(range.high));
      }
    }
  }
}

OpRegistry& OpRegistry::instance() {
  static OpRegistry registry;
  return registry;
}

bool OpRegistry::add(OpVersion version) {
  ops_[version.op_type].push_back(std::move(version));
  return true;
}

const OpVersion* OpRegistry::find(const std::string& op_type, int opset) const {
  auto it = ops_.find(op_type);
  if (it == ops_.end()) return nullptr;
  for (const auto& v : it->second) {
    if (v.since <= opset && opset <= v.until) return &v;
  }
  return nullptr;
}

bool OpRegistry::claims(const std::string& op_type) const { return ops_.count(op_type) > 0; }

std::vector<OpVersion> OpRegistry::all() const {
  std::vector<OpVersion> out;
  for (const auto& [name, versions] : ops_) out.insert(out.end(), versions.begin(), versions.end());
  return out;
}

}  // namespace lumos::onnx
