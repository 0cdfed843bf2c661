// Perturbation attributions: the model is asked only for scores of changed inputs.
//
//   lumos::PerturbationOptions options;        // occlusion 16x16 windows, stride 8, zero baseline
//   lumos::PerturbationExplainer explainer(*model, {lumos::PerturbationMethod::occlusion,
//                                                   lumos::PerturbationMethod::kernel_shap}, options);
//   auto out = explainer.explain(batch, {lumos::Target::top(1)}, {lumos::quickshift(image_at_input_size)});
//   out[0].maps[0].values   // [C,H,W] occlusion attributions of image 0's top class
//   out[0].maps[1].segment_values  // KernelSHAP's Shapley value of each segment
//
//   occlusion    captum's Occlusion: the mean over the windows covering a pixel of
//                score(image) - score(image with the window set to the baseline)
//   rise         RISE (Petsiuk et al. 2018): sum_i p(image * mask_i) mask_i / (N * p1), masks of
//                s x s random cells upsampled bilinearly with a random shift (the paper's code)
//   kernel_shap  KernelSHAP (Lundberg & Lee 2017) over superpixels: Shapley kernel, attributions
//                that sum to score(image) - score(baseline)
//
// Occlusion and KernelSHAP explain the model's score (the logit by default, as captum explains
// the forward's output); RISE explains the class probability (softmax of logits), as its paper.
// The map: Occlusion and KernelSHAP, the values (equal on every channel) with negatives cut to 0,
// divided by the largest; RISE, its saliency scaled from its minimum to its maximum.
// Definitions and parity: docs/attribution.md.
#pragma once

#include "lumos/attribution.hpp"
#include "lumos/segmentation.hpp"
#include "lumos/target.hpp"

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace lumos {

enum class PerturbationMethod { occlusion, rise, kernel_shap };

std::string to_string(PerturbationMethod method);  // "occlusion", "rise", "kernelshap"
// Also "kernel-shap", "kernel_shap"; throws InputError listing the methods.
PerturbationMethod parse_perturbation_method(const std::string& name);
bool is_perturbation_method(const std::string& name);
const std::vector<PerturbationMethod>& all_perturbation_methods();

// RISE's masks before upsampling: which of the s x s cells are kept, and each mask's shift
// (rows, columns) into the upsampled grid, in [0, ceil(H/s)) x [0, ceil(W/s)).
struct RiseMasks {
  at::Tensor cells;   // bool [N, s, s]
  at::Tensor shifts;  // int64 [N, 2]
};

// N random masks: each cell kept with probability `probability`, shifts uniform; seeded.
RiseMasks random_rise_masks(int64_t count, int64_t cells, double probability, int64_t height, int64_t width,
                            uint64_t seed);

// Masks begin..end-1 at height x width, float32 [end - begin, H, W] in [0, 1], as the RISE code
// makes them: skimage.transform.resize(cells, (s + 1) * ceil(H/s), order=1, mode='reflect') (linear
// interpolation on pixel centres, mirrored at the edges), cropped at the shift.
at::Tensor rise_masks(const RiseMasks& masks, int64_t begin, int64_t end, int64_t height, int64_t width);

struct PerturbationOptions {
  std::vector<std::string> labels;  // class names in class order, for Target::label
  int64_t batch_size = 32;          // perturbed inputs per forward pass
  // What occluded windows and hidden segments become (zero by default, as captum).
  Baseline baseline;
  uint64_t seed = 0;  // RISE's masks, KernelSHAP's coalitions

  // Occlusion: window and stride in pixels (height, width); the window covers every channel.
  int64_t window_height = 16, window_width = 16;
  int64_t stride_height = 8, stride_width = 8;

  // RISE: N masks of s x s cells, each kept with probability p1 (the paper's ResNet-50 setting).
  int64_t rise_masks = 4000;
  int64_t rise_cells = 7;
  double rise_probability = 0.5;
  std::optional<RiseMasks> given_rise_masks;  // use these instead of random ones

  // KernelSHAP: coalitions per image, the image itself and the baseline included (captum's
  // n_samples). When every coalition fits (2^segments <= samples) all are evaluated and the values
  // are exact; otherwise they are drawn as captum draws them, and one drawn twice is scored once.
  int64_t shap_samples = 1000;
  // Fit these coalitions instead of drawing them: [K, segments], nonzero where row i keeps segment
  // j, each row weighing 1 as captum's draws do (e.g. the coalitions a captum run drew).
  std::optional<at::Tensor> given_shap_coalitions;

  std::function<void(const AttributionProgress&)> progress;  // after each forward pass
  std::function<bool()> cancel;  // asked before each forward pass; true throws CancelledError
};

class PerturbationExplainer {
 public:
  // Throws InputError for no method, a method twice, or an option out of range.
  PerturbationExplainer(Model& model, std::vector<PerturbationMethod> methods, PerturbationOptions options = {});

  // Explains a batch laid out as model.input() says, one target per image (or one for all).
  // KernelSHAP needs `segments`: one segmentation per image, or one for all, at the input size.
  std::vector<AttributionExplanation> explain(const at::Tensor& batch, const std::vector<Target>& targets,
                                              const std::vector<Segmentation>& segments = {});

 private:
  Model& model_;
  std::vector<PerturbationMethod> methods_;
  PerturbationOptions options_;
};

}  // namespace lumos
