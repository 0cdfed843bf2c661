#include "model/keras/layer.hpp"

#include "lumos/error.hpp"

#include <ATen/ATen.h>

#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>

namespace lumos::keras {
namespace {

bool ends_with(const std::string& text, const std::string& suffix) {
  return text.size() >= suffix.size() && text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// Options of every layer that do not change inference: naming, training, the input
// shape Keras records on a model's first layer, and how variables are made.
bool is_general_option(const std::string& key) {
  static const std::set<std::string> general = {"name",        "trainable", "dtype",           "batch_input_shape",
                                                 "batch_shape", "input_shape", "input_dim",    "activity_regularizer"};
  return general.count(key) || ends_with(key, "_initializer") || ends_with(key, "_regularizer") ||
         ends_with(key, "_constraint");
}

// The dtype policy's name: "float32", "mixed_float16", "int8_from_float32"...
std::string policy_name(const Json& dtype) {
  if (dtype.is_string()) return dtype.get<std::string>();
  if (dtype.is_object()) {
    if (dtype.contains("class_name") && dtype["class_name"].is_string()) {
      const auto cls = dtype["class_name"].get<std::string>();
      if (cls.find("Quantized") != std::string::npos) return "quantized";
    }
    if (dtype.contains("config") && dtype["config"].is_object() && dtype["config"].contains("name") &&
        dtype["config"]["name"].is_string()) {
      return dtype["config"]["name"].get<std::string>();
    }
  }
  return "";
}

std::string json_text(const Json& value) {
  auto text = value.dump();
  return text.size() > 60 ? text.substr(0, 57) + "..." : text;
}

}  // namespace

LayerConfig::LayerConfig(const Json& config, std::string description)
    : config_(config), description_(std::move(description)) {
  if (!config_.is_object()) fail("the layer's config is not a JSON object");
  if (config_.contains("dtype")) {
    const auto policy = policy_name(config_["dtype"]);
    if (policy == "quantized" || policy.find("int8") != std::string::npos || policy.find("int4") != std::string::npos ||
        policy.find("float8") != std::string::npos) {
      fail("quantized layers (dtype policy '" + policy + "') are not supported; save the float model");
    }
  }
}

bool LayerConfig::has(const std::string& key) {
  read_.insert(key);
  return config_.contains(key) && !config_[key].is_null();
}

const Json& LayerConfig::get(const std::string& key) {
  static const Json null;
  read_.insert(key);
  return config_.contains(key) ? config_[key] : null;
}

int64_t LayerConfig::integer(const std::string& key, std::optional<int64_t> fallback) {
  const auto& v = get(key);
  if (v.is_null()) {
    if (!fallback) fail("option '" + key + "' is missing");
    return *fallback;
  }
  if (v.is_number_integer()) return v.get<int64_t>();
  if (v.is_number_float() && std::floor(v.get<double>()) == v.get<double>()) return static_cast<int64_t>(v.get<double>());
  fail("option '" + key + "' should be an integer, not " + json_text(v));
}

double LayerConfig::number(const std::string& key, std::optional<double> fallback) {
  const auto& v = get(key);
  if (v.is_null()) {
    if (!fallback) fail("option '" + key + "' is missing");
    return *fallback;
  }
  if (!v.is_number()) fail("option '" + key + "' should be a number, not " + json_text(v));
  return v.get<double>();
}

bool LayerConfig::flag(const std::string& key, bool fallback) {
  const auto& v = get(key);
  if (v.is_null()) return fallback;
  if (!v.is_boolean()) fail("option '" + key + "' should be true or false, not " + json_text(v));
  return v.get<bool>();
}

std::string LayerConfig::text(const std::string& key, std::optional<std::string> fallback) {
  const auto& v = get(key);
  if (v.is_null()) {
    if (!fallback) fail("option '" + key + "' is missing");
    return *fallback;
  }
  if (!v.is_string()) fail("option '" + key + "' should be text, not " + json_text(v));
  return v.get<std::string>();
}

std::vector<int64_t> LayerConfig::integers(const std::string& key, size_t count, std::optional<int64_t> fallback) {
  const auto& v = get(key);
  if (v.is_null()) {
    if (!fallback) fail("option '" + key + "' is missing");
    return std::vector<int64_t>(count, *fallback);
  }
  if (v.is_number_integer()) return std::vector<int64_t>(count, v.get<int64_t>());
  if (v.is_array() && v.size() == count) {
    std::vector<int64_t> out;
    for (const auto& item : v) {
      if (!item.is_number_integer()) break;
      out.push_back(item.get<int64_t>());
    }
    if (out.size() == count) return out;
  }
  fail("option '" + key + "' should be an integer or a list of " + std::to_string(count) + ", not " + json_text(v));
}

std::string LayerConfig::choice(const std::string& key, const std::vector<std::string>& allowed) {
  const auto value = text(key, allowed.front());
  for (const auto& a : allowed) {
    if (a == value) return value;
  }
  std::string list;
  for (const auto& a : allowed) list += (list.empty() ? "" : ", ") + a;
  fail("option '" + key + "' = '" + value + "' is not supported (lumos supports " + list + ")");
}

bool LayerConfig::channels_last() { return choice("data_format", {"channels_last", "channels_first"}) == "channels_last"; }

void LayerConfig::ignore(std::initializer_list<const char*> keys) {
  for (const char* key : keys) read_.insert(key);
}

void LayerConfig::check_all_read() const {
  for (const auto& [key, value] : config_.items()) {
    if (read_.count(key) || is_general_option(key)) continue;
    fail("unknown option '" + key + "' = " + json_text(value) +
         "; lumos cannot tell how it changes the layer (a newer Keras, or a custom layer?)");
  }
}

void LayerConfig::fail(const std::string& message) const { throw ModelError(description_ + ": " + message); }

void LayerCall::check_shape(const at::Tensor& weight, const std::string& kind,
                            const std::vector<int64_t>& expected) const {
  bool ok = weight.dim() == static_cast<int64_t>(expected.size());
  for (size_t i = 0; ok && i < expected.size(); ++i) ok = expected[i] < 0 || weight.size(i) == expected[i];
  if (!ok) {
    fail("weight '" + kind + "' has shape " + shape_string(weight.sizes()) + " but the layer needs " +
         shape_string(expected) + "; the weights do not belong to this model");
  }
}

// The store's tensors may be views of the file: what the graph keeps must own its memory.
at::Tensor owned(const at::Tensor& value, const std::vector<at::Tensor>& read) {
  for (const auto& source : read) {
    if (value.is_alias_of(source)) return value.clone();
  }
  return value;
}

std::vector<at::Tensor> LayerCall::weights(const std::vector<std::string>& kinds) const {
  auto read = read_weights(kinds);
  for (auto& value : read) value = value.clone();
  return read;
}

std::vector<std::string> LayerCall::weight_constants(const std::vector<std::string>& kinds, const Prepare& prepare) {
  std::string key;
  for (const auto& kind : kinds) key += kind + ",";
  auto& cached = (*constants)[key];
  if (cached.empty()) {
    const auto read = read_weights(kinds);
    auto prepared = prepare(read);
    for (auto& value : prepared) value = owned(value, read);
    for (size_t i = 0; i < prepared.size(); ++i) {
      cached.push_back(graph.constant(name + "/" + (i < kinds.size() ? kinds[i] : std::string("weight")), prepared[i]));
    }
  }
  return cached;
}

const Value& LayerCall::input() const {
  if (inputs.size() != 1) fail("takes one input, got " + std::to_string(inputs.size()));
  return inputs.front();
}

at::Tensor constant_from_json(const LayerCall& call, const Json& value, const std::string& what) {
  if (value.is_number()) return at::scalar_tensor(value.get<double>(), at::kDouble).to(at::kFloat);
  if (!value.is_array() || value.empty()) call.fail(what + " should be a number or a list of numbers");
  std::vector<at::Tensor> items;
  for (const auto& item : value) items.push_back(constant_from_json(call, item, what));
  for (const auto& item : items) {
    if (item.sizes() != items.front().sizes()) call.fail(what + " is a ragged list");
  }
  return at::stack(items);
}

at::Tensor channels_first_kernel(const at::Tensor& kernel) {
  const auto source = kernel.contiguous();
  const int64_t rank = source.dim();
  const int64_t out = source.size(rank - 1);
  const int64_t in = source.size(rank - 2);
  const int64_t spatial = source.numel() / std::max<int64_t>(in * out, 1);
  std::vector<int64_t> shape{out, in};
  for (int64_t a = 0; a < rank - 2; ++a) shape.push_back(source.size(a));
  auto result = at::empty(shape, source.options());
  const float* src = source.data_ptr<float>();
  float* dst = result.data_ptr<float>();
  constexpr int64_t block = 32;
  // dst[o][i][s] = src[s][i][o]: tiles of block x block (o, i) pairs stay in cache.
  at::parallel_for(0, (out + block - 1) / block, 1, [&](int64_t first, int64_t last) {
    for (int64_t ob = first * block; ob < std::min(last * block, out); ob += block) {
      for (int64_t ib = 0; ib < in; ib += block) {
        for (int64_t s = 0; s < spatial; ++s) {
          for (int64_t i = ib; i < std::min(ib + block, in); ++i) {
            const float* row = src + (s * in + i) * out;
            for (int64_t o = ob; o < std::min(ob + block, out); ++o) dst[(o * in + i) * spatial + s] = row[o];
          }
        }
      }
    }
  });
  return result;
}

LayerRegistry& LayerRegistry::instance() {
  static LayerRegistry registry;
  return registry;
}

bool LayerRegistry::add(std::initializer_list<const char*> class_names, LayerTranslator translate) {
  for (const char* name : class_names) translators_[name] = translate;
  return true;
}

LayerTranslator LayerRegistry::find(const std::string& class_name) const {
  auto it = translators_.find(class_name);
  return it == translators_.end() ? nullptr : it->second;
}

}  // namespace lumos::keras
