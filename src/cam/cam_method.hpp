// What the CAM base hands each method, and what a method gives back. The base (cam_base.cpp)
// does the shared work; each method's file holds only its formula.
#pragma once

#include "lumos/cam.hpp"

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
  const at::Tensor& gradients;          // g = d(target score)/dA [N, C, h, w]; undefined without gradients
  const std::vector<int64_t>& targets;  // class index per image
  const at::Tensor& target_scores;      // [N] the targets' scores on the batch
};

// A method's formula: the weighted activations [N, C, h, w] that the base sums over channels
// (or projects on their first principal component), as pytorch-grad-cam's get_cam_image.
struct CamFormula {
  std::function<at::Tensor(const LayerContext&)> weighted_activations;
  bool always_project = false;  // Eigen-CAM: the projection whatever eigen_smooth says
};

// The formulas, one per file.
CamFormula grad_cam();
CamFormula grad_cam_plus_plus();
CamFormula hires_cam();
CamFormula xgrad_cam();
CamFormula layer_cam();
CamFormula eigen_cam();
CamFormula score_cam();
CamFormula ablation_cam();

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
