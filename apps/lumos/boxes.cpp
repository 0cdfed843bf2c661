// Boxes files (boxes.hpp).
#include "boxes.hpp"

#include "lumos/error.hpp"
#include "lumos/file.hpp"

#include <algorithm>
#include <map>
#include <sstream>

namespace lumos::cli {
namespace {

std::vector<std::string> split(const std::string& text, char separator) {
  std::vector<std::string> parts;
  std::istringstream in(text);
  for (std::string part; std::getline(in, part, separator);) parts.push_back(part);
  if (!text.empty() && text.back() == separator) parts.emplace_back();
  return parts;
}

}  // namespace

std::vector<BoxedImage> read_boxes(const std::string& path) {
  std::istringstream file(read_file(path, "boxes file", kMaxTextFileBytes));
  std::string line;
  const auto next_line = [&] {
    if (!std::getline(file, line)) return false;
    if (!line.empty() && line.back() == '\r') line.pop_back();  // CRLF files
    return true;
  };
  next_line();
  const auto header = split(line, ',');
  const auto column = [&](const std::string& name, bool required) -> int {
    const auto it = std::find(header.begin(), header.end(), name);
    if (it == header.end() && required) {
      throw InputError("the boxes file '" + path + "' has no column '" + name +
                       "' in its header — it needs image,x0,y0,x1,y1 (and optionally class)");
    }
    return it == header.end() ? -1 : static_cast<int>(it - header.begin());
  };
  const int image_col = column("image", true), class_col = column("class", false);
  const int box_cols[4] = {column("x0", true), column("y0", true), column("x1", true), column("y1", true)};
  std::vector<BoxedImage> items;
  std::map<std::string, size_t> index;
  for (int number = 2; next_line(); ++number) {
    if (line.empty()) continue;
    const auto fields = split(line, ',');
    const auto bad = [&](const std::string& why) {
      return InputError("the boxes file '" + path + "', line " + std::to_string(number) + ": " + why);
    };
    if (fields.size() != header.size()) throw bad("expected " + std::to_string(header.size()) + " fields");
    int64_t values[4];
    try {
      for (int k = 0; k < 4; ++k) values[k] = std::stoll(fields[box_cols[k]]);
    } catch (const std::exception&) {
      throw bad("x0,y0,x1,y1 must be whole numbers");
    }
    const std::string& name = fields[image_col];
    auto [it, added] = index.emplace(name, items.size());
    if (added) items.push_back({name, std::nullopt, {}});
    BoxedImage& item = items[it->second];
    if (class_col >= 0 && !fields[class_col].empty()) {
      try {
        item.truth = std::stoll(fields[class_col]);
      } catch (const std::exception&) {
        throw bad("the class must be a class index");
      }
    }
    item.boxes.push_back({values[0], values[1], values[2], values[3]});
  }
  if (items.empty()) throw InputError("the boxes file '" + path + "' lists no boxes");
  return items;
}

}  // namespace lumos::cli
