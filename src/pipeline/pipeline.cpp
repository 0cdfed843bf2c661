// The explain pipeline: images in batches → predictions → each method family → per-image
// results in the request's order. Families do the explaining (src/pipeline/families/).
#include "lumos/error.hpp"
#include "lumos/method_family.hpp"
#include "lumos/runtime.hpp"
#include "util/join.hpp"

#include <ATen/ATen.h>

#include <algorithm>

namespace lumos {
namespace {

void check_at_least(int64_t value, int64_t least, const std::string& what) {
  if (value < least) {
    throw InputError(what + " is " + std::to_string(value) + "; it must be at least " + std::to_string(least));
  }
}

// The classes image `scores` asks to explain, each once, in the order the targets name them.
std::vector<int64_t> classes_of(const std::vector<Target>& targets, const at::Tensor& scores,
                                const ClassLabels& labels) {
  std::vector<int64_t> classes;
  for (const auto& target : targets) {
    const int64_t c = target.resolve(scores, labels.names);
    if (std::find(classes.begin(), classes.end(), c) == classes.end()) classes.push_back(c);
  }
  return classes;
}

// An input's picture, or the ImageError that loading it raised.
Image load(const ImageInput& input) { return input.image ? *input.image : Image::load(input.name); }

// The result of an input that was not explained.
ImageResult not_explained(size_t index, const std::string& name, std::string error, bool cancelled = false) {
  ImageResult result;
  result.index = index;
  result.name = name;
  result.error = std::move(error);
  result.cancelled = cancelled;
  return result;
}

// The share of each map inside the input's boxes, as the number "energy_in_box". Throws
// InputError for a box that is empty or outside the picture.
void add_energy_in_boxes(ImageResult& result, const std::vector<Box>& boxes) {
  result.boxes = boxes;
  if (boxes.empty()) return;
  for (auto& target : result.targets) {
    for (auto& method : target.methods) {
      if (!method.map.defined() || method.map.dim() != 2) continue;
      try {
        const at::Tensor region = boxes_region(boxes, result.size.width, result.size.height, method.map.size(0),
                                               method.map.size(1));
        method.numbers.push_back({"energy_in_box", energy_in_region(method.map, region)});
      } catch (const InputError& e) {
        throw InputError("'" + result.name + "': " + e.what());
      }
    }
  }
}

std::string cancelled_message(const std::string& name) { return "'" + name + "' was cancelled before it was explained"; }

}  // namespace

ImageInput ImageInput::file(std::string path) { return {std::move(path), std::nullopt, {}, {}, {}}; }

ImageInput ImageInput::decoded(Image image, std::string name) {
  if (name.empty()) name = image.source();
  return {std::move(name), std::move(image), {}, {}, {}};
}

struct ExplainPipeline::State {
  State(Model& m, ExplainRequest r) : model(m), request(std::move(r)) {}

  Model& model;
  ExplainRequest request;
  std::vector<std::string> warnings;
  std::vector<std::string> methods;
  Preprocess preprocess;
  cv::Size input_size;
  ClassLabels labels;
  struct Family {
    const MethodFamilyInfo* info;
    std::unique_ptr<MethodFamily> explainer;
  };
  std::vector<Family> families;  // in the order the request first names one of their methods

  // Explains one batch of loaded images; `indices` are their positions among the inputs.
  std::vector<ImageResult> explain(const std::vector<ImageInput>& inputs, const std::vector<size_t>& indices,
                                   const std::vector<Image>& originals, const std::vector<Image>& resized,
                                   const ExplainControl& control);
};

ExplainPipeline::ExplainPipeline(Model& model, ExplainRequest request)
    : state_(std::make_unique<State>(model, std::move(request))) {
  auto& s = *state_;
  const auto& r = s.request;
  check_at_least(r.top_k, 1, "the number of predictions listed (top_k)");
  check_at_least(r.batch_size, 1, "the batch size");
  check_at_least(r.perturbation_batch, 1, "the perturbation batch size");
  s.methods = resolve_methods(r.methods);
  if (!s.methods.empty() && r.targets.empty()) {
    throw InputError("no target to explain; give one, e.g. the top class (top1)");
  }
  check_option_keys(r.options);
  if (r.bf16 && !cpu_has_native_bf16()) {
    // Emulated bfloat16 is several times slower than float32 and no more accurate.
    s.request.bf16 = false;
    s.warnings.push_back("bf16: this CPU has no native bfloat16 (AMX or AVX512-BF16), so the forwards run in "
                         "float32, which is faster here than emulated bfloat16");
  }
  s.preprocess = r.preprocess ? *r.preprocess : default_preprocess(model);
  s.input_size = model_input_size(model.input(), r.input_size);
  s.labels = r.labels ? *r.labels : ClassLabels::of_model(model);
  for (const auto& method : s.methods) {
    const auto* info = MethodRegistry::instance().family_of(method);
    const bool known = std::any_of(s.families.begin(), s.families.end(),
                                   [&](const State::Family& f) { return f.info == info; });
    if (known) continue;
    FamilySetup setup{model, s.request, s.preprocess, s.input_size, s.labels, {}};
    for (const auto& m : s.methods) {
      if (MethodRegistry::instance().family_of(m) == info) setup.methods.push_back(m);
    }
    s.families.push_back({info, info->make(setup)});
  }
}

ExplainPipeline::~ExplainPipeline() = default;

const ExplainRequest& ExplainPipeline::request() const { return state_->request; }
const std::vector<std::string>& ExplainPipeline::warnings() const { return state_->warnings; }
const std::vector<std::string>& ExplainPipeline::methods() const { return state_->methods; }
const Preprocess& ExplainPipeline::preprocess() const { return state_->preprocess; }
cv::Size ExplainPipeline::input_size() const { return state_->input_size; }
const ClassLabels& ExplainPipeline::labels() const { return state_->labels; }

RunSummary ExplainPipeline::summary() const {
  const auto& s = *state_;
  RunSummary summary;
  summary.scores = s.model.score_description();
  summary.methods = join(s.methods, ",");
  std::vector<std::string> targets;
  for (const auto& target : s.request.targets) targets.push_back(target.text());
  summary.targets = join(targets, ",");
  summary.preprocess = s.preprocess.name;
  for (const auto& family : s.families) {
    for (auto& setting : family.explainer->settings()) summary.method_settings.push_back(std::move(setting));
  }
  return summary;
}

void ExplainPipeline::run(const std::vector<ImageInput>& inputs, const std::function<void(ImageResult&&)>& on_result,
                          const ExplainControl& control) {
  auto& s = *state_;
  // A model with a fixed batch size runs any batch (the Model cuts it into pieces).
  const auto batch_size = static_cast<size_t>(s.request.batch_size);
  const bool keep_originals = !s.methods.empty();
  // Batches fill up with images that load: one that fails does not leave its batch short.
  for (size_t next = 0; next < inputs.size();) {
    if (control.cancel && control.cancel()) {
      throw CancelledError("the run was cancelled; the images explained before it were handed out");
    }
    std::vector<size_t> indices;
    std::vector<Image> originals, resized;
    for (; next < inputs.size() && indices.size() < batch_size; ++next) {
      const std::string& name = inputs[next].name;
      if (inputs[next].cancelled && inputs[next].cancelled()) {
        on_result(not_explained(next, name, cancelled_message(name), true));
        continue;
      }
      try {
        Image image = load(inputs[next]);
        // Resized at once, so that a batch of large photos is not kept when nothing needs them.
        resized.push_back(resize(image, s.input_size, s.preprocess.fit));
        if (keep_originals) originals.push_back(std::move(image));
        indices.push_back(next);
      } catch (const ImageError& e) {
        on_result(not_explained(next, name, e.what()));
      }
    }
    if (indices.empty()) continue;
    for (auto& result : s.explain(inputs, indices, originals, resized, control)) on_result(std::move(result));
  }
}

std::vector<ImageResult> ExplainPipeline::State::explain(const std::vector<ImageInput>& inputs,
                                                         const std::vector<size_t>& indices,
                                                         const std::vector<Image>& originals,
                                                         const std::vector<Image>& resized,
                                                         const ExplainControl& control) {
  const size_t n = indices.size();
  const at::Tensor input = make_batch(resized, model.input(), preprocess, input_size);
  const at::Tensor scores = model.scores(input);
  labels.check(scores.size(1));
  const at::Tensor probabilities = model.probabilities(scores.to(at::kDouble));

  std::vector<ImageResult> results(n);
  std::vector<std::vector<int64_t>> classes(n);
  std::vector<std::string> refused(n);  // why an input's own targets do not fit the model
  for (size_t i = 0; i < n; ++i) {
    const ImageInput& in = inputs[indices[i]];
    ImageResult& result = results[i];
    result.index = indices[i];
    result.name = in.name;
    if (!originals.empty()) result.image = originals[i];
    result.size = resized[i].original_size();
    result.scores = scores[i].contiguous();
    result.probabilities = probabilities[i];
    const auto [values, order] = at::topk(result.scores, std::min<int64_t>(request.top_k, result.scores.size(0)));
    for (int64_t k = 0; k < values.size(0); ++k) {
      const int64_t c = order[k].item<int64_t>();
      result.predictions.push_back(
          {c, labels.name(c), values[k].item<double>(), result.probabilities[c].item<double>()});
    }
    if (in.targets.empty()) {
      classes[i] = classes_of(request.targets, result.scores, labels);  // the request does not fit the model: stop
    } else {
      try {
        classes[i] = classes_of(in.targets, result.scores, labels);
      } catch (const InputError& e) {
        // Only this input asked for it (a server batches requests): it alone fails.
        refused[i] = "'" + in.name + "': " + e.what();
        classes[i] = {result.predictions.front().class_index};  // its rows are computed and dropped
        continue;
      }
    }
    for (int64_t c : classes[i]) {
      result.targets.push_back(
          {c, labels.name(c), result.scores[c].item<double>(), result.probabilities[c].item<double>(), {}});
    }
  }
  const auto cancelled = [&](size_t i) { return inputs[indices[i]].cancelled && inputs[indices[i]].cancelled(); };
  const auto unwanted = [&](size_t i) { return !refused[i].empty() || cancelled(i); };
  MethodBatch batch{input,
                    originals,
                    resized,
                    scores,
                    classes,
                    [&](size_t i, const std::string& method, int64_t done, int64_t total) {
                      if (control.progress) control.progress({indices[std::min(i, n - 1)], inputs.size(), method, done, total});
                    },
                    [&] { return control.cancel && control.cancel(); },
                    unwanted};
  std::vector<BatchResults> by_family;
  for (auto& family : families) by_family.push_back(family.explainer->explain(batch));

  for (size_t i = 0; i < n; ++i) {
    if (!refused[i].empty()) {
      results[i] = not_explained(results[i].index, results[i].name, refused[i]);
      continue;
    }
    if (cancelled(i)) {
      results[i] = not_explained(results[i].index, results[i].name, cancelled_message(results[i].name), true);
      continue;
    }
    for (size_t k = 0; k < classes[i].size(); ++k) {
      for (const auto& method : methods) {
        for (auto& family_results : by_family) {
          if (i >= family_results.size() || k >= family_results[i].size()) continue;
          auto& found = family_results[i][k];
          const auto it = std::find_if(found.begin(), found.end(), [&](const MethodResult& r) { return r.method == method; });
          if (it != found.end()) results[i].targets[k].methods.push_back(std::move(*it));
        }
      }
    }
    try {
      add_energy_in_boxes(results[i], inputs[indices[i]].boxes);
    } catch (const InputError& e) {  // a box outside the picture: this image alone fails
      results[i] = not_explained(results[i].index, results[i].name, e.what());
    }
  }
  return results;
}

std::vector<ImageResult> ExplainPipeline::run(const std::vector<ImageInput>& inputs, const ExplainControl& control) {
  std::vector<ImageResult> results(inputs.size());
  run(inputs, [&](ImageResult&& result) { results[result.index] = std::move(result); }, control);
  return results;
}

std::vector<ImageResult> explain(Model& model, const std::vector<Image>& images, const ExplainRequest& request,
                                 const ExplainControl& control) {
  std::vector<ImageInput> inputs;
  for (const auto& image : images) inputs.push_back(ImageInput::decoded(image));
  return ExplainPipeline(model, request).run(inputs, control);
}

}  // namespace lumos
