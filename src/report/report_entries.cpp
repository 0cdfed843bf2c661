// The report's entries, made from results and the files written for them.
#include "lumos/explanation_files.hpp"
#include "lumos/method_family.hpp"
#include "lumos/report.hpp"

#include <algorithm>
#include <cstdio>
#include <filesystem>

namespace lumos {
namespace {

std::string fixed(double value, int decimals) {
  char text[64];
  std::snprintf(text, sizeof text, "%.*f", decimals, value);
  return text;
}

std::string in_folder(const std::string& folder, const std::string& file) {
  return (std::filesystem::path(folder) / file).string();
}

}  // namespace

std::vector<std::pair<std::string, std::string>> report_settings(const RunSummary& run) {
  std::vector<std::pair<std::string, std::string>> settings{{"model", run.model},
                                                            {"scores", run.scores},
                                                            {"methods", run.methods},
                                                            {"target", run.targets},
                                                            {"preprocess", run.preprocess}};
  settings.insert(settings.end(), run.method_settings.begin(), run.method_settings.end());
  return settings;
}

ReportImage report_image(const ImageResult& result, const std::string& folder) {
  ReportImage entry;
  entry.name = result.name;
  entry.error = result.error;
  if (!result.ok()) return entry;
  entry.source_png = in_folder(folder, "input.png");
  for (const auto& p : result.predictions) entry.predictions.push_back({class_name(p.class_index, p.label), p.probability});
  std::vector<std::string> explained;
  for (const auto& target : result.targets) {
    const std::string label = class_name(target.class_index, target.label);
    if (!target.methods.empty() && std::find(explained.begin(), explained.end(), label) == explained.end()) {
      explained.push_back(label);
      entry.target += (entry.target.empty() ? "" : ", ") + label;
    }
    for (const auto& method : target.methods) {
      const std::string stem = file_stem(method, target);
      const std::string title = method_title(method.method);
      const std::pair<std::string, std::string> time{"time", fixed(method.time_ms, 0) + " ms"};
      if (method.segments) {
        entry.panels.push_back({title + " · " + label, in_folder(folder, picture_file(stem, "")),
                                {{"R²", fixed(method.segments->linear.score, 2)}, time}});
        entry.panels.push_back({title + " weights · " + label, in_folder(folder, picture_file(stem, "heatmap")), {}});
      } else {
        ReportPanel panel{title + " · " + label, in_folder(folder, picture_file(stem, "")), {time}};
        if (method.empty) panel.facts.push_back({"note", "no positive evidence (empty map)"});
        entry.panels.push_back(panel);
      }
      for (const auto& picture : method.pictures) {
        entry.panels.push_back(
            {title + " " + picture.role + " · " + label, in_folder(folder, picture_file(stem, picture.role)), {}});
      }
    }
  }
  return entry;
}

}  // namespace lumos
