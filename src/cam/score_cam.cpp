// Score-CAM (Wang et al. 2020): each channel, upsampled and min-max scaled to [0, 1], masks
// the image; channel weight = softmax over channels of the target's score on the masked
// image. Masks are made a batch at a time, so memory stays at one batch of inputs.
#include "cam/cam_method.hpp"

#include <ATen/ATen.h>
#include <ATen/autocast_mode.h>
#include <c10/core/impl/LocalDispatchKeySet.h>
#include <torch/library.h>

namespace lumos::cam {
namespace {

// LibTorch 1.13's CPU autocast casts conv1d/2d/3d but not aten::convolution, which the ONNX
// executor's Conv calls: this kernel gives it the same treatment (float32 operands to
// bfloat16). It only runs while autocast is on, i.e. inside Bf16Autocast below.
at::Tensor convolution_in_bf16(const at::Tensor& input, const at::Tensor& weight, const c10::optional<at::Tensor>& bias,
                               at::IntArrayRef stride, at::IntArrayRef padding, at::IntArrayRef dilation,
                               bool transposed, at::IntArrayRef output_padding, int64_t groups) {
  c10::impl::ExcludeDispatchKeyGuard no_autocast(c10::DispatchKey::AutocastCPU);
  auto bf16 = [](const at::Tensor& t) { return t.scalar_type() == at::kFloat ? t.to(at::kBFloat16) : t; };
  const c10::optional<at::Tensor> cast_bias = bias && bias->defined() ? c10::optional<at::Tensor>(bf16(*bias)) : bias;
  return at::convolution(bf16(input), bf16(weight), cast_bias, stride, padding, dilation, transposed, output_padding,
                         groups);
}

TORCH_LIBRARY_IMPL(aten, AutocastCPU, m) { m.impl("convolution", TORCH_FN(convolution_in_bf16)); }

// CPU autocast to bfloat16 for the guard's lifetime (opt-in: AMX runs bf16 convolutions
// about 3x faster than fp32; Score-CAM only ranks scores, which bf16 keeps).
class Bf16Autocast {
 public:
  explicit Bf16Autocast(bool on)
      : on_(on), was_enabled_(at::autocast::is_cpu_enabled()), old_dtype_(at::autocast::get_autocast_cpu_dtype()) {
    if (!on_) return;
    at::autocast::set_cpu_enabled(true);
    at::autocast::set_autocast_cpu_dtype(at::kBFloat16);
    at::autocast::increment_nesting();
  }
  ~Bf16Autocast() {
    if (!on_) return;
    if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
    at::autocast::set_cpu_enabled(was_enabled_);
    at::autocast::set_autocast_cpu_dtype(old_dtype_);
  }
  Bf16Autocast(const Bf16Autocast&) = delete;
  Bf16Autocast& operator=(const Bf16Autocast&) = delete;

 private:
  bool on_;
  bool was_enabled_;
  at::ScalarType old_dtype_;
};

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
  }};
}

}  // namespace lumos::cam
