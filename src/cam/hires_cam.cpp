// HiResCAM (Draelos & Carin 2020): the element-wise product of gradient and activation,
// summed over channels, so the map is exactly the score's first-order attribution.
#include "cam/cam_method.hpp"

#include <ATen/ATen.h>

namespace lumos::cam {

CamFormula hires_cam() {
  return {[](const LayerContext& c) { return c.gradients * c.activations; }};
}

}  // namespace lumos::cam
