// explanation.json: every number of an explained image; run.json: a run's inputs.
#include "lumos/atomic_file.hpp"
#include "lumos/explanation_files.hpp"

#include <nlohmann/json.hpp>

#include <filesystem>

namespace lumos {
namespace {

using nlohmann::json;

json method_entry(const MethodResult& method, const TargetResult& target, const FolderOptions& options) {
  const std::string stem = file_stem(method, target);
  json entry{{"method", method.method},
             {"file", picture_file(stem, "")},
             {"thumbnail", thumbnail_file(picture_file(stem, ""))},
             {"time_ms", method.time_ms}};
  if (method.segments) {
    const auto& attribution = *method.segments;
    entry["mask"] = picture_file(stem, "mask");
    entry["heatmap"] = picture_file(stem, "heatmap");
    entry["segments"] = attribution.segments.count;
    entry["samples"] = attribution.samples;
    entry["intercept"] = attribution.linear.intercept;
    entry["r2"] = attribution.linear.score;
    entry["local_prediction"] = attribution.linear.local_prediction;
    json weights = json::array();
    for (const auto& w : attribution.linear.weights) weights.push_back({{"segment", w.segment}, {"weight", w.weight}});
    entry["weights"] = weights;
  } else {
    entry["empty"] = method.empty;
    if (options.npy) entry["map"] = stem + ".npy";
  }
  if (options.npy && method.raw.defined()) entry["raw"] = stem + "_raw.npy";
  if (!method.time_split_ms.empty()) {
    json split = json::object();
    for (const auto& part : method.time_split_ms) split[part.name] = part.value;
    entry["timings_ms"] = split;
  }
  if (!method.warnings.empty()) {
    std::string warning;
    for (const auto& w : method.warnings) warning += (warning.empty() ? "" : "; ") + w;
    entry["warning"] = warning;
  }
  for (const auto& number : method.numbers) entry[number.name] = number.value;
  for (const auto& picture : method.pictures) entry[picture.role] = picture_file(stem, picture.role);
  return entry;
}

}  // namespace

std::string explanation_json(const ImageResult& result, const RunSummary& run, const FolderOptions& options) {
  json settings{{"methods", run.methods}, {"target", run.targets}};
  for (const auto& [key, value] : run.method_settings) settings[key] = value;
  json record{{"image", result.name},
              {"size", {result.size.width, result.size.height}},
              {"thumbnail", thumbnail_file("input.png")},
              {"model", run.model},
              {"scores", run.scores},
              {"preprocess", run.preprocess},
              {"settings", settings},
              {"predictions", json::array()},
              {"targets", json::array()}};
  if (!result.boxes.empty()) {
    json boxes = json::array();
    for (const auto& b : result.boxes) boxes.push_back({b.x0, b.y0, b.x1, b.y1});
    record["boxes"] = boxes;
  }
  for (const auto& p : result.predictions) {
    record["predictions"].push_back(
        {{"class", p.class_index}, {"label", p.label}, {"score", p.score}, {"probability", p.probability}});
  }
  for (const auto& target : result.targets) {
    json methods = json::array();
    for (const auto& method : target.methods) methods.push_back(method_entry(method, target, options));
    record["targets"].push_back({{"class", target.class_index},
                                 {"label", target.label},
                                 {"score", target.score},
                                 {"probability", target.probability},
                                 {"methods", methods}});
  }
  return record.dump(2);
}

void write_run_record(const std::string& dir, const std::vector<RunRecordEntry>& entries, const std::string& name) {
  json images = json::array();
  for (const auto& entry : entries) {
    json item{{"image", entry.image}};
    if (entry.error.empty()) item["folder"] = entry.folder;
    else item["error"] = entry.error;
    images.push_back(item);
  }
  const std::string text = json{{"images", images}}.dump(2) + "\n";
  write_file_atomically((std::filesystem::path(dir) / name).string(), {text});
}

}  // namespace lumos
