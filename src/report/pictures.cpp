// What a method's result looks like over its picture: a heatmap overlay, or for a segment
// explanation its best segments outlined, their mask and the map of their weights.
#include "lumos/explanation_files.hpp"

#include <ATen/ATen.h>
#include <opencv2/imgproc.hpp>

namespace lumos {
namespace {

cv::Mat resized_nearest(const cv::Mat& labels, cv::Size size) {
  cv::Mat out;
  cv::resize(labels, out, size, 0, 0, cv::INTER_NEAREST);
  return out;
}

}  // namespace

std::vector<Picture> render_pictures(const MethodResult& result, const Image& original, const RenderOptions& options) {
  std::vector<Picture> pictures;
  if (!result.segments) {
    pictures.push_back({"", overlay(original, result.map, options.colormap, options.image_weight).pixels()});
  } else {
    // Segments have hard edges: their mask and weights are brought to the picture unblended.
    const auto& attribution = *result.segments;
    MaskOptions mask_options;
    mask_options.num_features = options.segments_shown;
    const cv::Mat mask =
        resized_nearest(segment_mask(attribution.segments, attribution.linear, mask_options), original.size());
    cv::Mat photo, outlined;
    original.pixels().convertTo(photo, CV_64FC3, 1.0 / 255);
    // skimage.segmentation.mark_boundaries(image, mask) as the seed calls it: mode "outer".
    mark_boundaries(photo, mask, cv::Scalar(1, 1, 0), BoundaryMode::outer).convertTo(outlined, CV_8UC3, 255.0);
    const at::Tensor map = result.map.to(at::kFloat).contiguous();
    const cv::Mat weights(static_cast<int>(map.size(0)), static_cast<int>(map.size(1)), CV_32F, map.data_ptr<float>());
    pictures.push_back({"", outlined});
    pictures.push_back({"mask", cv::Mat(mask != 0)});
    pictures.push_back({"heatmap", overlay(original, resized_nearest(weights, original.size()), options.colormap,
                                           options.image_weight)
                                       .pixels()});
  }
  pictures.insert(pictures.end(), result.pictures.begin(), result.pictures.end());
  return pictures;
}

}  // namespace lumos
