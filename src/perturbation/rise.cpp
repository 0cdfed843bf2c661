// RISE (Petsiuk et al. 2018), as the paper's code (eclique/RISE, explanations.py): N masks of
// s x s random cells, each upsampled to (s + 1) * ceil(H/s) by linear interpolation
// (skimage.transform.resize, order 1, mode 'reflect') and cropped at a random shift; the image
// times each mask is scored (class probability), and
//   saliency = sum_i p_i * mask_i / (N * p1).
#include "perturbation/perturbation_method.hpp"

#include "lumos/error.hpp"
#include "perturbation/splitmix.hpp"

#include <ATen/ATen.h>

#include <cmath>

namespace lumos {
namespace {

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// Index i of a line of n samples, mirrored at the end samples (scipy.ndimage's 'mirror', which
// skimage calls 'reflect'): -1 -> 1, n -> n - 2.
int64_t mirrored(int64_t i, int64_t n) {
  if (n == 1) return 0;
  const int64_t period = 2 * (n - 1);
  i = std::abs(i) % period;
  return i < n ? i : period - i;
}

// [length, cells] weights of linear interpolation from `cells` samples to `upsampled` samples on
// pixel centres (scipy.ndimage.zoom with grid_mode=True), for output samples shift..shift+length-1.
at::Tensor interpolation(int64_t cells, int64_t upsampled, int64_t shift, int64_t length) {
  auto weights = at::zeros({length, cells}, at::kDouble);
  auto w = weights.accessor<double, 2>();
  const double scale = static_cast<double>(cells) / static_cast<double>(upsampled);
  for (int64_t r = 0; r < length; ++r) {
    const double at = (static_cast<double>(shift + r) + 0.5) * scale - 0.5;
    const double below = std::floor(at);
    const double t = at - below;
    const auto i = static_cast<int64_t>(below);
    w[r][mirrored(i, cells)] += 1 - t;
    w[r][mirrored(i + 1, cells)] += t;
  }
  return weights;
}

}  // namespace

RiseMasks random_rise_masks(int64_t count, int64_t cells, double probability, int64_t height, int64_t width,
                            uint64_t seed) {
  if (count < 1 || cells < 1 || height < 1 || width < 1) {
    throw InputError("RISE masks need a count, a cell count and a size of at least 1");
  }
  SplitMix64 random(seed);
  RiseMasks masks{at::empty({count, cells, cells}, at::kBool), at::empty({count, 2}, at::kLong)};
  auto kept = masks.cells.accessor<bool, 3>();
  auto shifts = masks.shifts.accessor<int64_t, 2>();
  const int64_t cell_height = ceil_div(height, cells), cell_width = ceil_div(width, cells);
  for (int64_t i = 0; i < count; ++i) {
    for (int64_t r = 0; r < cells; ++r) {
      for (int64_t col = 0; col < cells; ++col) kept[i][r][col] = random.unit() < probability;
    }
    shifts[i][0] = static_cast<int64_t>(random.unit() * static_cast<double>(cell_height));
    shifts[i][1] = static_cast<int64_t>(random.unit() * static_cast<double>(cell_width));
  }
  return masks;
}

at::Tensor rise_masks(const RiseMasks& masks, int64_t begin, int64_t end, int64_t height, int64_t width) {
  const auto& cells = masks.cells;
  if (!cells.defined() || cells.dim() != 3 || cells.size(1) != cells.size(2) || !masks.shifts.defined() ||
      masks.shifts.sizes() != at::IntArrayRef{cells.size(0), 2}) {
    throw InputError("RISE masks need cells [N, s, s] and shifts [N, 2]");
  }
  const int64_t s = cells.size(1);
  const int64_t up_height = (s + 1) * ceil_div(height, s), up_width = (s + 1) * ceil_div(width, s);
  const auto shifts = masks.shifts.to(at::kLong);
  const auto grid = cells.to(at::kDouble);
  auto out = at::empty({end - begin, height, width}, at::kFloat);
  for (int64_t i = begin; i < end; ++i) {
    const int64_t row_shift = shifts[i][0].item<int64_t>(), column_shift = shifts[i][1].item<int64_t>();
    if (row_shift < 0 || row_shift + height > up_height || column_shift < 0 || column_shift + width > up_width) {
      throw InputError("RISE mask " + std::to_string(i) + " is shifted outside its upsampled grid");
    }
    const auto rows = interpolation(s, up_height, row_shift, height);
    const auto columns = interpolation(s, up_width, column_shift, width);
    out[i - begin].copy_(at::matmul(at::matmul(rows, grid[i]), columns.t()));
  }
  return out;
}

namespace perturbation {

Attributed rise(const ImageContext& c) {
  const auto& o = c.options;
  const int64_t height = height_of(c), width = width_of(c);
  const auto masks = o.given_rise_masks ? *o.given_rise_masks
                                        : random_rise_masks(o.rise_masks, o.rise_cells, o.rise_probability, height,
                                                            width, o.seed);
  const int64_t count = masks.cells.size(0);
  auto saliency = at::zeros({height * width}, at::kDouble);
  at::Tensor batch_masks;
  score_perturbed(
      c, count,
      [&](int64_t begin, int64_t end) {
        batch_masks = rise_masks(masks, begin, end, height, width);
        return c.input * as_input_mask(c, batch_masks);
      },
      /*probability=*/true,
      [&](int64_t, int64_t, const at::Tensor& probabilities) {
        saliency += at::matmul(probabilities, batch_masks.flatten(1).to(at::kDouble));
      });
  Attributed result;
  result.values = (saliency / static_cast<double>(count) / o.rise_probability).view({height, width});
  return result;
}

}  // namespace perturbation
}  // namespace lumos
