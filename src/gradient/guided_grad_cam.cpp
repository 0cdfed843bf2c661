// Guided Grad-CAM (Selvaraju et al. 2017; captum's GuidedGradCam): Guided Backpropagation
// multiplied by the layer's Grad-CAM, relu(sum_k mean_ij(g_k) A_k) without normalisation,
// upsampled to the input by nearest neighbour (captum's default interpolate_mode).
#include "gradient/gradient_method.hpp"

#include "cam/cam_method.hpp"

#include <ATen/ATen.h>

#include <algorithm>

namespace lumos::gradient {

GradientFormula guided_grad_cam() {
  GradientFormula formula{[](const GradientContext& c, const at::Tensor& inputs, const at::Tensor&,
                             const std::vector<Target>& targets) {
    const auto layer = c.options.layer.empty() ? c.model.default_layer() : c.model.resolve_layer(c.options.layer);
    const auto layout = cam::checked_layer_layout(c.model, layer);
    const bool nhwc = c.model.input().layout == Layout::NHWC;
    const int64_t height = inputs.size(nhwc ? 1 : 2), width = inputs.size(nhwc ? 2 : 3);
    std::vector<at::Tensor> cams;
    std::vector<Target> classes;
    for (int64_t begin = 0; begin < inputs.size(0); begin += c.options.batch_size) {
      check_cancelled(c);
      const int64_t end = std::min(inputs.size(0), begin + c.options.batch_size);
      const auto capture = cam::capture_layers(c.model, inputs.slice(0, begin, end), {layer}, {layout},
                                               targets_between(targets, begin, end), c.options.labels, 1,
                                               cam::Explained::score);
      const auto weights = capture.gradients[0][0].mean({2, 3}, /*keepdim=*/true);
      const auto cam = at::relu((weights * capture.activations[0]).sum(1, /*keepdim=*/true));
      cams.push_back(at::upsample_nearest2d(cam, {height, width}));
      for (auto k : capture.targets) classes.push_back(Target::class_index(k));
      count_passes(c, end - begin);
    }
    auto result = input_gradients(c, inputs, classes, ReluRule::guided);
    const auto cam = at::cat(cams);
    result.values = result.values * (nhwc ? cam.permute({0, 2, 3, 1}) : cam);
    return result;
  }};
  formula.passes_per_input = 2;
  return formula;
}

}  // namespace lumos::gradient
