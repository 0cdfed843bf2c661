// An ONNX graph made ready to run on ATen: nodes in dependency order, each with its
// kernel built, values held in numbered slots and freed after their last use.
#pragma once

#include "model/onnx/op_registry.hpp"

#include <functional>
#include <map>
#include <string>
#include <unordered_map>
#include <vector>

namespace onnx {
class ModelProto;
}

namespace lumos::onnx {

struct ValueInfo {
  std::string name;
  int32_t elem_type = 0;      // ONNX TensorProto.DataType, 0 if unknown
  std::vector<int64_t> dims;  // -1 where the file gives no fixed size
};

class Graph {
 public:
  // Reads an .onnx file; throws ModelError (unreadable, invalid) or UnsupportedOpError.
  static Graph load(const std::string& path);
  // model_dir: the folder external data files are read from ("" for a model that did not
  // come from a file, which then may not have external data).
  Graph(const ::onnx::ModelProto& model, const std::string& model_dir);

  int opset() const { return opset_; }
  // The model file's metadata_props.
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  // Inputs the caller feeds (graph inputs that are not initializers), in order.
  const std::vector<ValueInfo>& inputs() const { return inputs_; }
  const std::vector<ValueInfo>& outputs() const { return outputs_; }

  int num_slots() const { return static_cast<int>(slot_names_.size()); }
  const std::string& slot_name(int slot) const { return slot_names_[slot]; }
  int slot(const std::string& value_name) const;  // -1 if no such value
  // The op that produces a slot ("input", "initializer" for the others).
  const std::string& producer_op(int slot) const { return producer_op_[slot]; }
  // The node name that produces a slot (empty for inputs, initializers, unnamed nodes).
  const std::string& producer_node(int slot) const { return producer_node_[slot]; }
  // Slot of the first input of the node producing `slot`, or -1.
  int producer_input(int slot) const { return producer_input_[slot]; }
  // Slot of the value produced by the node called `node_name`, or -1.
  int node_output(const std::string& node_name) const;

  // Called with each value as it is produced; may replace it (e.g. by a grad leaf).
  using ValueHook = std::function<void(int slot, at::Tensor& value)>;

  // Values set by the caller instead of computed, by slot.
  using GivenValues = std::unordered_map<int, at::Tensor>;

  // Runs the nodes needed for `wanted` slots; `feeds` follow inputs(). Nodes that only
  // lead to `given` values do not run. Returns the wanted values. Throws ModelError
  // naming the node if a kernel fails.
  Tensors run(const Tensors& feeds, const std::vector<int>& wanted, const ValueHook& hook = {},
              const GivenValues& given = {}) const;

 private:
  struct Step {
    Kernel kernel;
    std::vector<int> inputs;   // -1 for an omitted optional input
    std::vector<int> outputs;  // -1 for an omitted optional output
    std::string description;
  };

  int add_slot(const std::string& name, const std::string& op, const std::string& node, int first_input);

  int opset_ = 0;
  std::map<std::string, std::string> metadata_;
  std::vector<ValueInfo> inputs_;
  std::vector<ValueInfo> outputs_;
  std::vector<int> input_slots_;
  std::vector<std::string> slot_names_;
  std::vector<std::string> producer_op_;
  std::vector<std::string> producer_node_;
  std::vector<int> producer_input_;
  std::unordered_map<std::string, int> slot_by_name_;
  std::unordered_map<std::string, int> slot_by_node_;
  std::vector<at::Tensor> constants_;  // initializers, by slot (undefined elsewhere)
  std::vector<Step> steps_;
  std::vector<int> step_of_slot_;  // producing step, -1 for inputs and initializers
};

}  // namespace lumos::onnx
