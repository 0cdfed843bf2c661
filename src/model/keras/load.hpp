// The Keras front end's entry: Keras 3 .keras archives, Keras 2 .h5 models and TF.js
// layers models (model.json + weight shards), recognised by their content.
#pragma once

#include "lumos/model.hpp"

#include <memory>
#include <string>

namespace lumos::keras {

// Whether `path` is a Keras or TF.js model file (or a directory holding one), judged by
// its content: a zip archive, an HDF5 file, or JSON.
bool is_keras_model(const std::string& path);

// Throws ModelError naming the file and the problem.
std::unique_ptr<Model> load(const std::string& path, const LoadOptions& options);

// Writes the graph a Keras model becomes as an .onnx file (weights as initializers): the
// same network for the ONNX front end, which bench/keras_bench compares against.
void write_onnx(const std::string& keras_path, const std::string& onnx_path);

}  // namespace lumos::keras
