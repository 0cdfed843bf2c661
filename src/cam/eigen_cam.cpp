// Eigen-CAM (Muhammad & Yeasin 2020): the activations projected on their first principal
// component; no gradient and no target. The sign rule is first_component_projection's.
#include "cam/cam_method.hpp"

namespace lumos::cam {

CamFormula eigen_cam() {
  return {[](const LayerContext& c) { return c.activations; }, /*always_project=*/true, /*derivatives=*/0};
}

}  // namespace lumos::cam
