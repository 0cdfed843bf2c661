#include "model/keras/weights.hpp"

#include "lumos/error.hpp"

#include <ATen/ATen.h>

#include <functional>
#include <set>

namespace lumos::keras {
namespace {

std::string join(const std::vector<std::string>& parts, size_t from = 0) {
  std::string out;
  for (size_t i = from; i < parts.size(); ++i) out += (out.empty() ? "" : "/") + parts[i];
  return out;
}

std::string describe(const WeightLocation& where) { return "layer '" + join(where.layer_path) + "'"; }

std::string strip_slot(const std::string& name) {
  return name.size() > 2 && name.compare(name.size() - 2, 2, ":0") == 0 ? name.substr(0, name.size() - 2) : name;
}

// Keras 3's layout: `count` variables at <path>/vars/0..count-1. TF-Keras 2.13-2.15
// wrote .keras files with "_layer_checkpoint_dependencies" where Keras 3 writes "layers".
std::vector<at::Tensor> read_by_position(const WeightLocation& where, size_t count,
                                         const std::function<bool(const std::string&)>& has,
                                         const std::function<at::Tensor(const std::string&)>& read,
                                         std::set<std::string>& used) {
  auto path = where.keras3_path;
  if (count > 0 && !has(path + "/vars/0")) {
    std::string legacy;
    for (size_t start = 0; start <= path.size();) {
      const size_t end = std::min(path.find('/', start), path.size());
      const auto part = path.substr(start, end - start);
      legacy += (legacy.empty() ? "" : "/") + (part == "layers" ? std::string("_layer_checkpoint_dependencies") : part);
      start = end + 1;
    }
    if (has(legacy + "/vars/0")) path = legacy;
  }
  std::vector<at::Tensor> out;
  for (size_t i = 0; i < count; ++i) {
    const auto name = path + "/vars/" + std::to_string(i);
    if (!has(name)) {
      throw ModelError(describe(where) + " needs " + std::to_string(count) + " weights; the file has " +
                       std::to_string(i) + " at '" + path + "/vars'; the weights do not belong to this model");
    }
    out.push_back(read(name));
    used.insert(name);
  }
  if (has(path + "/vars/" + std::to_string(count))) {
    throw ModelError(describe(where) + " needs " + std::to_string(count) + " weights; the file has more at '" + path +
                     "/vars'; the weights do not belong to this model");
  }
  return out;
}

// Keras 2's names: "<layer>/<kind>", or with the names of enclosing models (or of the
// scope the model was built in) in front. The most specific match wins.
std::string find_by_name(const WeightLocation& where, const std::string& kind, const std::vector<std::string>& names) {
  for (size_t from = 0; from < where.layer_path.size(); ++from) {
    const auto wanted = join(where.layer_path, from) + "/" + kind;
    std::vector<std::string> found;
    for (const auto& name : names) {
      const bool suffix = name.size() > wanted.size() && name.compare(name.size() - wanted.size(), wanted.size(), wanted) == 0 &&
                          name[name.size() - wanted.size() - 1] == '/';
      if (name == wanted) return name;
      if (suffix) found.push_back(name);
    }
    if (found.size() == 1) return found.front();
    if (found.size() > 1) {
      throw ModelError(describe(where) + ": several weights end in '" + wanted + "' ('" + found[0] + "', '" + found[1] +
                       "'); the file is ambiguous");
    }
  }
  throw ModelError(describe(where) + ": the weights have no '" + join(where.layer_path) + "/" + kind +
                   "'; the weights do not belong to this model");
}

class Keras3Weights final : public WeightStore {
 public:
  explicit Keras3Weights(Hdf5File file) : file_(std::move(file)) {}

  std::vector<at::Tensor> read(const WeightLocation& where, const std::vector<std::string>& kinds) override {
    return read_by_position(
        where, kinds.size(), [&](const std::string& n) { return file_.has_dataset(n); },
        [&](const std::string& n) { return file_.read(n); }, used_);
  }

  void check_all_used() const override {
    for (const auto& root : {"layers", "_layer_checkpoint_dependencies"}) {
      for (const auto& path : file_.datasets(root)) {
        if (!used_.count(path)) {
          throw ModelError("'" + file_.label() + "' holds weights at '" + path +
                           "' that no layer of the model uses; the weights do not belong to this model");
        }
      }
    }
  }

 private:
  Hdf5File file_;
  std::set<std::string> used_;
};

class Keras2Weights final : public WeightStore {
 public:
  Keras2Weights(Hdf5File file, std::string group) : file_(std::move(file)), group_(std::move(group)) {}

  std::vector<at::Tensor> read(const WeightLocation& where, const std::vector<std::string>& kinds) override {
    const auto group = group_ + "/" + where.layer_path.front();
    const auto names = file_.texts(group, "weight_names");
    std::vector<at::Tensor> out;
    if (where.layer_path.size() == 1) {
      // A layer of the top model: its group lists exactly its variables, in order.
      if (names.size() != kinds.size()) {
        throw ModelError(describe(where) + " needs " + std::to_string(kinds.size()) + " weights; '" + file_.label() +
                         "' has " + std::to_string(names.size()) + " for it; the weights do not belong to this model");
      }
      for (const auto& name : names) out.push_back(take(group, name));
      return out;
    }
    std::vector<std::string> stripped;
    std::map<std::string, std::string> by_name;
    for (const auto& name : names) {
      stripped.push_back(strip_slot(name));
      by_name[stripped.back()] = name;
    }
    for (const auto& kind : kinds) out.push_back(take(group, by_name.at(find_by_name(where, kind, stripped))));
    return out;
  }

  void check_all_used() const override {
    for (const auto& layer : file_.texts(group_, "layer_names")) {
      for (const auto& name : file_.texts(group_ + "/" + layer, "weight_names")) {
        if (!used_.count(group_ + "/" + layer + "/" + name)) {
          throw ModelError("'" + file_.label() + "' holds weight '" + name + "' of layer '" + layer +
                           "', which the model does not use; the weights do not belong to this model");
        }
      }
    }
  }

 private:
  at::Tensor take(const std::string& group, const std::string& name) {
    const auto path = group + "/" + name;
    used_.insert(path);
    return file_.read(path);
  }

  Hdf5File file_;
  std::string group_;
  std::set<std::string> used_;
};

class NamedWeights final : public WeightStore {
 public:
  NamedWeights(std::map<std::string, at::Tensor> weights, std::string source)
      : weights_(std::move(weights)), source_(std::move(source)) {
    // Models converted from Keras 3 name weights by their .keras path.
    for (const auto& [name, value] : weights_) {
      keras3_ = keras3_ || name.find("/vars/") != std::string::npos;
      names_.push_back(name);
    }
  }

  std::vector<at::Tensor> read(const WeightLocation& where, const std::vector<std::string>& kinds) override {
    const auto has = [&](const std::string& n) { return weights_.count(n) > 0; };
    if (keras3_) {
      return read_by_position(where, kinds.size(), has, [&](const std::string& n) { return weights_.at(n); }, used_);
    }
    std::vector<at::Tensor> out;
    for (const auto& kind : kinds) {
      const auto name = find_by_name(where, kind, names_);
      used_.insert(name);
      out.push_back(weights_.at(name));
    }
    return out;
  }

  void check_all_used() const override {
    for (const auto& [name, value] : weights_) {
      // Converted from Keras 3, the file carries every variable of the .keras archive,
      // the optimizer's too: only the layers' must all be used.
      const bool layer = !keras3_ || name.rfind("layers/", 0) == 0 || name.rfind("_layer_checkpoint_dependencies/", 0) == 0;
      if (layer && !used_.count(name)) {
        throw ModelError("'" + source_ + "' holds weight '" + name +
                         "', which no layer of the model uses; the weights do not belong to this model");
      }
    }
  }

 private:
  std::map<std::string, at::Tensor> weights_;
  std::vector<std::string> names_;
  std::string source_;
  bool keras3_ = false;
  std::set<std::string> used_;
};

}  // namespace

std::unique_ptr<WeightStore> keras3_weights(Hdf5File file) { return std::make_unique<Keras3Weights>(std::move(file)); }

std::unique_ptr<WeightStore> keras2_weights(Hdf5File file, std::string group) {
  return std::make_unique<Keras2Weights>(std::move(file), std::move(group));
}

std::unique_ptr<WeightStore> named_weights(std::map<std::string, at::Tensor> weights, std::string source) {
  return std::make_unique<NamedWeights>(std::move(weights), std::move(source));
}

}  // namespace lumos::keras
