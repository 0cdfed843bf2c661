// Boxes files: where the object is in each image (lumos eval --boxes, lumos explain --boxes).
#pragma once

#include "lumos/metrics.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace lumos::cli {

struct BoxedImage {
  std::string name;              // the file as the boxes file names it
  std::optional<int64_t> truth;  // its class, when the file has a class column
  std::vector<Box> boxes;        // in the image's pixels, half-open; their union is the region
};

// A CSV file with a header naming the columns image, x0, y0, x1, y1 and optionally class; one box
// per line; several lines for one image make its region their union. Images in order of first
// appearance. Throws InputError naming the file and line of what is wrong.
std::vector<BoxedImage> read_boxes(const std::string& path);

}  // namespace lumos::cli
