// Grad-CAM as Keras code computes it (jacobgil/keras-grad-cam's order of operations): the
// explained number is the class's softmax probability (the output of a Keras classifier);
// channel weight = spatial mean of the gradient; the map is resized to the image first, then
// ReLU, then divided by its maximum (no subtraction of the minimum).
#include "cam/cam_method.hpp"

namespace lumos::cam {

CamFormula grad_cam_keras() {
  auto formula = grad_cam();
  formula.explained = Explained::probability;
  formula.normalisation = Normalisation::resize_then_max;
  return formula;
}

}  // namespace lumos::cam
