// The CAM family: every CAM method (cam.hpp) through one CamExplainer, so that the gradient
// methods share one forward and one truncated backward per target.
#include "lumos/cam.hpp"
#include "lumos/method_family.hpp"
#include "util/join.hpp"

#include <algorithm>
#include <chrono>

namespace lumos {
namespace {

class CamFamily : public MethodFamily {
 public:
  explicit CamFamily(const FamilySetup& setup) : explainer_(setup.model, methods_of(setup), options_of(setup)) {}

  BatchResults explain(const MethodBatch& batch) override {
    const auto start = std::chrono::steady_clock::now();
    batch_ = &batch;
    const size_t n = batch.size();
    size_t slots = 0;
    for (const auto& classes : batch.classes) slots = std::max(slots, classes.size());
    BatchResults results(n);
    // One pass per k: every image's k-th class (an image with fewer repeats its last one).
    for (size_t k = 0; k < slots; ++k) {
      std::vector<Target> targets;
      for (int64_t row = 0; row < batch.input.size(0); ++row) {
        const auto& classes = batch.classes[std::min(static_cast<size_t>(row), n - 1)];
        targets.push_back(Target::class_index(classes[std::min(k, classes.size() - 1)]));
      }
      auto explanations = explainer_.explain(batch.input, targets);
      for (size_t i = 0; i < n; ++i) {
        if (k >= batch.classes[i].size()) continue;
        std::vector<MethodResult> methods;
        for (auto& map : explanations[i].maps) {
          MethodResult result;
          result.method = to_string(map.method);
          result.map = std::move(map.map);
          result.empty = map.empty;
          if (!map.warning.empty()) result.warnings.push_back(map.warning);
          methods.push_back(std::move(result));
        }
        results[i].push_back(std::move(methods));
      }
    }
    batch_ = nullptr;
    // One trace serves every method and image: each gets the batch's time per image.
    const double ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count() / static_cast<double>(n);
    for (auto& image : results) {
      for (auto& target : image) {
        for (auto& result : target) result.time_ms = ms;
      }
    }
    return results;
  }

  std::vector<std::pair<std::string, std::string>> settings() const override {
    return {{"CAM layer", join(explainer_.layers())}};
  }

 private:
  static std::vector<CamMethod> methods_of(const FamilySetup& setup) {
    std::vector<CamMethod> methods;
    for (const auto& name : setup.methods) methods.push_back(parse_cam_method(name));
    return methods;
  }

  CamOptions options_of(const FamilySetup& setup) {
    CamOptions options;
    options.layers = setup.request.layers;
    options.labels = setup.labels.names;
    options.aug_smooth = setup.request.cam.aug_smooth;
    options.eigen_smooth = setup.request.cam.eigen_smooth;
    options.perturbation_batch = setup.request.perturbation_batch;
    options.bf16 = setup.request.bf16;
    // Score-CAM and Ablation-CAM run hundreds of forwards per image: report them, let them stop.
    options.progress = [this](const CamProgress& p) {
      if (batch_ && batch_->progress) batch_->progress(static_cast<size_t>(p.image), to_string(p.method), p.done, p.total);
    };
    options.cancel = [this] { return batch_ && batch_->run_cancelled(); };
    return options;
  }

  CamExplainer explainer_;
  const MethodBatch* batch_ = nullptr;  // the batch under way, for the callbacks
};

std::vector<MethodSpec> cam_methods() {
  std::vector<MethodSpec> specs;
  for (auto method : all_cam_methods()) {
    const std::string name = to_string(method);
    specs.push_back({name, name, method == CamMethod::gradcam_plus_plus ? std::vector<std::string>{"gradcampp", "gradcamplusplus"}
                                                                        : std::vector<std::string>{}});
  }
  return specs;
}

}  // namespace

LUMOS_METHOD_FAMILY(cam) {
  return {"cam", cam_methods(), {}, [](const FamilySetup& setup) -> std::unique_ptr<MethodFamily> {
            return std::make_unique<CamFamily>(setup);
          }};
}

}  // namespace lumos
