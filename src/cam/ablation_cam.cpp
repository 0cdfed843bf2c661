// Ablation-CAM (Desai & Ramaswamy 2020): channel weight = (y - y_k) / y, where y_k is the
// target's score with channel k of the layer ablated. Like pytorch-grad-cam, an ablated
// channel is set to 0 when the image's activations have minimum 0 (after a ReLU), and
// otherwise to that minimum - 1e7 (see docs/cam.md).
#include "cam/cam_method.hpp"

#include "lumos/error.hpp"

#include <ATen/ATen.h>

namespace lumos::cam {

CamFormula ablation_cam() {
  return {[](const LayerContext& c) {
    const int64_t n = c.activations.size(0);
    const int64_t channels = c.activations.size(1);
    std::vector<at::Tensor> weights;
    for (int64_t i = 0; i < n; ++i) {
      const float original = c.target_scores[i].item<float>();
      if (original == 0) {
        throw InputError("Ablation-CAM divides by the target's score, which is exactly 0 for image " +
                         std::to_string(i) + " (class " + std::to_string(c.targets[i]) + "); use another method");
      }
      const auto activations = c.activations[i];
      const float lowest = activations.min().item<float>();
      const float ablated_value = lowest == 0 ? 0.f : lowest - 1e7f;
      const auto image = image_of(c, i);
      const auto ablated_scores = score_perturbations(c, i, channels, [&](int64_t begin, int64_t end) {
        const int64_t k = end - begin;
        auto ablated = activations.unsqueeze(0).repeat({k, 1, 1, 1});
        for (int64_t j = 0; j < k; ++j) ablated[j][begin + j].fill_(ablated_value);
        if (c.layout == Layout::NHWC) ablated = ablated.permute({0, 2, 3, 1}).contiguous();
        return c.model.scores_given(image.expand({k, -1, -1, -1}), c.layer, ablated);
      });
      weights.push_back((original - ablated_scores) / original);
    }
    return channel_weighted(at::stack(weights), c.activations);
  }, /*always_project=*/false, /*derivatives=*/0};
}

}  // namespace lumos::cam
