// The CAM family: every CAM method (cam.hpp) through one CamExplainer, so that the gradient
// methods share one forward and one truncated backward per target.
#include "lumos/cam.hpp"
#include "lumos/method_family.hpp"
#include "pipeline/families/family_helpers.hpp"
#include "util/join.hpp"

namespace lumos {
namespace {

class CamFamily : public MethodFamily {
 public:
  explicit CamFamily(const FamilySetup& setup) : explainer_(setup.model, parsed_methods(setup, parse_cam_method), options_of(setup)) {}

  BatchResults explain(const MethodBatch& batch) override {
    batch_ = &batch;
    auto results = explain_class_by_class(batch, [&](const std::vector<Target>& targets) {
      return rows_of(explainer_.explain(batch.input, targets), [](CamMap& map, size_t) {
        MethodResult result;
        result.method = to_string(map.method);
        result.map = std::move(map.map);
        result.empty = map.empty;
        if (!map.warning.empty()) result.warnings.push_back(map.warning);
        return result;
      });
    });
    batch_ = nullptr;
    return results;
  }

  std::vector<std::pair<std::string, std::string>> settings() const override {
    return {{"CAM layer", join(explainer_.layers())}};
  }

 private:
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

// "++" spelled out, as parse_cam_method takes it.
std::vector<std::string> aliases_of(CamMethod method) {
  switch (method) {
    case CamMethod::gradcam_plus_plus: return {"gradcampp", "gradcamplusplus"};
    case CamMethod::gradcam_plus_plus_keras: return {"gradcampp-keras", "gradcamplusplus-keras"};
    default: return {};
  }
}

// How the papers spell them, for report headings.
std::string title_of(CamMethod method) {
  switch (method) {
    case CamMethod::gradcam: return "Grad-CAM";
    case CamMethod::gradcam_plus_plus: return "Grad-CAM++";
    case CamMethod::hirescam: return "HiResCAM";
    case CamMethod::xgradcam: return "XGrad-CAM";
    case CamMethod::layercam: return "LayerCAM";
    case CamMethod::eigencam: return "Eigen-CAM";
    case CamMethod::scorecam: return "Score-CAM";
    case CamMethod::ablationcam: return "Ablation-CAM";
    case CamMethod::gradcam_keras: return "Grad-CAM (Keras)";
    case CamMethod::gradcam_plus_plus_keras: return "Grad-CAM++ (Keras)";
  }
  return to_string(method);
}

std::vector<MethodSpec> cam_methods() {
  std::vector<MethodSpec> specs;
  for (auto method : all_cam_methods()) specs.push_back({to_string(method), title_of(method), aliases_of(method)});
  return specs;
}

}  // namespace

LUMOS_METHOD_FAMILY(cam) {
  return {"cam", cam_methods(), {}, [](const FamilySetup& setup) -> std::unique_ptr<MethodFamily> {
            return std::make_unique<CamFamily>(setup);
          }};
}

}  // namespace lumos
