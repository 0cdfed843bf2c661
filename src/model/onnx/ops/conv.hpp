// Conv kernels the inference plan builds itself (model/onnx/graph.cpp), beside the registry's.
#pragma once

#include "model/onnx/op_registry.hpp"
#include "model/onnx/ops/window.hpp"

namespace lumos::onnx {

// What the inference plan's own Conv kernels hold (packed here, blocked in ops/blocked.cpp): the
// node's window, its float constant weight and bias (undefined: none), whether a ReLU is fused,
// and the kernel to run on inputs they do not take.
struct PlannedConvolution {
  PlannedConvolution(const Node& node, at::Tensor weight, at::Tensor bias, bool relu, Kernel fallback)
      : attributes(read_window(node)),
        groups(node.i("group", 1)),
        weight(std::move(weight)),
        bias(std::move(bias)),
        relu(relu),
        fallback(std::move(fallback)) {}
  WindowAttributes attributes;
  int64_t groups;
  at::Tensor weight;  // the graph's constant (shared, not copied)
  at::Tensor bias;
  bool relu;
  Kernel fallback;
};

// Whether this LibTorch has oneDNN's prepacked convolution (mkldnn_prepacked::conv2d_prepack
// and conv2d_run, what torch.jit's frozen graphs call).
bool packed_convolutions_available();

// A 2-D Conv node whose weight [M, C/group, kH, kW] and bias [M] (undefined: none) are float
// constants, on oneDNN with the weight reordered once per input size into the layout its
// kernel wants, and a following ReLU fused when `relu`. Inference only (the op has no
// autograd). Inputs it does not take (other ranks or types) go to `plain`, the node's
// ordinary kernel, then the ReLU.
Kernel packed_convolution(const Node& node, at::Tensor weight, at::Tensor bias, bool relu, Kernel plain);

}  // namespace lumos::onnx
