// Which files of the paths a user names are images: folders are searched by extension.
#include "lumos/error.hpp"
#include "lumos/image.hpp"

#include <algorithm>
#include <cctype>
#include <filesystem>

namespace lumos {

std::vector<std::string> image_files(const std::vector<std::string>& paths) {
  namespace fs = std::filesystem;
  static const std::vector<std::string> extensions{".png", ".jpg", ".jpeg", ".bmp", ".tif",
                                                   ".tiff", ".webp", ".pgm", ".ppm"};
  auto is_image = [](const fs::path& path) {
    std::string ext = path.extension().string();
    std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
    return std::find(extensions.begin(), extensions.end(), ext) != extensions.end();
  };
  std::vector<std::string> files;
  for (const auto& path : paths) {
    std::error_code error;  // a symbolic-link loop, a permission: reported when the file is loaded
    if (!fs::is_directory(path, error)) {
      files.push_back(path);  // a missing, unreadable or special file is reported when it is loaded
      continue;
    }
    std::vector<std::string> found;
    fs::directory_iterator entries(path, error);
    if (error) throw InputError("cannot list folder '" + path + "': " + error.message() + " — check its permissions");
    for (const auto& entry : entries) {
      if (entry.is_regular_file(error) && is_image(entry.path())) found.push_back(entry.path().string());
    }
    if (found.empty()) throw InputError("no image files in folder '" + path + "' — give image files or a folder of them");
    std::sort(found.begin(), found.end());
    files.insert(files.end(), found.begin(), found.end());
  }
  return files;
}

}  // namespace lumos
