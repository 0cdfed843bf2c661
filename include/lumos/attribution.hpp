// Attributions at the model's input, shared by the gradient family (lumos/gradient.hpp:
// saliency, Integrated Gradients, SmoothGrad, Guided Backpropagation, ...) and the
// perturbation family (lumos/perturbation.hpp: Occlusion, RISE, KernelSHAP).
//
// Every method gives, per image, the raw attributions (one number per input value, laid out
// as the model takes one image) and a map [H, W] in [0, 1] to show and to measure.
// Definitions, references and parity figures: docs/attribution.md.
#pragma once

#include "lumos/model.hpp"

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace lumos {

struct Preprocess;

// What an absent feature becomes: Integrated Gradients' starting point, an occluded window,
// a hidden KernelSHAP segment. Values are in the model's input space (after preprocessing).
struct Baseline {
  enum class Kind { zero, given, blurred };
  Kind kind = Kind::zero;
  at::Tensor value;        // Kind::given: broadcastable to one image laid out as the model takes it
  int64_t blur_size = 11;  // Kind::blurred: RISE's Gaussian blur (lumos::rise_blur), kernel size
  double blur_sigma = 5;   // and sigma in pixels

  // 0 in the model's input (captum's default; the mean colour for mean/std-normalised inputs).
  static Baseline zero() { return {}; }
  // A fixed value, broadcastable to one image ([C,H,W] or [H,W,C] as the model's layout, or [C,1,1], a scalar).
  static Baseline given(at::Tensor value);
  // An all-black picture through `preprocess`: the value of a black pixel, per channel.
  static Baseline black(const InputSpec& input, const Preprocess& preprocess);
  // Each image blurred (the start of the insertion metric).
  static Baseline blurred(int64_t size = 11, double sigma = 5);
  // By name: "zero", "black" or "blurred" (as names() lists them); throws InputError for another.
  static Baseline named(const std::string& name, const InputSpec& input, const Preprocess& preprocess);
  static const std::vector<std::string>& names();

  // The baseline of every image of `batch` (laid out as `layout` says), same shape and float32.
  // Throws InputError if a given value does not broadcast to one image.
  at::Tensor of(const at::Tensor& batch, Layout layout) const;
  // "zero", "given", "blurred (11 px, sigma 5)".
  std::string describe() const;
};

// One method's attribution of one image.
struct AttributionMap {
  std::string method;  // the method's name, e.g. "integrated-gradients+smoothgrad", "occlusion"
  // Raw attributions, float32, laid out as one image of the batch ([C,H,W] or [H,W,C]);
  // RISE's saliency is per pixel: [H,W].
  at::Tensor values;
  // [H, W] float32 in [0, 1]: what the report shows and the metrics rank (each family's
  // header says how its values become the map).
  at::Tensor map;
  // Integrated Gradients: sum(values) - (score(image) - score(baseline)), captum's convergence
  // delta (with a noise tunnel, the largest in magnitude over the noisy samples). KernelSHAP:
  // sum(values over segments) - (score(image) - score(baseline)), 0 up to rounding.
  std::optional<double> convergence_delta;
  // KernelSHAP: the Shapley value of each segment (index = segment label); empty otherwise.
  std::vector<double> segment_values;
  // KernelSHAP: the weighted R² of the values on its coalitions' scores (1: the model is
  // additive over the segments there).
  std::optional<double> r2;
  bool empty = false;   // the map is zero everywhere (then `warning` says why)
  std::string warning;
  double time_ms = 0;   // this image's share of the method's time
};

// Everything attributed for one image.
struct AttributionExplanation {
  int64_t target = -1;  // class index
  std::string label;    // its name when a label list was given
  float score = 0;      // the model's score for the target on the image
  std::vector<AttributionMap> maps;  // one per method, in the order asked
};

// Progress of the long methods: inputs through the model so far for one image and method.
struct AttributionProgress {
  std::string method;
  int64_t image;
  int64_t done;
  int64_t total;
};

}  // namespace lumos
