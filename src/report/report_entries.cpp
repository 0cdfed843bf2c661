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

// A method's own numbers as a panel shows them: "convergence delta" = "0.00213".
std::vector<std::pair<std::string, std::string>> number_facts(const MethodResult& method) {
  std::vector<std::pair<std::string, std::string>> facts;
  for (const auto& number : method.numbers) {
    std::string name = number.name;
    std::replace(name.begin(), name.end(), '_', ' ');
    char text[64];
    std::snprintf(text, sizeof text, "%.3g", number.value);
    facts.emplace_back(name, text);
  }
  return facts;
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
      ReportPanel panel{title + " · " + label, in_folder(folder, picture_file(stem, "")), {}};
      if (method.segments) panel.facts.push_back({"R²", fixed(method.segments->linear.score, 2)});
      const auto numbers = number_facts(method);
      panel.facts.insert(panel.facts.end(), numbers.begin(), numbers.end());
      panel.facts.push_back(time);
      if (method.empty && !method.segments) panel.facts.push_back({"note", "no positive evidence (empty map)"});
      entry.panels.push_back(panel);
      if (method.segments) {
        entry.panels.push_back({title + " weights · " + label, in_folder(folder, picture_file(stem, "heatmap")), {}});
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
