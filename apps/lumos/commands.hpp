// The lumos subcommands: each adds its options to the app and runs when chosen.
#pragma once

#include "cli.hpp"

#include <CLI/CLI.hpp>

#include <string>
#include <vector>

namespace lumos::cli {

struct LayersOptions {
  ModelOptions model;
};
CLI::App* add_layers_command(CLI::App& app, LayersOptions& options);
int run_layers(const LayersOptions& options);

struct PredictOptions {
  ModelOptions model;
  std::vector<std::string> images;
  InputOptions input;
  int top = 5;
  int batch = 16;
  bool json = false;
};
CLI::App* add_predict_command(CLI::App& app, PredictOptions& options);
int run_predict(const PredictOptions& options);

struct ExplainOptions {
  ModelOptions model;                  // empty path: the bundled face-expression model
  std::vector<std::string> images;     // files or folders; empty: the bundled samples
  std::string methods = "gradcam,gradcam++,lime";
  std::vector<std::string> layers;
  std::string target = "top1";
  InputOptions input;
  std::string out = "lumos-out";
  std::string formats = "json,html";
  int top = 5;
  int batch = 8;
  std::string colormap = "jet";
  double image_weight = 0.5;
  bool aug_smooth = false;
  bool eigen_smooth = false;
  int perturbation_batch = 64;
  bool bf16 = false;
  int lime_samples = 1000;
  int lime_features = 5;
  std::string lime_hide = "0";  // the seed's hide_color=0
  uint64_t seed = 0;
  std::vector<std::string> method_options;  // KEY=VALUE
  std::string boxes;                        // CSV: image,x0,y0,x1,y1 — each map's energy in the box
  bool self_contained = false;              // embed the pictures even in a report of many images
};
CLI::App* add_explain_command(CLI::App& app, ExplainOptions& options);
int run_explain(const ExplainOptions& options);

struct ReportCommandOptions {
  std::vector<std::string> runs;  // folders lumos explain wrote
  std::string out = "lumos-report";
  std::string title;
  bool self_contained = false;
};
CLI::App* add_report_command(CLI::App& app, ReportCommandOptions& options);
int run_report(const ReportCommandOptions& options);

// Writes the report of `runs` into `out` (report.html, its data, summary.csv) and says where it
// is, with any notes as warnings; a self-contained report when `self_contained`, or when small.
void write_report_files(const std::vector<std::string>& runs, const std::string& out, const std::string& title,
                        bool self_contained);

}  // namespace lumos::cli
