// Kernels of the inference plan's blocked regions (model/onnx/graph.cpp): runs of convolutions
// and the ops between them in oneDNN's blocked layout nChw8c or nChw16c, what
// torch.jit.optimize_for_inference's graphs run. The convolutions call oneDNN directly, so a
// following Relu or Clip (ReLU6), a residual Add and a depthwise Conv after a 1x1 one run
// inside them as oneDNN post-ops; LibTorch's own MKLDNN tensors have no clamp, which kept
// MobileNets out of a region.
//
// A region value of shape [N, C, H, W] is an ordinary float tensor [N, C/b, H, W, b] holding
// that layout (b, the channel block, 8 or 16), so elementwise ops and pools run on it as ATen
// ops. Given a dense value instead (one given in place of a region's), a kernel runs `fallback`,
// the step as the packed plan runs it, and gives a dense value.
#pragma once

#include "model/onnx/op_registry.hpp"

#include <limits>
#include <optional>

namespace lumos::onnx {

// The channel block oneDNN's kernels on this CPU read fastest: 16 where they run AVX-512, else 8
// (its AVX2 kernels, which AVX-512 CPUs run too). A region's values have a multiple of its
// block channels.
int64_t widest_channel_block();

// A region's exit (its convolutions read dense values themselves): a blocked value back as an
// [N, C, H, W] tensor in channels-last memory.
Kernel to_dense();
// A value as the graph's readers outside a plan take it: dense, contiguous.
at::Tensor dense_contiguous(const at::Tensor& value);

// Elementwise bounds after a convolution: a Relu ({0, +inf}) or a Clip.
struct Clamp {
  float low = 0;
  float high = std::numeric_limits<float>::infinity();
};

// What a blocked convolution runs after the convolution itself, in this order, inside it.
struct ConvolutionPostOps {
  bool add = false;  // adds the value of the step's last input (a residual Add)
  std::optional<Clamp> clamp;
};

// A depthwise 3x3 Conv (stride 1 or 2, padding 1 on every side; weight [M, 1, 3, 3], bias [M]
// or undefined) that alone reads a 1x1 Conv's output, and the clamp after it: oneDNN runs it
// inside that convolution where its kernel can (a depthwise post-op: the 1x1 convolution's
// output, MobileNet's widest value, is never written out), else right after it. `fallback`
// is its packed step with its constants bound (input: x).
struct DepthwiseStage {
  Node node;
  at::Tensor weight;
  at::Tensor bias;
  std::optional<Clamp> clamp;
  Kernel fallback;
};

// A 2-D Conv with float constant weight [M, C/group, kH, kW] and bias [M] (undefined: none),
// M a multiple of `block` (8 or 16), on oneDNN: its input blocked or dense (a region's first
// convolution reads the dense value itself), its output blocked. Primitives and reordered
// weights are made once per input shape. `fallback` is the packed step (inputs x, weight[,
// bias]); the post-ops and the depthwise stage are applied after it.
Kernel blocked_convolution(const Node& node, at::Tensor weight, at::Tensor bias, ConvolutionPostOps post_ops,
                           int64_t block, Kernel fallback, const std::optional<DepthwiseStage>& depthwise = std::nullopt);
// Relu, Clip (constant bounds), Add (two values of the same shape), MaxPool (2-D, one output)
// and GlobalAveragePool.
Kernel blocked_clamp(Clamp clamp, Kernel fallback);
Kernel blocked_add(Kernel fallback);
Kernel blocked_max_pool(const Node& node, Kernel fallback);
Kernel blocked_global_average_pool(Kernel fallback);

}  // namespace lumos::onnx
