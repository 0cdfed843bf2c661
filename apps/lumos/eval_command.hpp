// lumos eval: explanation metrics over a folder of images (docs/metrics.md).
#pragma once

#include "cli.hpp"

#include <CLI/CLI.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace lumos::cli {

struct EvalOptions {
  ModelOptions model;
  std::vector<std::string> inputs;  // a directory, or image files
  std::vector<std::string> methods;
  std::string boxes;          // CSV: image,[class,]x0,y0,x1,y1 (half-open, image pixels)
  std::string target = "auto";  // auto (truth when the boxes give classes, else top1), truth, top1
  std::vector<std::string> layers;
  std::string preprocess;
  int steps = 100;
  int batch = 32;
  int limit = 0;  // 0: all images
  double tolerance = 15;
  std::string baseline = "zero";  // deletion's baseline: zero (input tensor 0) or black (a black image)
  std::string sanity_model;       // a model with randomised top layers, for the rank correlation
  int lime_samples = 1000;
  uint64_t seed = 0;
  std::vector<std::string> method_options;  // KEY=VALUE, as explain's --option
  std::string json;  // write per-image and per-method results here
};

CLI::App* add_eval_command(CLI::App& app, EvalOptions& options);
int run_eval(const EvalOptions& options);

}  // namespace lumos::cli
