// The ONNX operator registry: one entry per operator and opset range, each a factory
// that reads a node's attributes once and returns the kernel run on every forward.
//
// Adding an operator touches one file: define a factory in an ops/ file and register it
// with its signature, the inputs and outputs a node may have and the range of each
// integer attribute the kernel relies on:
//
//   LUMOS_ONNX_OP(Relu, "Relu", 6, kLatestOpset, inputs(1)) { return [](const Tensors& in) { ... }; }
//   LUMOS_ONNX_OP(Conv, "Conv", 1, kLatestOpset, inputs(2, 3).range("group", 1, kMaxExtent)) { ... }
//
// The graph checks every node against its entry's signature once, when the model is
// loaded, before the factory runs. So a kernel may index its first `least` inputs without
// looking (they are present and named), must check `in.size()` only for the optional ones
// after them, and may trust every declared attribute to be an integer within its range.
#pragma once

#include <ATen/ATen.h>

#include <functional>
#include <limits>
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
  // model_dir: the model file's folder, where tensor attributes may keep external data
  // ("" when the model did not come from a file).
  Node(const ::onnx::NodeProto& proto, int opset, std::string model_dir = "");

  const std::string& op_type() const;
  const std::string& name() const;
  int opset() const { return opset_; }
  int num_inputs() const;
  int num_outputs() const;
  // Whether input i is given (listed and not the empty name of an omitted optional input).
  bool has_input(int i) const;

  bool has(const std::string& attribute) const;
  int64_t i(const std::string& attribute, int64_t fallback) const;
  float f(const std::string& attribute, float fallback) const;
  std::string s(const std::string& attribute, const std::string& fallback) const;
  std::vector<int64_t> ints(const std::string& attribute, std::vector<int64_t> fallback = {}) const;
  std::vector<float> floats(const std::string& attribute, std::vector<float> fallback = {}) const;
  at::Tensor t(const std::string& attribute) const;  // throws if absent
  // The attribute as stored, or nullptr.
  const ::onnx::AttributeProto* find(const std::string& attribute) const;

  // The node's name, else its first output's: for error messages.
  std::string label() const;
  // "Conv node 'conv1' (opset 13)": for error messages.
  std::string describe() const;
  // Throws ModelError: "<describe()>: <message>".
  [[noreturn]] void fail(const std::string& message) const;

 private:
  const ::onnx::NodeProto& proto_;
  int opset_;
  std::string model_dir_;
};

using Kernel = std::function<Tensors(const Tensors& inputs)>;
using KernelFactory = Kernel (*)(const Node& node);

// For "any number of inputs (or outputs)" in a signature.
constexpr int kVariadic = std::numeric_limits<int>::max();
// The largest kernel size, stride, dilation, padding or group count lumos accepts. Real
// models stay far below it; the bound keeps every product of two such numbers with a
// tensor size inside int64_t.
constexpr int64_t kMaxExtent = int64_t{1} << 20;

// The most elements an op may make from sizes that are data (Resize's sizes or scales,
// Expand's and ConstantOfShape's shape, Tile's repeats, Range's bounds, Pad's pads):
// such a size is a number in the file, not a tensor that exists, so it is checked before
// anything is allocated. Default 2^30 (4 GiB of float32); the fuzzers lower it.
int64_t max_created_elements();
void set_max_created_elements(int64_t elements);
// Throws ModelError naming `what` if a tensor of `sizes` is not a valid size (negative,
// overflowing) or has more than max_created_elements() elements.
void check_created(at::IntArrayRef sizes, const std::string& what);

// What a node of an operator may look like: how many inputs and outputs, and the range
// of integer attributes (for an INTS attribute, of each entry).
class OpSignature {
 public:
  OpSignature(int least_inputs, int most_inputs) : least_inputs_(least_inputs), most_inputs_(most_inputs) {}

  // Outputs the node may list (default: exactly 1).
  OpSignature& outputs(int least, int most) {
    least_outputs_ = least;
    most_outputs_ = most;
    return *this;
  }
  OpSignature& outputs(int count) { return outputs(count, count); }
  // The attribute, when present, must be an integer (or integers) in [low, high].
  OpSignature& range(std::string attribute, int64_t low, int64_t high) {
    ranges_.push_back({std::move(attribute), low, high});
    return *this;
  }

  int least_inputs() const { return least_inputs_; }
  int most_inputs() const { return most_inputs_; }
  int least_outputs() const { return least_outputs_; }
  int most_outputs() const { return most_outputs_; }

  // Throws ModelError naming the node and what is wrong: too few or too many inputs or
  // outputs, a required input left empty, an attribute of the wrong type or out of range.
  void check(const Node& node) const;

 private:
  struct Range {
    std::string attribute;
    int64_t low, high;
  };
  int least_inputs_, most_inputs_;
  int least_outputs_ = 1, most_outputs_ = 1;
  std::vector<Range> ranges_;
};

// A signature taking exactly `count` inputs, or between `least` and `most` (the first
// `least` required, the rest optional); one output unless .outputs() says otherwise.
inline OpSignature inputs(int count) { return OpSignature(count, count); }
inline OpSignature inputs(int least, int most) { return OpSignature(least, most); }

struct OpVersion {
  std::string op_type;
  int since;  // first opset this kernel implements
  int until;  // last opset this kernel implements
  OpSignature signature;
  KernelFactory make;
};

class OpRegistry {
 public:
  static OpRegistry& instance();

  bool add(OpVersion version);
  // The entry for op_type at the model's opset, or nullptr.
  const OpVersion* find(const std::string& op_type, int opset) const;
  // Whether any opset of op_type is implemented.
  bool claims(const std::string& op_type) const;
  std::vector<OpVersion> all() const;

 private:
  std::map<std::string, std::vector<OpVersion>> ops_;
};

#define LUMOS_ONNX_CONCAT_INNER(a, b) a##b
#define LUMOS_ONNX_CONCAT(a, b) LUMOS_ONNX_CONCAT_INNER(a, b)

// Defines a kernel factory `make_<id>(const Node& node)` and registers it for op_type
// in opsets [since, until] with `signature` (an OpSignature, e.g. inputs(2, 3)). `id`
// must be unique in the library.
#define LUMOS_ONNX_OP(id, op_type, since, until, signature)                                        \
  static ::lumos::onnx::Kernel make_##id(const ::lumos::onnx::Node& node);                        \
  [[maybe_unused]] static const bool LUMOS_ONNX_CONCAT(registered_, id) =                         \
      ::lumos::onnx::OpRegistry::instance().add({op_type, since, until, signature, &make_##id});  \
  static ::lumos::onnx::Kernel make_##id([[maybe_unused]] const ::lumos::onnx::Node& node)

}  // namespace lumos::onnx
