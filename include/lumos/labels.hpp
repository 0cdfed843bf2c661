// Class names: read from a file or the model's metadata, checked against the model's classes.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace lumos {

class Model;

struct ClassLabels {
  std::vector<std::string> names;  // in class order; empty: the classes have no names
  std::string source;              // where they came from, for messages: "labels file 'x.txt'"

  // One name per line (trailing spaces, CR and blank lines at the end ignored). Throws
  // InputError for a file that cannot be read, is not a regular file (a folder, a FIFO)
  // or holds no names.
  static ClassLabels read(const std::string& path);
  // The model's "labels" metadata (comma-separated), or no names.
  static ClassLabels of_model(const Model& model);

  bool empty() const { return names.empty(); }
  // The name of class `index`, or "" when the classes have no names.
  std::string name(int64_t index) const;
  // Throws InputError unless there are no names or exactly one per class.
  void check(int64_t classes) const;
};

// `label`, or "class N" when it is empty: how pictures and reports name a class.
std::string class_name(int64_t index, const std::string& label);

}  // namespace lumos
