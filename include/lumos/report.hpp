// The HTML report of a run: one self-contained file (pictures embedded), per image the
// top predictions and one panel per method, side by side. It is made from results and the
// files write_image_folder wrote, after the computing is done.
#pragma once

#include "lumos/explain.hpp"

#include <string>
#include <utility>
#include <vector>

namespace lumos {

struct ReportPrediction {
  std::string label;
  double score = 0;
};

struct ReportPanel {
  std::string title;       // "Grad-CAM", "LIME (top 5 segments)"
  std::string png_path;    // the picture, embedded into the report
  std::vector<std::pair<std::string, std::string>> facts;  // ("time", "12.3 ms"), ("R²", "0.41")
};

struct ReportImage {
  std::string name;        // shown as the heading
  std::string source_png;  // the input image as a PNG (embedded); empty if it failed to load
  std::string target;      // "happy (class 1)"
  std::vector<ReportPrediction> predictions;
  std::vector<ReportPanel> panels;
  std::string error;       // set when the image could not be explained
};

struct ReportRun {
  std::string title = "lumos report";
  std::vector<std::pair<std::string, std::string>> settings;  // ("model", "face_expression.onnx"), …
  std::vector<ReportImage> images;
};

// The settings line: model, scores, methods, target, preprocess and the methods' own settings.
std::vector<std::pair<std::string, std::string>> report_settings(const RunSummary& run);

// An image's entry: `result` with the pictures write_image_folder wrote into `folder`; an image
// that failed shows its error.
ReportImage report_image(const ImageResult& result, const std::string& folder);

// Writes the report atomically. Throws lumos::Error if a picture cannot be read or the
// file cannot be written.
void write_html_report(const std::string& path, const ReportRun& run);

}  // namespace lumos
