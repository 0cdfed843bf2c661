#include "lumos/model.hpp"

#include "model/keras/load.hpp"
#include "model/onnx/onnx_model.hpp"

namespace lumos {

std::string to_string(Layout layout) { return layout == Layout::NCHW ? "NCHW" : "NHWC"; }

std::string shape_string(at::IntArrayRef shape) {
  std::string out = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    out += (i ? "," : "") + (shape[i] < 0 ? std::string("?") : std::to_string(shape[i]));
  }
  return out + "]";
}

bool LayerInfo::is_spatial() const {
  if (shape.size() != 4) return false;
  const auto h = layout == Layout::NCHW ? shape[2] : shape[1];
  const auto w = layout == Layout::NCHW ? shape[3] : shape[2];
  return h * w > 1;
}

std::unique_ptr<Model> Model::load(const std::string& path, const LoadOptions& options) {
  // Keras and TF.js models are told by their content (zip, HDF5, JSON); anything else is
  // read as ONNX, whose protobuf has no signature.
  if (keras::is_keras_model(path)) return keras::load(path, options);
  return std::make_unique<onnx::OnnxModel>(path, options);
}

}  // namespace lumos
