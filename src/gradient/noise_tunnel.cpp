// captum's NoiseTunnel: SmoothGrad (Smilkov et al. 2017), SmoothGrad² (Hooker et al. 2019) and
// VarGrad (Adebayo et al. 2018) around any gradient method. The noisy copies of an image run
// through the method together, options.batch_size per forward + backward pass.
#include "gradient/gradient_method.hpp"

#include <ATen/ATen.h>

namespace lumos::gradient {

Attributed noise_tunnel(const GradientContext& c, NoiseTunnel tunnel, const GradientFormula& formula,
                        const at::Tensor& image, const at::Tensor& baseline, int64_t target, double stdev,
                        at::Generator& generator) {
  const int64_t samples = c.options.samples;
  auto shape = image.sizes().vec();
  shape[0] = samples;
  // captum draws torch.normal(0, stdev) as N(0, 1) * stdev, then adds the repeated image.
  const auto noise = at::empty(shape, image.options()).normal_(0, 1, generator).mul_(stdev);
  const auto noisy = image.expand(shape) + noise;
  const auto result = formula.attribute(c, noisy, baseline.expand(shape), {Target::class_index(target)});
  const auto mean = result.values.sum(0, /*keepdim=*/true) / static_cast<double>(samples);
  const auto mean_of_squares = (result.values * result.values).sum(0, /*keepdim=*/true) / static_cast<double>(samples);
  Attributed out;
  out.values = tunnel == NoiseTunnel::smoothgrad      ? mean
               : tunnel == NoiseTunnel::smoothgrad_sq ? mean_of_squares
                                                      : mean_of_squares - mean * mean;
  out.classes = {target};
  if (result.deltas.defined()) out.deltas = result.deltas.index_select(0, result.deltas.abs().argmax().view({1}));
  return out;
}

}  // namespace lumos::gradient
