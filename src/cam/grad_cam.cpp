// Grad-CAM (Selvaraju et al. 2017): channel weight = spatial mean of the gradient.
#include "cam/cam_method.hpp"

#include <ATen/ATen.h>

namespace lumos::cam {

CamFormula grad_cam() {
  return {[](const LayerContext& c) { return channel_weighted(c.gradients.mean({2, 3}), c.activations); }};
}

}  // namespace lumos::cam
