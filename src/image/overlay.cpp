// Heatmap over image, as pytorch-grad-cam's show_cam_on_image.
#include "lumos/error.hpp"
#include "lumos/render.hpp"

#include <ATen/ATen.h>
#include <opencv2/imgproc.hpp>

namespace lumos {

Image overlay(const Image& image, const cv::Mat& map, Colormap colormap, double image_weight) {
  if (!(image_weight >= 0 && image_weight <= 1)) {
    throw InputError("the image weight of an overlay must be in [0,1], got " + std::to_string(image_weight));
  }
  if (map.empty() || map.channels() != 1) throw InputError("an overlay needs a non-empty one-channel map");
  cv::Mat values;
  map.convertTo(values, CV_32F);
  if (values.size() != image.size()) {
    cv::Mat resized;
    cv::resize(values, resized, image.size(), 0, 0, cv::INTER_LINEAR);
    values = resized;
  }
  const cv::Mat heatmap = colorize(values, colormap);

  // float32 throughout, in numpy's order of operations, so the bytes match.
  const float heatmap_weight = static_cast<float>(1.0 - image_weight);
  const float pixel_weight = static_cast<float>(image_weight);
  cv::Mat blend(image.size(), CV_32FC3);
  for (int r = 0; r < blend.rows; ++r) {
    const uchar* heat = heatmap.ptr<uchar>(r);
    const uchar* pixel = image.pixels().ptr<uchar>(r);
    float* out = blend.ptr<float>(r);
    for (int i = 0; i < blend.cols * 3; ++i) {
      out[i] = heatmap_weight * (static_cast<float>(heat[i]) / 255.f) +
               pixel_weight * (static_cast<float>(pixel[i]) / 255.f);
    }
  }
  double high = 0;
  cv::minMaxLoc(blend.reshape(1), nullptr, &high);
  const float peak = static_cast<float>(high);
  cv::Mat result(image.size(), CV_8UC3);
  for (int r = 0; r < blend.rows; ++r) {
    const float* in = blend.ptr<float>(r);
    uchar* out = result.ptr<uchar>(r);
    // A black image under a zero-weight heatmap blends to all zeros: keep it black.
    for (int i = 0; i < blend.cols * 3; ++i) out[i] = peak > 0 ? static_cast<uchar>(255.f * (in[i] / peak)) : 0;
  }
  return Image(std::move(result), image.source(), image.original_size());
}

Image overlay(const Image& image, const at::Tensor& map, Colormap colormap, double image_weight) {
  if (map.dim() != 2) {
    throw InputError("an overlay needs a 2-D map [H, W], got a tensor of rank " + std::to_string(map.dim()));
  }
  const auto values = map.detach().to(at::kCPU, at::kFloat).contiguous();
  const cv::Mat view(static_cast<int>(values.size(0)), static_cast<int>(values.size(1)), CV_32F,
                     values.data_ptr<float>());
  return overlay(image, view, colormap, image_weight);
}

}  // namespace lumos
