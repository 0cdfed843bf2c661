// Occlusion (Zeiler & Fergus 2014), as captum's Occlusion with a window over every channel:
// windows start every stride (the last ones clipped at the border), each is set to the
// baseline in turn, and a pixel's attribution is the mean over the windows covering it of
// score(image) - score(occluded image).
#include "perturbation/perturbation_method.hpp"

#include "lumos/error.hpp"

#include <ATen/ATen.h>

namespace lumos::perturbation {

Attributed occlusion(const ImageContext& c) {
  const auto& o = c.options;
  const int64_t height = height_of(c), width = width_of(c);
  if (o.window_height > height || o.window_width > width) {
    throw InputError("the occlusion window " + std::to_string(o.window_height) + "x" + std::to_string(o.window_width) +
                     " is larger than the input " + std::to_string(height) + "x" + std::to_string(width));
  }
  // captum: ceil((size - window) / stride) + 1 positions per axis; window k is at row
  // position k % rows and column position k / rows.
  const int64_t rows = (height - o.window_height + o.stride_height - 1) / o.stride_height + 1;
  const int64_t columns = (width - o.window_width + o.stride_width - 1) / o.stride_width + 1;
  struct Window {
    int64_t top, bottom, left, right;
  };
  auto window = [&](int64_t k) {
    const int64_t top = (k % rows) * o.stride_height, left = (k / rows) * o.stride_width;
    return Window{top, std::min(height, top + o.window_height), left, std::min(width, left + o.window_width)};
  };
  const bool nhwc = c.model.input().layout == Layout::NHWC;
  const int64_t row_axis = nhwc ? 1 : 2, column_axis = nhwc ? 2 : 3;
  auto total = at::zeros({height, width}, at::kDouble);
  auto covered = at::zeros({height, width}, at::kDouble);
  score_perturbed(
      c, rows * columns,
      [&](int64_t begin, int64_t end) {
        auto batch = c.input.repeat({end - begin, 1, 1, 1});
        for (int64_t k = begin; k < end; ++k) {
          const auto w = window(k);
          batch[k - begin]
              .narrow(row_axis - 1, w.top, w.bottom - w.top)
              .narrow(column_axis - 1, w.left, w.right - w.left)
              .copy_(c.baseline[0].narrow(row_axis - 1, w.top, w.bottom - w.top).narrow(column_axis - 1, w.left, w.right - w.left));
        }
        return batch;
      },
      /*probability=*/false,
      [&](int64_t begin, int64_t end, const at::Tensor& scores) {
        for (int64_t k = begin; k < end; ++k) {
          const auto w = window(k);
          const double drop = static_cast<double>(c.score) - scores[k - begin].item<double>();
          total.slice(0, w.top, w.bottom).slice(1, w.left, w.right).add_(drop);
          covered.slice(0, w.top, w.bottom).slice(1, w.left, w.right).add_(1);
        }
      });
  const auto pixels = total / covered;
  const int64_t channels = c.input.size(nhwc ? 3 : 1);
  Attributed result;
  result.values = nhwc ? pixels.unsqueeze(2).expand({height, width, channels}) : pixels.unsqueeze(0).expand({channels, height, width});
  return result;
}

}  // namespace lumos::perturbation
