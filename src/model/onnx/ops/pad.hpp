// ONNX Pad's pads list, shared by the Pad kernel and the inference plan's Pad fold.
#pragma once

#include <cstdint>
#include <vector>

namespace lumos::onnx {

// ONNX's pads ([begin for each of `axes`..., end for each of `axes`...]) as a begin and an
// end for each dimension of a rank-`rank` input (0 where no axis names it). Throws
// ModelError if pads is not twice as long as axes or an axis is out of range.
struct DimensionPads {
  std::vector<int64_t> begin, end;
};
DimensionPads dimension_pads(const std::vector<int64_t>& pads, const std::vector<int64_t>& axes, int64_t rank);

}  // namespace lumos::onnx
