#include "lumos/labels.hpp"

#include "lumos/error.hpp"
#include "lumos/file.hpp"
#include "lumos/model.hpp"

#include <sstream>

namespace lumos {

ClassLabels ClassLabels::read(const std::string& path) {
  std::istringstream file(read_file(path, "labels file", kMaxTextFileBytes));
  ClassLabels labels{{}, "labels file '" + path + "'"};
  for (std::string line; std::getline(file, line);) {
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t')) line.pop_back();
    labels.names.push_back(line);
  }
  while (!labels.names.empty() && labels.names.back().empty()) labels.names.pop_back();
  if (labels.names.empty()) throw InputError("labels file '" + path + "' is empty — give one class name per line");
  return labels;
}

ClassLabels ClassLabels::of_model(const Model& model) {
  ClassLabels labels{{}, "the model's metadata"};
  if (auto it = model.metadata().find("labels"); it != model.metadata().end()) {
    std::istringstream in(it->second);
    for (std::string name; std::getline(in, name, ',');) labels.names.push_back(name);
  }
  return labels;
}

std::string ClassLabels::name(int64_t index) const {
  return index >= 0 && index < static_cast<int64_t>(names.size()) ? names[static_cast<size_t>(index)] : "";
}

void ClassLabels::check(int64_t classes) const {
  if (names.empty() || static_cast<int64_t>(names.size()) == classes) return;
  throw InputError(source + " has " + std::to_string(names.size()) + " labels but the model scores " +
                   std::to_string(classes) + " classes — give one label per class, one per line");
}

std::string class_name(int64_t index, const std::string& label) {
  return label.empty() ? "class " + std::to_string(index) : label;
}

}  // namespace lumos
