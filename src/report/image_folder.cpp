// The folder `lumos explain` writes per image, and how its files are named.
#include "lumos/atomic_file.hpp"
#include "lumos/error.hpp"
#include "lumos/explanation_files.hpp"
#include "lumos/npy.hpp"

#include <cctype>
#include <filesystem>
#include <map>

namespace lumos {

std::string safe_file_name(const std::string& text) {
  std::string out;
  for (char c : text) out += (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == '+') ? c : '_';
  return out.empty() ? "_" : out;
}

std::vector<std::string> folder_names(const std::vector<std::string>& image_names) {
  std::vector<std::string> names;
  std::map<std::string, int> used;
  for (const auto& image : image_names) {
    std::string name = safe_file_name(std::filesystem::path(image).stem().string());
    if (const int n = used[name]++; n > 0) name += "_" + std::to_string(n + 1);
    names.push_back(name);
  }
  return names;
}

std::string file_stem(const MethodResult& method, const TargetResult& target) {
  return safe_file_name(method.method) + "_" + safe_file_name(class_name(target.class_index, target.label));
}

std::string picture_file(const std::string& stem, const std::string& role) {
  return stem + (role.empty() ? "" : "_" + role) + ".png";
}

std::string thumbnail_file(const std::string& picture) {
  return std::filesystem::path(picture).replace_extension(".thumb.jpg").string();
}

std::string write_image_folder(const std::string& parent, const std::string& folder, const ImageResult& result,
                               const RunSummary& run, const FolderOptions& options) {
  if (!result.image) throw InputError("'" + result.name + "' has no picture to write; it was not explained");
  StagedFolder staged(parent, folder);
  const auto save_with_thumbnail = [&](const cv::Mat& pixels, const std::string& file) {
    save_png(pixels, staged.file(file));
    write_file_atomically(staged.file(thumbnail_file(file)), {encode_jpeg(thumbnail(pixels))});
  };
  save_with_thumbnail(result.image->pixels(), "input.png");
  for (const auto& target : result.targets) {
    for (const auto& method : target.methods) {
      const std::string stem = file_stem(method, target);
      for (const auto& picture : render_pictures(method, *result.image, options.render)) {
        if (picture.role.empty()) save_with_thumbnail(picture.pixels, picture_file(stem, ""));
        else save_png(picture.pixels, staged.file(picture_file(stem, picture.role)));
      }
      if (!options.npy) continue;
      if (!method.segments) write_npy(staged.file(stem + ".npy"), method.map);
      if (method.raw.defined()) write_npy(staged.file(stem + "_raw.npy"), method.raw);
    }
  }
  if (options.json) write_file_atomically(staged.file("explanation.json"), {explanation_json(result, run, options)});
  staged.commit();
  return staged.path();
}

}  // namespace lumos
