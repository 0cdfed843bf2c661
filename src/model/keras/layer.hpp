// The Keras layer registry: one translator per layer class, turning one call of the
// layer into graph nodes. Adding a layer class touches one file in layers/:
//   LUMOS_KERAS_LAYER(ReLU, "ReLU") { ...; return {output}; }
#pragma once

#include "model/keras/graph_builder.hpp"

#include <nlohmann/json.hpp>

#include <functional>
#include <initializer_list>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace lumos::keras {

using Json = nlohmann::json;

// A layer's config with typed access. Every option a translator reads, or declares
// irrelevant at inference, is marked; an option nobody marked is an error, because
// lumos cannot know how it changes the layer.
class LayerConfig {
 public:
  LayerConfig(const Json& config, std::string description);

  const std::string& description() const { return description_; }
  // Present and not null (null is how Keras writes "not set"); marks the option read.
  bool has(const std::string& key);
  const Json& get(const std::string& key);  // null if absent
  int64_t integer(const std::string& key, std::optional<int64_t> fallback = std::nullopt);
  double number(const std::string& key, std::optional<double> fallback = std::nullopt);
  bool flag(const std::string& key, bool fallback);
  std::string text(const std::string& key, std::optional<std::string> fallback = std::nullopt);
  // One integer per dimension: Keras accepts a number for all of them or a list.
  std::vector<int64_t> integers(const std::string& key, size_t count, std::optional<int64_t> fallback = std::nullopt);
  // One of `allowed` (the first is the default when absent).
  std::string choice(const std::string& key, const std::vector<std::string>& allowed);
  // "channels_last" or "channels_first" (Keras's default when absent: channels_last).
  bool channels_last();

  // Options that do not change what the layer computes at inference.
  void ignore(std::initializer_list<const char*> keys);
  // Throws ModelError naming the first option no one read.
  void check_all_read() const;
  [[noreturn]] void fail(const std::string& message) const;

 private:
  const Json& config_;
  std::string description_;
  std::set<std::string> read_;
};

// A call argument: a tensor of the graph or a constant from the config.
struct Operand {
  std::optional<Value> tensor;
  Json constant;
};

struct LayerCall {
  std::string class_name;
  std::string name;  // the output value's name: "conv1", "base/conv1", "conv1:1" (second call)
  LayerConfig& config;
  std::vector<Value> inputs;              // every tensor among the arguments, in order
  std::vector<Operand> args;              // positional arguments (op layers)
  std::map<std::string, Operand> kwargs;  // keyword arguments (op layers)
  GraphBuilder& graph;
  int keras_major = 3;  // 2 for Keras 2 and TF.js files: a few meanings changed in Keras 3
  std::function<std::vector<at::Tensor>(const std::vector<std::string>& kinds)> read_weights;
  std::map<std::string, std::vector<std::string>>* constants = nullptr;  // this layer's, for all its calls

  // The layer's variables (named `kinds` as Keras 2 names them), in Keras's order.
  std::vector<at::Tensor> weights(const std::vector<std::string>& kinds) const;
  using Prepare = std::function<std::vector<at::Tensor>(std::vector<at::Tensor>)>;
  // The layer's weights as graph constants, made once per layer (a shared layer keeps
  // one copy): `prepare` checks and rearranges the variables Keras stores (named
  // `kinds` as Keras 2 names them, in Keras's order) into what the operators take.
  std::vector<std::string> weight_constants(const std::vector<std::string>& kinds, const Prepare& prepare);
  // Throws ModelError unless `weight` (named `kind`) has `expected` shape (-1: any size).
  void check_shape(const at::Tensor& weight, const std::string& kind, const std::vector<int64_t>& expected) const;
  // The one input; throws naming the layer if it got another number.
  const Value& input() const;
  [[noreturn]] void fail(const std::string& message) const { config.fail(message); }
};

using LayerTranslator = std::vector<Value> (*)(LayerCall& call);

class LayerRegistry {
 public:
  static LayerRegistry& instance();
  bool add(std::initializer_list<const char*> class_names, LayerTranslator translate);
  LayerTranslator find(const std::string& class_name) const;  // nullptr if unknown

 private:
  std::map<std::string, LayerTranslator> translators_;
};

// A Keras kernel [s..., in, out] (any leading axes, s = their product) as [out, in, s...]:
// Conv2D's [kh, kw, in, out] becomes ONNX's [out, in, kh, kw]. A cache-blocked transpose,
// several times faster than ATen's strided copy on the large kernels of ResNet50.
at::Tensor channels_first_kernel(const at::Tensor& kernel);

// A float tensor from a config value: a number or nested lists of numbers (`what`
// names it in messages).
at::Tensor constant_from_json(const LayerCall& call, const Json& value, const std::string& what);

// The name for what a layer computes before its activation: the layer's own name when
// the activation is linear (so the layer's output keeps it).
std::string preactivation_name(const LayerCall& call, const Json& activation);
// Applies a Keras activation (a name, or Keras 3's serialized function) to `x`, naming
// the result `output`; a linear activation returns `x`. `call` gives the layer for
// messages and the Keras version (hard_sigmoid's slope changed in Keras 3).
Value apply_activation(LayerCall& call, const Json& activation, const Value& x, const std::string& output);

#define LUMOS_KERAS_CONCAT_INNER(a, b) a##b
#define LUMOS_KERAS_CONCAT(a, b) LUMOS_KERAS_CONCAT_INNER(a, b)

// Defines `translate_<id>(LayerCall& call)` and registers it for the class names given.
#define LUMOS_KERAS_LAYER(id, ...)                                                               \
  static std::vector<::lumos::keras::Value> translate_##id(::lumos::keras::LayerCall& call);     \
  [[maybe_unused]] static const bool LUMOS_KERAS_CONCAT(registered_keras_, id) =                \
      ::lumos::keras::LayerRegistry::instance().add({__VA_ARGS__}, &translate_##id);             \
  static std::vector<::lumos::keras::Value> translate_##id(::lumos::keras::LayerCall& call)

}  // namespace lumos::keras
