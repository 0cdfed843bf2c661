// Pointing game (Zhang et al. 2016) and its energy-based variant (Score-CAM, Wang et al. 2020).
#include "lumos/error.hpp"
#include "lumos/metrics.hpp"
#include "metrics/metric_inputs.hpp"

#include <ATen/ATen.h>

#include <cmath>

namespace lumos {
namespace {

void check_map_and_region(const at::Tensor& map, const at::Tensor& region, const std::string& metric) {
  if (!map.defined() || map.dim() != 2) throw InputError(metric + ": the map must be 2-D [H,W]");
  metrics_detail::check_map_values(map, metric + ": the map");
  if (!region.defined() || region.scalar_type() != at::kBool || !region.sizes().equals(map.sizes())) {
    throw InputError(metric + ": the region must be a bool mask of the map's size [" + std::to_string(map.size(0)) +
                     "," + std::to_string(map.size(1)) + "] (box_mask makes one from a box)");
  }
}

}  // namespace

at::Tensor box_mask(const Box& box, int64_t height, int64_t width) {
  const auto describe = [&] {
    return "box (x0 " + std::to_string(box.x0) + ", y0 " + std::to_string(box.y0) + ", x1 " + std::to_string(box.x1) +
           ", y1 " + std::to_string(box.y1) + ")";
  };
  if (box.x1 <= box.x0 || box.y1 <= box.y0) {
    throw InputError(describe() + " is empty: boxes are half-open, x0 < x1 and y0 < y1");
  }
  const int64_t x0 = std::max<int64_t>(box.x0, 0), y0 = std::max<int64_t>(box.y0, 0);
  const int64_t x1 = std::min(box.x1, width), y1 = std::min(box.y1, height);
  if (x1 <= x0 || y1 <= y0) {
    throw InputError(describe() + " lies outside the " + std::to_string(width) + "x" + std::to_string(height) +
                     " image");
  }
  at::Tensor mask = at::zeros({height, width}, at::kBool);
  mask.slice(0, y0, y1).slice(1, x0, x1).fill_(true);
  return mask;
}

at::Tensor boxes_region(const std::vector<Box>& boxes, int64_t picture_width, int64_t picture_height, int64_t height,
                        int64_t width) {
  const double sx = static_cast<double>(width) / static_cast<double>(picture_width);
  const double sy = static_cast<double>(height) / static_cast<double>(picture_height);
  at::Tensor region = at::zeros({height, width}, at::kBool);
  for (const auto& box : boxes) {
    const Box scaled{static_cast<int64_t>(std::floor(box.x0 * sx)), static_cast<int64_t>(std::floor(box.y0 * sy)),
                     static_cast<int64_t>(std::ceil(box.x1 * sx)), static_cast<int64_t>(std::ceil(box.y1 * sy))};
    region |= box_mask(scaled, height, width);
  }
  return region;
}

bool pointing_game_hit(const at::Tensor& map, const at::Tensor& region, double tolerance) {
  check_map_and_region(map, region, "pointing game");
  if (!(tolerance >= 0)) throw InputError("pointing game: the tolerance must be >= 0 pixels");
  const at::Tensor flat = map.reshape({-1});
  const int64_t peak = at::nonzero(flat == flat.max()).index({0, 0}).item<int64_t>();
  const int64_t height = map.size(0), width = map.size(1);
  const at::Tensor dy = at::arange(height, at::kDouble) - static_cast<double>(peak / width);
  const at::Tensor dx = at::arange(width, at::kDouble) - static_cast<double>(peak % width);
  const at::Tensor near = (dy.square().unsqueeze(1) + dx.square().unsqueeze(0)) <= tolerance * tolerance;
  return at::logical_and(near, region).any().item<bool>();
}

double energy_in_region(const at::Tensor& map, const at::Tensor& region) {
  check_map_and_region(map, region, "energy in region");
  const at::Tensor values = map.to(at::kDouble);
  const double total = values.sum().item<double>();
  if (total == 0) return 0;
  return values.masked_select(region).sum().item<double>() / total;
}

}  // namespace lumos
