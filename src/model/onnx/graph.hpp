// An ONNX graph made ready to run on ATen: nodes in dependency order, each with its
// kernel built, values held in numbered slots and freed after their last use.
#pragma once

#include "model/onnx/op_registry.hpp"
#include "model/onnx/ops/blocked.hpp"

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace onnx {
class ModelProto;
class GraphProto;
}

namespace lumos::onnx {

// How far the inference plan goes (issue 15; docs/performance.md). Each level adds to the one
// before, per model, where the model allows it. The lower levels are there to measure each
// step (forward_bench --plan) or to rule one out.
enum class InferencePlan {
  folded,         // BatchNormalization folded into the Conv before it, a zero Pad into the Conv after it
  channels_last,  // and an image CNN's batch in channels-last (NHWC) memory
  packed,         // and its 2-D float convolutions on oneDNN, weights packed once, ReLU fused
  blocked,        // and runs of convolutions with the ops between them in oneDNN's blocked layout
};

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
  // come from a file, which then may not have external data). `constants` are initializers
  // given as tensors: front ends that hold weights in memory (Keras) skip the TensorProto
  // round trip.
  Graph(const ::onnx::ModelProto& model, const std::string& model_dir,
        std::vector<std::pair<std::string, at::Tensor>> constants = {});

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

  // How many BatchNormalizations (inference form) are folded into the Conv before them (one
  // whose output nothing else reads), its weight and bias scaled once at load: the inference
  // plan runs the result.
  int folded_batch_norms() const { return folded_batch_norms_; }
  // How many Pads that add zeros around the spatial axes (Keras's ZeroPadding2D) are folded
  // into the Conv that alone reads them, where the Conv's padding then stays equal on both
  // sides of each axis: the Conv pads while it convolves, and the plan copies the value once
  // fewer (onnxruntime's pad fusion).
  int folded_pads() const { return folded_pads_; }
  // Whether the inference plan gives the image input in channels-last memory: a 4-D input
  // that reaches a 2-D Conv through elementwise ops and zero Pads of the spatial axes alone (an
  // NCHW image batch; an NHWC one, Keras's, goes through a Transpose, whose view is
  // channels-last already). ATen's convolutions, pools, constant pads and elementwise ops then
  // keep that memory format through the network.
  bool channels_last_inference() const { return plan_ >= InferencePlan::channels_last && !channels_last_inputs_.empty(); }
  // How many 2-D convolutions the inference plan runs on oneDNN with their weights packed once
  // (mkldnn_prepacked, what torch.jit.optimize_for_inference's graphs run), and how many
  // ReLUs it fuses into them: for image CNNs (an NCHW input given channels-last, or an NHWC one
  // transposed) with float weights.
  int packed_convolutions() const { return plan_ >= InferencePlan::packed ? packed_convolutions_ : 0; }
  int fused_relus() const { return plan_ >= InferencePlan::packed ? fused_relus_ : 0; }
  // How many of those convolutions the inference plan runs in oneDNN's blocked layout (what
  // optimize_for_inference converts whole graphs to), and in how many regions: maximal runs of
  // convolutions whose outputs fill whole channel blocks, and the Relu, Clip, Add, MaxPool and
  // GlobalAveragePool nodes between them, left through one conversion per value read outside.
  // A region is taken where its convolutions are at least twice its conversions
  // (docs/performance.md). blocked_post_ops: the Relus, Clips (ReLU6), residual Adds and
  // depthwise Convs that run inside those convolutions as oneDNN post-ops.
  int blocked_convolutions() const { return plan_ >= InferencePlan::blocked ? blocked_convolutions_ : 0; }
  int blocked_regions() const { return plan_ >= InferencePlan::blocked ? blocked_regions_ : 0; }
  int blocked_post_ops() const { return plan_ >= InferencePlan::blocked ? blocked_post_ops_ : 0; }

  // Limits what the inference plan does (the default: all it can).
  void limit_inference_plan(InferencePlan plan) { plan_ = plan; }

  // Called with each value as it is produced; may replace it (e.g. by a grad leaf).
  using ValueHook = std::function<void(int slot, at::Tensor& value)>;

  // Values set by the caller instead of computed, by slot.
  using GivenValues = std::unordered_map<int, at::Tensor>;

  // Runs the nodes needed for `wanted` slots; `feeds` follow inputs(). Nodes that only
  // lead to `given` values do not run. Returns the wanted values. Throws ModelError
  // naming the node if a kernel fails.
  // Runs in c10::InferenceMode without a hook take the inference plan (folded_batch_norms,
  // folded_pads, channels_last_inference, packed_convolutions, blocked_convolutions; under CPU
  // autocast to bf16 the folded plan alone) unless a wanted or given value is one it folds or
  // fuses away; the others (autograd traces, values captured) run the graph as written, so
  // gradients and activations are the file's own. A channels-last run returns its values
  // contiguous.
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
  // The constant tensor named `name`, undefined if it is not a constant.
  at::Tensor constant(const std::string& name) const;
  // The steps an inference plan runs instead of steps_.
  struct Plan {
    std::vector<Step> steps;
    std::vector<int> step_of_slot;  // producing step, -1 for inputs and initializers
    std::vector<int> removed;       // slots of the values it no longer makes (folded or fused away)
    std::vector<char> blocked;      // by slot: whether its value is in oneDNN's blocked layout (empty: none is)
    void index(size_t slots);       // fills step_of_slot from steps
  };

  // Builds the inference plans from the plain one; `order` lists the graph's nodes as steps_ does.
  void prepare_inference(const ::onnx::GraphProto& graph, const std::vector<int>& order, const std::string& model_dir);
  // The packed plan from the folded one, whose steps run `nodes`.
  void prepare_packed(const std::vector<::onnx::NodeProto>& nodes, const std::string& model_dir);
  // The blocked plan from the packed one, whose steps are described by `packed`.
  struct PackedStep;
  void prepare_blocked(const std::vector<PackedStep>& packed, const std::string& model_dir);
  // The pads a Pad node adds to the spatial axes (2 on) of a rank-`rank` input, as a Conv's
  // pads attribute lists them (begins, then ends), if it adds zeros there alone and its pads
  // are constants; nullopt for any other Pad.
  std::optional<std::vector<int64_t>> spatial_zero_pads(const ::onnx::NodeProto& pad, int64_t rank) const;
  // The bounds a Relu or a Clip with constant scalar bounds clamps to; nullopt for other nodes.
  std::optional<Clamp> constant_clamp(const ::onnx::NodeProto& node) const;
  // `name`, or with underscores added until no value has it.
  std::string unused_name(std::string name) const;
  // The plan a run takes, nullptr for the graph as written.
  const Plan* inference_plan(const std::vector<int>& wanted, bool hooked, const GivenValues& given) const;

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
  // Which inputs are image batches of a 2-D Conv: NCHW ones (channels_last_inputs_), or NHWC
  // ones transposed to NCHW (image_cnn_ either way).
  void find_image_inputs(const ::onnx::GraphProto& graph);

  // The inference plans, when they differ from steps_ (empty otherwise): BatchNormalizations
  // folded, that with the convolutions packed, and that with blocked regions.
  Plan folded_plan_;
  Plan packed_plan_;
  Plan blocked_plan_;
  int folded_batch_norms_ = 0;
  int folded_pads_ = 0;
  int packed_convolutions_ = 0;
  int fused_relus_ = 0;
  int blocked_convolutions_ = 0;
  int blocked_regions_ = 0;
  int blocked_post_ops_ = 0;
  std::vector<int> channels_last_inputs_;  // indices into inputs_
  bool image_cnn_ = false;
  InferencePlan plan_ = InferencePlan::blocked;
};

}  // namespace lumos::onnx
