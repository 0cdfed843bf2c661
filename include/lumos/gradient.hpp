// Gradient attributions: backward through the whole model to the input.
//
//   lumos::GradientOptions options;           // IG: 50 steps, Gauss-Legendre, zero baseline
//   lumos::GradientExplainer explainer(*model, {lumos::parse_gradient_method("integrated-gradients"),
//                                               lumos::parse_gradient_method("smoothgrad")}, options);
//   auto out = explainer.explain(batch, {lumos::Target::top(1)});
//   out[0].maps[0].values             // [C,H,W] raw Integrated Gradients of image 0's top class
//   out[0].maps[0].map                // [H,W] in [0,1]: per-pixel magnitude
//   out[0].maps[0].convergence_delta  // sum(values) - (score(image) - score(baseline))
//
// Numbers follow captum (docs/attribution.md): Saliency (abs=False), InputXGradient,
// IntegratedGradients, NoiseTunnel, GuidedBackprop, Deconvolution, GuidedGradCam.
// The map of every method: the absolute values summed over channels, divided by their
// `map_percentile`-th percentile and clipped to [0, 1] (the SmoothGrad paper's display).
#pragma once

#include "lumos/attribution.hpp"
#include "lumos/target.hpp"

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace lumos {

enum class GradientMethod {
  saliency,              // d score / d input (Simonyan et al. 2014)
  gradient_x_input,      // gradient * input (Shrikumar et al. 2016)
  integrated_gradients,  // path integral of the gradient from a baseline (Sundararajan et al. 2017)
  guided_backprop,       // gradient with ReLU's backward replaced by relu(gradient) where x > 0
  deconvolution,         // gradient with ReLU's backward replaced by relu(gradient)
  guided_gradcam,        // guided backprop * Grad-CAM upsampled (nearest) to the input
};

// captum's NoiseTunnel around any method: the method on `samples` noisy copies of the image.
enum class NoiseTunnel {
  none,
  smoothgrad,     // mean of the attributions (Smilkov et al. 2017)
  smoothgrad_sq,  // mean of their squares (Hooker et al. 2019)
  vargrad,        // their variance (Adebayo et al. 2018)
};

// A method, possibly inside a noise tunnel.
struct GradientAttribution {
  GradientMethod method = GradientMethod::saliency;
  NoiseTunnel tunnel = NoiseTunnel::none;

  bool operator==(const GradientAttribution& other) const {
    return method == other.method && tunnel == other.tunnel;
  }
};

// "saliency", "gradient-x-input", "integrated-gradients", "guided-backprop", "deconvolution",
// "guided-gradcam"; SmoothGrad & co. on saliency are "smoothgrad", "smoothgrad-sq", "vargrad",
// around any other method "<method>+smoothgrad" (…+smoothgrad-sq, …+vargrad).
std::string to_string(GradientAttribution attribution);
// Also "ig", "inputxgradient", "smoothgrad2", "sg" …; case, '-', '_' and spaces do not matter.
// Throws InputError listing the names.
GradientAttribution parse_gradient_method(const std::string& name);
// The other spellings parse_gradient_method takes for `attribution` ("ig", "ig+sg", …).
std::vector<std::string> gradient_method_aliases(GradientAttribution attribution);
// Whether `name` names a gradient attribution.
bool is_gradient_method(const std::string& name);
// The plain methods and SmoothGrad, SmoothGrad², VarGrad on saliency and on Integrated Gradients.
const std::vector<GradientAttribution>& all_gradient_methods();

// captum's integral approximations (captum.attr._utils.approximation_methods).
enum class IntegrationRule { riemann_left, riemann_right, riemann_middle, riemann_trapezoid, gauss_legendre };
std::string to_string(IntegrationRule rule);
IntegrationRule parse_integration_rule(const std::string& name);  // "riemann_left", …, "gausslegendre"

// Where the integrand is evaluated on [0, 1] (alphas) and with which weights (step sizes),
// as captum computes them: Riemann alphas by float32 linspace, Gauss-Legendre nodes and
// weights in double (numpy's leggauss, mapped to [0, 1]). Throws InputError for steps < 1
// (< 2 for the Riemann rules).
struct IntegrationPoints {
  std::vector<double> alphas;
  std::vector<double> weights;
};
IntegrationPoints integration_points(IntegrationRule rule, int64_t steps);

struct GradientOptions {
  std::vector<std::string> labels;  // class names in class order, for Target::label
  // Inputs per forward + backward pass: Integrated Gradients' steps and the noise tunnel's
  // samples run as batches of this size (captum's internal_batch_size).
  int64_t batch_size = 16;

  // Integrated Gradients.
  int64_t steps = 50;
  IntegrationRule rule = IntegrationRule::gauss_legendre;  // captum's default
  Baseline baseline;                                       // zero by default

  // Noise tunnel: the noise is N(0, stdev²) added to the model's input; stdev is `noise_stdev`
  // when > 0 (captum's `stdevs`), else noise_level * (max - min) of each image's input values
  // (the SmoothGrad paper's 10-20 %). Drawn as torch.normal under torch.manual_seed(seed) draws
  // captum's noise (docs/attribution.md).
  int64_t samples = 50;
  double noise_level = 0.15;
  double noise_stdev = 0;
  uint64_t seed = 0;

  // Guided Grad-CAM's layer (value or node name); empty: the model's default CAM layer.
  std::string layer;

  // The map divides the per-pixel magnitude by this percentile of it (100: by the maximum).
  double map_percentile = 99;

  std::function<void(const AttributionProgress&)> progress;  // after each forward + backward batch
  std::function<bool()> cancel;  // asked before each batch; true throws CancelledError
};

class GradientExplainer {
 public:
  // Throws InputError for no method, a method twice, or an option out of range.
  GradientExplainer(Model& model, std::vector<GradientAttribution> methods, GradientOptions options = {});

  // Explains a batch laid out as model.input() says, one target per image (or one for all).
  std::vector<AttributionExplanation> explain(const at::Tensor& batch, const std::vector<Target>& targets);

 private:
  Model& model_;
  std::vector<GradientAttribution> methods_;
  GradientOptions options_;
};

}  // namespace lumos
