// How good an explanation is: faithfulness (does the model need what the map shows?) and
// localisation (does the map point at the object?). Protocols and choices: docs/metrics.md.
//
//   auto deletion = lumos::deletion_curves(*model, batch, maps, targets);
//   deletion[0].auc   // area under image 0's deletion curve, in [0, 1]; lower is better
//
// Common inputs: `batch` is laid out as model.input() says ([N,C,H,W] or [N,H,W,C]), already
// preprocessed; `maps` is [N,H,W] float in [0,1] at the batch's spatial size (the explainers'
// output); `targets` holds one class index per image. The model is asked for scores; the
// metrics read class probabilities (Model::probabilities of the scores).
#pragma once

#include "lumos/model.hpp"

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace lumos {

// Forward passes done so far by the metric that is running.
struct MetricProgress {
  std::string metric;  // "deletion", "insertion", "confidence"
  int64_t done;        // perturbed inputs scored
  int64_t total;
};

struct MetricOptions {
  int64_t batch_size = 32;  // inputs per model call; probabilities are Model::probabilities
  std::function<void(const MetricProgress&)> progress;  // after each model call
};

// ---- Faithfulness: deletion and insertion (RISE, Petsiuk et al. 2018) ----
//
// Pixels (all channels of a position) are ordered by saliency, highest first, ties by
// row-major position. Each step moves ceil(H*W / steps) more pixels from the start image to
// the finish image and records the target's probability; the curve has one point before
// the first step and one after each step. Deletion: start = the image, finish = the
// baseline. Insertion: start = the image blurred, finish = the image.
struct CausalOptions {
  int64_t steps = 100;
  // Deletion's baseline in the model's input space, broadcastable to one image ([C,H,W]
  // or [H,W,C] as the layout says, or a scalar tensor). Undefined: zeros, as RISE does
  // (black for inputs scaled to [0,1]; the mean colour for mean/std-normalised inputs).
  at::Tensor baseline;
  // Insertion's start: a Gaussian blur with RISE's kernel (11x11, sigma 5, zero padding).
  int64_t blur_size = 11;
  double blur_sigma = 5;
};

struct Curve {
  std::vector<double> probabilities;  // the target's probability after 0, 1, ... steps
  double auc = 0;                      // area_under_curve(probabilities)
};

// Lower deletion AUC is better: the probability falls fast when the salient pixels go.
std::vector<Curve> deletion_curves(Model& model, const at::Tensor& batch, const at::Tensor& maps,
                                   const std::vector<int64_t>& targets, const CausalOptions& causal = {},
                                   const MetricOptions& options = {});
// Higher insertion AUC is better: the probability rises fast when the salient pixels return.
std::vector<Curve> insertion_curves(Model& model, const at::Tensor& batch, const at::Tensor& maps,
                                    const std::vector<int64_t>& targets, const CausalOptions& causal = {},
                                    const MetricOptions& options = {});

// Trapezoid rule over points evenly spaced on [0, 1]: (sum - first/2 - last/2) / (n - 1).
// Throws InputError for fewer than two points.
double area_under_curve(const std::vector<double>& curve);

// The RISE blur of a batch laid out as `layout` says (each channel separately).
at::Tensor rise_blur(const at::Tensor& batch, Layout layout, int64_t size = 11, double sigma = 5);

// ---- Faithfulness: average drop and increase in confidence (Grad-CAM++, Chattopadhyay et al. 2018) ----

// The target's probability on the image (Y) and on the image multiplied by its map (O).
// The multiplication is done on the model's input tensor, so a masked pixel becomes 0 there,
// the same baseline as deletion's default.
struct ConfidenceChange {
  double original = 0;   // Y_i^c
  double explained = 0;  // O_i^c
};

std::vector<ConfidenceChange> confidence_changes(Model& model, const at::Tensor& batch, const at::Tensor& maps,
                                                 const std::vector<int64_t>& targets,
                                                 const MetricOptions& options = {});

// 100/N * sum max(0, Y - O) / Y. Lower is better. Throws InputError when empty.
double average_drop(const std::vector<ConfidenceChange>& changes);
// 100/N * #(O > Y). Higher is better. Throws InputError when empty.
double increase_in_confidence(const std::vector<ConfidenceChange>& changes);

// ---- Localisation: pointing game (Zhang et al. 2016) and energy (Score-CAM, Wang et al. 2020) ----

// A box in pixels of the map, half-open: x0 <= x < x1, y0 <= y < y1.
struct Box {
  int64_t x0 = 0, y0 = 0, x1 = 0, y1 = 0;
};

// A bool [height, width] mask of the box (clipped to the image). Throws InputError for an
// empty box or one entirely outside the image.
at::Tensor box_mask(const Box& box, int64_t height, int64_t width);

// The union of `boxes`, given in pixels of a picture of size `picture` ([width, height]), as a
// bool mask [height, width] of a map of another size: each box scaled, its edges rounded
// outwards. Throws InputError as box_mask does.
at::Tensor boxes_region(const std::vector<Box>& boxes, int64_t picture_width, int64_t picture_height, int64_t height,
                        int64_t width);

// The map's maximum (the first in row-major order when several share it) is a hit when a
// pixel of `region` lies within `tolerance` pixels (Euclidean) of it. Zhang et al. use 15 px
// on images of about 224 px; TorchRay's implementation measures it the same way.
// `map` is [H,W] in [0,1]; `region` a bool mask [H,W].
bool pointing_game_hit(const at::Tensor& map, const at::Tensor& region, double tolerance = 15);

// Energy-based pointing game: the share of the map's sum that lies inside `region`, in
// [0,1]; 0 for a map that is zero everywhere.
double energy_in_region(const at::Tensor& map, const at::Tensor& region);

// ---- Sanity check (Adebayo et al. 2018) ----

// Spearman's rank correlation of two maps of the same shape (ties get their average rank, as
// scipy.stats.spearmanr). NaN when either map is constant (the correlation is undefined).
double spearman_correlation(const at::Tensor& a, const at::Tensor& b);

}  // namespace lumos
