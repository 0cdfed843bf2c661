// The perturbation base: names, target resolution, one image at a time through each method,
// batched scoring of perturbed inputs, and the display map.
#include "perturbation/perturbation_method.hpp"

#include "lumos/error.hpp"
#include "util/stopwatch.hpp"

#include <ATen/ATen.h>

#include <algorithm>
#include <cctype>

namespace lumos {
namespace {

struct MethodName {
  PerturbationMethod method;
  const char* name;
};
constexpr MethodName kMethodNames[] = {
    {PerturbationMethod::occlusion, "occlusion"},
    {PerturbationMethod::rise, "rise"},
    {PerturbationMethod::kernel_shap, "kernelshap"},
};

perturbation::PerturbationFormula formula_of(PerturbationMethod method) {
  switch (method) {
    case PerturbationMethod::occlusion: return perturbation::occlusion;
    case PerturbationMethod::rise: return perturbation::rise;
    case PerturbationMethod::kernel_shap: return perturbation::kernel_shap;
  }
  throw InputError("unknown perturbation method");
}

// The display map. Occlusion and KernelSHAP: positive evidence per pixel, the values averaged
// over channels (they are equal on every channel), negatives cut to 0, divided by the largest
// (all zero when nothing is positive). RISE: its saliency from minimum to maximum, as the
// paper's plots show it (a confident class keeps a high probability under most masks, so the
// saliency is high everywhere and only its differences tell).
at::Tensor display_map(PerturbationMethod method, const at::Tensor& values, Layout layout) {
  if (method == PerturbationMethod::rise) {
    const auto shifted = values.to(at::kFloat) - values.min().to(at::kFloat);
    const auto range = shifted.max();
    return at::where(range > 0, shifted / range, shifted);
  }
  const auto positive = at::relu(values.mean(layout == Layout::NHWC ? 2 : 0).to(at::kFloat));
  const auto highest = positive.max();
  return at::where(highest > 0, positive / highest, positive);
}

void require(bool condition, const std::string& message) {
  if (!condition) throw InputError(message);
}

}  // namespace

std::string to_string(PerturbationMethod method) {
  for (const auto& m : kMethodNames) {
    if (m.method == method) return m.name;
  }
  return "unknown";
}

PerturbationMethod parse_perturbation_method(const std::string& name) {
  std::string key;
  for (char c : name) {
    if (std::isalnum(static_cast<unsigned char>(c))) key += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  std::string known;
  for (const auto& m : kMethodNames) {
    if (key == m.name) return m.method;
    known += (known.empty() ? "" : ", ") + std::string(m.name);
  }
  throw InputError("unknown perturbation method '" + name + "'; choose from " + known);
}

bool is_perturbation_method(const std::string& name) {
  try {
    parse_perturbation_method(name);
    return true;
  } catch (const InputError&) {
    return false;
  }
}

const std::vector<PerturbationMethod>& all_perturbation_methods() {
  static const std::vector<PerturbationMethod> all = {PerturbationMethod::occlusion, PerturbationMethod::rise,
                                                      PerturbationMethod::kernel_shap};
  return all;
}

namespace perturbation {

int64_t height_of(const ImageContext& c) { return c.input.size(c.model.input().layout == Layout::NHWC ? 1 : 2); }
int64_t width_of(const ImageContext& c) { return c.input.size(c.model.input().layout == Layout::NHWC ? 2 : 3); }

at::Tensor as_input_mask(const ImageContext& c, const at::Tensor& pixels) {
  return c.model.input().layout == Layout::NHWC ? pixels.unsqueeze(3) : pixels.unsqueeze(1);
}

at::Tensor score_perturbed(
    const ImageContext& c, int64_t count, const std::function<at::Tensor(int64_t begin, int64_t end)>& make,
    bool probability, const std::function<void(int64_t begin, int64_t end, const at::Tensor& numbers)>& consume) {
  auto out = at::empty({count}, at::kDouble);
  for (int64_t begin = 0; begin < count; begin += c.options.batch_size) {
    if (c.options.cancel && c.options.cancel()) {
      throw CancelledError(c.method + " was cancelled; no explanation was written");
    }
    const int64_t end = std::min(count, begin + c.options.batch_size);
    auto scores = c.model.scores(make(begin, end));
    if (probability) scores = c.model.probabilities(scores);
    out.slice(0, begin, end).copy_(scores.select(1, c.target));
    if (consume) consume(begin, end, out.slice(0, begin, end));
    if (c.options.progress) c.options.progress({c.method, c.image, end, count});
  }
  return out;
}

}  // namespace perturbation

PerturbationExplainer::PerturbationExplainer(Model& model, std::vector<PerturbationMethod> methods,
                                             PerturbationOptions options)
    : model_(model), methods_(std::move(methods)), options_(std::move(options)) {
  require(!methods_.empty(), "no perturbation method asked for");
  for (size_t i = 0; i < methods_.size(); ++i) {
    require(std::find(methods_.begin(), methods_.begin() + i, methods_[i]) == methods_.begin() + i,
            "perturbation method '" + to_string(methods_[i]) + "' is listed twice");
  }
  const auto& o = options_;
  require(o.batch_size >= 1, "perturbation batch size " + std::to_string(o.batch_size) + " must be at least 1");
  require(o.window_height >= 1 && o.window_width >= 1 && o.stride_height >= 1 && o.stride_width >= 1,
          "occlusion window and stride must be at least 1 pixel");
  require(o.stride_height <= o.window_height && o.stride_width <= o.window_width,
          "occlusion stride larger than the window would leave pixels unoccluded (captum refuses it too)");
  require(o.rise_masks >= 1 && o.rise_cells >= 1 && o.rise_probability > 0 && o.rise_probability <= 1,
          "RISE needs at least 1 mask, at least 1 cell and a probability in (0, 1]");
  require(o.shap_samples >= 3, "KernelSHAP needs at least 3 samples (the image, the baseline and a coalition)");
}

std::vector<AttributionExplanation> PerturbationExplainer::explain(const at::Tensor& batch,
                                                                   const std::vector<Target>& targets,
                                                                   const std::vector<Segmentation>& segments) {
  require(batch.defined() && batch.dim() == 4 && batch.size(0) > 0,
          "perturbation attribution needs a non-empty batch of images of rank 4, got " +
              (batch.defined() ? shape_string(batch.sizes()) : std::string("no tensor")));
  const int64_t n = batch.size(0);
  const Layout layout = model_.input().layout;
  const auto images = batch.to(at::kFloat).contiguous();
  const int64_t height = images.size(layout == Layout::NHWC ? 1 : 2);
  const int64_t width = images.size(layout == Layout::NHWC ? 2 : 3);
  const bool shap = std::find(methods_.begin(), methods_.end(), PerturbationMethod::kernel_shap) != methods_.end();
  if (shap) {
    require(segments.size() == 1 || static_cast<int64_t>(segments.size()) == n,
            "KernelSHAP needs one segmentation per image (or one for all), got " + std::to_string(segments.size()) +
                " for " + std::to_string(n) + " images");
    for (const auto& s : segments) {
      require(s.labels.type() == CV_32SC1 && s.labels.rows == height && s.labels.cols == width && s.count >= 1,
              "KernelSHAP's segmentation must be CV_32S labels 0..count-1 at the model's input size " +
                  std::to_string(height) + "x" + std::to_string(width));
    }
  }
  const auto baselines = options_.baseline.of(images, layout);
  const auto scores = model_.scores(images);
  const auto classes = resolve_targets(targets, scores, options_.labels);

  std::vector<AttributionExplanation> out(n);
  for (int64_t i = 0; i < n; ++i) {
    auto& e = out[i];
    e.target = classes[i];
    if (e.target < static_cast<int64_t>(options_.labels.size())) e.label = options_.labels[e.target];
    e.score = scores[i][e.target].item<float>();
    const auto input = images.slice(0, i, i + 1);
    const auto baseline = baselines.slice(0, i, i + 1);
    const Segmentation* segmentation = shap ? &segments[segments.size() == 1 ? 0 : i] : nullptr;
    for (const auto method : methods_) {
      const auto name = to_string(method);
      const perturbation::ImageContext c{model_, options_, name, i, input, baseline, e.target, e.score, segmentation};
      const Stopwatch watch;
      auto result = formula_of(method)(c);
      AttributionMap map;
      map.method = name;
      map.values = result.values.to(at::kFloat).contiguous();
      map.map = display_map(method, map.values, layout).contiguous();
      map.convergence_delta = result.convergence_delta;
      map.segment_values = std::move(result.segment_values);
      map.r2 = result.r2;
      map.time_ms = watch.ms();
      map.empty = map.map.max().item<float>() == 0;
      if (map.empty) {
        map.warning = name + " of image " + std::to_string(i) + " (class " + std::to_string(e.target) + ") " +
                      (method == PerturbationMethod::rise ? "is the same everywhere: no mask changed the probability"
                                                          : "has no positive attribution: no perturbation lowered the score");
      }
      e.maps.push_back(std::move(map));
    }
  }
  return out;
}

}  // namespace lumos
