// Conv kernels the inference plan builds itself (model/onnx/graph.cpp), beside the registry's.
#pragma once

#include "model/onnx/op_registry.hpp"

namespace lumos::onnx {

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
