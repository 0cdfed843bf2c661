// The LIME family: LIME (lime.hpp) per image, every target class from one set of samples.
#include "lumos/error.hpp"
#include "lumos/lime.hpp"
#include "lumos/method_family.hpp"
#include "pipeline/families/segmentation_size.hpp"
#include "util/stopwatch.hpp"

#include <ATen/ATen.h>
#include <opencv2/core.hpp>


namespace lumos {
namespace {

class LimeFamily : public MethodFamily {
 public:
  explicit LimeFamily(const FamilySetup& setup)
      : model_(setup.model),
        request_(setup.request),
        preprocess_(setup.preprocess),
        input_size_(setup.input_size),
        working_size_(segmentation_size(setup.input_size, setup.request.lime.min_side)) {
    if (request_.lime.samples < 2) {
      throw InputError("LIME needs at least 2 samples (the first is the image itself), got " +
                       std::to_string(request_.lime.samples));
    }
  }

  BatchResults explain(const MethodBatch& batch) override {
    BatchResults results(batch.size());
    const Classifier classifier = model_classifier(model_, preprocess_, input_size_, request_.bf16);
    for (size_t i = 0; i < batch.size(); ++i) {
      if (batch.image_cancelled(i)) continue;
      LimeOptions lime;
      lime.num_samples = request_.lime.samples;
      lime.batch_size = request_.perturbation_batch;
      lime.top_labels = 0;
      lime.labels = batch.classes[i];
      lime.hide = request_.lime.hide;
      lime.seed = request_.seed;
      lime.progress = [&](int64_t done, int64_t total) {
        if (batch.progress) batch.progress(i, "lime", done, total);
      };
      lime.cancel = [&] { return batch.run_cancelled() || batch.image_cancelled(i); };
      const Stopwatch watch;
      LimeExplanation explanation;
      try {
        const Image image = resize(batch.originals[i], working_size_, preprocess_.fit);
        explanation = explain_lime(image.pixels(), classifier, lime);
      } catch (const CancelledError&) {
        if (batch.run_cancelled()) throw;
        continue;  // only this image is no longer wanted
      }
      const double ms = watch.ms();
      for (int64_t c : batch.classes[i]) results[i].push_back({result_for(explanation, c, ms)});
    }
    return results;
  }

 private:
  MethodResult result_for(const LimeExplanation& explanation, int64_t c, double ms) const {
    const auto& linear = explanation.of(c);
    const cv::Mat map = positive_weight_map(explanation.segments, linear);
    MethodResult result;
    result.method = "lime";
    result.map = at::from_blob(map.data, {map.rows, map.cols}, at::kFloat).clone();
    result.empty = cv::countNonZero(map) == 0;
    result.time_ms = ms;
    result.time_split_ms = {{"segmentation", explanation.timings.segmentation_ms},
                            {"images", explanation.timings.images_ms},
                            {"model", explanation.timings.model_ms},
                            {"regression", explanation.timings.regression_ms}};
    result.segments = SegmentAttribution{explanation.segments, linear, request_.lime.samples};
    return result;
  }

  Model& model_;
  const ExplainRequest& request_;
  Preprocess preprocess_;
  cv::Size input_size_;
  cv::Size working_size_;
};

}  // namespace

LUMOS_METHOD_FAMILY(lime) {
  return {"lime", {{"lime", "LIME", {}}}, {}, [](const FamilySetup& setup) -> std::unique_ptr<MethodFamily> {
            return std::make_unique<LimeFamily>(setup);
          }};
}

}  // namespace lumos
