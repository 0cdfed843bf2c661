// The perturbation family: Occlusion, RISE and KernelSHAP (perturbation.hpp) through one
// PerturbationExplainer per pipeline. Options: occlusion.*, rise.*, kernelshap.* and
// perturbation.baseline. KernelSHAP's superpixels are LIME's (quickshift of the picture at the
// size LIME segments at, same seed), brought to the model's input size; its result carries them,
// so it is drawn and written as LIME's is.
#include "lumos/method_family.hpp"
#include "lumos/perturbation.hpp"
#include "perturbation/segmentation/labels.hpp"
#include "pipeline/families/family_helpers.hpp"
#include "pipeline/families/segmentation_size.hpp"

#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <cmath>
#include <sstream>

namespace lumos {
namespace {

class PerturbationFamily : public MethodFamily {
 public:
  explicit PerturbationFamily(const FamilySetup& setup)
      : methods_(parsed_methods(setup, parse_perturbation_method)),
        preprocess_(setup.preprocess),
        input_size_(setup.input_size),
        segmentation_size_(segmentation_size(setup.input_size, setup.request.lime.min_side)),
        explainer_(setup.model, methods_, options_of(setup)) {}

  BatchResults explain(const MethodBatch& batch) override {
    batch_ = &batch;
    std::vector<Segmentation> segments;
    if (std::find(methods_.begin(), methods_.end(), PerturbationMethod::kernel_shap) != methods_.end()) {
      for (const auto& original : batch.originals) segments.push_back(superpixels(original));
      // Padding rows hold image 0 (MethodBatch::input).
      while (static_cast<int64_t>(segments.size()) < batch.input.size(0)) segments.push_back(segments.front());
    }
    auto results = explain_class_by_class(batch, [&](const std::vector<Target>& targets) {
      auto explanations = explainer_.explain(batch.input, targets, segments);
      std::vector<double> scores;
      for (const auto& explanation : explanations) scores.push_back(explanation.score);
      return rows_of(std::move(explanations), [&](AttributionMap& map, size_t row) {
        std::optional<SegmentAttribution> by_segment;
        if (!map.segment_values.empty()) by_segment = segment_attribution(segments[row], map, scores[row]);
        auto result = method_result(std::move(map));
        result.segments = std::move(by_segment);
        return result;
      });
    });
    batch_ = nullptr;
    return results;
  }

  std::vector<std::pair<std::string, std::string>> settings() const override {
    std::vector<std::pair<std::string, std::string>> out;
    for (const auto method : methods_) {
      std::ostringstream text;
      switch (method) {
        case PerturbationMethod::occlusion:
          text << options_.window_height << " px windows every " << options_.stride_height << " px, "
               << options_.baseline.describe() << " baseline";
          out.emplace_back("Occlusion", text.str());
          break;
        case PerturbationMethod::rise:
          text << options_.rise_masks << " masks of " << options_.rise_cells << "x" << options_.rise_cells
               << " cells, p " << options_.rise_probability;
          out.emplace_back("RISE", text.str());
          break;
        case PerturbationMethod::kernel_shap:
          text << options_.shap_samples << " samples, quickshift segments, " << options_.baseline.describe()
               << " baseline";
          out.emplace_back("KernelSHAP", text.str());
          break;
      }
    }
    return out;
  }

 private:
  PerturbationOptions options_of(const FamilySetup& setup) {
    const auto& request = setup.request;
    options_.labels = setup.labels.names;
    options_.batch_size = request.perturbation_batch;
    options_.seed = request.seed;
    options_.baseline = Baseline::named(option_choice(request, "perturbation.baseline", "zero", Baseline::names()),
                                        setup.model.input(), setup.preprocess);
    options_.window_height = options_.window_width = option_integer(request, "occlusion.window", 16, 1, 100000);
    options_.stride_height = options_.stride_width = option_integer(request, "occlusion.stride", 8, 1, 100000);
    options_.rise_masks = option_integer(request, "rise.masks", options_.rise_masks, 1, 10000000);
    options_.rise_cells = option_integer(request, "rise.cells", options_.rise_cells, 1, 1000);
    options_.rise_probability = option_number(request, "rise.probability", options_.rise_probability, 1e-6, 1);
    options_.shap_samples = option_integer(request, "kernelshap.samples", options_.shap_samples, 3, 10000000);
    follow_batch(options_, batch_);
    return options_;
  }

  // LIME's segments (quickshift with its parameters and seed, at the size LIME segments at),
  // brought to the model's input size and numbered by increasing label.
  Segmentation superpixels(const Image& original) const {
    QuickshiftOptions quickshift_options;
    quickshift_options.seed = options_.seed;
    const auto segments = quickshift(resize(original, segmentation_size_, preprocess_.fit).pixels(), quickshift_options);
    cv::Mat labels;
    cv::resize(segments.labels, labels, input_size_, 0, 0, cv::INTER_NEAREST);
    return segmentation::relabel_sorted(labels);
  }

  // KernelSHAP's values as a segment explanation: weights sorted by |value|; the local
  // prediction is the image's score, the intercept the baseline's (the values sum to the
  // difference, up to the convergence delta); R² is the weighted fit on the coalitions.
  SegmentAttribution segment_attribution(const Segmentation& segments, const AttributionMap& map, double score) const {
    LinearExplanation linear;
    double sum = 0;
    for (size_t s = 0; s < map.segment_values.size(); ++s) {
      linear.weights.push_back({static_cast<int>(s), map.segment_values[s]});
      sum += map.segment_values[s];
    }
    std::stable_sort(linear.weights.begin(), linear.weights.end(),
                     [](const SegmentWeight& a, const SegmentWeight& b) { return std::abs(a.weight) > std::abs(b.weight); });
    linear.local_prediction = score;
    linear.intercept = score - sum + map.convergence_delta.value_or(0);
    linear.score = map.r2.value_or(std::nan(""));
    return {segments, linear, options_.shap_samples};
  }

  std::vector<PerturbationMethod> methods_;
  Preprocess preprocess_;
  cv::Size input_size_;
  cv::Size segmentation_size_;
  PerturbationOptions options_;
  PerturbationExplainer explainer_;
  const MethodBatch* batch_ = nullptr;  // the batch under way, for the callbacks
};

}  // namespace

LUMOS_METHOD_FAMILY(perturbation) {
  return {"perturbation",
          {{"occlusion", "Occlusion", {}}, {"rise", "RISE", {}}, {"kernelshap", "KernelSHAP", {"shap"}}},
          {{"occlusion.window", "Occlusion: window side in pixels (default 16)"},
           {"occlusion.stride", "Occlusion: stride in pixels, at most the window (default 8)"},
           {"rise.masks", "RISE: random masks (default 4000)"},
           {"rise.cells", "RISE: cells per mask side (default 7)"},
           {"rise.probability", "RISE: probability that a cell is kept, p1 (default 0.5)"},
           {"kernelshap.samples", "KernelSHAP: coalitions per image with the image and baseline, captum's n_samples (default 1000)"},
           {"perturbation.baseline", "Occlusion, KernelSHAP: what hidden pixels become: zero (default), black or blurred"}},
          [](const FamilySetup& setup) -> std::unique_ptr<MethodFamily> {
            return std::make_unique<PerturbationFamily>(setup);
          }};
}

}  // namespace lumos
