// Reshaping layers: Flatten, Reshape and Permute work in Keras's axis order (so a
// following Dense meets its weights in the order Keras trained them); ZeroPadding2D,
// Cropping2D and UpSampling2D work on the spatial axes wherever they are stored.
#include "model/keras/layers/spatial.hpp"

#include <ATen/ATen.h>

#include <algorithm>
#include <array>
#include <limits>
#include <numeric>

namespace lumos::keras {
namespace {

// ((top, bottom), (left, right)) from an integer, a pair (symmetric) or a pair of pairs.
std::array<int64_t, 4> read_margins(LayerConfig& c, const std::string& key) {
  const auto& v = c.get(key);
  const auto fail = [&] { c.fail("option '" + key + "' should be an integer, two, or two pairs of integers"); };
  if (v.is_number_integer()) {
    const auto p = v.get<int64_t>();
    return {p, p, p, p};
  }
  if (!v.is_array() || v.size() != 2) fail();
  std::array<int64_t, 4> out{};
  for (size_t axis = 0; axis < 2; ++axis) {
    if (v[axis].is_number_integer()) {
      out[2 * axis] = out[2 * axis + 1] = v[axis].get<int64_t>();
    } else if (v[axis].is_array() && v[axis].size() == 2 && v[axis][0].is_number_integer() &&
               v[axis][1].is_number_integer()) {
      out[2 * axis] = v[axis][0].get<int64_t>();
      out[2 * axis + 1] = v[axis][1].get<int64_t>();
    } else {
      fail();
    }
  }
  for (auto m : out) {
    if (m < 0) fail();
  }
  return out;
}

const Value& image_input(const LayerCall& call) {
  const auto& x = call.input();
  if (x.rank() != 4) call.fail("needs an input of rank 4, got shape " + shape_string(x.shape));
  return x;
}

int64_t product(const std::vector<int64_t>& dims) {
  int64_t n = 1;
  for (auto d : dims) {
    if (d < 0) return -1;
    n *= d;
  }
  return n;
}

}  // namespace

LUMOS_KERAS_LAYER(Flatten, "Flatten") {
  // channels_first: Keras moves the channels last first, so a Dense sees channels-last order.
  const bool channels_last = call.config.channels_last();
  auto x = call.graph.keras_order(call.input());
  if (!channels_last && x.rank() > 2) {
    std::vector<int64_t> perm{0};
    for (int64_t i = 2; i < x.rank(); ++i) perm.push_back(i);
    perm.push_back(1);
    x.name = call.graph.node("Transpose", {x.name}, call.name + "/channels_last", {{"perm", perm}});
  }
  Value y = x;
  y.shape = {x.shape[0], product({x.shape.begin() + 1, x.shape.end()})};
  y.name = call.graph.node("Flatten", {x.name}, call.name, {{"axis", int64_t{1}}});
  return {y};
}

LUMOS_KERAS_LAYER(Reshape, "Reshape") {
  const auto& target = call.config.get("target_shape");
  if (!target.is_array()) call.fail("option 'target_shape' should be a list of sizes");
  const auto x = call.graph.keras_order(call.input());
  std::vector<int64_t> shape{0};  // ONNX's 0 keeps the batch size
  int64_t unknown = -1;
  for (const auto& d : target) {
    if (!d.is_number_integer() || d.get<int64_t>() == 0 || d.get<int64_t>() < -1) {
      call.fail("option 'target_shape' should hold positive sizes and at most one -1");
    }
    if (d.get<int64_t>() == -1) {
      if (unknown >= 0) call.fail("option 'target_shape' has more than one -1");
      unknown = static_cast<int64_t>(shape.size());
    }
    shape.push_back(d.get<int64_t>());
  }
  Value y = x;
  y.shape = shape;
  y.shape[0] = x.shape[0];
  const int64_t total = product({x.shape.begin() + 1, x.shape.end()});
  int64_t known = 1;
  for (size_t i = 1; i < shape.size(); ++i) known *= shape[i] > 0 ? shape[i] : 1;
  if (total >= 0 && (unknown >= 0 ? total % known != 0 : total != known)) {
    call.fail("cannot reshape " + shape_string(x.shape) + " to " + shape_string(y.shape));
  }
  if (unknown >= 0) y.shape[unknown] = total >= 0 ? total / known : -1;
  y.name = call.graph.node("Reshape", {x.name, call.graph.int64s(call.name + "/shape", shape)}, call.name);
  return {y};
}

LUMOS_KERAS_LAYER(Permute, "Permute") {
  const auto x = call.graph.keras_order(call.input());
  const auto& dims = call.config.get("dims");
  std::vector<int64_t> perm{0};
  if (dims.is_array()) {
    for (const auto& d : dims) perm.push_back(d.is_number_integer() ? d.get<int64_t>() : -1);
  }
  auto sorted = perm;
  std::sort(sorted.begin(), sorted.end());
  std::vector<int64_t> expected(x.rank());
  std::iota(expected.begin(), expected.end(), 0);
  if (sorted != expected) call.fail("option 'dims' " + dims.dump() + " is not a permutation of the axes 1.." + std::to_string(x.rank() - 1));
  Value y = x;
  for (size_t i = 0; i < perm.size(); ++i) y.shape[i] = x.shape[perm[i]];
  y.name = call.graph.node("Transpose", {x.name}, call.name, {{"perm", perm}});
  return {y};
}

LUMOS_KERAS_LAYER(ZeroPadding2D, "ZeroPadding2D") {
  auto& c = call.config;
  const auto margins = read_margins(c, "padding");  // top, bottom, left, right
  const bool channels_last = c.channels_last();
  const auto x = call.graph.channels_at_1(image_input(call), channels_last);
  Value y = x;
  const auto axes = spatial_axes(4, channels_last);
  for (size_t i = 0; i < 2; ++i) {
    if (y.shape[axes[i]] >= 0) y.shape[axes[i]] += margins[2 * i] + margins[2 * i + 1];
  }
  const auto pads = call.graph.int64s(call.name + "/pads", {0, 0, margins[0], margins[2], 0, 0, margins[1], margins[3]});
  y.name = call.graph.node("Pad", {x.name, pads}, call.name);
  return {y};
}

LUMOS_KERAS_LAYER(Cropping2D, "Cropping2D") {
  auto& c = call.config;
  const auto margins = read_margins(c, "cropping");
  const bool channels_last = c.channels_last();
  const auto x = call.graph.channels_at_1(image_input(call), channels_last);
  Value y = x;
  const auto axes = spatial_axes(4, channels_last);
  std::vector<int64_t> starts, ends;
  for (size_t i = 0; i < 2; ++i) {
    auto& size = y.shape[axes[i]];
    if (size >= 0) {
      size -= margins[2 * i] + margins[2 * i + 1];
      if (size <= 0) call.fail("crops away the whole image");
    }
    starts.push_back(margins[2 * i]);
    ends.push_back(margins[2 * i + 1] ? -margins[2 * i + 1] : std::numeric_limits<int64_t>::max());
  }
  y.name = call.graph.node("Slice",
                           {x.name, call.graph.int64s(call.name + "/starts", starts),
                            call.graph.int64s(call.name + "/ends", ends), call.graph.int64s(call.name + "/axes", {2, 3})},
                           call.name);
  return {y};
}

LUMOS_KERAS_LAYER(UpSampling2D, "UpSampling2D") {
  auto& c = call.config;
  const auto size = c.integers("size", 2, 2);
  const auto interpolation = c.choice("interpolation", {"nearest", "bilinear"});
  const bool channels_last = c.channels_last();
  const auto x = call.graph.channels_at_1(image_input(call), channels_last);
  Value y = x;
  const auto axes = spatial_axes(4, channels_last);
  for (size_t i = 0; i < 2; ++i) {
    if (size[i] < 1) c.fail("option 'size' should be positive");
    if (y.shape[axes[i]] >= 0) y.shape[axes[i]] *= size[i];
  }
  const auto scales = call.graph.constant(
      call.name + "/scales", at::tensor({1.f, 1.f, static_cast<float>(size[0]), static_cast<float>(size[1])}));
  // Nearest repeats each pixel (TensorFlow's resize without half-pixel centres for
  // whole factors); bilinear is tf.image.resize's, with half-pixel centres.
  const std::vector<Attribute> attributes =
      interpolation == "nearest"
          ? std::vector<Attribute>{{"mode", std::string("nearest")},
                                   {"coordinate_transformation_mode", std::string("asymmetric")},
                                   {"nearest_mode", std::string("floor")}}
          : std::vector<Attribute>{{"mode", std::string("linear")},
                                   {"coordinate_transformation_mode", std::string("half_pixel")}};
  y.name = call.graph.node("Resize", {x.name, "", scales}, call.name, attributes);
  return {y};
}

}  // namespace lumos::keras
