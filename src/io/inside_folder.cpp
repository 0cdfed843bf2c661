#include "io/inside_folder.hpp"

#include <algorithm>
#include <filesystem>

namespace lumos {

namespace fs = std::filesystem;

FileInFolder file_in_folder(const std::string& folder, const std::string& relative) {
  if (relative.empty()) return {};
  const fs::path name(relative);
  if (name.is_absolute() || name.has_root_name() || name.has_root_directory()) return {"", "is an absolute path"};
  for (const auto& part : name) {
    if (part == "..") return {"", "leaves the folder (..)"};
  }
  std::error_code error;
  const auto real_folder = fs::canonical(folder, error);
  const auto file = error ? fs::path() : fs::canonical(fs::path(folder) / name, error);
  if (error) return {};
  const auto [inside, rest] = std::mismatch(real_folder.begin(), real_folder.end(), file.begin(), file.end());
  if (inside != real_folder.end()) return {"", "is a symbolic link to a file outside the folder"};
  return {file.string(), ""};
}

}  // namespace lumos
