// What the perturbation base hands each method, and what a method gives back. The base
// (perturbation_base.cpp) resolves targets, loops over images and makes the maps; each
// method's file holds its formula.
#pragma once

#include "lumos/perturbation.hpp"

#include <ATen/core/Tensor.h>

#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace lumos::perturbation {

// One image of the batch.
struct ImageContext {
  Model& model;
  const PerturbationOptions& options;
  const std::string& method;
  int64_t image;                 // its index in the batch
  const at::Tensor& input;       // [1, ...] laid out as the model takes it
  const at::Tensor& baseline;    // [1, ...] the same
  int64_t target;                // class index
  float score;                   // the target's score on the image
  const Segmentation* segments;  // at the input size, or null
};

struct Attributed {
  at::Tensor values;  // [...] one image's raw attributions (RISE: [H, W])
  std::optional<double> convergence_delta;
  std::vector<double> segment_values;
  std::optional<double> r2;
};

using PerturbationFormula = std::function<Attributed(const ImageContext&)>;

// The formulas, one per file.
Attributed occlusion(const ImageContext& c);
Attributed rise(const ImageContext& c);
Attributed kernel_shap(const ImageContext& c);

// KernelSHAP's coalitions (kernel_shap.cpp): kept[i][j] says whether coalition i keeps segment j,
// weights[i] is its weight in the fit.
struct ShapCoalitions {
  std::vector<std::vector<uint8_t>> kept;
  std::vector<double> weights;
};

// The coalitions KernelSHAP fits for `samples` (options.shap_samples) over m segments: every one
// with the Shapley kernel's weight when they fit, else samples - 2 draws as captum's KernelShap
// draws, each coalition once, weighing the times it was drawn.
ShapCoalitions kernel_shap_coalitions(int64_t m, int64_t samples, uint64_t seed);

// ---- Shared helpers (perturbation_base.cpp) ----

// The target's number on `count` perturbed inputs, made by make(begin, end) options.batch_size at
// a time: the model's score, or its probability (Model::probabilities). Asks
// options.cancel before and reports progress after each forward; consume(begin, end, numbers)
// sees each batch's numbers. [count] float64.
at::Tensor score_perturbed(
    const ImageContext& c, int64_t count, const std::function<at::Tensor(int64_t begin, int64_t end)>& make,
    bool probability = false,
    const std::function<void(int64_t begin, int64_t end, const at::Tensor& numbers)>& consume = {});

// Height and width of the model's input for a batch laid out as the model takes it.
int64_t height_of(const ImageContext& c);
int64_t width_of(const ImageContext& c);

// A per-pixel tensor [k, H, W] as a mask for inputs laid out as the model takes them.
at::Tensor as_input_mask(const ImageContext& c, const at::Tensor& pixels);

}  // namespace lumos::perturbation
