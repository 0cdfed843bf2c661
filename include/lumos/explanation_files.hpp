// What an explained image becomes: pictures in memory, and the folder `lumos explain` writes
// per image — input.png, each method's pictures, optional .npy maps and explanation.json.
//
// Per target and method the files are named after the method and the class:
//   <method>_<label>.png            the method's main picture (a heatmap over the photo, or,
//                                   for a segment explanation, its best segments outlined)
//   <method>_<label>_<role>.png     further pictures: "mask", "heatmap" (segment explanations),
//                                   and any a method draws itself
//   <method>_<label>.npy            the map as float32 (with npy; not for segment explanations,
//                                   whose weights explanation.json holds)
//   <method>_<label>_raw.npy        the method's raw values, when it has any (with npy)
//   <method>_<label>.thumb.jpg      the main picture at most 256 px a side, for the report's gallery
//                                   (input.thumb.jpg: the input's)
//
// Beside the image folders, run.json lists a run's inputs in order with their folder or error.
#pragma once

#include "lumos/explain.hpp"
#include "lumos/render.hpp"

#include <string>
#include <vector>

namespace lumos {

struct FolderOptions {
  RenderOptions render;
  bool json = true;  // explanation.json
  bool npy = false;  // the maps as .npy
};

// The pictures of one result over `original` (the picture as loaded): first the main one
// (role ""), then the others, all at the picture's size.
std::vector<Picture> render_pictures(const MethodResult& result, const Image& original, const RenderOptions& options);

// A name safe as a file or folder name: letters, digits, '-', '.' and '+' kept, the rest '_'.
std::string safe_file_name(const std::string& text);
// A folder name per image, in order: the file's stem made safe, numbered from the second image
// that has it ("cat", "cat_2").
std::vector<std::string> folder_names(const std::vector<std::string>& image_names);
// "gradcam_happy", "lime_class_3": how a result's files begin.
std::string file_stem(const MethodResult& method, const TargetResult& target);
// stem.png for the main picture, stem_role.png for the others.
std::string picture_file(const std::string& stem, const std::string& role);
// The gallery's small copy of a picture file: "gradcam_happy.png" → "gradcam_happy.thumb.jpg".
std::string thumbnail_file(const std::string& picture);

// The text of explanation.json for one explained image (2-space indented JSON; key order sorted).
std::string explanation_json(const ImageResult& result, const RunSummary& run, const FolderOptions& options);

// Writes `parent`/`folder`/ for an explained image: everything goes into a hidden folder that
// is renamed into place once complete (StagedFolder). Returns the folder's path. Throws
// lumos::Error when a file cannot be written; nothing half-written is left.
std::string write_image_folder(const std::string& parent, const std::string& folder, const ImageResult& result,
                               const RunSummary& run, const FolderOptions& options);

// One input of a run: the folder it was written to, or why it was not explained.
struct RunRecordEntry {
  std::string image;   // as given
  std::string folder;  // its folder's name in the run's folder; "" when it failed
  std::string error;
};

// Writes `dir`/`name`, the run's inputs in order, atomically. The report builder (report.hpp)
// shows a run as it was from it: its images in order, the ones that failed, and not the folders
// an earlier run left in the same place. Runs that share one folder (shards) each write their
// own record, run.<part>.json (e.g. run.shard-2-of-4.json); the builder reads them all.
void write_run_record(const std::string& dir, const std::vector<RunRecordEntry>& entries,
                      const std::string& name = "run.json");

}  // namespace lumos
