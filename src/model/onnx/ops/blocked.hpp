// Kernels of the inference plan's blocked region (model/onnx/graph.cpp): runs of convolutions
// and the ops between them on oneDNN's blocked tensors (ATen's MKLDNN layout), what
// torch.jit.optimize_for_inference's graphs run. Each takes the values of its region in that
// layout; given anything else (a value given in place of one of the region's, another rank or
// type) it runs `fallback`, the step as the packed plan runs it, on dense values.
#pragma once

#include "model/onnx/op_registry.hpp"

namespace lumos::onnx {

// The region's entry: a 4-D float CPU value in oneDNN's blocked layout (others as they are).
Kernel to_blocked();
// The region's exit: a blocked value back in ordinary (NCHW contiguous) memory.
Kernel to_dense();
// A value as the graph's readers outside a plan take it: dense, contiguous.
at::Tensor dense_contiguous(const at::Tensor& value);

// A 2-D Conv with float constant weight [M, C/group, kH, kW] and bias [M] (undefined: none),
// its weight reordered once (per padding) into oneDNN's blocked layout, a ReLU after it when
// `relu`.
Kernel blocked_convolution(const Node& node, at::Tensor weight, at::Tensor bias, bool relu, Kernel fallback);
// Relu, Add (two values of the same shape), MaxPool (2-D, one output) and GlobalAveragePool.
Kernel blocked_relu(Kernel fallback);
Kernel blocked_add(Kernel fallback);
Kernel blocked_max_pool(const Node& node, Kernel fallback);
Kernel blocked_global_average_pool(Kernel fallback);

}  // namespace lumos::onnx
