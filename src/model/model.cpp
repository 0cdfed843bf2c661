#include "lumos/model.hpp"

#include "model/onnx/onnx_model.hpp"

namespace lumos {

std::string to_string(Layout layout) { return layout == Layout::NCHW ? "NCHW" : "NHWC"; }

bool LayerInfo::is_spatial() const {
  if (shape.size() != 4) return false;
  const auto h = layout == Layout::NCHW ? shape[2] : shape[1];
  const auto w = layout == Layout::NCHW ? shape[3] : shape[2];
  return h * w > 1;
}

std::unique_ptr<Model> Model::load(const std::string& path, const LoadOptions& options) {
  return std::make_unique<onnx::OnnxModel>(path, options);
}

}  // namespace lumos
