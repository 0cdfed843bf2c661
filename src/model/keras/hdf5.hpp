// Read-only access to HDF5 files: Keras 2 .h5 models and the weights inside a .keras
// archive, through libhdf5's C API. Every failure is a ModelError naming the file and
// the object, never an HDF5 error stack on stderr.
#pragma once

#include "model/keras/file_bytes.hpp"

#include <ATen/core/Tensor.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace lumos::keras {

class Hdf5File {
 public:
  // Throws ModelError if `path` is not a readable HDF5 file.
  static Hdf5File open(const std::string& path);
  // An HDF5 file in memory (the weights inside a .keras archive, read in place); `label`
  // names it in messages ("model.keras:model.weights.h5").
  static Hdf5File open_image(Bytes bytes, const std::string& label);

  const std::string& label() const;

  // Paths are '/'-separated from the root ("model_weights/conv1").
  bool has(const std::string& path) const;
  bool is_group(const std::string& path) const;
  bool has_dataset(const std::string& path) const;
  // The names of a group's members, in the file's name order.
  std::vector<std::string> members(const std::string& group) const;
  // The paths of every dataset below a group, sorted (none if it does not exist).
  std::vector<std::string> datasets(const std::string& group) const;

  // A string attribute of an object (scalar, fixed or variable length), if present.
  std::optional<std::string> text(const std::string& object, const std::string& attribute) const;
  // A 1-D array of strings (Keras's layer_names, weight_names), empty if absent.
  std::vector<std::string> texts(const std::string& object, const std::string& attribute) const;

  // A numeric dataset as float32 (float16, bfloat16 and float64 are converted). Plain
  // float32 data, which Keras writes, comes as a view of the file's bytes (which it keeps
  // alive): a caller that keeps it copies it.
  at::Tensor read(const std::string& dataset) const;

 private:
  struct State;
  explicit Hdf5File(std::shared_ptr<State> state);
  std::shared_ptr<State> state_;
};

}  // namespace lumos::keras
