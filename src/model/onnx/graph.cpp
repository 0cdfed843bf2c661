#include "model/onnx/graph.hpp"

#include "lumos/error.hpp"
#include "lumos/file.hpp"
#include "model/onnx/ops/axes.hpp"
#include "model/onnx/ops/blocked.hpp"
#include "model/onnx/ops/conv.hpp"
#include "model/onnx/ops/pad.hpp"
#include "model/onnx/ops/window.hpp"
#include "model/onnx/tensor_proto.hpp"

#include <ATen/autocast_mode.h>
#include <c10/core/InferenceMode.h>
#include <c10/util/Exception.h>
#include <onnx/onnx_pb.h>

#include <algorithm>
#include <limits>
#include <queue>
#include <set>

namespace lumos::onnx {
namespace {

bool all_equal(const std::vector<int64_t>& values, int64_t value) {
  return std::all_of(values.begin(), values.end(), [value](int64_t v) { return v == value; });
}

// A Conv oneDNN can run a depthwise convolution inside: 1x1, stride 1, no padding, one group.
bool is_plain_1x1(const Node& conv, const at::Tensor& weight) {
  return weight.size(2) == 1 && weight.size(3) == 1 && conv.i("group", 1) == 1 && all_equal(conv.ints("strides"), 1) &&
         all_equal(conv.ints("pads"), 0) && conv.s("auto_pad", "NOTSET") == "NOTSET";
}

// A depthwise 3x3 Conv with padding 1 on every side and stride 1 or 2 on both axes, the ones
// oneDNN's depthwise post-op runs (MobileNet's).
bool is_depthwise_3x3(const Node& conv, const at::Tensor& weight) {
  const auto strides = conv.ints("strides", {1, 1});
  return weight.defined() && weight.size(1) == 1 && weight.size(2) == 3 && weight.size(3) == 3 &&
         conv.i("group", 1) == weight.size(0) && strides.size() == 2 && strides[0] == strides[1] &&
         (strides[0] == 1 || strides[0] == 2) && conv.ints("pads") == std::vector<int64_t>{1, 1, 1, 1} &&
         all_equal(conv.ints("dilations"), 1) && conv.s("auto_pad", "NOTSET") == "NOTSET";
}


ValueInfo value_info(const ::onnx::ValueInfoProto& proto) {
  ValueInfo info{proto.name(), 0, {}};
  if (proto.type().has_tensor_type()) {
    const auto& tensor = proto.type().tensor_type();
    info.elem_type = tensor.elem_type();
    for (const auto& d : tensor.shape().dim()) info.dims.push_back(d.has_dim_value() ? d.dim_value() : -1);
  }
  return info;
}

// c10 messages carry a backtrace and source location; keep the first line.
std::string first_line(const std::string& text) {
  auto end = text.find('\n');
  return end == std::string::npos ? text : text.substr(0, end);
}

// Nodes in an order where each runs after its inputs are made (ONNX files should be
// sorted already; some exporters are not careful).
std::vector<int> dependency_order(const ::onnx::GraphProto& graph, const std::set<std::string>& available) {
  const int n = graph.node_size();
  std::unordered_map<std::string, int> producer;
  for (int i = 0; i < n; ++i) {
    for (const auto& out : graph.node(i).output()) {
      if (out.empty()) continue;
      if (available.count(out) || !producer.emplace(out, i).second) {
        throw ModelError("value '" + out + "' is made by more than one node, input or initializer; "
                         "the model file is corrupt");
      }
    }
  }

  std::vector<int> pending(n, 0);
  std::vector<std::vector<int>> consumers(n);
  for (int i = 0; i < n; ++i) {
    for (const auto& in : graph.node(i).input()) {
      if (in.empty() || available.count(in)) continue;
      auto it = producer.find(in);
      if (it == producer.end()) {
        throw ModelError("node '" + graph.node(i).name() + "' (" + graph.node(i).op_type() + ") reads value '" + in +
                         "', which no node, input or initializer provides; the model file is incomplete or corrupt");
      }
      ++pending[i];
      consumers[it->second].push_back(i);
    }
  }
  std::priority_queue<int, std::vector<int>, std::greater<>> ready;  // keeps file order where possible
  for (int i = 0; i < n; ++i)
    if (pending[i] == 0) ready.push(i);
  std::vector<int> order;
  while (!ready.empty()) {
    int i = ready.top();
    ready.pop();
    order.push_back(i);
    for (int c : consumers[i])
      if (--pending[c] == 0) ready.push(c);
  }
  if (static_cast<int>(order.size()) != n) throw ModelError("the graph has a cycle; it is not a valid ONNX model");
  return order;
}

// A Conv's weight [M, C/group, k...] and bias [M] (undefined: none) with the inference-form
// BatchNormalization `norm` (scale, B, mean, var, each [M]) applied to its output: per output
// channel m, factor = scale / sqrt(var + epsilon), weight * factor and (bias - mean) * factor + B.
// The per-channel numbers are computed in double; the weight is scaled in its own type (one
// rounding more than a product in double, and one pass over it: a weight in double cost most
// of a Keras ResNet50's load time).
std::pair<at::Tensor, at::Tensor> fold_batch_norm(const at::Tensor& weight, const at::Tensor& bias,
                                                  const Tensors& norm, double epsilon) {
  const auto in_double = [](const at::Tensor& t) { return t.to(at::kDouble).reshape(-1); };
  const auto factor = in_double(norm[0]) / at::sqrt(in_double(norm[3]) + epsilon);
  std::vector<int64_t> per_channel(weight.dim(), 1);
  per_channel[0] = -1;
  const auto folded_weight = weight.contiguous() * factor.to(weight.scalar_type()).view(per_channel);
  const auto shifted = (bias.defined() ? in_double(bias) : at::zeros_like(factor)) - in_double(norm[2]);
  const auto folded_bias = shifted * factor + in_double(norm[1]);
  return {folded_weight, folded_bias.to(weight.scalar_type())};
}

bool is_float_or_double(const at::Tensor& t) {
  return t.defined() && (t.scalar_type() == at::kFloat || t.scalar_type() == at::kDouble);
}

}  // namespace

Graph Graph::load(const std::string& path) {
  std::string bytes;
  try {
    bytes = read_file(path, "model file", kMaxModelFileBytes);
  } catch (const FileError& e) {
    throw ModelError(e.what());
  }
  ::onnx::ModelProto model;
  if (bytes.empty() || !model.ParseFromString(bytes) || !model.has_graph()) {
    throw ModelError("'" + path + "' is not a readable ONNX model (corrupt, truncated, or another format); "
                     "export it again with torch.onnx.export or tf2onnx");
  }
  try {
    return Graph(model, model_folder(path));
  } catch (const UnsupportedOpError&) {
    throw;
  } catch (const ModelError& e) {
    throw ModelError("'" + path + "': " + e.what());
  }
}

int Graph::add_slot(const std::string& name, const std::string& op, const std::string& node, int first_input) {
  const int slot = static_cast<int>(slot_names_.size());
  slot_names_.push_back(name);
  producer_op_.push_back(op);
  producer_node_.push_back(node);
  producer_input_.push_back(first_input);
  slot_by_name_[name] = slot;
  constants_.emplace_back();
  step_of_slot_.push_back(-1);
  return slot;
}

// A function-try-block: whatever ATen or the standard library throws while a file is
// turned into a graph (tensor sizes ATen refuses, ...) is the file's fault, a ModelError.
Graph::Graph(const ::onnx::ModelProto& model, const std::string& model_dir,
             std::vector<std::pair<std::string, at::Tensor>> constants) try {
  for (const auto& op_set : model.opset_import()) {
    if (op_set.domain().empty() || op_set.domain() == "ai.onnx") opset_ = static_cast<int>(op_set.version());
  }
  if (opset_ == 0) opset_ = 1;  // files from before opset_import
  for (const auto& entry : model.metadata_props()) metadata_[entry.key()] = entry.value();
  const auto& graph = model.graph();

  std::set<std::string> available;
  for (const auto& init : graph.initializer()) {
    if (!available.insert(init.name()).second) {
      throw ModelError("initializer '" + init.name() + "' appears twice; the model file is corrupt");
    }
    const int slot = add_slot(init.name(), "initializer", "", -1);
    constants_[slot] = tensor_from_proto(init, model_dir);
  }
  for (auto& [name, value] : constants) {
    if (available.count(name)) throw ModelError("constant '" + name + "' is given twice");
    const int slot = add_slot(name, "initializer", "", -1);
    constants_[slot] = std::move(value);
    available.insert(name);
  }
  for (const auto& input : graph.input()) {
    if (available.count(input.name())) continue;  // old exporters list initializers as inputs
    inputs_.push_back(value_info(input));
    input_slots_.push_back(add_slot(input.name(), "input", "", -1));
    available.insert(input.name());
  }
  for (const auto& output : graph.output()) outputs_.push_back(value_info(output));

  auto& registry = OpRegistry::instance();
  const auto order = dependency_order(graph, available);
  for (int index : order) {
    const auto& proto = graph.node(index);
    const Node node(proto, opset_, model_dir);
    if (!proto.domain().empty() && proto.domain() != "ai.onnx") {
      throw UnsupportedOpError("unsupported op " + proto.domain() + "." + proto.op_type() + " at node '" +
                               proto.name() + "': lumos runs the standard ONNX operator set only");
    }
    if (proto.op_type().empty()) {
      throw ModelError("node '" + node.label() + "' has no op type; the model file is corrupt");
    }
    const auto* entry = registry.find(proto.op_type(), opset_);
    if (!entry) {
      throw UnsupportedOpError("unsupported op " + proto.op_type() + " (opset " + std::to_string(opset_) +
                               ") at node '" + proto.name() + "'");
    }
    entry->signature.check(node);
    Step step;
    step.description = node.describe();
    try {
      step.kernel = entry->make(node);
    } catch (const c10::Error& e) {
      node.fail(first_line(e.what_without_backtrace()));
    } catch (const Error&) {
      throw;
    } catch (const std::bad_alloc&) {
      throw;
    } catch (const std::exception& e) {
      node.fail(first_line(e.what()));
    }
    for (const auto& in : proto.input()) step.inputs.push_back(in.empty() ? -1 : slot_by_name_.at(in));
    const int first_input = step.inputs.empty() ? -1 : step.inputs.front();
    for (const auto& out : proto.output()) {
      if (out.empty()) {
        step.outputs.push_back(-1);
        continue;
      }
      const int slot = add_slot(out, proto.op_type(), proto.name(), first_input);
      step_of_slot_[slot] = static_cast<int>(steps_.size());
      if (!proto.name().empty()) slot_by_node_.emplace(proto.name(), slot);
      step.outputs.push_back(slot);
    }
    steps_.push_back(std::move(step));
  }
  for (const auto& output : outputs_) {
    if (!slot_by_name_.count(output.name)) {
      throw ModelError("graph output '" + output.name + "' is not produced by any node");
    }
  }
  prepare_inference(graph, order, model_dir);
} catch (const c10::Error& e) {
  throw ModelError("the model file is corrupt: " + first_line(e.what_without_backtrace()));
} catch (const Error&) {
  throw;
} catch (const std::bad_alloc&) {
  throw;
} catch (const std::exception& e) {
  throw ModelError("the model file is corrupt: " + first_line(e.what()));
}

at::Tensor Graph::constant(const std::string& name) const {
  const int s = slot(name);
  return s < 0 ? at::Tensor() : constants_[s];
}

// Folds BatchNormalization into the Conv before it where nothing else can tell: the Conv's
// output is read by that BatchNormalization alone (not a graph output), the normalization has
// the inference form (one output, no training mode, opset 9 on: older ones had other
// semantics) and every weight is a float constant of one entry per output channel.
void Graph::prepare_inference(const ::onnx::GraphProto& graph, const std::vector<int>& order,
                              const std::string& model_dir) {
  std::unordered_map<std::string, int> readers;      // value -> node inputs and graph outputs that read it
  std::unordered_map<std::string, int> reader_node;  // value -> a node reading it (the one, when readers is 1)
  for (int i = 0; i < graph.node_size(); ++i) {
    for (const auto& in : graph.node(i).input()) {
      if (in.empty()) continue;
      ++readers[in];
      reader_node[in] = i;
    }
  }
  for (const auto& output : outputs_) ++readers[output.name];
  find_image_inputs(graph);

  std::unordered_map<int, int> norm_of_conv;  // node index of a Conv -> of the BatchNormalization folded into it
  std::set<int> folded_norms;
  for (int index : order) {
    const auto& conv = graph.node(index);
    if (opset_ < 9 || conv.op_type() != "Conv" || conv.output_size() != 1 || readers[conv.output(0)] != 1) continue;
    const int reader = reader_node[conv.output(0)];
    const auto& norm = graph.node(reader);
    if (norm.op_type() != "BatchNormalization" || norm.input_size() != 5 || norm.input(0) != conv.output(0)) continue;
    const bool one_output = std::all_of(norm.output().begin() + 1, norm.output().end(),
                                        [](const std::string& name) { return name.empty(); });
    if (!one_output || Node(norm, opset_, model_dir).i("training_mode", 0) != 0) continue;
    const auto weight = constant(conv.input(1));
    const bool has_bias = conv.input_size() > 2 && !conv.input(2).empty();
    if (!is_float_or_double(weight) || weight.dim() < 3) continue;
    const int64_t channels = weight.size(0);
    std::vector<at::Tensor> per_channel;
    if (has_bias) per_channel.push_back(constant(conv.input(2)));
    for (int k = 1; k < 5; ++k) per_channel.push_back(constant(norm.input(k)));
    const bool constants_fit = std::all_of(per_channel.begin(), per_channel.end(), [&](const at::Tensor& t) {
      return is_float_or_double(t) && t.numel() == channels;
    });
    if (!constants_fit) continue;
    norm_of_conv[index] = reader;
    folded_norms.insert(reader);
  }
  // Zero Pads read by one Conv alone, whose padding with the Pad's added stays equal on both
  // sides (Keras's ZeroPadding2D before a "valid" convolution): ATen's convolution pads such a
  // window itself. Unequal sums (MobileNetV2's stride-2 blocks pad bottom and right) stay: the
  // Conv kernel would pad the difference first, the copy the Pad makes.
  std::unordered_map<int, std::pair<int, std::vector<int64_t>>> pad_of_conv;  // Conv node -> (Pad node, Conv pads)
  std::set<int> folded_pad_nodes;
  for (int index : order) {
    const auto& pad = graph.node(index);
    if (pad.op_type() != "Pad" || pad.output_size() != 1 || readers[pad.output(0)] != 1) continue;
    const int reader = reader_node[pad.output(0)];
    const auto& conv = graph.node(reader);
    if (conv.op_type() != "Conv" || conv.input_size() < 2 || conv.input(0) != pad.output(0)) continue;
    const auto weight = constant(conv.input(1));
    if (!weight.defined() || weight.dim() < 3) continue;
    const auto added = spatial_zero_pads(pad, weight.dim());
    const auto window = read_window(Node(conv, opset_, model_dir));
    const bool same = window.auto_pad == AutoPad::SameUpper || window.auto_pad == AutoPad::SameLower;
    if (!added || same) continue;
    auto pads = window.auto_pad == AutoPad::Valid || window.pads.empty() ? std::vector<int64_t>(added->size(), 0) : window.pads;
    if (pads.size() != added->size()) continue;
    const size_t spatial = pads.size() / 2;
    bool equal_sides = true;
    for (size_t i = 0; i < pads.size(); ++i) pads[i] += (*added)[i];
    for (size_t i = 0; i < spatial; ++i) equal_sides = equal_sides && pads[i] == pads[spatial + i];
    if (!equal_sides) continue;
    pad_of_conv[reader] = {index, std::move(pads)};
    folded_pad_nodes.insert(index);
  }
  if (norm_of_conv.empty() && pad_of_conv.empty() && !image_cnn_) return;
  std::vector<::onnx::NodeProto> plan_nodes;  // what each step of the folded plan runs

  const auto* conv_entry = OpRegistry::instance().find("Conv", opset_);
  for (size_t k = 0; k < order.size(); ++k) {
    const int index = order[k];
    if (folded_norms.count(index) || folded_pad_nodes.count(index)) continue;
    const auto fold = norm_of_conv.find(index);
    const auto padded = pad_of_conv.find(index);
    if (fold == norm_of_conv.end() && padded == pad_of_conv.end()) {
      folded_plan_.steps.push_back(steps_[k]);
      plan_nodes.push_back(graph.node(index));
      continue;
    }
    const auto& conv = graph.node(index);
    ::onnx::NodeProto fused(conv);
    Step step = steps_[k];
    if (padded != pad_of_conv.end()) {
      const auto& pad = graph.node(padded->second.first);
      fused.set_input(0, pad.input(0));
      auto& attributes = *fused.mutable_attribute();
      attributes.erase(std::remove_if(attributes.begin(), attributes.end(),
                                      [](const auto& a) { return a.name() == "pads" || a.name() == "auto_pad"; }),
                       attributes.end());
      auto& pads = *fused.add_attribute();
      pads.set_name("pads");
      pads.set_type(::onnx::AttributeProto::INTS);
      for (int64_t p : padded->second.second) pads.add_ints(p);
      step.inputs[0] = slot_by_name_.at(pad.input(0));
      step.description += " with " + Node(pad, opset_, model_dir).describe() + " folded in";
      folded_plan_.removed.push_back(slot_by_name_.at(pad.output(0)));
      ++folded_pads_;
    }
    if (fold != norm_of_conv.end()) {
      const auto& norm = graph.node(fold->second);
      const Node norm_node(norm, opset_, model_dir);
      Tensors norm_constants;
      for (int i = 1; i < 5; ++i) norm_constants.push_back(constant(norm.input(i)));
      const bool has_bias = conv.input_size() > 2 && !conv.input(2).empty();
      auto [weight, bias] = fold_batch_norm(constant(conv.input(1)), has_bias ? constant(conv.input(2)) : at::Tensor(),
                                            norm_constants, norm_node.f("epsilon", 1e-5f));
      const std::string stem = (conv.name().empty() ? conv.output(0) : conv.name()) + "/batch_norm_folded_";
      const auto weight_name = unused_name(stem + "weight");
      const int weight_slot = add_slot(weight_name, "initializer", "", -1);
      constants_[weight_slot] = std::move(weight);
      const auto bias_name = unused_name(stem + "bias");
      const int bias_slot = add_slot(bias_name, "initializer", "", -1);
      constants_[bias_slot] = std::move(bias);

      const auto data = fused.input(0);
      fused.clear_input();
      for (const auto& name : {data, weight_name, bias_name}) fused.add_input(name);
      fused.set_output(0, norm.output(0));
      step.description += " with " + norm_node.describe() + " folded in";
      step.inputs = {step.inputs[0], weight_slot, bias_slot};
      step.outputs = {slot_by_name_.at(norm.output(0))};
      folded_plan_.removed.push_back(slot_by_name_.at(conv.output(0)));
      ++folded_batch_norms_;
    }
    step.kernel = conv_entry->make(Node(fused, opset_, model_dir));
    folded_plan_.steps.push_back(std::move(step));
    plan_nodes.push_back(std::move(fused));
  }
  folded_plan_.index(slot_names_.size());
  prepare_packed(plan_nodes, model_dir);
}

std::optional<std::vector<int64_t>> Graph::spatial_zero_pads(const ::onnx::NodeProto& proto, int64_t rank) const {
  const Node node(proto, opset_);
  if (node.s("mode", "constant") != "constant") return std::nullopt;
  std::vector<int64_t> pads;
  auto pad_axes = axes::all(rank);
  if (opset_ < 11) {
    pads = node.ints(opset_ < 2 ? "paddings" : "pads");
    if (node.f("value", 0.0f) != 0.0f) return std::nullopt;
  } else {
    // Inputs: data, pads, constant_value and (opset 18 on) axes, the last two optional.
    const auto given = [&](int i) { return proto.input_size() > i && !proto.input(i).empty(); };
    const auto integers = [](const at::Tensor& t) { return t.defined() && at::isIntegralType(t.scalar_type(), false); };
    const auto pads_value = given(1) ? constant(proto.input(1)) : at::Tensor();
    const auto value = given(2) ? constant(proto.input(2)) : at::Tensor();
    const auto axes_value = given(3) ? constant(proto.input(3)) : at::Tensor();
    if (!integers(pads_value) || (given(2) && !value.defined()) || (given(3) && !integers(axes_value))) return std::nullopt;
    if (value.defined() && (value.numel() > 1 || (value.numel() == 1 && value.item<double>() != 0))) return std::nullopt;
    pads = axes::read_ints(pads_value, "pads");
    if (axes_value.defined()) pad_axes = axes::read_ints(axes_value, "axes");
  }
  DimensionPads added;
  try {
    added = dimension_pads(pads, pad_axes, rank);
  } catch (const ModelError&) {
    return std::nullopt;  // the Pad kernel reports it when the node runs
  }
  const auto& [begin, end] = added;
  if (std::any_of(pads.begin(), pads.end(), [](int64_t p) { return p < 0; })) return std::nullopt;  // crops
  if (begin[0] != 0 || end[0] != 0 || begin[1] != 0 || end[1] != 0) return std::nullopt;
  std::vector<int64_t> spatial(begin.begin() + 2, begin.end());
  spatial.insert(spatial.end(), end.begin() + 2, end.end());
  return spatial;
}

std::string Graph::unused_name(std::string name) const {
  while (slot_by_name_.count(name)) name += "_";
  return name;
}

void Graph::Plan::index(size_t slots) {
  step_of_slot.assign(slots, -1);
  for (size_t k = 0; k < steps.size(); ++k) {
    for (int out : steps[k].outputs)
      if (out >= 0) step_of_slot[out] = static_cast<int>(k);
  }
}

struct Graph::PackedStep {
  ::onnx::NodeProto node;
  at::Tensor weight;  // a packed Conv's float constants (undefined for other steps)
  at::Tensor bias;
  bool relu = false;  // a Relu fused into the Conv
};

// Packs the 2-D convolutions with float constant weights (and bias) of an image CNN run in
// channels-last memory; a Relu that alone reads a packed Conv's output (not a graph output)
// runs inside it.
void Graph::prepare_packed(const std::vector<::onnx::NodeProto>& nodes, const std::string& model_dir) {
  if (!image_cnn_ || !packed_convolutions_available()) return;
  std::unordered_map<std::string, int> readers;
  std::unordered_map<std::string, size_t> reader_step;
  for (size_t k = 0; k < nodes.size(); ++k) {
    for (const auto& in : nodes[k].input()) {
      ++readers[in];
      reader_step[in] = k;
    }
  }
  for (const auto& output : outputs_) ++readers[output.name];
  const auto float_constant = [&](const ::onnx::NodeProto& node, int i, int64_t rank) {
    const auto value = node.input_size() > i && !node.input(i).empty() ? constant(node.input(i)) : at::Tensor();
    return value.defined() && value.scalar_type() == at::kFloat && value.dim() == rank ? value : at::Tensor();
  };
  std::set<size_t> fused;
  std::vector<PackedStep> packed;  // what each step of the packed plan runs
  for (size_t k = 0; k < nodes.size(); ++k) {
    if (fused.count(k)) continue;
    const auto& node = nodes[k];
    auto step = folded_plan_.steps[k];
    const auto weight = node.op_type() == "Conv" ? float_constant(node, 1, 4) : at::Tensor();
    const bool has_bias = node.input_size() > 2 && !node.input(2).empty();
    const auto bias = has_bias ? float_constant(node, 2, 1) : at::Tensor();
    if (!weight.defined() || (has_bias && !bias.defined())) {
      packed_plan_.steps.push_back(std::move(step));
      packed.push_back({node, {}, {}, false});
      continue;
    }
    const auto& output = node.output(0);
    const auto reader = reader_step.find(output);
    const bool relu = readers[output] == 1 && reader != reader_step.end() && reader->second > k &&
                      nodes[reader->second].op_type() == "Relu";
    if (relu) {
      const auto& relu_step = folded_plan_.steps[reader->second];
      step.outputs = relu_step.outputs;
      step.description += " with " + relu_step.description + " fused";
      packed_plan_.removed.push_back(slot_by_name_.at(output));
      fused.insert(reader->second);
      ++fused_relus_;
    }
    step.kernel = packed_convolution(Node(node, opset_, model_dir), weight, bias, relu, step.kernel);
    packed_plan_.steps.push_back(std::move(step));
    packed.push_back({node, weight, bias, relu});
    ++packed_convolutions_;
  }
  if (packed_convolutions_ == 0) {
    packed_plan_ = {};
    return;
  }
  packed_plan_.removed.insert(packed_plan_.removed.end(), folded_plan_.removed.begin(), folded_plan_.removed.end());
  packed_plan_.index(slot_names_.size());
  prepare_blocked(packed, model_dir);
}

// The bounds a Relu, or a Clip with constant scalar bounds (initializers or Constant nodes),
// clamps its input to; nullopt for any other node.
std::optional<Clamp> Graph::constant_clamp(const ::onnx::NodeProto& proto) const {
  if (proto.op_type() == "Relu") return Clamp{};
  if (proto.op_type() != "Clip") return std::nullopt;
  Clamp clamp{std::numeric_limits<float>::lowest(), std::numeric_limits<float>::infinity()};
  const auto bounded = [](float high) {
    return high == std::numeric_limits<float>::max() ? std::numeric_limits<float>::infinity() : high;
  };
  if (opset_ < 11) {
    const Node node(proto, opset_);
    clamp.low = node.f("min", clamp.low);
    clamp.high = bounded(node.f("max", std::numeric_limits<float>::max()));
    return clamp;
  }
  for (int i : {1, 2}) {
    if (proto.input_size() <= i || proto.input(i).empty()) continue;
    auto bound = constant(proto.input(i));
    const int slot = this->slot(proto.input(i));
    if (!bound.defined() && slot >= 0 && producer_op(slot) == "Constant") {
      bound = packed_plan_.steps[packed_plan_.step_of_slot[slot]].kernel({}).front();  // torch.onnx's bounds
    }
    if (!bound.defined() || bound.numel() != 1 || !at::isFloatingType(bound.scalar_type())) return std::nullopt;
    if (i == 1) {
      clamp.low = bound.item<float>();
    } else {
      clamp.high = bounded(bound.item<float>());
    }
  }
  return clamp;
}

// Regions: the packed convolutions whose outputs fill whole channel blocks, joined by the Relu,
// Clip, Add, MaxPool and GlobalAveragePool steps whose inputs all come from the region. A
// convolution reads a dense input itself: an image (a few channels) as it is, whole channel
// blocks converted on each call; each region value read outside (by another step) is
// converted once after it is made, a run's wanted values at the end. A conversion costs a pass
// over the value, a blocked convolution saves a part of one
// convolution's time (docs/performance.md), so a region runs blocked only where its
// convolutions are at least twice its conversions (graph outputs counted): CNNs form one
// region from the first convolution to the global pool. In a region, the Relu or Clip that
// alone reads a convolution, or an Add that alone reads it with a value made before it (a
// residual), and then the Relu or Clip that alone reads the Add, run inside the convolution;
// so does a depthwise 3x3 Conv (and its Relu or Clip) that alone reads a 1x1 one.
void Graph::prepare_blocked(const std::vector<PackedStep>& packed, const std::string& model_dir) {
  const auto& steps = packed_plan_.steps;
  const size_t n = steps.size();
  // The channel block: the widest this CPU's kernels read fast, unless a convolution that fills
  // blocks of 8 would not fill blocks of it (MobileNetV2's 24 channels): one layout per model.
  int64_t block = widest_channel_block();
  for (const auto& step : packed) {
    const int64_t channels = step.weight.defined() ? step.weight.size(0) : 0;
    if (channels % 8 == 0 && channels % block != 0) block = 8;
  }
  std::vector<int> region_of_slot(slot_names_.size(), -1);
  std::vector<int> region_of_step(n, -1);
  std::vector<std::optional<Clamp>> clamp_of_step(n);
  std::vector<int> parent;  // union-find over the regions as first numbered
  const auto root = [&](int r) {
    while (parent[r] != r) r = parent[r] = parent[parent[r]];
    return r;
  };
  const auto data_inputs = [&](size_t k) {
    const auto& op = packed[k].node.op_type();
    return std::vector<int>(steps[k].inputs.begin(), steps[k].inputs.begin() + (op == "Add" ? 2 : 1));
  };
  for (size_t k = 0; k < n; ++k) {
    const auto& node = packed[k].node;
    const auto& op = node.op_type();
    const auto& step = steps[k];
    const auto from_region = [&](size_t i) {
      return step.inputs.size() > i && step.inputs[i] >= 0 && region_of_slot[step.inputs[i]] >= 0;
    };
    bool member = false;
    if (op == "Conv") {
      member = packed[k].weight.defined() && packed[k].weight.size(0) % block == 0;
    } else if (op == "Relu" || op == "Clip") {
      clamp_of_step[k] = constant_clamp(node);
      member = from_region(0) && clamp_of_step[k];
    } else if (op == "GlobalAveragePool") {
      member = from_region(0);
    } else if (op == "Add") {
      member = from_region(0) && from_region(1);
    } else if (op == "MaxPool") {
      const Node pool(node, opset_, model_dir);
      member = from_region(0) && step.outputs.size() == 1 && pool.ints("kernel_shape").size() == 2 &&
               pool.i("ceil_mode", 0) == 0 && all_equal(pool.ints("dilations"), 1);
    }
    if (!member || step.outputs.size() != 1) continue;
    const int region = static_cast<int>(parent.size());
    parent.push_back(region);
    for (int in : data_inputs(k))
      if (in >= 0 && region_of_slot[in] >= 0) parent[root(region_of_slot[in])] = region;
    region_of_step[k] = region;
    region_of_slot[step.outputs[0]] = region;
  }
  if (parent.empty()) return;
  for (auto& r : region_of_step)
    if (r >= 0) r = root(r);
  for (auto& r : region_of_slot)
    if (r >= 0) r = root(r);

  // Which region values are read outside (a dense copy is made), and each region's counts.
  std::vector<char> read_outside(slot_names_.size(), 0), graph_output(slot_names_.size(), 0);
  std::vector<int> readers(slot_names_.size(), 0), reader_step(slot_names_.size(), -1);
  for (size_t k = 0; k < n; ++k) {
    for (int in : steps[k].inputs) {
      if (in < 0) continue;
      ++readers[in];
      reader_step[in] = static_cast<int>(k);
      if (region_of_step[k] < 0 && region_of_slot[in] >= 0) read_outside[in] = 1;
    }
  }
  for (const auto& output : outputs_) {
    graph_output[slot_by_name_.at(output.name)] = 1;
    ++readers[slot_by_name_.at(output.name)];
  }
  std::map<int, int> convolutions, conversions;
  for (size_t k = 0; k < n; ++k) {
    const int region = region_of_step[k];
    if (region < 0) continue;
    if (packed[k].node.op_type() == "Conv") {
      ++convolutions[region];
      const int in = steps[k].inputs[0];
      const int64_t channels = packed[k].weight.size(1) * Node(packed[k].node, opset_, model_dir).i("group", 1);
      conversions[region] += region_of_slot[in] < 0 && channels % block == 0;
    }
    const int out = steps[k].outputs[0];
    conversions[region] += read_outside[out] + graph_output[out];
  }
  std::set<int> kept;
  for (const auto& [region, count] : convolutions)
    if (count >= 2 * conversions[region]) kept.insert(region);
  if (kept.empty()) return;

  // The step in the same region that alone reads `slot`, or -1.
  const auto sole_reader = [&](int slot, int region) {
    const int k = readers[slot] == 1 ? reader_step[slot] : -1;
    return k >= 0 && region_of_step[k] == region ? k : -1;
  };
  std::vector<char> fused(n, 0);
  std::unordered_map<int, int> dense_copy;  // slot -> slot of its dense copy
  std::vector<int> fused_away, blocked_values;
  for (size_t k = 0; k < n; ++k) {
    if (fused[k]) continue;
    auto step = steps[k];
    const int region = region_of_step[k];
    if (!kept.count(region)) {
      for (auto& in : step.inputs)
        if (dense_copy.count(in)) in = dense_copy.at(in);
      blocked_plan_.steps.push_back(std::move(step));
      continue;
    }
    const auto& [node, weight, bias, relu] = packed[k];
    const auto& op = node.op_type();
    if (op == "Conv") {
      ConvolutionPostOps post_ops;
      if (relu) post_ops.clamp = Clamp{};
      const auto fuse = [&](int reader) {
        fused[reader] = 1;
        fused_away.push_back(step.outputs[0]);
        step.description += " with " + steps[reader].description + " fused";
        step.outputs = steps[reader].outputs;
        ++blocked_post_ops_;
      };
      int reader = relu ? -1 : sole_reader(step.outputs[0], region);
      if (reader >= 0 && packed[reader].node.op_type() == "Add") {
        const auto& add = steps[reader].inputs;
        const int residual = add[0] == step.outputs[0] ? add[1] : add[0];
        const int made_by = packed_plan_.step_of_slot[residual];
        if (add[0] != add[1] && region_of_slot[residual] == region && made_by >= 0 && made_by < static_cast<int>(k)) {
          post_ops.add = true;
          step.inputs.push_back(residual);
          fuse(reader);
          reader = sole_reader(step.outputs[0], region);
        }
      }
      if (reader >= 0 && clamp_of_step[reader]) {
        post_ops.clamp = clamp_of_step[reader];
        fuse(reader);
        reader = sole_reader(step.outputs[0], region);
      }
      std::optional<DepthwiseStage> depthwise;
      if (reader >= 0 && !post_ops.add && packed[reader].node.op_type() == "Conv" &&
          is_plain_1x1(Node(node, opset_, model_dir), weight) &&
          is_depthwise_3x3(Node(packed[reader].node, opset_, model_dir), packed[reader].weight)) {
        const auto& next = packed[reader];
        const auto with_constants = [kernel = steps[reader].kernel, w = next.weight, b = next.bias](const Tensors& in) {
          return kernel(b.defined() ? Tensors{in[0], w, b} : Tensors{in[0], w});
        };
        const auto packed_relu = next.relu ? std::optional<Clamp>(Clamp{}) : std::nullopt;
        depthwise.emplace(
            DepthwiseStage{Node(next.node, opset_, model_dir), next.weight, next.bias, packed_relu, with_constants});
        fuse(reader);
        ++blocked_convolutions_;
        reader = next.relu ? -1 : sole_reader(step.outputs[0], region);
        if (reader >= 0 && clamp_of_step[reader]) {
          depthwise->clamp = clamp_of_step[reader];
          fuse(reader);
        }
      }
      step.kernel =
          blocked_convolution(Node(node, opset_, model_dir), weight, bias, post_ops, block, steps[k].kernel, depthwise);
      ++blocked_convolutions_;
    } else if (clamp_of_step[k]) {
      step.kernel = blocked_clamp(*clamp_of_step[k], steps[k].kernel);
    } else if (op == "Add") {
      step.kernel = blocked_add(steps[k].kernel);
    } else if (op == "MaxPool") {
      step.kernel = blocked_max_pool(Node(node, opset_, model_dir), steps[k].kernel);
    } else {
      step.kernel = blocked_global_average_pool(steps[k].kernel);
    }
    step.description += " on oneDNN's blocked layout";
    const int out = step.outputs[0];
    blocked_values.push_back(out);
    blocked_plan_.steps.push_back(std::move(step));
    if (read_outside[out]) {
      const int copy = add_slot(unused_name(slot_name(out) + "/dense"), "to_dense", "", out);
      blocked_plan_.steps.push_back({to_dense(), {out}, {copy}, "'" + slot_name(out) + "' out of oneDNN's blocked layout"});
      dense_copy[out] = copy;
    }
  }
  blocked_regions_ = static_cast<int>(kept.size());
  blocked_plan_.blocked.assign(slot_names_.size(), 0);
  for (int slot : blocked_values) blocked_plan_.blocked[slot] = 1;
  blocked_plan_.removed = packed_plan_.removed;
  blocked_plan_.removed.insert(blocked_plan_.removed.end(), fused_away.begin(), fused_away.end());
  blocked_plan_.index(slot_names_.size());
}

void Graph::find_image_inputs(const ::onnx::GraphProto& graph) {
  // Ops that keep a value's layout, between an input and its first convolution (in-graph normalization).
  static const std::set<std::string> elementwise = {"Add", "Sub", "Mul", "Div", "Cast", "Identity"};
  std::unordered_map<std::string, std::vector<int>> readers;
  for (int i = 0; i < graph.node_size(); ++i) {
    for (const auto& in : graph.node(i).input()) readers[in].push_back(i);
  }
  const auto is_2d_conv_of = [&](const ::onnx::NodeProto& node, const std::string& value) {
    if (node.op_type() != "Conv" || node.input_size() < 2 || node.input(0) != value) return false;
    const auto weight = constant(node.input(1));
    return weight.defined() && weight.dim() == 4;
  };
  const auto is_nhwc_to_nchw = [&](const ::onnx::NodeProto& node) {
    return node.op_type() == "Transpose" && Node(node, opset_).ints("perm") == std::vector<int64_t>{0, 3, 1, 2};
  };
  for (size_t i = 0; i < inputs_.size(); ++i) {
    if (inputs_[i].dims.size() != 4) continue;
    std::vector<std::pair<std::string, bool>> pending{{inputs_[i].name, false}};  // value, transposed from NHWC
    std::set<std::pair<std::string, bool>> seen;
    while (!pending.empty()) {
      const auto [value, transposed] = pending.back();
      pending.pop_back();
      if (!seen.insert({value, transposed}).second) continue;
      for (int reader : readers[value]) {
        const auto& node = graph.node(reader);
        if (is_2d_conv_of(node, value)) {
          image_cnn_ = true;
          const int input = static_cast<int>(i);
          const auto& listed = channels_last_inputs_;
          if (!transposed && std::find(listed.begin(), listed.end(), input) == listed.end()) {
            channels_last_inputs_.push_back(input);
          }
        }
        if (node.output_size() != 1) continue;
        // ATen's constant padding keeps its input's memory format.
        const bool keeps_layout = elementwise.count(node.op_type()) || (node.op_type() == "Pad" && spatial_zero_pads(node, 4));
        if (keeps_layout) pending.emplace_back(node.output(0), transposed);
        if (!transposed && is_nhwc_to_nchw(node)) pending.emplace_back(node.output(0), true);
      }
    }
  }
}

const Graph::Plan* Graph::inference_plan(const std::vector<int>& wanted, bool hooked, const GivenValues& given) const {
  if (hooked || !c10::InferenceMode::is_enabled()) return nullptr;
  const auto runs_all_of = [&](const Plan& plan) {
    const auto removed = [&](int slot) {
      return std::find(plan.removed.begin(), plan.removed.end(), slot) != plan.removed.end();
    };
    return !plan.steps.empty() && std::none_of(wanted.begin(), wanted.end(), removed) &&
           std::none_of(given.begin(), given.end(), [&](const auto& entry) { return removed(entry.first); });
  };
  // The packed and blocked convolutions are float32 oneDNN calls autocast does not reach: a
  // bf16 run (Bf16Autocast) takes the folded plan, whose aten::convolution it casts.
  const bool float32 = !at::autocast::is_cpu_enabled();
  if (float32 && plan_ >= InferencePlan::blocked && runs_all_of(blocked_plan_)) return &blocked_plan_;
  if (float32 && plan_ >= InferencePlan::packed && runs_all_of(packed_plan_)) return &packed_plan_;
  if ((folded_batch_norms() > 0 || folded_pads() > 0 || channels_last_inference()) && runs_all_of(folded_plan_)) return &folded_plan_;
  return nullptr;
}

int Graph::slot(const std::string& value_name) const {
  auto it = slot_by_name_.find(value_name);
  return it == slot_by_name_.end() ? -1 : it->second;
}

int Graph::node_output(const std::string& node_name) const {
  auto it = slot_by_node_.find(node_name);
  return it == slot_by_node_.end() ? -1 : it->second;
}

Tensors Graph::run(const Tensors& feeds, const std::vector<int>& wanted, const ValueHook& hook,
                   const GivenValues& given) const {
  if (feeds.size() != input_slots_.size()) {
    throw InputError("the model takes " + std::to_string(input_slots_.size()) + " input(s), " +
                     std::to_string(feeds.size()) + " given");
  }
  const int slots = num_slots();
  for (int w : wanted) {
    if (w < 0 || w >= slots) throw InputError("asked for value slot " + std::to_string(w) + ", which the graph does not have");
  }
  const Plan* plan = inference_plan(wanted, static_cast<bool>(hook), given);
  const auto& steps = plan ? plan->steps : steps_;
  const auto& step_of_slot = plan ? plan->step_of_slot : step_of_slot_;
  // Which steps the wanted values need, and the last step that reads each slot.
  std::vector<char> needed(steps.size(), 0);
  std::vector<int> stack(wanted.begin(), wanted.end());
  std::vector<char> seen(slots, 0);
  while (!stack.empty()) {
    const int s = stack.back();
    stack.pop_back();
    if (s < 0 || seen[s]) continue;
    seen[s] = 1;
    if (given.count(s)) continue;
    const int step = step_of_slot[s];
    if (step < 0 || needed[step]) continue;
    needed[step] = 1;
    for (int in : steps[step].inputs) stack.push_back(in);
  }
  std::vector<int> last_use(slots, -1);
  for (size_t i = 0; i < steps.size(); ++i) {
    if (!needed[i]) continue;
    for (int in : steps[i].inputs)
      if (in >= 0) last_use[in] = static_cast<int>(i);
  }
  std::vector<char> keep(slots, 0);
  for (int w : wanted) keep[w] = 1;

  std::vector<at::Tensor> values(constants_);
  for (size_t i = 0; i < feeds.size(); ++i) {
    values[input_slots_[i]] = feeds[i];
    if (hook) hook(input_slots_[i], values[input_slots_[i]]);
  }
  const bool channels_last = plan && channels_last_inference();
  if (channels_last) {
    for (int i : channels_last_inputs_) {
      if (feeds[i].dim() == 4) values[input_slots_[i]] = feeds[i].contiguous(at::MemoryFormat::ChannelsLast);
    }
  }
  for (const auto& [slot, value] : given) {
    if (slot < 0 || slot >= slots) {
      throw InputError("given a value for slot " + std::to_string(slot) + ", which the graph does not have");
    }
    values[slot] = value;
  }
  // Whether step i is the last to read an intermediate nobody asked for: it is freed after it.
  const auto released_by = [&](int slot, size_t i) {
    return slot >= 0 && last_use[slot] == static_cast<int>(i) && !keep[slot] && step_of_slot[slot] >= 0;
  };
  Tensors args;
  for (size_t i = 0; i < steps.size(); ++i) {
    if (!needed[i]) continue;
    const auto& step = steps[i];
    args.clear();
    for (int in : step.inputs) {
      if (in < 0) {
        args.emplace_back();
      } else if (released_by(in, i) && std::count(step.inputs.begin(), step.inputs.end(), in) == 1) {
        args.push_back(std::move(values[in]));  // its last reader may reuse its memory
      } else {
        args.push_back(values[in]);
      }
    }
    Tensors results;
    try {
      results = step.kernel(args);
    } catch (const c10::Error& e) {
      throw ModelError(step.description + " failed: " + first_line(e.what_without_backtrace()));
    } catch (const std::bad_alloc&) {
      throw;
    } catch (const std::exception& e) {
      // ModelError from the kernel, or what ATen and the standard library throw besides c10::Error.
      throw ModelError(step.description + " failed: " + first_line(e.what()));
    }
    for (size_t o = 0; o < step.outputs.size(); ++o) {
      const int slot = step.outputs[o];
      if (slot < 0 || given.count(slot)) continue;  // a node run for its other outputs
      if (o >= results.size() || !results[o].defined()) {
        if (last_use[slot] >= 0 || keep[slot]) throw ModelError(step.description + " did not produce output " + std::to_string(o));
        continue;
      }
      values[slot] = std::move(results[o]);
      if (hook) hook(slot, values[slot]);
    }
    args.clear();
    for (int in : step.inputs) {
      if (released_by(in, i)) values[in].reset();
    }
  }
  Tensors out;
  for (int w : wanted) {
    const bool blocked = plan && static_cast<size_t>(w) < plan->blocked.size() && plan->blocked[w];
    out.push_back(blocked ? dense_contiguous(values[w]) : channels_last ? values[w].contiguous() : values[w]);
  }
  return out;
}

}  // namespace lumos::onnx
