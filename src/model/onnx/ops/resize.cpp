// Resize (opset 10, 11 on) and Upsample (opsets 7-9).
//
// Every ONNX mode is separable, so the resize runs one axis at a time (last axis first,
// as ONNX's reference does): each output entry maps to a source coordinate by the
// coordinate_transformation_mode, then takes the nearest entry or a weighted sum of the
// 2 (linear) or 4 (cubic) neighbours, edge-clamped. Index-selects and weighted sums keep
// it differentiable for any rank, mode and axis.
#include "lumos/error.hpp"
#include "model/onnx/op_registry.hpp"

#include <cmath>

namespace lumos::onnx {
namespace {

// The longest axis a Resize may make: far beyond any image, short enough that its
// per-entry tables stay small.
constexpr int64_t kMaxResizedLength = int64_t{1} << 24;

enum class Interpolation { Nearest, Linear, Cubic };
enum class Coordinates { HalfPixel, PytorchHalfPixel, AlignCorners, Asymmetric, TfHalfPixelForNn, TfCropAndResize };
enum class Rounding { RoundPreferFloor, RoundPreferCeil, Floor, Ceil };
enum class AspectPolicy { Stretch, NotLarger, NotSmaller };

struct ResizeSpec {
  Interpolation mode = Interpolation::Nearest;
  Coordinates coordinates = Coordinates::HalfPixel;
  Rounding rounding = Rounding::RoundPreferFloor;
  double cubic_a = -0.75;
  bool exclude_outside = false;
  double extrapolation = 0.0;
  std::vector<int64_t> axes;  // empty: all axes
  AspectPolicy policy = AspectPolicy::Stretch;
};

// What one call asks for, per resized axis: scales or sizes, and the crop box.
struct ResizeRequest {
  std::vector<double> scales;
  std::vector<int64_t> sizes;
  std::vector<double> roi;  // starts then ends; empty means the whole input
};

// One axis's resampling from `in` entries to `out`. ONNX's align_corners and
// crop-and-resize divide by the resized length scale * in, which need not be whole.
struct AxisResize {
  int64_t axis;
  int64_t in;
  int64_t out;
  double scale;
  double roi_start = 0.0;
  double roi_end = 1.0;
};

template <typename Enum>
Enum choose(const Node& node, const std::string& attribute, const std::string& fallback,
            const std::vector<std::pair<std::string, Enum>>& names) {
  const auto value = node.s(attribute, fallback);
  std::string known;
  for (const auto& [name, e] : names) {
    if (value == name) return e;
    known += (known.empty() ? "" : ", ") + name;
  }
  node.fail(attribute + " '" + value + "' is not one of " + known);
}

Interpolation read_mode(const Node& node) {
  return choose<Interpolation>(node, "mode", "nearest",
                               {{"nearest", Interpolation::Nearest},
                                {"linear", Interpolation::Linear},
                                {"bilinear", Interpolation::Linear},
                                {"cubic", Interpolation::Cubic}});
}

// Opset 10's Resize and Upsample: asymmetric coordinates, nearest rounds down.
ResizeSpec upsample_spec(const Node& node) {
  ResizeSpec spec;
  spec.mode = read_mode(node);
  if (spec.mode == Interpolation::Cubic) node.fail("mode 'cubic' needs Resize from opset 11");
  spec.coordinates = Coordinates::Asymmetric;
  spec.rounding = Rounding::Floor;
  return spec;
}

double source_coordinate(const AxisResize& a, const ResizeSpec& spec, int64_t j) {
  const double length = a.scale * static_cast<double>(a.in);
  switch (spec.coordinates) {
    case Coordinates::HalfPixel:
      return (j + 0.5) / a.scale - 0.5;
    case Coordinates::PytorchHalfPixel:
      return length == 1.0 ? 0.0 : (j + 0.5) / a.scale - 0.5;
    case Coordinates::AlignCorners:
      return length == 1.0 ? 0.0 : j * (a.in - 1) / (length - 1);
    case Coordinates::Asymmetric:
      return j / a.scale;
    case Coordinates::TfHalfPixelForNn:
      return (j + 0.5) / a.scale;
    case Coordinates::TfCropAndResize: {
      const double span = (a.roi_end - a.roi_start) * (a.in - 1);
      return a.roi_start * (a.in - 1) + (length == 1.0 ? span / 2 : j * span / (length - 1));
    }
  }
  return 0.0;
}

int64_t nearest_index(double x, Rounding rounding) {
  const double below = std::floor(x);
  if (x == below) return static_cast<int64_t>(x);
  const double fraction = x - below;
  bool up = false;
  switch (rounding) {
    case Rounding::RoundPreferFloor: up = fraction > 0.5; break;
    case Rounding::RoundPreferCeil: up = fraction >= 0.5; break;
    case Rounding::Floor: up = false; break;
    case Rounding::Ceil: up = true; break;
  }
  return static_cast<int64_t>(below) + (up ? 1 : 0);
}

// Weights of the neighbours floor(x) - 1 .. floor(x) + 2 at fraction r (Keys' cubic with a).
std::vector<double> cubic_weights(double r, double a) {
  const auto near = [a](double d) { return ((a + 2) * d - (a + 3)) * d * d + 1; };         // |d| <= 1
  const auto far = [a](double d) { return ((a * d - 5 * a) * d + 8 * a) * d - 4 * a; };    // 1 < |d| < 2
  return {far(r + 1), near(r), near(1 - r), far(2 - r)};
}

at::Tensor along_axis(std::vector<double> values, const at::Tensor& like, int64_t axis) {
  std::vector<int64_t> shape(like.dim(), 1);
  shape[axis] = static_cast<int64_t>(values.size());
  return at::tensor(values, like.options().dtype(at::kDouble)).to(like.scalar_type()).view(shape);
}

at::Tensor resample_axis(const at::Tensor& x, const AxisResize& a, const ResizeSpec& spec) {
  std::vector<double> coords(a.out);
  bool identity = a.out == a.in && spec.coordinates != Coordinates::TfCropAndResize;
  for (int64_t j = 0; j < a.out; ++j) {
    coords[j] = source_coordinate(a, spec, j);
    if (std::isnan(coords[j])) throw ModelError("the roi or scales give no source coordinate (NaN)");
    // Far outside the axis every neighbour is the edge; keeping the value near it keeps
    // the conversions to integers below defined.
    coords[j] = std::clamp(coords[j], -4.0, static_cast<double>(a.in) + 4.0);
    identity = identity && coords[j] == static_cast<double>(j);
  }
  if (identity) return x;
  const auto clamp = [&a](int64_t i) { return std::clamp<int64_t>(i, 0, a.in - 1); };

  at::Tensor y;
  if (spec.mode == Interpolation::Nearest) {
    std::vector<int64_t> index(a.out);
    for (int64_t j = 0; j < a.out; ++j) index[j] = clamp(nearest_index(coords[j], spec.rounding));
    y = x.index_select(a.axis, at::tensor(index, at::kLong));
  } else {
    const bool cubic = spec.mode == Interpolation::Cubic;
    const int taps = cubic ? 4 : 2;
    const int64_t first_offset = cubic ? -1 : 0;
    std::vector<std::vector<int64_t>> index(taps, std::vector<int64_t>(a.out));
    std::vector<std::vector<double>> weight(taps, std::vector<double>(a.out));
    for (int64_t j = 0; j < a.out; ++j) {
      const double below = std::floor(coords[j]);
      const double r = coords[j] - below;
      const auto w = cubic ? cubic_weights(r, spec.cubic_a) : std::vector<double>{1 - r, r};
      double total = 0.0;
      for (int t = 0; t < taps; ++t) {
        const int64_t source = static_cast<int64_t>(below) + first_offset + t;
        const bool outside = source < 0 || source >= a.in;
        index[t][j] = clamp(source);
        weight[t][j] = spec.exclude_outside && outside ? 0.0 : w[t];
        total += weight[t][j];
      }
      if (spec.exclude_outside)
        for (int t = 0; t < taps; ++t) weight[t][j] /= total;
    }
    for (int t = 0; t < taps; ++t) {
      auto term = x.index_select(a.axis, at::tensor(index[t], at::kLong)) * along_axis(weight[t], x, a.axis);
      y = y.defined() ? y + term : term;
    }
  }
  if (spec.coordinates == Coordinates::TfCropAndResize) {
    std::vector<double> outside(a.out);
    for (int64_t j = 0; j < a.out; ++j) outside[j] = coords[j] < 0 || coords[j] > a.in - 1 ? 1.0 : 0.0;
    y = y.masked_fill(along_axis(outside, y, a.axis).to(at::kBool), spec.extrapolation);
  }
  return y;
}

at::Tensor resize(const at::Tensor& x, const ResizeSpec& spec, const ResizeRequest& request) {
  const int64_t rank = x.dim();
  std::vector<int64_t> axes = spec.axes;
  if (axes.empty())
    for (int64_t d = 0; d < rank; ++d) axes.push_back(d);
  const size_t n = axes.size();
  const bool by_sizes = request.scales.empty();
  const size_t given = by_sizes ? request.sizes.size() : request.scales.size();
  if (given != n) {
    throw ModelError(std::string(by_sizes ? "sizes" : "scales") + " has " + std::to_string(given) + " entries for " +
                     std::to_string(n) + " resized axes");
  }
  if (!request.roi.empty() && request.roi.size() != 2 * n) {
    throw ModelError("roi has " + std::to_string(request.roi.size()) + " entries; " + std::to_string(2 * n) +
                     " expected (start and end per axis)");
  }
  const bool crop = spec.coordinates == Coordinates::TfCropAndResize;
  std::vector<AxisResize> plan;
  for (size_t i = 0; i < n; ++i) {
    AxisResize a;
    a.axis = axes[i] < 0 ? axes[i] + rank : axes[i];
    if (a.axis < 0 || a.axis >= rank) throw ModelError("axis " + std::to_string(axes[i]) + " is out of range");
    a.in = x.size(a.axis);
    if (crop && !request.roi.empty()) {
      a.roi_start = request.roi[i];
      a.roi_end = request.roi[n + i];
    }
    double out = 0;
    if (by_sizes) {
      out = static_cast<double>(request.sizes[i]);
    } else {
      a.scale = request.scales[i];
      if (!(a.scale > 0) || !std::isfinite(a.scale)) throw ModelError("scales must be positive numbers");
      const double extent = crop ? a.roi_end - a.roi_start : 1.0;
      out = std::floor(a.in * extent * a.scale);
    }
    // Checked as a double, before it becomes an integer (and a buffer of that length).
    if (!(out >= 0 && out <= kMaxResizedLength) || a.in == 0) {
      throw ModelError("cannot resize an axis of size " + std::to_string(a.in) + " to " + std::to_string(out) +
                       " (at most " + std::to_string(kMaxResizedLength) + " entries per axis)");
    }
    a.out = static_cast<int64_t>(out);
    if (by_sizes) a.scale = static_cast<double>(a.out) / a.in;
    plan.push_back(a);
  }
  if (by_sizes && spec.policy != AspectPolicy::Stretch) {
    // keep_aspect_ratio_policy: one scale for all axes, the largest that fits inside
    // (not_larger) or the smallest that covers (not_smaller) the requested sizes.
    double scale = plan.front().scale;
    for (const auto& a : plan)
      scale = spec.policy == AspectPolicy::NotLarger ? std::min(scale, a.scale) : std::max(scale, a.scale);
    for (auto& a : plan) {
      a.scale = scale;
      a.out = static_cast<int64_t>(std::floor(scale * a.in + 0.5));
    }
  }
  // Axes are resampled last first: check the size after each step before any runs.
  auto sizes = x.sizes().vec();
  for (size_t i = n; i-- > 0;) {
    sizes[plan[i].axis] = plan[i].out;
    check_created(sizes, "Resize");
  }
  // Nothing to compute (and no per-entry tables to build for the other axes).
  if (std::find(sizes.begin(), sizes.end(), 0) != sizes.end()) return at::empty(sizes, x.options());
  const bool integral = !at::isFloatingType(x.scalar_type());
  const bool blends = spec.mode != Interpolation::Nearest;
  at::Tensor y = integral && blends ? x.to(at::kFloat) : x;
  for (size_t i = n; i-- > 0;) y = resample_axis(y, plan[i], spec);
  return integral && blends ? y.round().to(x.scalar_type()) : y;
}

std::vector<double> float_values(const at::Tensor& t) {
  const auto values = t.to(at::kDouble).contiguous();
  return std::vector<double>(values.data_ptr<double>(), values.data_ptr<double>() + values.numel());
}

std::vector<int64_t> int_values(const at::Tensor& t) {
  const auto values = t.to(at::kLong).contiguous();
  return std::vector<int64_t>(values.data_ptr<int64_t>(), values.data_ptr<int64_t>() + values.numel());
}

bool given(const Tensors& in, size_t i) { return in.size() > i && in[i].defined() && in[i].numel() > 0; }

// Scales arrive as float32; converting them exactly keeps ONNX's arithmetic.
std::vector<double> as_doubles(const std::vector<float>& values) { return {values.begin(), values.end()}; }

}  // namespace

LUMOS_ONNX_OP(Upsample7, "Upsample", 7, 8, inputs(1)) {
  const auto spec = upsample_spec(node);
  const auto scales = as_doubles(node.floats("scales"));
  if (scales.empty()) node.fail("the scales attribute is required");
  return [spec, scales](const Tensors& in) { return Tensors{resize(in[0], spec, {scales, {}, {}})}; };
}

LUMOS_ONNX_OP(Upsample9, "Upsample", 9, 9, inputs(2)) {
  const auto spec = upsample_spec(node);
  return [spec](const Tensors& in) { return Tensors{resize(in[0], spec, {float_values(in[1]), {}, {}})}; };
}

LUMOS_ONNX_OP(Resize10, "Resize", 10, 10, inputs(2)) {
  const auto spec = upsample_spec(node);
  return [spec](const Tensors& in) { return Tensors{resize(in[0], spec, {float_values(in[1]), {}, {}})}; };
}

// Inputs X, roi, scales, sizes (exactly one of scales and sizes given).
LUMOS_ONNX_OP(Resize, "Resize", 11, kLatestOpset, inputs(1, 4)) {
  if (node.i("antialias", 0) != 0) {
    throw UnsupportedOpError(node.describe() + ": antialias = 1 is not supported; export without antialiasing");
  }
  ResizeSpec spec;
  spec.mode = read_mode(node);
  spec.coordinates = choose<Coordinates>(node, "coordinate_transformation_mode", "half_pixel",
                                         {{"half_pixel", Coordinates::HalfPixel},
                                          {"pytorch_half_pixel", Coordinates::PytorchHalfPixel},
                                          {"align_corners", Coordinates::AlignCorners},
                                          {"asymmetric", Coordinates::Asymmetric},
                                          {"tf_half_pixel_for_nn", Coordinates::TfHalfPixelForNn},
                                          {"tf_crop_and_resize", Coordinates::TfCropAndResize}});
  spec.rounding = choose<Rounding>(node, "nearest_mode", "round_prefer_floor",
                                   {{"round_prefer_floor", Rounding::RoundPreferFloor},
                                    {"round_prefer_ceil", Rounding::RoundPreferCeil},
                                    {"floor", Rounding::Floor},
                                    {"ceil", Rounding::Ceil}});
  spec.policy = choose<AspectPolicy>(node, "keep_aspect_ratio_policy", "stretch",
                                     {{"stretch", AspectPolicy::Stretch},
                                      {"not_larger", AspectPolicy::NotLarger},
                                      {"not_smaller", AspectPolicy::NotSmaller}});
  spec.cubic_a = node.f("cubic_coeff_a", -0.75f);
  spec.exclude_outside = node.i("exclude_outside", 0) != 0;
  spec.extrapolation = node.f("extrapolation_value", 0.0f);
  spec.axes = node.ints("axes");
  return [spec](const Tensors& in) {
    ResizeRequest request;
    if (given(in, 1)) request.roi = float_values(in[1]);
    if (given(in, 2)) {
      request.scales = float_values(in[2]);
    } else if (given(in, 3)) {
      request.sizes = int_values(in[3]);
    } else {
      throw ModelError("Resize needs either scales or sizes");
    }
    return Tensors{resize(in[0], spec, request)};
  };
}

}  // namespace lumos::onnx
