// LayerCAM (Jiang et al. 2021): each position weighted by its own positive gradient.
#include "cam/cam_method.hpp"

#include <ATen/ATen.h>

namespace lumos::cam {

CamFormula layer_cam() {
  return {[](const LayerContext& c) { return at::relu(c.gradients) * c.activations; }};
}

}  // namespace lumos::cam
