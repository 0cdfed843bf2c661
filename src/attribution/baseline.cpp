// What absent features become, in the model's input space.
#include "lumos/attribution.hpp"

#include "lumos/error.hpp"
#include "lumos/image.hpp"
#include "lumos/metrics.hpp"

#include <ATen/ATen.h>

#include <sstream>

namespace lumos {

Baseline Baseline::given(at::Tensor value) {
  if (!value.defined() || !at::isFloatingType(value.scalar_type())) {
    throw InputError("a given baseline must be a floating-point tensor");
  }
  Baseline baseline;
  baseline.kind = Kind::given;
  baseline.value = value.to(at::kFloat);
  return baseline;
}

Baseline Baseline::black(const InputSpec& input, const Preprocess& preprocess) {
  // Preprocessing is per pixel, so one black pixel gives the value of a black image: [C,1,1] or [1,1,C].
  const Image pixel(cv::Mat::zeros(1, 1, CV_8UC3));
  return given(make_batch({pixel}, input, preprocess, cv::Size(1, 1))[0]);
}

Baseline Baseline::blurred(int64_t size, double sigma) {
  if (size < 1 || size % 2 == 0 || !(sigma > 0)) {
    throw InputError("a blurred baseline needs an odd kernel size >= 1 and a sigma > 0, got size " +
                     std::to_string(size) + ", sigma " + std::to_string(sigma));
  }
  Baseline baseline;
  baseline.kind = Kind::blurred;
  baseline.blur_size = size;
  baseline.blur_sigma = sigma;
  return baseline;
}

Baseline Baseline::named(const std::string& name, const InputSpec& input, const Preprocess& preprocess) {
  if (name == "zero") return zero();
  if (name == "black") return black(input, preprocess);
  if (name == "blurred") return blurred();
  throw InputError("unknown baseline '" + name + "'; choose zero, black or blurred");
}

const std::vector<std::string>& Baseline::names() {
  static const std::vector<std::string> all = {"zero", "black", "blurred"};
  return all;
}

at::Tensor Baseline::of(const at::Tensor& batch, Layout layout) const {
  switch (kind) {
    case Kind::zero: return at::zeros_like(batch, batch.options().dtype(at::kFloat));
    case Kind::blurred: return rise_blur(batch, layout, blur_size, blur_sigma);
    case Kind::given: {
      const auto image = batch.sizes().slice(1);
      bool broadcasts = value.defined() && value.dim() <= static_cast<int64_t>(image.size());
      for (int64_t d = 1; broadcasts && d <= value.dim(); ++d) {
        const int64_t size = value.size(-d);
        broadcasts = size == 1 || size == image[image.size() - d];
      }
      if (!broadcasts) {
        throw InputError("the baseline of shape " + (value.defined() ? shape_string(value.sizes()) : "?") +
                         " does not broadcast to one image of shape " + shape_string(image) + " (" +
                         to_string(layout) + ")");
      }
      return value.expand(batch.sizes());
    }
  }
  return {};
}

std::string Baseline::describe() const {
  switch (kind) {
    case Kind::zero: return "zero";
    case Kind::given: return "given";
    case Kind::blurred:
    {
      std::ostringstream text;
      text << "blurred (" << blur_size << " px, sigma " << blur_sigma << ")";
      return text.str();
    }
  }
  return "";
}

}  // namespace lumos
