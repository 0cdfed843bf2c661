// What the CAM base hands each method, and what a method gives back. The base (cam_base.cpp)
// does the shared work; each method's file holds only its formula.
#pragma once

#include "lumos/cam.hpp"
#include "lumos/target.hpp"

#include <ATen/core/Tensor.h>

#include <functional>
#include <string>
#include <vector>

namespace lumos::cam {

// One target layer of one pass over a batch. Tensors are float32 and NCHW whatever the
// layer's own layout.
struct LayerContext {
  Model& model;
  const CamOptions& options;
  CamMethod method;
  const at::Tensor& batch;              // the input, laid out as the model takes it
  const std::string& layer;             // value name
  Layout layout;                        // the layer's layout inside the model
  const at::Tensor& activations;        // A [N, C, h, w]
  const at::Tensor& gradients;          // g = d(explained number)/dA [N, C, h, w]; undefined without gradients
  // The Keras Grad-CAM++'s nested derivatives: d(sum of g)/dA and d(sum of that)/dA, [N, C, h, w];
  // undefined unless the formula asks for three derivatives.
  const at::Tensor& second_gradients;
  const at::Tensor& third_gradients;
  const std::vector<int64_t>& targets;  // class index per image
  const at::Tensor& target_scores;      // [N] the targets' scores on the batch
};

// The number whose gradients a method weighs.
enum class Explained {
  score,        // the model's score (logit by default), as pytorch-grad-cam
  probability,  // the class's probability (Model::probabilities), as Keras code that differentiates model.output
};

// How the summed map becomes the [0, 1] map at input size.
enum class Normalisation {
  min_max_then_resize,  // pytorch-grad-cam: relu, (m - min) / (1e-7 + max), cv2 resize; layers: relu, mean, min-max
  resize_then_max,      // Keras Grad-CAM: cv2 resize, relu, / max; layers: mean
  max_then_resize,      // Keras Grad-CAM++: relu, / max, cv2 resize; layers: mean
};

// A method's formula: the weighted activations [N, C, h, w] that the base sums over channels
// (or projects on their first principal component), as pytorch-grad-cam's get_cam_image.
struct CamFormula {
  std::function<at::Tensor(const LayerContext&)> weighted_activations;
  bool always_project = false;  // Eigen-CAM: the projection whatever eigen_smooth says
  int derivatives = 1;          // 0: no gradient; 3: the nested derivatives of the Keras Grad-CAM++
  Explained explained = Explained::score;
  Normalisation normalisation = Normalisation::min_max_then_resize;
};

// The formulas, one per file.
CamFormula grad_cam();
CamFormula grad_cam_plus_plus();
CamFormula grad_cam_keras();
CamFormula grad_cam_plus_plus_keras();
CamFormula hires_cam();
CamFormula xgrad_cam();
CamFormula layer_cam();
CamFormula eigen_cam();
CamFormula score_cam();
CamFormula ablation_cam();

// Activations and derivatives of the target layers for one batch, with the resolved targets.
struct Capture {
  std::vector<int64_t> targets;
  at::Tensor target_scores;                        // [N] the model's scores for the targets
  std::vector<at::Tensor> activations;             // per layer, NCHW
  std::vector<std::vector<at::Tensor>> gradients;  // [derivative order - 1][layer], NCHW; empty without
  // Per image: the explained probability has a zero gradient everywhere (a saturated softmax).
  std::vector<bool> saturated;
};

// One forward that captures `layers` (laid out as `layouts` say), then `derivatives` nested
// derivatives (0 to 3) of the sum over images of the explained number for each image's
// target. Without gradients the backward is skipped; with several layers and gradients each
// layer takes its own forward (a backward cannot cross a captured leaf). Throws InputError for
// a layer that is not 4-D or not on the way to the scores, and when a score's gradient is
// zero everywhere (a probability's zero gradient is flagged in `saturated` instead).
Capture capture_layers(Model& model, const at::Tensor& batch, const std::vector<std::string>& layers,
                       const std::vector<Layout>& layouts, const std::vector<Target>& targets,
                       const std::vector<std::string>& labels, int derivatives, Explained explained);

// The layout of target layer `layer` (a value name) inside the model. Throws InputError when
// the layer is known not to be 4-D.
Layout checked_layer_layout(Model& model, const std::string& layer);

// Shared helpers for the formulas (cam_base.cpp).

// weights [N, C] broadcast over the activations [N, C, h, w].
at::Tensor channel_weighted(const at::Tensor& weights, const at::Tensor& activations);

// Projection of each image's activations [N, C, h, w] on their first principal component
// (over the h*w positions, channels centred), [N, h, w]. NaN counts as 0. Sign rule: the
// projection is negated when its most negative value is larger in magnitude than its most
// positive one, so the strongest response is positive.
at::Tensor first_component_projection(const at::Tensor& activations);

// Scores the target of image `image` on `count` perturbed inputs, options.perturbation_batch
// at a time: scores_of(begin, end) returns the model's scores [end - begin, classes] for
// inputs begin..end-1. Reports progress after each call. Returns [count] float32.
at::Tensor score_perturbations(const LayerContext& context, int64_t image, int64_t count,
                               const std::function<at::Tensor(int64_t begin, int64_t end)>& scores_of);

// One image of the batch as a batch of one, laid out as the model takes it.
at::Tensor image_of(const LayerContext& context, int64_t image);

}  // namespace lumos::cam
