#include "model/keras/translate.hpp"

#include "lumos/error.hpp"
#include "model/keras/layer.hpp"

#include <ATen/ATen.h>

#include <regex>
#include <set>

namespace lumos::keras {

// keras.src.utils.naming.to_snake_case, how Keras 3 names a layer's weights group, with
// its three regular expressions written out (std::regex cost a millisecond a layer):
// drop non-word characters; "_" before an upper-case letter that starts a lower-case run
// ("BatchNormalization" -> "Batch_Normalization"); "_" between a lower-case and an
// upper-case letter ("ReLU" -> "Re_LU"); lower case.
std::string snake_case(const std::string& class_name) {
  std::string name;
  for (char c : class_name) {
    if (std::isalnum(static_cast<unsigned char>(c)) || c == '_') name += c;
  }
  const auto upper = [](char c) { return c >= 'A' && c <= 'Z'; };
  const auto lower = [](char c) { return c >= 'a' && c <= 'z'; };
  // re.sub("(.)([A-Z][a-z]+)", r"\1_\2"): each match resumes after its lower-case run.
  std::string words;
  for (size_t i = 0; i < name.size();) {
    if (i + 2 < name.size() && upper(name[i + 1]) && lower(name[i + 2])) {
      size_t end = i + 2;
      while (end < name.size() && lower(name[end])) ++end;
      words += name[i];
      words += '_';
      words += name.substr(i + 1, end - i - 1);
      i = end;
    } else {
      words += name[i++];
    }
  }
  std::string out;
  for (size_t i = 0; i < words.size(); ++i) {
    if (i > 0 && upper(words[i]) && lower(words[i - 1])) out += '_';
    out += static_cast<char>(std::tolower(static_cast<unsigned char>(words[i])));
  }
  return out;
}

namespace {

bool is_model_class(const std::string& cls) { return cls == "Functional" || cls == "Model" || cls == "Sequential"; }

// "keras.layers", "keras.src.ops.numpy", "tf_keras.src.layers"...; not "keras_hub" or "__main__".
bool is_keras_module(const std::string& module) {
  for (const std::string root : {"keras", "tf_keras"}) {
    if (module == root || module.rfind(root + ".", 0) == 0) return true;
  }
  return false;
}

const std::set<std::string>& preprocessing_layers() {
  static const std::set<std::string> classes = {"Rescaling", "Normalization"};
  return classes;
}

const std::set<std::string>& computing_layers() {
  static const std::set<std::string> classes = {"Conv1D",          "Conv2D", "Convolution2D", "DepthwiseConv2D",
                                                "SeparableConv2D", "Dense",  "Conv2DTranspose"};
  return classes;
}

// keras.applications' model names and the input scaling each expects (its preprocess_input).
std::string application_preprocess(const std::string& model_name) {
  static const std::vector<std::pair<std::regex, std::string>> rules = {
      {std::regex("vgg(16|19)|resnet(50|101|152)"), "caffe"},
      {std::regex("resnet(50|101|152)v2|inception_v3|inception_resnet_v2|xception|nasnet_?(large|mobile)|"
                  "NASNet|mobilenet_[0-9.]+_[0-9]+|mobilenetv2_[0-9.]+_[0-9]+"),
       "tf"},
      {std::regex("densenet(121|169|201)"), "imagenet"},
  };
  for (const auto& [pattern, preprocess] : rules) {
    if (std::regex_match(model_name, pattern)) return preprocess;
  }
  return "";
}

// The first data_format any layer states: how the model's images are laid out.
std::optional<bool> first_channels_last(const Json& node) {
  if (node.is_object()) {
    if (node.contains("data_format") && node["data_format"].is_string()) {
      return node["data_format"].get<std::string>() != "channels_first";
    }
    for (const auto& [key, value] : node.items()) {
      if (auto found = first_channels_last(value)) return found;
    }
  } else if (node.is_array()) {
    for (const auto& value : node) {
      if (auto found = first_channels_last(value)) return found;
    }
  }
  return std::nullopt;
}

// object[key] by reference (null if absent): pointers into the config stay valid.
const Json& member(const Json& object, const char* key) {
  static const Json null;
  return object.is_object() && object.contains(key) ? object[key] : null;
}

std::string text_of(const Json& object, const char* key) {
  return object.is_object() && object.contains(key) && object[key].is_string() ? object[key].get<std::string>() : "";
}

// A reference to a tensor made by a layer call: Keras 2 writes [layer, node, tensor(, kwargs)].
bool is_reference(const Json& j) {
  return j.is_array() && (j.size() == 3 || j.size() == 4) && j[0].is_string() && j[1].is_number_integer() &&
         j[2].is_number_integer();
}

// Keras 2's constant call argument: ["_CONSTANT_VALUE", -1, value(, kwargs)].
bool is_constant_argument(const Json& j) {
  return j.is_array() && (j.size() == 3 || j.size() == 4) && j[0].is_string() && j[0].get<std::string>() == "_CONSTANT_VALUE";
}

constexpr const char* kTensorMarker = "__lumos_tensor__";

struct TensorRef {
  std::string layer;
  int64_t node = 0;
  int64_t tensor = 0;
};

// A call's arguments with every tensor replaced by {kTensorMarker: index into refs}.
struct CallData {
  Json args = Json::array();
  Json kwargs = Json::object();
  std::vector<TensorRef> refs;
};

class Walker {
 public:
  Walker(KerasSource& source, GraphBuilder& graph, bool channels_last)
      : source_(source), graph_(graph), channels_last_(channels_last) {}

  std::vector<Value> model(const Json& entry, const std::vector<Value>* inputs, const std::string& prefix,
                           const WeightLocation& where);

  InputSpec input;
  std::vector<std::string> model_names;
  std::vector<std::string> layer_order;  // classes in the order they run

 private:
  struct LayerState {
    const Json* entry = nullptr;
    std::string name;
    std::string class_name;
    bool op = false;
    std::vector<const Json*> nodes;
    size_t done = 0;
    int64_t first_node = 0;  // nested models start with a node of their own
    WeightLocation where;
  };

  [[noreturn]] void fail(const std::string& message) const { throw ModelError(message); }

  std::vector<Value> functional(const Json& config, const std::vector<Value>* inputs, const std::string& prefix,
                                const WeightLocation& where);
  std::vector<Value> sequential(const Json& config, const std::vector<Value>* inputs, const std::string& prefix,
                                const WeightLocation& where);
  Value model_input(const Json& input_config, const std::string& name);
  Json sequential_input_shape(const Json& config) const;
  std::vector<Value> call(const Json& entry, const std::string& class_name, bool op, const CallData& data,
                          const std::vector<Value>& tensors, const std::string& value_name, const WeightLocation& where);
  CallData parse_node(const Json& node, const std::string& layer) const;
  Json replace_tensors(const Json& value, std::vector<TensorRef>& refs, bool keras2) const;
  int64_t first_node_index(const Json& entry, const std::string& class_name) const;
  bool is_op_call(const Json& entry, const std::string& class_name, const CallData& data) const;

  KerasSource& source_;
  GraphBuilder& graph_;
  bool channels_last_;
  std::map<std::string, std::map<std::string, std::vector<std::string>>> constants_;  // per layer (by weight path)
};

Json Walker::replace_tensors(const Json& value, std::vector<TensorRef>& refs, bool keras2) const {
  if (value.is_object()) {
    const auto cls = text_of(value, "class_name");
    if (cls == "__keras_tensor__") {
      const auto& history = member(member(value, "config"), "keras_history");
      if (!is_reference(history)) fail("a call argument names a tensor without its keras_history");
      refs.push_back({history[0].get<std::string>(), history[1].get<int64_t>(), history[2].get<int64_t>()});
      return Json{{kTensorMarker, refs.size() - 1}};
    }
    if ((cls == "__numpy__" || cls == "__tensor__") && value.contains("config")) {
      return member(value["config"], "value");
    }
    Json out = Json::object();
    for (const auto& [key, item] : value.items()) out[key] = replace_tensors(item, refs, keras2);
    return out;
  }
  if (value.is_array()) {
    if (keras2 && is_constant_argument(value)) return value[2];
    if (keras2 && is_reference(value)) {
      refs.push_back({value[0].get<std::string>(), value[1].get<int64_t>(), value[2].get<int64_t>()});
      return Json{{kTensorMarker, refs.size() - 1}};
    }
    Json out = Json::array();
    for (const auto& item : value) out.push_back(replace_tensors(item, refs, keras2));
    return out;
  }
  return value;
}

CallData Walker::parse_node(const Json& node, const std::string& layer) const {
  CallData data;
  if (node.is_object()) {  // Keras 3: {"args": [...], "kwargs": {...}}
    data.args = replace_tensors(node.contains("args") ? node["args"] : Json::array(), data.refs, false);
    data.kwargs = replace_tensors(node.contains("kwargs") ? node["kwargs"] : Json::object(), data.refs, false);
    if (!data.args.is_array() || !data.kwargs.is_object()) fail("layer '" + layer + "': malformed inbound node");
    return data;
  }
  // Keras 2: [[layer, node, tensor, kwargs], ...], one entry per input tensor.
  if (!node.is_array() || node.empty()) fail("layer '" + layer + "': malformed inbound node");
  Json tensors = Json::array();
  for (const auto& entry : node) {
    if (!is_reference(entry) && !is_constant_argument(entry)) {
      fail("layer '" + layer + "': malformed inbound node " + entry.dump().substr(0, 80));
    }
    tensors.push_back(replace_tensors(Json::array({entry[0], entry[1], entry[2]}), data.refs, true));
    if (entry.size() == 4 && entry[3].is_object()) data.kwargs = replace_tensors(entry[3], data.refs, true);
  }
  data.args = tensors.size() == 1 ? tensors : Json::array({tensors});
  return data;
}

int64_t Walker::first_node_index(const Json& entry, const std::string& class_name) const {
  if (class_name == "Functional" || class_name == "Model") return 1;
  if (class_name != "Sequential" || source_.keras_major >= 3) return 0;
  // Keras 2 gives a Sequential built on a known input a node of its own first.
  const auto& layers = member(member(entry, "config"), "layers");
  if (!layers.is_array() || layers.empty()) return 0;
  const auto& first = layers[0];
  return text_of(first, "class_name") == "InputLayer" ||
                 (first.contains("config") && first["config"].is_object() &&
                  first["config"].contains("batch_input_shape"))
             ? 1
             : 0;
}

bool Walker::is_op_call(const Json& entry, const std::string& class_name, const CallData& data) const {
  const auto module = text_of(entry, "module");
  const auto& registry = LayerRegistry::instance();
  if (module.rfind("keras.src.ops", 0) == 0) return true;
  if (!registry.find("ops." + class_name)) return false;
  if (!registry.find(class_name)) return true;
  // Operations and merge layers share names (Add, Multiply...): a merge layer takes one
  // list of tensors, an operation its operands. TF.js drops the "module" that tells them apart.
  return !module.empty() ? false : !(data.args.size() == 1 && data.args[0].is_array());
}

Value Walker::model_input(const Json& input_config, const std::string& name) {
  const Json& shape = input_config.contains("batch_shape") ? input_config["batch_shape"]
                      : input_config.contains("batch_input_shape") ? input_config["batch_input_shape"]
                                                                   : Json();
  if (!shape.is_array()) fail("input '" + name + "' has no batch_shape / batch_input_shape");
  Value value;
  for (const auto& d : shape) value.shape.push_back(d.is_number_integer() ? d.get<int64_t>() : -1);
  for (auto d : value.shape) {
    if (d == 0 || d > (int64_t{1} << 20)) fail("input '" + name + "' has an implausible shape " + shape_string(value.shape));
  }
  if (value.rank() != 4) {
    fail("the model takes input '" + name + "' of shape " + shape_string(value.shape) +
         "; lumos explains image classifiers with a 4-D input (NHWC or NCHW)");
  }
  value.channels_last = channels_last_;
  value.name = graph_.add_input(name, value.shape);
  input.name = value.name;
  input.layout = channels_last_ ? Layout::NHWC : Layout::NCHW;
  input.batch = -1;
  input.height = value.shape[channels_last_ ? 1 : 2];
  input.width = value.shape[channels_last_ ? 2 : 3];
  input.channels = value.shape[channels_last_ ? 3 : 1];
  if (input.channels < 0) input.channels = 3;
  graph_.expose(value, "input");
  return value;
}

std::vector<Value> Walker::model(const Json& entry, const std::vector<Value>* inputs, const std::string& prefix,
                                 const WeightLocation& where) {
  const auto cls = text_of(entry, "class_name");
  if (!entry.contains("config") || !entry["config"].is_object()) fail("model '" + prefix + "' has no config");
  const auto& config = entry["config"];
  model_names.push_back(text_of(config, "name"));
  if (cls == "Sequential") return sequential(config, inputs, prefix, where);
  if (cls == "Functional" || cls == "Model") return functional(config, inputs, prefix, where);
  fail("the model's class is '" + cls + "'; lumos reads Sequential and Functional models (a subclassed model's "
       "Python code is not in the file)");
}

std::vector<Value> Walker::call(const Json& entry, const std::string& class_name, bool op, const CallData& data,
                                const std::vector<Value>& tensors, const std::string& value_name,
                                const WeightLocation& where) {
  const auto layer_name = where.layer_path.back();
  const std::string description = "layer '" + value_name + "' (" + class_name + ")";
  layer_order.push_back(class_name);
  // Keras 3 records the module of each class: one from outside Keras is the user's own,
  // whatever its name (a custom class called "Dense" is not Keras's Dense).
  const auto module = text_of(entry, "module");
  if (!module.empty() && !is_keras_module(module)) {
    throw UnsupportedOpError(description + ": a custom layer class from module '" + module +
                             "'; its Python code is not in the file, so lumos cannot run it");
  }
  if (is_model_class(class_name)) {
    auto outputs = model(entry, &tensors, value_name + "/", where);
    // The nested model's own name stands for its output, as model.get_layer(name).output does.
    std::vector<Value> named;
    for (size_t i = 0; i < outputs.size(); ++i) {
      Value alias = outputs[i];
      alias.name = graph_.node("Identity", {outputs[i].name}, value_name + (i ? "#" + std::to_string(i) : ""));
      graph_.expose(alias, class_name);
      named.push_back(alias);
    }
    return named;
  }
  if (class_name == "Lambda") {
    fail(description + ": a Lambda layer's Python code is not in the file, so lumos cannot run it; rebuild the "
         "model with built-in layers");
  }
  const auto translate = LayerRegistry::instance().find(op ? "ops." + class_name : class_name);
  if (!translate) {
    throw UnsupportedOpError(description + ": lumos does not support this layer class (a custom layer's Python "
                             "code is not in the file); see docs/models.md for the layers lumos reads");
  }
  static const Json no_options = Json::object();
  const Json& config_json = entry.contains("config") ? entry["config"] : no_options;
  LayerConfig config(config_json, description);
  LayerCall layer_call{class_name, value_name, config, tensors, {}, {}, graph_, source_.keras_major, {}, nullptr};
  const auto operand = [&](const Json& arg) {
    Operand out;
    if (arg.is_object() && arg.contains(kTensorMarker)) {
      out.tensor = tensors.at(arg[kTensorMarker].get<size_t>());
    } else {
      out.constant = arg;
    }
    return out;
  };
  for (const auto& arg : data.args) layer_call.args.push_back(operand(arg));
  for (const auto& [key, arg] : data.kwargs.items()) layer_call.kwargs[key] = operand(arg);
  const auto key = where.keras3_path + "|" + layer_name;
  layer_call.constants = &constants_[key];
  layer_call.read_weights = [this, where](const std::vector<std::string>& kinds) {
    return source_.weights->read(where, kinds);
  };
  auto outputs = translate(layer_call);
  config.check_all_read();
  for (const auto& output : outputs) graph_.expose(output, class_name);
  return outputs;
}

std::vector<Value> Walker::functional(const Json& config, const std::vector<Value>* inputs, const std::string& prefix,
                                      const WeightLocation& where) {
  const auto& layers = member(config, "layers");
  if (!layers.is_array()) fail("model '" + text_of(config, "name") + "' has no layer list");
  std::vector<LayerState> states;
  std::map<std::string, size_t> index;
  std::map<std::string, int> snake_count;
  for (const auto& entry : layers) {
    LayerState state;
    state.entry = &entry;
    state.class_name = text_of(entry, "class_name");
    state.name = text_of(entry, "name");
    if (state.name.empty() && entry.contains("config")) state.name = text_of(entry["config"], "name");
    if (state.name.empty() || state.class_name.empty()) fail("a layer of the model has no name or class");
    if (index.count(state.name)) fail("the model has two layers named '" + state.name + "'");
    const auto& inbound = member(entry, "inbound_nodes");
    if (!inbound.is_null() && !inbound.is_array()) fail("layer '" + prefix + state.name + "' has malformed inbound_nodes");
    for (const auto& node : inbound) state.nodes.push_back(&node);
    state.first_node = first_node_index(entry, state.class_name);
    state.op = !state.nodes.empty() && is_op_call(entry, state.class_name, parse_node(*state.nodes.front(), state.name));
    auto snake = snake_case(state.class_name);
    if (!state.op) {
      const int n = snake_count[snake]++;
      if (n > 0) snake += "_" + std::to_string(n);
    }
    state.where.keras3_path = (where.keras3_path.empty() ? "" : where.keras3_path + "/") + "layers/" + snake;
    state.where.layer_path = where.layer_path;
    state.where.layer_path.push_back(state.name);
    index[state.name] = states.size();
    states.push_back(std::move(state));
  }

  std::map<std::pair<std::string, int64_t>, std::vector<Value>> produced;
  const auto references = [&](const Json& spec) {
    // input_layers / output_layers: one [layer, node, tensor] or a list of them.
    std::vector<TensorRef> refs;
    if (is_reference(spec)) {
      refs.push_back({spec[0].get<std::string>(), spec[1].get<int64_t>(), spec[2].get<int64_t>()});
    } else if (spec.is_array()) {
      for (const auto& item : spec) {
        if (!is_reference(item)) fail("model '" + text_of(config, "name") + "' lists a malformed input or output");
        refs.push_back({item[0].get<std::string>(), item[1].get<int64_t>(), item[2].get<int64_t>()});
      }
    } else if (spec.is_object()) {
      for (const auto& [key, item] : spec.items()) {
        if (!is_reference(item)) fail("model '" + text_of(config, "name") + "' lists a malformed input or output");
        refs.push_back({item[0].get<std::string>(), item[1].get<int64_t>(), item[2].get<int64_t>()});
      }
    }
    return refs;
  };
  const auto input_refs = references(member(config, "input_layers"));
  if (input_refs.empty()) fail("model '" + text_of(config, "name") + "' names no inputs");
  if (!inputs && input_refs.size() != 1) {
    fail("the model takes " + std::to_string(input_refs.size()) + " inputs; lumos explains models with one image input");
  }
  if (inputs && inputs->size() != input_refs.size()) {
    fail("model '" + prefix + "' takes " + std::to_string(input_refs.size()) + " inputs, called with " +
         std::to_string(inputs->size()));
  }
  for (size_t i = 0; i < input_refs.size(); ++i) {
    const auto it = index.find(input_refs[i].layer);
    if (it == index.end()) fail("model input '" + input_refs[i].layer + "' is not one of its layers");
    const auto& state = states[it->second];
    if (state.class_name != "InputLayer") fail("model input '" + state.name + "' is not an InputLayer");
    produced[{state.name, 0}] = {inputs ? (*inputs)[i] : model_input(member(*state.entry, "config"), state.name)};
  }

  const auto available = [&](const TensorRef& ref) -> const Value* {
    auto it = produced.find({ref.layer, ref.node});
    if (it == produced.end() || ref.tensor < 0 || ref.tensor >= static_cast<int64_t>(it->second.size())) return nullptr;
    return &it->second[ref.tensor];
  };
  size_t pending = 0;
  for (const auto& s : states) pending += s.nodes.size();
  while (pending > 0) {
    bool progress = false;
    for (auto& state : states) {
      while (state.done < state.nodes.size()) {
        const auto data = parse_node(*state.nodes[state.done], state.name);
        std::vector<Value> tensors;
        for (const auto& ref : data.refs) {
          if (!index.count(ref.layer)) fail("layer '" + prefix + state.name + "' reads layer '" + ref.layer +
                                            "', which the model does not have");
          if (const auto* value = available(ref)) tensors.push_back(*value);
        }
        if (tensors.size() != data.refs.size()) break;
        const auto call_index = static_cast<int64_t>(state.done);
        const auto value_name = prefix + state.name + (call_index ? ":" + std::to_string(call_index) : "");
        produced[{state.name, call_index + state.first_node}] =
            call(*state.entry, state.class_name, state.op, data, tensors, value_name, state.where);
        ++state.done;
        --pending;
        progress = true;
      }
    }
    if (!progress) {
      std::string stuck;
      for (const auto& s : states)
        if (s.done < s.nodes.size()) stuck += (stuck.empty() ? "'" : ", '") + prefix + s.name + "'";
      fail("the model's layers " + stuck + " wait for inputs no layer makes (a cycle, or a malformed config)");
    }
  }

  std::vector<Value> outputs;
  for (const auto& ref : references(member(config, "output_layers"))) {
    const auto* value = available(ref);
    if (!value) fail("model output '" + ref.layer + "' is not made by any layer call");
    outputs.push_back(*value);
  }
  if (outputs.empty()) fail("model '" + text_of(config, "name") + "' names no outputs");
  return outputs;
}

// Where a Sequential model without an InputLayer entry records its input shape: on its
// first layer (Keras 2), in build_input_shape (Keras 3), or in a first nested model's input.
Json Walker::sequential_input_shape(const Json& config) const {
  const auto& first = member(config, "layers")[0];
  const auto& first_config = member(first, "config");
  if (first_config.contains("batch_input_shape")) return first_config;
  if (config.contains("build_input_shape")) return Json{{"batch_shape", config["build_input_shape"]}};
  const auto& inner = member(first_config, "layers");
  if (is_model_class(text_of(first, "class_name")) && inner.is_array() && !inner.empty()) {
    for (const auto& layer : inner) {
      if (text_of(layer, "class_name") == "InputLayer") return member(layer, "config");
    }
    return sequential_input_shape(first_config);
  }
  fail("Sequential model '" + text_of(config, "name") + "' records no input shape");
}

std::vector<Value> Walker::sequential(const Json& config, const std::vector<Value>* inputs, const std::string& prefix,
                                      const WeightLocation& where) {
  const auto& layers = member(config, "layers");
  if (!layers.is_array() || layers.empty()) fail("Sequential model '" + text_of(config, "name") + "' has no layers");
  std::vector<Value> x;
  size_t first = 0;
  if (inputs) {
    x = *inputs;
    if (text_of(layers[0], "class_name") == "InputLayer") first = 1;
  } else if (text_of(layers[0], "class_name") == "InputLayer") {
    const auto& input_config = member(layers[0], "config");
    x = {model_input(input_config, text_of(input_config, "name").empty() ? "input" : text_of(input_config, "name"))};
    first = 1;
  } else {
    x = {model_input(sequential_input_shape(config), "input")};
  }
  std::map<std::string, int> snake_count;
  for (size_t i = first; i < layers.size(); ++i) {
    const auto& entry = layers[i];
    const auto cls = text_of(entry, "class_name");
    auto name = text_of(entry, "name");
    if (name.empty() && entry.contains("config")) name = text_of(entry["config"], "name");
    if (name.empty() || cls.empty()) fail("a layer of Sequential model '" + text_of(config, "name") + "' has no name");
    auto snake = snake_case(cls);
    const int n = snake_count[snake]++;
    if (n > 0) snake += "_" + std::to_string(n);
    WeightLocation layer_where{(where.keras3_path.empty() ? "" : where.keras3_path + "/") + "layers/" + snake,
                               where.layer_path};
    layer_where.layer_path.push_back(name);
    CallData data;
    data.args = Json::array({Json{{kTensorMarker, 0}}});
    if (x.size() != 1) fail("layer '" + prefix + name + "' of a Sequential model gets " + std::to_string(x.size()) +
                            " tensors; each layer takes one");
    x = call(entry, cls, false, data, x, prefix + name, layer_where);
  }
  return x;
}

}  // namespace

TranslatedModel translate(KerasSource& source) {
  TranslatedModel out;
  const bool channels_last = first_channels_last(source.model).value_or(true);
  Walker walker(source, out.graph, channels_last);
  const auto outputs = walker.model(source.model, nullptr, "", WeightLocation{});
  for (const auto& output : outputs) out.graph.add_output(output.name);
  source.weights->check_all_used();
  out.input = walker.input;

  // Preprocessing: a model that rescales its input itself takes pixels as they are;
  // else keras.applications' convention for the application it contains; else [0, 1].
  std::string preprocess;
  for (const auto& cls : walker.layer_order) {
    if (preprocessing_layers().count(cls)) preprocess = "raw";
    if (!preprocess.empty() || computing_layers().count(cls)) break;
  }
  for (size_t i = 0; preprocess.empty() && i < walker.model_names.size(); ++i) {
    preprocess = application_preprocess(walker.model_names[i]);
  }
  out.metadata["preprocess"] = preprocess.empty() ? "unit" : preprocess;
  out.metadata["keras_version"] = source.keras_version;
  for (const auto& [key, value] : source.metadata) out.metadata[key] = value;
  return out;
}

}  // namespace lumos::keras
