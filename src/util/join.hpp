// Lists in messages and settings: "a, b, c".
#pragma once

#include <string>
#include <vector>

namespace lumos {

inline std::string join(const std::vector<std::string>& items, const char* separator = ", ") {
  std::string out;
  for (const auto& item : items) out += (out.empty() ? "" : separator) + item;
  return out;
}

}  // namespace lumos
