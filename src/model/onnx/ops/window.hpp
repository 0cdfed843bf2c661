// The sliding-window attributes shared by Conv, ConvTranspose and the pools
// (kernel_shape, strides, dilations, pads, auto_pad, ceil_mode) and the padding
// arithmetic they imply. ONNX pads are [begin_1..begin_n, end_1..end_n]; ATen's
// convolution and pools pad both sides equally, so the rest is applied explicitly.
#pragma once

#include "lumos/error.hpp"
#include "model/onnx/op_registry.hpp"

#include <algorithm>
#include <limits>
#include <string>
#include <vector>

namespace lumos::onnx {

enum class AutoPad { NotSet, SameUpper, SameLower, Valid };

// The attributes as written; entries left out are filled once the spatial rank is known.
struct WindowAttributes {
  std::vector<int64_t> kernel;
  std::vector<int64_t> strides;
  std::vector<int64_t> dilations;
  std::vector<int64_t> pads;
  AutoPad auto_pad = AutoPad::NotSet;
  bool ceil_mode = false;
};

// A window resolved for one input: one entry per spatial dimension.
struct Window {
  std::vector<int64_t> kernel;
  std::vector<int64_t> strides;
  std::vector<int64_t> dilations;
  std::vector<int64_t> pad_begin;
  std::vector<int64_t> pad_end;
};

// `signature` with the window attributes' ranges: kernel sizes, strides and dilations
// positive, pads not negative, each at most kMaxExtent.
inline OpSignature window(OpSignature signature) {
  signature.range("kernel_shape", 1, kMaxExtent).range("strides", 1, kMaxExtent).range("dilations", 1, kMaxExtent);
  signature.range("pads", 0, kMaxExtent);
  return signature;
}

inline WindowAttributes read_window(const Node& node) {
  WindowAttributes a;
  a.kernel = node.ints("kernel_shape");
  a.strides = node.ints("strides");
  a.dilations = node.ints("dilations");
  a.pads = node.ints("pads");
  a.ceil_mode = node.i("ceil_mode", 0) != 0;
  const auto auto_pad = node.s("auto_pad", "NOTSET");
  if (auto_pad == "NOTSET") {
    a.auto_pad = AutoPad::NotSet;
  } else if (auto_pad == "SAME_UPPER") {
    a.auto_pad = AutoPad::SameUpper;
  } else if (auto_pad == "SAME_LOWER") {
    a.auto_pad = AutoPad::SameLower;
  } else if (auto_pad == "VALID") {
    a.auto_pad = AutoPad::Valid;
  } else {
    node.fail("auto_pad '" + auto_pad + "' is not one of NOTSET, SAME_UPPER, SAME_LOWER, VALID");
  }
  // auto_pad fixes the output size itself (ceil(in / stride) for SAME, whole windows for VALID).
  if (a.auto_pad != AutoPad::NotSet) a.ceil_mode = false;
  return a;
}

// Fills `values` (empty or of length n) with `fallback` if empty; throws ModelError otherwise.
inline std::vector<int64_t> per_dimension(const std::vector<int64_t>& values, size_t n, int64_t fallback,
                                          const char* what) {
  if (values.empty()) return std::vector<int64_t>(n, fallback);
  if (values.size() != n) {
    throw ModelError(std::string(what) + " has " + std::to_string(values.size()) + " entries for " +
                     std::to_string(n) + " spatial dimensions");
  }
  return values;
}

// Resolves the window for an input with spatial sizes `input`; `kernel` is the
// kernel size per spatial dimension (from kernel_shape or the weight).
inline Window resolve_window(const WindowAttributes& a, at::IntArrayRef input, at::IntArrayRef kernel) {
  const size_t n = input.size();
  Window w;
  w.kernel = kernel.vec();
  if (w.kernel.size() != n) {
    throw ModelError("the kernel has " + std::to_string(w.kernel.size()) + " spatial dimensions, the input " +
                     std::to_string(n));
  }
  w.strides = per_dimension(a.strides, n, 1, "strides");
  w.dilations = per_dimension(a.dilations, n, 1, "dilations");
  w.pad_begin.assign(n, 0);
  w.pad_end.assign(n, 0);
  if (a.auto_pad == AutoPad::NotSet) {
    const auto pads = per_dimension(a.pads, 2 * n, 0, "pads");
    for (size_t i = 0; i < n; ++i) {
      w.pad_begin[i] = pads[i];
      w.pad_end[i] = pads[n + i];
    }
  } else if (a.auto_pad != AutoPad::Valid) {
    // SAME: the output has ceil(input / stride) entries; the odd padding goes to the end
    // (SAME_UPPER) or the beginning (SAME_LOWER).
    for (size_t i = 0; i < n; ++i) {
      const int64_t out = (input[i] + w.strides[i] - 1) / w.strides[i];
      const int64_t extent = (w.kernel[i] - 1) * w.dilations[i] + 1;
      const int64_t total = std::max<int64_t>(0, (out - 1) * w.strides[i] + extent - input[i]);
      const int64_t smaller = total / 2;
      w.pad_begin[i] = a.auto_pad == AutoPad::SameUpper ? smaller : total - smaller;
      w.pad_end[i] = total - w.pad_begin[i];
    }
  }
  return w;
}

// ATen's padding list order (last dimension first, begin then end) for per-dimension pads.
inline std::vector<int64_t> aten_pad_order(const std::vector<int64_t>& begin, const std::vector<int64_t>& end) {
  std::vector<int64_t> out;
  for (size_t i = begin.size(); i-- > 0;) {
    out.push_back(begin[i]);
    out.push_back(end[i]);
  }
  return out;
}

// The window's padding split into the part an ATen op applies itself (equal on both
// sides, at most `limit[i]`) and the remainder, applied beforehand to the input.
struct PaddingSplit {
  std::vector<int64_t> symmetric;     // per spatial dimension, for the ATen op
  std::vector<int64_t> extra_begin;   // per spatial dimension, applied explicitly
  std::vector<int64_t> extra_end;
  bool has_extra() const {
    return std::any_of(extra_begin.begin(), extra_begin.end(), [](int64_t p) { return p != 0; }) ||
           std::any_of(extra_end.begin(), extra_end.end(), [](int64_t p) { return p != 0; });
  }
  // Pads the input's spatial (trailing) dimensions by the explicit part with `value`.
  at::Tensor apply(const at::Tensor& input, double value) const {
    return has_extra() ? at::constant_pad_nd(input, aten_pad_order(extra_begin, extra_end), value) : input;
  }
};

inline PaddingSplit split_padding(const Window& w, const std::vector<int64_t>& limit) {
  PaddingSplit s;
  for (size_t i = 0; i < w.pad_begin.size(); ++i) {
    const int64_t shared = std::max<int64_t>(0, std::min({w.pad_begin[i], w.pad_end[i], limit[i]}));
    s.symmetric.push_back(shared);
    s.extra_begin.push_back(w.pad_begin[i] - shared);
    s.extra_end.push_back(w.pad_end[i] - shared);
  }
  return s;
}

inline PaddingSplit split_padding(const Window& w) {
  return split_padding(w, std::vector<int64_t>(w.pad_begin.size(), std::numeric_limits<int64_t>::max()));
}

// ATen's pools pad both sides equally by at most half the kernel.
inline PaddingSplit split_pool_padding(const Window& window) {
  std::vector<int64_t> limit;
  for (auto k : window.kernel) limit.push_back(k / 2);
  return split_padding(window, limit);
}

}  // namespace lumos::onnx
