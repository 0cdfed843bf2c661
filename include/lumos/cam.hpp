// The CAM family: heatmaps of where a classifier looks, computed at an inner layer.
//
//   auto model = lumos::Model::load("resnet50.onnx");
//   lumos::CamExplainer cam(*model, {lumos::CamMethod::gradcam, lumos::CamMethod::gradcam_plus_plus});
//   auto explanations = cam.explain(batch, {lumos::Target::top(1)});
//   explanations[0].maps[0].map   // [H, W] in [0, 1], Grad-CAM of image 0's top class
//
// Numbers follow pytorch-grad-cam (see docs/cam.md): ReLU of the weighted activations,
// min-max to [0, 1] with eps 1e-7, bilinear resize to the input size as cv2.resize does,
// several layers averaged and normalised again. The two *_keras methods follow Keras code
// instead: softmax probability, division by the maximum, their own order of resize and ReLU.
#pragma once

#include "lumos/model.hpp"
#include "lumos/target.hpp"

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace lumos {

enum class CamMethod {
  gradcam,            // channel weight = spatial mean of the gradient
  gradcam_plus_plus,  // channel weight = sum of alpha * relu(gradient), closed form of exp(score)
  hirescam,           // map = sum over channels of gradient * activation
  xgradcam,           // channel weight = sum(gradient * activation) / (sum(activation) + eps)
  layercam,           // map = sum over channels of relu(gradient) * activation
  eigencam,           // projection on the first principal component of the activations
  scorecam,           // channel weight = softmax over channels of the score of image * mask
  ablationcam,        // channel weight = (score - score with the channel zeroed) / score
  // The forms Keras code computes (docs/cam.md): the class's probability is explained.
  gradcam_keras,            // Grad-CAM's weights; resize, then ReLU, then divide by the maximum
  gradcam_plus_plus_keras,  // nested 2nd/3rd derivatives, normalised alphas; ReLU, / maximum, then resize
};

// "gradcam", "gradcam++", "hirescam", "xgradcam", "layercam", "eigencam", "scorecam", "ablationcam",
// "gradcam-keras", "gradcam++-keras".
std::string to_string(CamMethod method);
// Case, '-', '_' and spaces do not matter ("Grad-CAM++ Keras"); "pp" and "plusplus" stand for
// "++". Throws InputError listing the methods.
CamMethod parse_cam_method(const std::string& name);
// Methods that need the gradient of the score (one backward shared by all of them).
bool uses_gradients(CamMethod method);
const std::vector<CamMethod>& all_cam_methods();

// Progress of the perturbation methods (Score-CAM, Ablation-CAM): forwards done of total.
// Score-CAM's total counts distinct masks: channels with identical masks are scored once.
struct CamProgress {
  CamMethod method;
  int64_t image;  // which image of the batch
  int64_t done;   // perturbed inputs scored so far for this image and method
  int64_t total;
};

struct CamOptions {
  // Target layers (value or node names). Empty: the model's default layer. Several: each
  // layer's map is computed, normalised and resized, then they are averaged.
  std::vector<std::string> layers;
  // Class names, in class order, for Target::label.
  std::vector<std::string> labels;
  // Test-time augmentation as pytorch-grad-cam's aug_smooth: the mean of the maps of the
  // image, its horizontal flip, each times 0.9, 1 and 1.1 (6 passes; flipped maps flipped back).
  bool aug_smooth = false;
  // Replace the channel sum by the projection on the first principal component of the
  // weighted activations (pytorch-grad-cam's eigen_smooth; sign rule as Eigen-CAM's).
  bool eigen_smooth = false;
  // Perturbed inputs per forward pass for Score-CAM and Ablation-CAM.
  int64_t perturbation_batch = 32;
  // Score-CAM's perturbed forwards under CPU autocast bfloat16 (opt-in; maps within 0.02 of fp32).
  bool bf16 = false;
  // Called after each perturbed forward pass (the CLI draws a progress bar with it).
  std::function<void(const CamProgress&)> progress;
  // Checked before each perturbed forward pass; returning true throws CancelledError.
  std::function<bool()> cancel;
};

// One target layer's map before the resize.
struct LayerMap {
  std::string layer;
  at::Tensor map;  // [h, w] float32 in [0, 1], the layer's resolution
};

// One method's map for one image.
struct CamMap {
  CamMethod method;
  at::Tensor map;                // [H, W] float32 in [0, 1], the model's input size
  std::vector<LayerMap> layers;  // per target layer, in the order asked (empty with aug_smooth)
  // True when the map is zero everywhere (no positive evidence at any layer): the map is
  // then all zeros, not a normalised division by zero. `warning` says so in words.
  bool empty = false;
  std::string warning;
};

// Everything explained about one image.
struct CamExplanation {
  int64_t target = -1;   // class index
  std::string label;     // its name when a label list was given
  float score = 0;       // the model's score for the target (logit or probability, as loaded)
  std::vector<CamMap> maps;  // one per method, in the order asked
};

class CamExplainer {
 public:
  // Throws InputError if methods is empty or lists a method twice, or a perturbation batch < 1.
  CamExplainer(Model& model, std::vector<CamMethod> methods, CamOptions options = {});

  // Explains a batch laid out as model.input() says, one target per image (or one for all).
  // All gradient methods share one forward and one backward that stops at the target layers.
  // Throws InputError: target out of range, a layer that is not 4-D, a score that does not
  // depend on a layer (zero gradient).
  std::vector<CamExplanation> explain(const at::Tensor& batch, const std::vector<Target>& targets);

  const std::vector<std::string>& layers() const { return layers_; }

 private:
  Model& model_;
  std::vector<CamMethod> methods_;
  CamOptions options_;
  std::vector<std::string> layers_;
  std::vector<Layout> layouts_;  // of each layer inside the model
};

}  // namespace lumos
