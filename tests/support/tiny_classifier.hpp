// A small image classifier for tests of the explain job: maps and scores are cheap, and the
// file is made on the spot.
#pragma once

#include "support/onnx_builder.hpp"

#include <cstdint>
#include <vector>

namespace lumos::testing {

// x[N,3,H,W] -> Conv(3->4, 3x3, pad 1) -> Relu -> GlobalAveragePool -> Flatten -> Softmax: 4 classes.
// `batch` -1 leaves the batch size open; -1 height or width leave the input size open.
inline OnnxBuilder tiny_classifier(int64_t height = 8, int64_t width = 8, int64_t batch = -1) {
  OnnxBuilder b;
  b.input("x", {batch, 3, height, width}).output("prob", {batch, 4});
  std::vector<float> w(4 * 3 * 3 * 3);
  for (size_t i = 0; i < w.size(); ++i) w[i] = static_cast<float>((i * 37) % 11) / 10.f - 0.45f;
  b.initializer("w", {4, 3, 3, 3}, w);
  b.initializer("b", {4}, {0.1f, -0.2f, 0.3f, 0.0f});
  OnnxBuilder::set_ints(b.node("Conv", {"x", "w", "b"}, {"conv"}, "conv"), "pads", {1, 1, 1, 1});
  b.node("Relu", {"conv"}, {"relu"}, "relu");
  b.node("GlobalAveragePool", {"relu"}, {"pool"}, "pool");
  b.node("Flatten", {"pool"}, {"flat"}, "flatten");
  b.node("Softmax", {"flat"}, {"prob"}, "softmax");
  return b;
}

}  // namespace lumos::testing
