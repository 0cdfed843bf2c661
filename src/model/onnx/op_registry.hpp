// The ONNX operator registry: one entry per operator and opset range, each a factory
// that reads a node's attributes once and returns the kernel run on every forward.
//
// Adding an operator touches one file: define a factory in an ops/ file and register it
//   LUMOS_ONNX_OP(Relu, "Relu", 6, kLatestOpset) { return [](const Tensors& in) { ... }; }
#pragma once

#include <ATen/ATen.h>

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace onnx {
class NodeProto;
class AttributeProto;
}  // namespace onnx

namespace lumos::onnx {

using Tensors = std::vector<at::Tensor>;

// The newest opset lumos knows; ranges ending here mean "up to now".
constexpr int kLatestOpset = 18;

// A node with typed access to its attributes. Optional inputs that the node leaves
// empty arrive in a kernel's inputs as undefined tensors.
class Node {
 public:
  Node(const ::onnx::NodeProto& proto, int opset);

  const std::string& op_type() const;
  const std::string& name() const;
  int opset() const { return opset_; }
  int num_inputs() const;
  int num_outputs() const;

  bool has(const std::string& attribute) const;
  int64_t i(const std::string& attribute, int64_t fallback) const;
  float f(const std::string& attribute, float fallback) const;
  std::string s(const std::string& attribute, const std::string& fallback) const;
  std::vector<int64_t> ints(const std::string& attribute, std::vector<int64_t> fallback = {}) const;
  std::vector<float> floats(const std::string& attribute, std::vector<float> fallback = {}) const;
  at::Tensor t(const std::string& attribute) const;  // throws if absent

  // "Conv node 'conv1' (opset 13)": for error messages.
  std::string describe() const;
  // Throws ModelError: "<describe()>: <message>".
  [[noreturn]] void fail(const std::string& message) const;

 private:
  const ::onnx::AttributeProto* find(const std::string& attribute) const;

  const ::onnx::NodeProto& proto_;
  int opset_;
};

using Kernel = std::function<Tensors(const Tensors& inputs)>;
using KernelFactory = Kernel (*)(const Node& node);

struct OpVersion {
  std::string op_type;
  int since;  // first opset this kernel implements
  int until;  // last opset this kernel implements
  KernelFactory make;
};

class OpRegistry {
 public:
  static OpRegistry& instance();

  bool add(OpVersion version);
  // The kernel factory for op_type at the model's opset, or nothing.
  std::optional<KernelFactory> find(const std::string& op_type, int opset) const;
  // Whether any opset of op_type is implemented.
  bool claims(const std::string& op_type) const;
  std::vector<OpVersion> all() const;

 private:
  std::map<std::string, std::vector<OpVersion>> ops_;
};

#define LUMOS_ONNX_CONCAT_INNER(a, b) a##b
#define LUMOS_ONNX_CONCAT(a, b) LUMOS_ONNX_CONCAT_INNER(a, b)

// Defines a kernel factory `make_<id>(const Node& node)` and registers it for op_type
// in opsets [since, until]. `id` must be unique in the library.
#define LUMOS_ONNX_OP(id, op_type, since, until)                                        \
  static ::lumos::onnx::Kernel make_##id(const ::lumos::onnx::Node& node);             \
  [[maybe_unused]] static const bool LUMOS_ONNX_CONCAT(registered_, id) =              \
      ::lumos::onnx::OpRegistry::instance().add({op_type, since, until, &make_##id});  \
  static ::lumos::onnx::Kernel make_##id([[maybe_unused]] const ::lumos::onnx::Node& node)

}  // namespace lumos::onnx
