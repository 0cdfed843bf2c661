// Images in, model input tensors out: decoding, resizing, normalising, batching.
#pragma once

#include "lumos/model.hpp"

#include <ATen/core/Tensor.h>
#include <opencv2/core.hpp>

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace lumos {

// Largest image lumos decodes, in pixels: Pillow's decompression-bomb limit (about
// 13400 x 13400). Decoding and explaining such a picture at its own size already takes
// gigabytes, and a classifier sees a few hundred pixels a side anyway. The size is read
// from the file's header and checked before any decoder runs.
constexpr int64_t kMaxImagePixels = 2 * int64_t{89478485};

// An 8-bit RGB picture and where it came from. Copies share pixels, as cv::Mat does.
class Image {
 public:
  // `rgb` must be CV_8UC3 in RGB order; throws InputError otherwise.
  explicit Image(cv::Mat rgb, std::string source = "", std::optional<cv::Size> original_size = std::nullopt);

  // Decodes a PNG, JPEG, BMP, TIFF, WebP or PNM (PBM/PGM/PPM) file: grey becomes RGB,
  // an alpha channel is dropped, 16-bit samples keep their high byte, and JPEGs are
  // turned upright by their EXIF orientation. Dropping alpha (rather than compositing)
  // gives the model what cv2.imread and PIL's convert("RGB") give training pipelines.
  // Throws ImageError for a missing or unreadable file, one that is not a regular file
  // (a folder, FIFO or device), or an empty, corrupt, truncated or too large image; what
  // the decoder printed about it is part of the message, not written to stderr.
  static Image load(const std::string& path);
  // The same for a file's contents already in memory; `source` names it in messages.
  static Image decode(std::string_view bytes, const std::string& source);

  const cv::Mat& pixels() const { return pixels_; }  // CV_8UC3, RGB
  int width() const { return pixels_.cols; }
  int height() const { return pixels_.rows; }
  cv::Size size() const { return pixels_.size(); }
  const std::string& source() const { return source_; }  // the file it came from, if any
  cv::Size original_size() const { return original_size_; }  // before any resize

 private:
  cv::Mat pixels_;
  std::string source_;
  cv::Size original_size_;
};

// How an image is brought to the model's input size.
enum class Fit {
  stretch,      // resize to exactly the input size (pytorch-grad-cam's examples do this)
  center_crop,  // keep the aspect ratio: scale to cover the input size, cut the centre
};

// Pixel values the model expects, per channel c:  (pixel / divisor - mean[c]) / std[c],
// with the channels fed in RGB or BGR order (mean and std are given in that order).
struct Preprocess {
  std::string name = "imagenet";
  bool bgr = false;
  float divisor = 255.f;
  std::array<float, 3> mean{0.485f, 0.456f, 0.406f};
  std::array<float, 3> std{0.229f, 0.224f, 0.225f};
  Fit fit = Fit::stretch;

  // imagenet (RGB/255, ImageNet mean/std), tf ([-1,1]), caffe (BGR 0-255 minus the
  // ImageNet BGR mean), unit ([0,1]), raw ([0,255]). Throws InputError naming the presets.
  static Preprocess named(const std::string& name);
  // Explicit mean/std in [0,1] units (applied after /255), RGB order. One value stands
  // for all three channels. Throws InputError for a wrong count or a std <= 0.
  static Preprocess mean_std(const std::vector<float>& mean, const std::vector<float>& std);
  static const std::vector<std::string>& names();
};

// The preset the model's "preprocess" metadata names, else imagenet. Throws ModelError when
// the metadata names no preset.
Preprocess default_preprocess(const Model& model);

// The height x width images are resized to: the model's own, or `requested` for a
// model whose input size is not fixed. Throws InputError if neither gives one, or if
// `requested` contradicts the model's fixed size.
cv::Size model_input_size(const InputSpec& input, std::optional<cv::Size> requested = std::nullopt);

// The image files among `paths`: files as named (a missing or unreadable one is reported
// when it is loaded) and, for each folder, its image files by extension, sorted. Throws
// InputError for a folder without image files.
std::vector<std::string> image_files(const std::vector<std::string>& paths);

// Resizes (bilinear, as cv::resize INTER_LINEAR) to `size` as `fit` says.
Image resize(const Image& image, cv::Size size, Fit fit = Fit::stretch);

// A float32 batch laid out as `input` says ([N,C,H,W] or [N,H,W,C]), each image resized
// to `size` and normalised. Models with one input channel get the grey image
// (cv::COLOR_RGB2GRAY) normalised with the mean of the three means and stds.
at::Tensor make_batch(const std::vector<Image>& images, const InputSpec& input, const Preprocess& preprocess,
                      cv::Size size);

}  // namespace lumos
