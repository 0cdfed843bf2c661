// Resizing, normalising and batching images into the tensor a model takes.
#include "lumos/error.hpp"
#include "lumos/image.hpp"
#include "util/join.hpp"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <opencv2/imgproc.hpp>

#include <cmath>
#include <map>

namespace lumos {
namespace {

std::string size_string(cv::Size size) { return std::to_string(size.height) + "x" + std::to_string(size.width); }

const std::map<std::string, Preprocess>& presets() {
  static const std::map<std::string, Preprocess> all = [] {
    std::map<std::string, Preprocess> m;
    m["imagenet"] = Preprocess{};
    // Keras' "tf" mode: x / 127.5 - 1.
    m["tf"] = Preprocess{"tf", false, 127.5f, {1.f, 1.f, 1.f}, {1.f, 1.f, 1.f}};
    // Keras' "caffe" mode: BGR, 0-255, minus the ImageNet mean in BGR order.
    m["caffe"] = Preprocess{"caffe", true, 1.f, {103.939f, 116.779f, 123.68f}, {1.f, 1.f, 1.f}};
    m["unit"] = Preprocess{"unit", false, 255.f, {0.f, 0.f, 0.f}, {1.f, 1.f, 1.f}};
    m["raw"] = Preprocess{"raw", false, 1.f, {0.f, 0.f, 0.f}, {1.f, 1.f, 1.f}};
    return m;
  }();
  return all;
}

std::array<float, 3> three_values(const std::vector<float>& values, const char* what) {
  if (values.size() == 1) return {values[0], values[0], values[0]};
  if (values.size() == 3) return {values[0], values[1], values[2]};
  throw InputError(std::string(what) + " has " + std::to_string(values.size()) +
                   " values; give 3 (R,G,B) or 1 for all channels");
}

}  // namespace

const std::vector<std::string>& Preprocess::names() {
  static const std::vector<std::string> all = [] {
    std::vector<std::string> n;
    for (const auto& [name, preset] : presets()) n.push_back(name);
    return n;
  }();
  return all;
}

Preprocess Preprocess::named(const std::string& name) {
  auto it = presets().find(name);
  if (it == presets().end()) {
    throw InputError("unknown preprocessing '" + name + "'; use one of: " + join(names()) +
                     " (or an explicit mean and std)");
  }
  return it->second;
}

Preprocess Preprocess::mean_std(const std::vector<float>& mean, const std::vector<float>& std) {
  Preprocess p;
  p.name = "mean/std";
  p.mean = three_values(mean, "the mean");
  p.std = three_values(std, "the std");
  for (float s : p.std) {
    if (!(s > 0.f) || !std::isfinite(s)) throw InputError("the std must be positive, got " + std::to_string(s));
  }
  for (float m : p.mean) {
    if (!std::isfinite(m)) throw InputError("the mean must be finite numbers");
  }
  return p;
}

Preprocess default_preprocess(const Model& model) {
  const auto it = model.metadata().find("preprocess");
  if (it == model.metadata().end()) return Preprocess::named("imagenet");
  try {
    return Preprocess::named(it->second);
  } catch (const InputError& e) {
    throw ModelError(std::string("the model's metadata asks for ") + e.what());
  }
}

cv::Size model_input_size(const InputSpec& input, std::optional<cv::Size> requested) {
  const bool fixed = input.height > 0 && input.width > 0;
  if (fixed) {
    const cv::Size own(static_cast<int>(input.width), static_cast<int>(input.height));
    if (requested && *requested != own) {
      throw InputError("the model's input size is fixed at " + size_string(own) + " (HxW), but " +
                       size_string(*requested) + " was asked for; leave the size out");
    }
    return own;
  }
  if (!requested) {
    throw InputError("the model does not fix its input size (height " +
                     (input.height > 0 ? std::to_string(input.height) : std::string("?")) + ", width " +
                     (input.width > 0 ? std::to_string(input.width) : std::string("?")) +
                     "); give the size to resize images to, e.g. 224x224");
  }
  if (requested->width <= 0 || requested->height <= 0) {
    throw InputError("input size " + size_string(*requested) + " is not positive; give e.g. 224x224");
  }
  if ((input.height > 0 && input.height != requested->height) || (input.width > 0 && input.width != requested->width)) {
    throw InputError("the model fixes one side of its input (height " + std::to_string(input.height) + ", width " +
                     std::to_string(input.width) + "), which " + size_string(*requested) + " contradicts");
  }
  return *requested;
}

Image resize(const Image& image, cv::Size size, Fit fit) {
  if (size.width <= 0 || size.height <= 0) {
    throw InputError("cannot resize to " + size_string(size) + "; the size must be positive");
  }
  cv::Mat out;
  if (fit == Fit::stretch) {
    cv::resize(image.pixels(), out, size, 0, 0, cv::INTER_LINEAR);
  } else {
    // Scale so the image covers the target, then keep its centre.
    const double scale = std::max(double(size.width) / image.width(), double(size.height) / image.height());
    const cv::Size covering(std::max(size.width, static_cast<int>(std::lround(image.width() * scale))),
                            std::max(size.height, static_cast<int>(std::lround(image.height() * scale))));
    cv::Mat scaled;
    cv::resize(image.pixels(), scaled, covering, 0, 0, cv::INTER_LINEAR);
    const cv::Rect centre((covering.width - size.width) / 2, (covering.height - size.height) / 2, size.width,
                          size.height);
    out = scaled(centre).clone();
  }
  return Image(std::move(out), image.source(), image.original_size());
}

at::Tensor make_batch(const std::vector<Image>& images, const InputSpec& input, const Preprocess& preprocess,
                      cv::Size size) {
  if (images.empty()) throw InputError("no images to put in a batch; give at least one image");
  if (input.channels != 1 && input.channels != 3) {
    throw InputError("the model takes " + std::to_string(input.channels) +
                     " input channels; lumos feeds images as 3 (RGB/BGR) or 1 (grey)");
  }
  const bool grey = input.channels == 1;
  const int64_t channels = input.channels;
  std::array<float, 3> mean = preprocess.mean, stdev = preprocess.std;
  if (grey) {
    mean[0] = (mean[0] + mean[1] + mean[2]) / 3.f;
    stdev[0] = (stdev[0] + stdev[1] + stdev[2]) / 3.f;
  }
  // Pixels at the model's size and channel count; an image already at that size is used as it
  // is (resizing to its own size copies it unchanged).
  std::vector<cv::Mat> pixels;
  pixels.reserve(images.size());
  for (const auto& image : images) {
    cv::Mat p = image.pixels().size() == size ? image.pixels() : resize(image, size, preprocess.fit).pixels();
    if (grey) {
      cv::Mat g;
      cv::cvtColor(p, g, cv::COLOR_RGB2GRAY);
      p = g;
    }
    CV_Assert(p.isContinuous());
    pixels.push_back(p);
  }

  const int64_t n = static_cast<int64_t>(images.size()), area = int64_t{size.height} * size.width;
  const bool nchw = input.layout == Layout::NCHW;
  at::Tensor batch = nchw ? at::empty({n, channels, size.height, size.width}, at::kFloat)
                          : at::empty({n, size.height, size.width, channels}, at::kFloat);
  // Per channel, the value of each of the 256 pixel levels, computed with the same float
  // operations in the same order as torchvision's ToTensor + Normalize (x / divisor, - mean,
  // / std); then one pass per image, images in parallel (one parallel region per batch: LIME
  // and the servers make batches of many small images).
  std::array<std::array<float, 256>, 3> levels{};
  for (int64_t c = 0; c < channels; ++c) {
    for (int v = 0; v < 256; ++v) {
      levels[c][v] = (static_cast<float>(v) / preprocess.divisor - mean[c]) / stdev[c];
    }
  }
  at::parallel_for(0, n, 1, [&](int64_t begin, int64_t end) {
    for (int64_t b = begin; b < end; ++b) {
      const uint8_t* in = pixels[static_cast<size_t>(b)].ptr<uint8_t>();
      float* out = batch.data_ptr<float>() + b * channels * area;
      for (int64_t c = 0; c < channels; ++c) {
        const int64_t from = preprocess.bgr && !grey ? 2 - c : c;  // BGR models read the channels reversed
        const float* level = levels[c].data();
        float* plane = nchw ? out + c * area : out + c;
        const int64_t step = nchw ? 1 : channels;
        for (int64_t i = 0; i < area; ++i) plane[i * step] = level[in[i * channels + from]];
      }
    }
  });
  return batch;
}

}  // namespace lumos
