// Score-CAM (Wang et al. 2020): each channel, upsampled and min-max scaled to [0, 1], masks
// the image; channel weight = softmax over channels of the target's score on the masked
// image. Masks are made a batch at a time, so memory stays at one batch of inputs.
#include "cam/cam_method.hpp"

#include "model/bf16_autocast.hpp"

#include <ATen/ATen.h>

namespace lumos::cam {
namespace {

// Channels [begin, end) of one image's activations [1, C, h, w] as masks [k, H, W]: bilinear
// upsampling with aligned corners (torch.nn.UpsamplingBilinear2d), then each min-max scaled.
at::Tensor channel_masks(const at::Tensor& activations, int64_t begin, int64_t end, int64_t height, int64_t width) {
  const auto up = at::upsample_bilinear2d(activations.slice(1, begin, end), {height, width}, /*align_corners=*/true)[0];
  const auto flat = up.flatten(1);
  const auto lowest = std::get<0>(flat.min(1)).view({-1, 1, 1});
  const auto highest = std::get<0>(flat.max(1)).view({-1, 1, 1});
  return (up - lowest) / (highest - lowest + 1e-8);
}

}  // namespace

CamFormula score_cam() {
  return {[](const LayerContext& c) {
    const bool nhwc = c.model.input().layout == Layout::NHWC;
    const int64_t height = c.batch.size(nhwc ? 1 : 2);
    const int64_t width = c.batch.size(nhwc ? 2 : 3);
    const int64_t n = c.activations.size(0);
    const int64_t channels = c.activations.size(1);
    std::vector<at::Tensor> scores;
    for (int64_t i = 0; i < n; ++i) {
      const auto image = image_of(c, i);
      const auto activations = c.activations.slice(0, i, i + 1);
      scores.push_back(score_perturbations(c, i, channels, [&](int64_t begin, int64_t end) {
        const auto masks = channel_masks(activations, begin, end, height, width);
        const auto masked = image * (nhwc ? masks.unsqueeze(3) : masks.unsqueeze(1));
        Bf16Autocast autocast(c.options.bf16);
        return c.model.scores(masked).to(at::kFloat);
      }));
    }
    return channel_weighted(at::softmax(at::stack(scores), 1), c.activations);
  }, /*always_project=*/false, /*derivatives=*/0};
}

}  // namespace lumos::cam
