#include "model/keras/load.hpp"

#include "lumos/error.hpp"
#include "lumos/file.hpp"
#include "model/keras/hdf5.hpp"
#include "model/keras/translate.hpp"
#include "model/keras/zip_archive.hpp"
#include "model/onnx/onnx_model.hpp"

#include <ATen/ATen.h>
#include <onnx/onnx_pb.h>

#include <cstring>
#include <filesystem>
#include <fstream>

namespace lumos::keras {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;

enum class Format { none, keras_zip, keras_directory, hdf5, tfjs };

// HDF5 files may start with a user block of 512 * 2^k bytes; the signature follows it.
bool has_hdf5_signature(std::ifstream& file, uint64_t size) {
  static const char signature[] = "\x89HDF\r\n\x1a\n";
  for (uint64_t offset = 0; offset + 8 <= size; offset = offset ? offset * 2 : 512) {
    char head[8];
    file.clear();
    file.seekg(static_cast<std::streamoff>(offset));
    if (!file.read(head, 8)) return false;
    if (std::memcmp(head, signature, 8) == 0) return true;
  }
  return false;
}

Format detect(const std::string& path) {
  std::error_code error;
  if (fs::is_directory(path, error)) {
    if (fs::exists(fs::path(path) / "model.json")) return Format::tfjs;
    if (fs::exists(fs::path(path) / "config.json")) return Format::keras_directory;
    return Format::none;
  }
  // Only a regular file is looked into; anything else goes on to the ONNX loader, whose
  // message says what it is (a FIFO is never opened here, so never waited on).
  if (!fs::is_regular_file(path, error)) return Format::none;
  std::ifstream file(path, std::ios::binary);
  if (!file) return Format::none;
  const uint64_t size = fs::file_size(path, error);
  char head[4] = {};
  file.read(head, 4);
  if (file.gcount() == 4 && head[0] == 'P' && head[1] == 'K' && head[2] == 3 && head[3] == 4) return Format::keras_zip;
  if (has_hdf5_signature(file, error ? 0 : size)) return Format::hdf5;
  file.clear();
  file.seekg(0);
  char c = 0;
  while (file.get(c) && std::isspace(static_cast<unsigned char>(c))) {
  }
  return c == '{' ? Format::tfjs : Format::none;
}

std::string read_file(const fs::path& path, const std::string& what) {
  return lumos::read_file(path.string(), what, kMaxModelFileBytes);
}

// Keras configs nest a few levels deep; nlohmann's parser recurses once per level, so a
// hostile file nesting a million brackets must be refused before it is parsed.
constexpr int kMaxJsonDepth = 256;

Json parse_json(const std::string& text, const std::string& what) {
  int depth = 0;
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\') ++i;
      else if (c == '"') in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > kMaxJsonDepth) throw ModelError(what + " nests deeper than " + std::to_string(kMaxJsonDepth) + " levels; it is not a Keras model");
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  try {
    return Json::parse(text);
  } catch (const Json::exception& e) {
    throw ModelError(what + " is not valid JSON (" + std::string(e.what()) + "); the file may be truncated");
  }
}

int major_version(const std::string& version, int fallback) {
  // "2.2.4", "3.6.0", "tfjs-layers 4.22.0" (TF.js writes Keras 2 configs).
  if (version.rfind("tfjs", 0) == 0) return 2;
  if (!version.empty() && std::isdigit(static_cast<unsigned char>(version[0]))) return version[0] - '0';
  return fallback;
}

// The model entry of a Keras config: {"class_name": ..., "config": {...}}.
// By value: the parsed config is moved into the source, not copied (a deep copy of a
// large model's config costs milliseconds).
Json model_entry(Json config, const std::string& what) {
  if (!config.is_object() || !config.contains("class_name") || !config.contains("config")) {
    throw ModelError(what + " does not describe a Keras model (no class_name and config)");
  }
  return config;
}

KerasSource read_keras3(const std::string& path, const std::function<bool(const std::string&)>& has,
                        const std::function<Bytes(const std::string&)>& read) {
  const auto text = [&](const std::string& member) {
    const auto bytes = read(member);
    return std::string(bytes.data, bytes.size);
  };
  KerasSource source;
  source.path = path;
  if (!has("config.json")) throw ModelError("'" + path + "' has no config.json; it is not a Keras model");
  source.model = model_entry(parse_json(text("config.json"), "'" + path + "' config.json"), "'" + path + "' config.json");
  if (has("metadata.json")) {
    const auto metadata = parse_json(text("metadata.json"), "'" + path + "' metadata.json");
    source.keras_version = metadata.value("keras_version", "");
  }
  source.keras_major = major_version(source.keras_version, 3);
  if (!has("model.weights.h5")) {
    throw ModelError("'" + path + "' has no model.weights.h5" +
                     (has("model.weights.npz") ? std::string(" (its weights are .npz, which lumos does not read)")
                                               : std::string()) +
                     "; save the model with model.save('model.keras')");
  }
  source.weights = keras3_weights(Hdf5File::open_image(read("model.weights.h5"), path + ":model.weights.h5"));
  return source;
}

KerasSource read_hdf5(const std::string& path) {
  auto file = Hdf5File::open(path);
  const auto config = file.text("", "model_config");
  if (!config) {
    if (file.has("layer_names") || !file.texts("", "layer_names").empty() || file.has("model_weights")) {
      throw ModelError("'" + path + "' holds weights only (model.save_weights): it has no model_config. Save the "
                       "whole model with model.save('model.h5') or model.save('model.keras')");
    }
    throw ModelError("'" + path + "' is an HDF5 file but not a Keras model (no model_config attribute)");
  }
  KerasSource source;
  source.path = path;
  source.model = model_entry(parse_json(*config, "'" + path + "' model_config"), "'" + path + "' model_config");
  source.keras_version = file.text("", "keras_version").value_or(file.text("model_weights", "keras_version").value_or(""));
  source.keras_major = major_version(source.keras_version, 2);
  if (!file.is_group("model_weights")) throw ModelError("'" + path + "' has no model_weights group");
  source.weights = keras2_weights(std::move(file), "model_weights");
  return source;
}

// TF.js weight shards: each manifest group's files concatenated hold its weights in
// order, float32/int32 or quantised (uint8/uint16 with min and scale, or float16), as
// tfjs-core's io_utils.decodeWeights reads them.
std::map<std::string, at::Tensor> read_tfjs_weights(const Json& manifest, const fs::path& dir, const std::string& path) {
  if (!manifest.is_array()) throw ModelError("'" + path + "' has no weightsManifest list");
  std::map<std::string, at::Tensor> weights;
  for (const auto& group : manifest) {
    if (!group.is_object() || !group.contains("paths") || !group["paths"].is_array() || !group.contains("weights") ||
        !group["weights"].is_array()) {
      throw ModelError("'" + path + "' has a malformed weightsManifest group");
    }
    std::string data;
    for (const auto& shard : group["paths"]) {
      if (!shard.is_string()) throw ModelError("'" + path + "' names a weight shard that is not a file name");
      const auto name = shard.get<std::string>();
      std::string why;
      const auto shard_path = file_inside_folder(dir.string(), name, why);
      if (shard_path.empty() && why == "cannot be found") {
        throw ModelError("'" + path + "' needs weight shard '" + (dir / name).string() +
                         "', which is missing; keep the shards next to model.json");
      }
      if (shard_path.empty()) {
        throw ModelError("'" + path + "' names weight shard '" + name + "', which " + why +
                         "; lumos reads shards only from model.json's folder");
      }
      data += read_file(shard_path, "weight shard");
    }
    size_t offset = 0;
    for (const auto& spec : group["weights"]) {
      if (!spec.is_object() || !spec.contains("name") || !spec["name"].is_string() || !spec.contains("shape") ||
          !spec["shape"].is_array()) {
        throw ModelError("'" + path + "' has a malformed weight entry in its manifest");
      }
      const auto name = spec["name"].get<std::string>();
      std::vector<int64_t> shape;
      int64_t count = 1;
      for (const auto& d : spec["shape"]) {
        if (!d.is_number_integer() || d.get<int64_t>() < 0 || d.get<int64_t>() > (int64_t{1} << 32)) {
          throw ModelError("'" + path + "' gives weight '" + name + "' an invalid shape");
        }
        shape.push_back(d.get<int64_t>());
        count *= shape.back();
        if (count > (int64_t{1} << 34)) throw ModelError("'" + path + "' gives weight '" + name + "' an invalid shape");
      }
      const auto dtype = spec.value("dtype", "float32");
      const Json quantization = spec.value("quantization", Json());
      const auto stored = quantization.is_object() ? quantization.value("dtype", "") : dtype;
      const size_t width = stored == "uint8" ? 1 : stored == "uint16" || stored == "float16" ? 2
                           : stored == "float32" || stored == "int32"                       ? 4
                                                                                            : 0;
      if (width == 0) throw ModelError("'" + path + "': weight '" + name + "' has unsupported type '" + stored + "'");
      const size_t bytes = static_cast<size_t>(count) * width;
      if (offset + bytes > data.size()) {
        throw ModelError("'" + path + "': the weight shards hold " + std::to_string(data.size()) +
                         " bytes, fewer than the manifest describes (a shard is truncated)");
      }
      auto* start = const_cast<char*>(data.data() + offset);
      at::Tensor value;
      if (stored == "uint8" || stored == "uint16") {
        if (!quantization.contains("scale") || !quantization.contains("min") || !quantization["scale"].is_number() ||
            !quantization["min"].is_number()) {
          throw ModelError("'" + path + "': quantised weight '" + name + "' has no min and scale");
        }
        const auto raw = at::from_blob(start, {count}, stored == "uint8" ? at::kByte : at::kShort);
        // uint16 read as int16 bits: reinterpret to the unsigned value.
        const auto q = stored == "uint8" ? raw.to(at::kDouble) : raw.to(at::kInt).bitwise_and(0xFFFF).to(at::kDouble);
        value = (q * quantization["scale"].get<double>() + quantization["min"].get<double>()).to(at::kFloat);
      } else if (stored == "float16") {
        value = at::from_blob(start, {count}, at::kHalf).to(at::kFloat);
      } else {
        value = at::from_blob(start, {count}, stored == "int32" ? at::kInt : at::kFloat).to(at::kFloat);
      }
      weights[name] = value.reshape(shape).clone();
      offset += bytes;
    }
    if (offset != data.size()) {
      throw ModelError("'" + path + "': the weight shards hold " + std::to_string(data.size()) +
                       " bytes, the manifest describes " + std::to_string(offset));
    }
  }
  return weights;
}

KerasSource read_tfjs(const std::string& path) {
  const fs::path json_path = fs::is_directory(path) ? fs::path(path) / "model.json" : fs::path(path);
  const auto label = json_path.string();
  const auto model = parse_json(read_file(json_path, "TF.js model"), "'" + label + "'");
  if (!model.is_object()) throw ModelError("'" + label + "' is JSON but not a model");
  if (model.value("format", "") == "graph-model" || (model.contains("modelTopology") && model["modelTopology"].is_object() &&
                                                     model["modelTopology"].contains("node"))) {
    throw ModelError("'" + label + "' is a TF.js graph model (converted from a SavedModel); lumos reads TF.js layers "
                     "models: convert the Keras model with tensorflowjs_converter --input_format keras");
  }
  if (!model.contains("modelTopology") || !model.contains("weightsManifest")) {
    throw ModelError("'" + label + "' is JSON but not a TF.js layers model (no modelTopology and weightsManifest)");
  }
  const auto& topology = model["modelTopology"];
  KerasSource source;
  source.path = label;
  source.model = model_entry(topology.is_object() && topology.contains("model_config") ? topology["model_config"] : topology,
                             "'" + label + "' modelTopology");
  source.keras_version = topology.is_object() ? topology.value("keras_version", "") : "";
  source.keras_major = major_version(source.keras_version, 2);
  source.weights = named_weights(read_tfjs_weights(model["weightsManifest"], json_path.parent_path(), label), label);
  // tensorflowjs_converter --metadata: lumos reads "labels", "preprocess" and "cam_layer" from it.
  if (model.contains("userDefinedMetadata") && model["userDefinedMetadata"].is_object()) {
    for (const auto& [key, value] : model["userDefinedMetadata"].items()) {
      std::string text;
      if (value.is_array()) {  // ["cat", "dog"]: lumos's comma-separated list
        for (const auto& item : value) text += (text.empty() ? "" : ",") + (item.is_string() ? item.get<std::string>() : item.dump());
      } else {
        text = value.is_string() ? value.get<std::string>() : value.dump();
      }
      source.metadata[key] = text;
    }
  }
  return source;
}

KerasSource read_source(const std::string& path, Format format) {
  switch (format) {
    case Format::keras_zip: {
      ZipArchive zip(path);
      return read_keras3(
          path, [&](const std::string& m) { return zip.has(m); }, [&](const std::string& m) { return zip.read(m); });
    }
    case Format::keras_directory:
      return read_keras3(
          path, [&](const std::string& m) { return fs::exists(fs::path(path) / m); },
          [&](const std::string& m) { return read_file_bytes((fs::path(path) / m).string()); });
    case Format::hdf5:
      return read_hdf5(path);
    case Format::tfjs:
      return read_tfjs(path);
    case Format::none:
      break;
  }
  throw ModelError("'" + path + "' is not a Keras or TF.js model");
}

TranslatedModel translate_file(const std::string& path) {
  try {
    auto source = read_source(path, detect(path));
    try {
      return translate(source);
    } catch (const UnsupportedOpError& e) {
      throw UnsupportedOpError("'" + path + "': " + e.what());
    } catch (const ModelError& e) {
      throw ModelError("'" + path + "': " + e.what());
    }
  } catch (const Json::exception& e) {
    // A config value of the wrong type where Keras writes one kind only (a layer's name
    // given as a number, a node reference that is not [name, index, index]).
    throw ModelError("'" + path + "': the Keras config is malformed (" + std::string(e.what()) +
                     "); the file is corrupt or not written by Keras");
  }
}

}  // namespace

bool is_keras_model(const std::string& path) { return detect(path) != Format::none; }

std::unique_ptr<Model> load(const std::string& path, const LoadOptions& options) {
  auto translated = translate_file(path);
  onnx::FrontEnd front_end;
  front_end.input = translated.input;
  for (const auto& [name, maker] : translated.graph.exposed()) {
    front_end.layers.insert(name);
    front_end.makers[name] = maker;
  }
  front_end.layouts = translated.graph.layouts();
  front_end.metadata = translated.metadata;
  try {
    onnx::Graph graph(translated.graph.model(), "", translated.graph.take_constants());
    return std::make_unique<onnx::OnnxModel>(std::move(graph), path, options, std::move(front_end));
  } catch (const UnsupportedOpError& e) {
    throw UnsupportedOpError("'" + path + "': " + e.what());
  } catch (const ModelError& e) {
    throw ModelError("'" + path + "': " + e.what());
  }
}

void write_onnx(const std::string& keras_path, const std::string& onnx_path) {
  auto translated = translate_file(keras_path);
  auto& model = translated.graph.model();
  for (const auto& [name, value] : translated.graph.take_constants()) {
    auto* tensor = model.mutable_graph()->add_initializer();
    tensor->set_name(name);
    const bool integer = value.scalar_type() == at::kLong;
    tensor->set_data_type(integer ? ::onnx::TensorProto::INT64 : ::onnx::TensorProto::FLOAT);
    for (auto d : value.sizes()) tensor->add_dims(d);
    const auto data = integer ? value.contiguous() : value.to(at::kFloat).contiguous();
    tensor->set_raw_data(data.data_ptr(), data.nbytes());
  }
  for (auto& output : *model.mutable_graph()->mutable_output()) {
    output.mutable_type()->mutable_tensor_type()->set_elem_type(::onnx::TensorProto::FLOAT);
  }
  for (const auto& [key, value] : translated.metadata) {
    auto* entry = model.add_metadata_props();
    entry->set_key(key);
    entry->set_value(value);
  }
  const auto partial = onnx_path + ".tmp";
  {
    std::ofstream file(partial, std::ios::binary);
    if (!file || !model.SerializeToOstream(&file)) throw ModelError("cannot write '" + onnx_path + "'");
  }
  fs::rename(partial, onnx_path);
}

}  // namespace lumos::keras
