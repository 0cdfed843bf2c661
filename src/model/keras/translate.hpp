// Turns a Keras model config (Sequential or Functional, nested models, shared layers)
// and its weights into the executable graph that ONNX models run on.
#pragma once

#include "lumos/model.hpp"
#include "model/keras/graph_builder.hpp"
#include "model/keras/weights.hpp"

#include <nlohmann/json.hpp>

#include <map>
#include <memory>
#include <string>

namespace lumos::keras {

// A Keras model as a file holds it, whatever the format.
struct KerasSource {
  std::string path;               // for messages
  nlohmann::json model;           // {"class_name": "Functional" | "Model" | "Sequential", "config": {...}}
  int keras_major = 3;            // 2 for Keras 2 .h5 and TF.js files
  std::string keras_version;      // as the file records it ("2.2.4", "3.6.0", "tfjs-layers 4.22.0")
  std::unique_ptr<WeightStore> weights;
  std::map<std::string, std::string> metadata;  // what the file states (TF.js userDefinedMetadata)
};

struct TranslatedModel {
  GraphBuilder graph;
  InputSpec input;
  std::map<std::string, std::string> metadata;  // "preprocess", "keras_version"
};

// Throws ModelError (or UnsupportedOpError for a layer class lumos lacks) naming the layer.
TranslatedModel translate(KerasSource& source);

// keras.src.utils.naming.to_snake_case: "BatchNormalization" -> "batch_normalization",
// how Keras 3 names a layer's group of weights.
std::string snake_case(const std::string& class_name);

}  // namespace lumos::keras
