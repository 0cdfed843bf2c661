// LimeImageExplainer.explain_instance: segment, sample, score the perturbed images in
// batches, then fit one surrogate per explained label on the shared samples.
#include "lumos/lime.hpp"

#include "lumos/image.hpp"
#include "lumos/model.hpp"
#include "perturbation/segmentation/labels.hpp"

#include "model/bf16_autocast.hpp"

#include <ATen/ATen.h>

#include <algorithm>
#include <chrono>
#include <numeric>

namespace lumos {
namespace {

class Stopwatch {
 public:
  double lap_ms() {
    const auto now = std::chrono::steady_clock::now();
    const double ms = std::chrono::duration<double, std::milli>(now - last_).count();
    last_ = now;
    return ms;
  }

 private:
  std::chrono::steady_clock::time_point last_ = std::chrono::steady_clock::now();
};

// The labels to explain: lime's np.argsort(scores[0])[-k:] reversed, or the caller's.
std::vector<int64_t> labels_to_explain(const at::Tensor& first_scores, const LimeOptions& options) {
  const int64_t classes = first_scores.size(0);
  if (options.top_labels > 0) {
    std::vector<int64_t> order(static_cast<size_t>(classes));
    std::iota(order.begin(), order.end(), 0);
    const double* s = first_scores.data_ptr<double>();
    std::stable_sort(order.begin(), order.end(), [s](int64_t a, int64_t b) { return s[a] < s[b]; });
    const auto k = std::min<int64_t>(options.top_labels, classes);
    return {order.rbegin(), order.rbegin() + k};
  }
  if (options.labels.empty()) throw InputError("LIME: give top_labels > 0 or at least one label to explain");
  for (int64_t label : options.labels) {
    if (label < 0 || label >= classes) {
      throw InputError("LIME: label " + std::to_string(label) + " is outside the model's " + std::to_string(classes) +
                       " classes");
    }
  }
  return options.labels;
}

}  // namespace

const LinearExplanation& LimeExplanation::of(int64_t label) const {
  const auto it = explanations.find(label);
  if (it == explanations.end()) {
    throw InputError("label " + std::to_string(label) + " was not explained; ask for it with top_labels or labels");
  }
  return it->second;
}

Classifier model_classifier(Model& model, const Preprocess& preprocess, cv::Size input_size, bool bf16) {
  return [&model, preprocess, input_size, bf16](const at::Tensor& images) {
    if (images.scalar_type() != at::kByte) {
      throw InputError("LIME: the model's classifier takes 8-bit images; a floating-point image needs a classifier "
                       "of its own that knows how its values were prepared");
    }
    std::vector<Image> batch;
    batch.reserve(static_cast<size_t>(images.size(0)));
    for (int64_t i = 0; i < images.size(0); ++i) {
      const at::Tensor one = images[i];
      batch.emplace_back(cv::Mat(static_cast<int>(one.size(0)), static_cast<int>(one.size(1)), CV_8UC3, one.data_ptr()));
    }
    const at::Tensor input = make_batch(batch, model.input(), preprocess, input_size);
    at::NoGradGuard no_grad;
    Bf16Autocast autocast(bf16);
    return model.scores(input).to(at::kFloat);
  };
}

LimeExplanation explain_lime(const cv::Mat& rgb, const Segmentation& segments, const Classifier& classifier,
                             const LimeOptions& options) {
  if (options.num_samples < 2) {
    throw InputError("LIME needs num_samples >= 2 (row 0 is the image itself), got " +
                     std::to_string(options.num_samples));
  }
  if (options.batch_size < 1) throw InputError("LIME batch_size must be >= 1");
  LimeExplanation result;
  result.image = segmentation::to_rgb(rgb, "LIME");
  if (segments.labels.type() != CV_32SC1 || segments.labels.size() != result.image.size() || segments.count < 1) {
    throw InputError("LIME: the segmentation must be CV_32S labels of the image's size with at least one segment");
  }
  result.segments = segments;
  Stopwatch clock;

  const cv::Mat fill = hidden_fill(result.image, segments, options.hide);
  result.samples = sample_matrix(options.num_samples, segments.count, options.seed);
  result.timings.images_ms += clock.lap_ms();

  std::vector<at::Tensor> scores;
  for (int64_t start = 0; start < options.num_samples; start += options.batch_size) {
    if (options.cancel && options.cancel()) throw CancelledError("LIME was cancelled; no explanation was written");
    const int64_t end = std::min<int64_t>(start + options.batch_size, options.num_samples);
    const at::Tensor images = perturbed_images(result.image, fill, segments, result.samples.slice(0, start, end));
    result.timings.images_ms += clock.lap_ms();
    at::Tensor batch_scores = classifier(images);
    if (batch_scores.dim() != 2 || batch_scores.size(0) != end - start) {
      throw InputError("LIME: the classifier must return scores [batch, classes] for " + std::to_string(end - start) +
                       " images");
    }
    scores.push_back(batch_scores.to(at::kDouble));
    result.timings.model_ms += clock.lap_ms();
    if (options.progress) options.progress(end, options.num_samples);
  }
  result.scores = at::cat(scores);
  if (!at::isfinite(result.scores).all().item<bool>()) {
    throw InputError("LIME: the model returned NaN or infinite scores for some perturbed images");
  }

  result.top_labels = labels_to_explain(result.scores[0].contiguous(), options);
  const at::Tensor distances = cosine_distances_to_first(result.samples);
  for (int64_t label : result.top_labels) {
    result.explanations[label] =
        explain_with_data(result.samples, result.scores.select(1, label), distances, options.regression);
  }
  result.timings.regression_ms += clock.lap_ms();
  return result;
}

LimeExplanation explain_lime(const cv::Mat& rgb, const Classifier& classifier, const LimeOptions& options) {
  Stopwatch clock;
  QuickshiftOptions quickshift_options;
  quickshift_options.seed = options.seed;
  const Segmentation segments = quickshift(rgb, quickshift_options);
  const double segmentation_ms = clock.lap_ms();
  LimeExplanation result = explain_lime(rgb, segments, classifier, options);
  result.timings.segmentation_ms = segmentation_ms;
  return result;
}

}  // namespace lumos
