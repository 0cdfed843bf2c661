// Where a Keras layer's variables are in each file format, and reading them.
//
// - Keras 3 (.keras) stores them by the layer's place in the model:
//   layers/<class in snake case, numbered per class>/vars/<index> (keras/src/saving/saving_lib.py).
// - Keras 2 (.h5) stores them in model_weights/<top-level layer name>, listed by the
//   group's weight_names attribute; a nested model's group holds all its layers' weights,
//   named "<layer>/<variable>:0" or "<model>/<layer>/<variable>:0" (both occur).
// - TF.js layers models name them as the .h5 did, without ":0" (Keras 2), or by the
//   .keras path (models converted from Keras 3).
#pragma once

#include "model/keras/hdf5.hpp"

#include <ATen/core/Tensor.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

namespace lumos::keras {

struct WeightLocation {
  std::string keras3_path;              // "layers/functional/layers/conv2d"
  std::vector<std::string> layer_path;  // Keras names from the top model down: {"base", "conv1"}
};

class WeightStore {
 public:
  virtual ~WeightStore() = default;
  // The layer's variables in Keras's order (trainable, then non-trainable); `kinds` are
  // their Keras 2 names ("kernel", "bias", ...). They may be views of the file's bytes.
  // Throws ModelError naming the layer if the file lacks them.
  virtual std::vector<at::Tensor> read(const WeightLocation& where, const std::vector<std::string>& kinds) = 0;
  // Throws ModelError if the file holds layer weights that no layer of the model read.
  virtual void check_all_used() const = 0;
};

std::unique_ptr<WeightStore> keras3_weights(Hdf5File file);
// `group` is the Keras 2 weights group: "model_weights" in a full model file.
std::unique_ptr<WeightStore> keras2_weights(Hdf5File file, std::string group);
// TF.js weights by name; `source` names the model in messages.
std::unique_ptr<WeightStore> named_weights(std::map<std::string, at::Tensor> weights, std::string source);

}  // namespace lumos::keras
