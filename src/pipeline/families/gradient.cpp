// The gradient family: saliency, gradient x input, Integrated Gradients, the noise tunnels,
// Guided Backpropagation, Deconvolution and Guided Grad-CAM (gradient.hpp) through one
// GradientExplainer per pipeline. Options: ig.*, smoothgrad.* (every noise tunnel) and gradient.*.
#include "lumos/gradient.hpp"
#include "lumos/method_family.hpp"
#include "pipeline/families/family_helpers.hpp"

#include <algorithm>
#include <sstream>

namespace lumos {
namespace {

const std::vector<std::string>& rule_names() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> out;
    for (auto rule : {IntegrationRule::riemann_left, IntegrationRule::riemann_right, IntegrationRule::riemann_middle,
                      IntegrationRule::riemann_trapezoid, IntegrationRule::gauss_legendre}) {
      out.push_back(to_string(rule));
    }
    return out;
  }();
  return names;
}

class GradientFamily : public MethodFamily {
 public:
  explicit GradientFamily(const FamilySetup& setup)
      : methods_(parsed_methods(setup, parse_gradient_method)), explainer_(setup.model, methods_, options_of(setup)) {}

  BatchResults explain(const MethodBatch& batch) override {
    batch_ = &batch;
    auto results = explain_class_by_class(batch, [&](const std::vector<Target>& targets) {
      return rows_of(explainer_.explain(batch.input, targets),
                     [](AttributionMap& map, size_t) { return method_result(std::move(map)); });
    });
    batch_ = nullptr;
    return results;
  }

  std::vector<std::pair<std::string, std::string>> settings() const override {
    std::vector<std::pair<std::string, std::string>> out;
    const auto uses = [&](auto test) { return std::any_of(methods_.begin(), methods_.end(), test); };
    if (uses([](const GradientAttribution& m) { return m.method == GradientMethod::integrated_gradients; })) {
      std::ostringstream text;
      text << options_.steps << " steps, " << to_string(options_.rule) << ", " << options_.baseline.describe()
           << " baseline";
      out.emplace_back("Integrated Gradients", text.str());
    }
    if (uses([](const GradientAttribution& m) { return m.tunnel != NoiseTunnel::none; })) {
      std::ostringstream text;
      text << options_.samples << " samples, noise sigma ";
      if (options_.noise_stdev > 0) text << options_.noise_stdev;
      else text << options_.noise_level * 100 << " % of the input's range";
      out.emplace_back("Noise tunnel", text.str());
    }
    if (uses([](const GradientAttribution& m) { return m.method == GradientMethod::guided_gradcam; })) {
      out.emplace_back("Guided Grad-CAM layer", options_.layer.empty() ? "the model's default" : options_.layer);
    }
    return out;
  }

 private:
  GradientOptions options_of(const FamilySetup& setup) {
    const auto& request = setup.request;
    options_.labels = setup.labels.names;
    options_.batch_size = option_integer(request, "gradient.batch", options_.batch_size, 1, 4096);
    options_.map_percentile = option_number(request, "gradient.percentile", options_.map_percentile, 1e-6, 100);
    options_.steps = option_integer(request, "ig.steps", options_.steps, 1, 100000);
    options_.rule = parse_integration_rule(option_choice(request, "ig.rule", to_string(options_.rule), rule_names()));
    options_.baseline = Baseline::named(option_choice(request, "ig.baseline", "zero", Baseline::names()),
                                        setup.model.input(), setup.preprocess);
    options_.samples = option_integer(request, "smoothgrad.samples", options_.samples, 1, 100000);
    options_.noise_level = option_number(request, "smoothgrad.noise", options_.noise_level, 1e-6, 10);
    options_.noise_stdev = option_number(request, "smoothgrad.stdev", options_.noise_stdev, 0, 1e6);
    options_.seed = request.seed;
    if (!request.layers.empty()) options_.layer = request.layers.front();
    follow_batch(options_, batch_);
    return options_;
  }

  std::vector<GradientAttribution> methods_;
  GradientOptions options_;
  GradientExplainer explainer_;
  const MethodBatch* batch_ = nullptr;  // the batch under way, for the callbacks
};

// How the papers and captum spell them, for report headings: "Integrated Gradients + SmoothGrad".
std::string title_of(const GradientAttribution& attribution) {
  std::string method;
  switch (attribution.method) {
    case GradientMethod::saliency: method = "Saliency"; break;
    case GradientMethod::gradient_x_input: method = "Gradient × Input"; break;
    case GradientMethod::integrated_gradients: method = "Integrated Gradients"; break;
    case GradientMethod::guided_backprop: method = "Guided Backpropagation"; break;
    case GradientMethod::deconvolution: method = "Deconvolution"; break;
    case GradientMethod::guided_gradcam: method = "Guided Grad-CAM"; break;
  }
  std::string tunnel;
  switch (attribution.tunnel) {
    case NoiseTunnel::none: return method;
    case NoiseTunnel::smoothgrad: tunnel = "SmoothGrad"; break;
    case NoiseTunnel::smoothgrad_sq: tunnel = "SmoothGrad²"; break;
    case NoiseTunnel::vargrad: tunnel = "VarGrad"; break;
  }
  return attribution.method == GradientMethod::saliency ? tunnel : method + " + " + tunnel;
}

std::vector<MethodSpec> gradient_methods() {
  std::vector<MethodSpec> specs;
  for (const auto& method : all_gradient_methods()) {
    specs.push_back({to_string(method), title_of(method), gradient_method_aliases(method)});
  }
  return specs;
}

}  // namespace

LUMOS_METHOD_FAMILY(gradient) {
  return {"gradient",
          gradient_methods(),
          {{"ig.steps", "Integrated Gradients: steps (default 50)"},
           {"ig.rule", "Integrated Gradients: riemann_left, riemann_right, riemann_middle, riemann_trapezoid or "
                       "gausslegendre (default)"},
           {"ig.baseline", "Integrated Gradients: where the path starts: zero (default), black or blurred"},
           {"smoothgrad.samples", "noise tunnels (smoothgrad, smoothgrad-sq, vargrad, ig+…): noisy samples (default 50)"},
           {"smoothgrad.noise", "noise tunnels: noise sigma as a share of the input's value range (default 0.15)"},
           {"smoothgrad.stdev", "noise tunnels: noise sigma in input units; overrides smoothgrad.noise (default: unset)"},
           {"gradient.batch", "gradient methods: inputs per forward + backward pass (default 16)"},
           {"gradient.percentile", "gradient maps: the percentile of the magnitude shown as 1 (default 99)"}},
          [](const FamilySetup& setup) -> std::unique_ptr<MethodFamily> {
            return std::make_unique<GradientFamily>(setup);
          }};
}

}  // namespace lumos
