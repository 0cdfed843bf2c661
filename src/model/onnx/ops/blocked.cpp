#include "model/onnx/ops/blocked.hpp"

#include "model/onnx/ops/conv.hpp"

#include <oneapi/dnnl/dnnl.hpp>

#include <array>
#include <map>
#include <memory>
#include <mutex>
#include <unordered_map>

namespace lumos::onnx {
namespace {

using dnnl::memory;

const dnnl::engine& cpu_engine() {
  static const dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  return engine;
}

memory::format_tag blocked_tag(int64_t block) {
  return block == 16 ? memory::format_tag::nChw16c : memory::format_tag::nChw8c;
}

// A region value: [N, C/b, H, W, b] float. Dense values given in place of one are 4-D.
bool is_blocked(const at::Tensor& t) {
  return t.defined() && t.dim() == 5 && (t.size(4) == 8 || t.size(4) == 16) && t.scalar_type() == at::kFloat;
}

// [N, C, H, W] (any memory format, C a multiple of b) in the blocked layout.
at::Tensor blocked(const at::Tensor& x, int64_t b) {
  const auto n = x.size(0), blocks = x.size(1) / b, h = x.size(2), w = x.size(3);
  auto out = at::empty({n, blocks, h, w, b}, x.options());
  out.permute({0, 1, 4, 2, 3}).copy_(x.view({n, blocks, b, h, w}));  // splitting C is a view in any memory format
  return out;
}

// A blocked value as [N, C, H, W] in `format` memory (channels-last between steps).
at::Tensor dense(const at::Tensor& blocked, at::MemoryFormat format = at::MemoryFormat::ChannelsLast) {
  const auto n = blocked.size(0), blocks = blocked.size(1), b = blocked.size(4);
  const auto h = blocked.size(2), w = blocked.size(3);
  auto out = at::empty({n, blocks * b, h, w}, blocked.options().memory_format(format));
  out.view({n, blocks, b, h, w}).copy_(blocked.permute({0, 1, 4, 2, 3}));
  return out;
}

// The step as the packed plan runs it, on its inputs made dense.
Tensors run_dense(const Kernel& fallback, const Tensors& in) {
  Tensors values(in);
  for (auto& t : values)
    if (is_blocked(t)) t = dense(t);
  return fallback(values);
}

// The executor hands a value over at its last use: a region value nobody else holds may be
// overwritten.
bool is_sole(const at::Tensor& t) { return t.use_count() == 1 && t.is_contiguous(); }

at::Tensor clamped(at::Tensor x, const Clamp& clamp) {
  if (clamp.high == std::numeric_limits<float>::infinity()) return x.clamp_min_(clamp.low);
  return x.clamp_(clamp.low, clamp.high);
}

void append_clamp(dnnl::post_ops& ops, const std::optional<Clamp>& clamp) {
  if (!clamp) return;
  if (clamp->low == 0 && clamp->high == std::numeric_limits<float>::infinity()) {
    ops.append_eltwise(1.0f, dnnl::algorithm::eltwise_relu, 0.0f, 0.0f);
  } else {
    ops.append_eltwise(1.0f, dnnl::algorithm::eltwise_clip, clamp->low, clamp->high);
  }
}

// `given` (plain layout `tag`) reordered into `layout`.
memory reordered(const at::Tensor& given, const memory::dims& dims, memory::format_tag tag,
                 const memory::desc& layout) {
  memory from({dims, memory::data_type::f32, tag}, cpu_engine(), given.data_ptr());
  memory to(layout, cpu_engine());
  dnnl::stream stream(cpu_engine());
  dnnl::reorder(from, to).execute(stream, from, to);
  stream.wait();
  return to;
}

// A convolution's output height and width for `window` on an input of `height` x `width`;
// nullopt where the window does not fit.
std::optional<std::array<int64_t, 2>> output_size(const Window& window, int64_t height, int64_t width) {
  std::array<int64_t, 2> size{height, width};
  for (int i = 0; i < 2; ++i) {
    const int64_t extent = (window.kernel[i] - 1) * window.dilations[i] + 1;
    const int64_t span = size[i] + window.pad_begin[i] + window.pad_end[i] - extent;
    if (span < 0) return std::nullopt;
    size[i] = span / window.strides[i] + 1;
  }
  return size;
}

// One input shape's convolution: the primitive, its weights in the layout it chose, and
// whether a depthwise convolution runs inside it (with its weights and bias).
struct ConvolutionPrimitive {
  dnnl::convolution_forward convolution;
  memory::desc source, destination, scratchpad;
  memory weights;
  std::vector<int64_t> output;  // [N, M/b, OH, OW, b]
  bool depthwise_fused = false;
  memory depthwise_weights, depthwise_bias;
};

struct OneDnnConvolution : PlannedConvolution {
  OneDnnConvolution(const Node& node, at::Tensor weight, at::Tensor bias, ConvolutionPostOps post_ops, int64_t block,
                    Kernel fallback, std::shared_ptr<OneDnnConvolution> depthwise = nullptr)
      : PlannedConvolution(node, weight.contiguous(), bias.defined() ? bias.contiguous() : bias, false,
                           std::move(fallback)),
        post_ops(post_ops),
        block(block),
        depthwise(std::move(depthwise)) {}
  ConvolutionPostOps post_ops;
  int64_t block;  // of its output's layout
  // The depthwise convolution run inside this one where oneDNN can (else after it).
  std::shared_ptr<OneDnnConvolution> depthwise;
  std::mutex mutex;
  std::map<std::vector<int64_t>, std::shared_ptr<const ConvolutionPrimitive>> primitives;  // by input layout

  // The primitive for `x` ([N, C, H, W] blocked, or contiguous), nullptr where its window leaves
  // no output (the fallback then reports it).
  std::shared_ptr<const ConvolutionPrimitive> primitive(const at::Tensor& x, const memory::dims& dims) {
    std::vector<int64_t> key(dims);
    key.push_back(is_blocked(x) ? x.size(4) : 0);
    const std::lock_guard<std::mutex> lock(mutex);
    const auto found = primitives.find(key);
    if (found != primitives.end()) return found->second;
    auto made = make(x, dims);
    primitives.emplace(std::move(key), made);
    return made;
  }

  std::shared_ptr<const ConvolutionPrimitive> make(const at::Tensor& x, const memory::dims& dims) const {
    const auto window = resolve_window(attributes, {dims[2], dims[3]}, weight.sizes().slice(2));
    const int64_t m = weight.size(0), b = block;
    const auto spatial = output_size(window, dims[2], dims[3]);
    if (!spatial) return nullptr;
    const memory::dims output{dims[0], m, (*spatial)[0], (*spatial)[1]}, strides(window.strides),
        pad_begin(window.pad_begin), pad_end(window.pad_end);
    memory::dims dilations;
    for (int64_t d : window.dilations) dilations.push_back(d - 1);  // oneDNN counts the gaps
    const auto f32 = memory::data_type::f32;
    const memory::desc source =
        memory::desc(dims, f32, is_blocked(x) ? blocked_tag(x.size(4)) : memory::format_tag::nchw);
    const memory::desc destination(output, f32, blocked_tag(block));
    memory::dims weight_dims(weight.sizes().begin(), weight.sizes().end());
    auto weight_tag = memory::format_tag::oihw;
    if (groups > 1) {
      weight_dims = {groups, m / groups, weight.size(1), weight.size(2), weight.size(3)};
      weight_tag = memory::format_tag::goihw;
    }
    const memory::desc any_weights(weight_dims, f32, memory::format_tag::any);
    const auto inference = dnnl::prop_kind::forward_inference;
    const auto direct = dnnl::algorithm::convolution_direct;
    const auto description =
        bias.defined() ? dnnl::convolution_forward::desc(inference, direct, source, any_weights,
                                                         memory::desc({m}, f32, memory::format_tag::x), destination,
                                                         strides, dilations, pad_begin, pad_end)
                       : dnnl::convolution_forward::desc(inference, direct, source, any_weights, destination, strides,
                                                         dilations, pad_begin, pad_end);
    dnnl::primitive_attr attr;
    // Scratch memory comes with each call, so one model can run on several threads at once.
    attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
    // The depthwise stage's window on this convolution's output (3x3, padding 1: the plan
    // fuses no other).
    const auto depthwise_window =
        depthwise ? resolve_window(depthwise->attributes, {output[2], output[3]}, {3, 3}) : Window{};
    const auto post_ops_attr = [&](bool with_depthwise) {
      dnnl::post_ops ops;
      if (post_ops.add) ops.append_sum(1.0f);
      append_clamp(ops, post_ops.clamp);
      if (with_depthwise) {
        ops.append_dw(f32, f32, f32, 3, depthwise_window.strides[0], 1, 0, {});
        append_clamp(ops, depthwise->post_ops.clamp);
      }
      attr.set_post_ops(ops);
      return attr;
    };
    std::optional<dnnl::convolution_forward::primitive_desc> chosen;
    std::optional<std::array<int64_t, 2>> depthwise_output;
    if (depthwise) depthwise_output = output_size(depthwise_window, output[2], output[3]);
    if (depthwise_output) {
      // oneDNN fuses it where its kernel can (a 1x1 convolution before, this ISA); the output
      // must be the one the depthwise Conv gives on its own.
      try {
        chosen.emplace(description, post_ops_attr(true), cpu_engine());
        const memory::desc expected({output[0], m, (*depthwise_output)[0], (*depthwise_output)[1]}, f32,
                                    blocked_tag(block));
        if (chosen->dst_desc() != expected) chosen.reset();
      } catch (const dnnl::error&) {
        chosen.reset();
      }
    }
    const bool depthwise_fused = chosen.has_value();
    if (!chosen) chosen.emplace(description, post_ops_attr(false), cpu_engine());
    auto made = std::make_shared<ConvolutionPrimitive>(ConvolutionPrimitive{
        dnnl::convolution_forward(*chosen), chosen->src_desc(), chosen->dst_desc(), chosen->scratchpad_desc(),
        reordered(weight, weight_dims, weight_tag, chosen->weights_desc()), {output[0], m / b, output[2], output[3], b},
        depthwise_fused, memory(), memory()});
    if (depthwise_fused) {
      made->output[2] = (*depthwise_output)[0];
      made->output[3] = (*depthwise_output)[1];
      const auto layout = [&](int argument) {
        return chosen->query_md(dnnl::query::exec_arg_md, DNNL_ARG_ATTR_POST_OP_DW | argument);
      };
      made->depthwise_weights =
          reordered(depthwise->weight, {m, 1, 1, 3, 3}, memory::format_tag::goihw, layout(DNNL_ARG_WEIGHTS));
      const auto depthwise_bias = depthwise->bias.defined() ? depthwise->bias : at::zeros({m}, weight.options());
      made->depthwise_bias = reordered(depthwise_bias, {m}, memory::format_tag::x, layout(DNNL_ARG_BIAS));
    }
    return made;
  }

  Tensors operator()(const Tensors& in) {
    const auto& x = in[0];
    const size_t convolution_inputs = in.size() - (post_ops.add ? 1 : 0);
    const auto then_depthwise = [&](Tensors out) { return depthwise ? (*depthwise)(out) : out; };
    const auto run_fallback = [&] {
      auto out = run_dense(fallback, Tensors(in.begin(), in.begin() + convolution_inputs));
      if (post_ops.add) out[0] = out[0] + (is_blocked(in.back()) ? dense(in.back()) : in.back());
      if (post_ops.clamp) out[0] = clamped(out[0], *post_ops.clamp);
      return then_depthwise(std::move(out));
    };
    const bool dense_input = x.defined() && x.dim() == 4 && x.scalar_type() == at::kFloat && x.device().is_cpu() &&
                             x.layout() == at::kStrided && x.numel() > 0;
    if (!is_blocked(x) && !dense_input) return run_fallback();
    // oneDNN's fast kernels read blocked inputs, or few channels (an image) in NCHW memory.
    const auto source = is_blocked(x) ? x : x.size(1) % block == 0 ? blocked(x, block) : x.contiguous();
    const memory::dims dims{x.size(0), x.size(1) * (is_blocked(x) ? x.size(4) : 1), x.size(2), x.size(3)};
    if (dims[0] == 0 || dims[1] != weight.size(1) * groups || !source.is_contiguous()) return run_fallback();
    const auto primitive = this->primitive(source, dims);
    if (!primitive) return run_fallback();
    at::Tensor out;
    if (post_ops.add) {
      const auto& residual = in.back();
      if (!is_blocked(residual) || residual.sizes() != at::IntArrayRef(primitive->output)) return run_fallback();
      out = is_sole(residual) ? residual : residual.clone(at::MemoryFormat::Contiguous);
    } else {
      out = at::empty(primitive->output, x.options());
    }
    const auto scratch_bytes = static_cast<int64_t>(primitive->scratchpad.get_size());
    const auto scratch = at::empty({scratch_bytes}, x.options().dtype(at::kByte));
    const auto& engine = cpu_engine();
    std::unordered_map<int, memory> args{
        {DNNL_ARG_SRC, memory(primitive->source, engine, source.data_ptr())},
        {DNNL_ARG_WEIGHTS, primitive->weights},
        {DNNL_ARG_DST, memory(primitive->destination, engine, out.data_ptr())},
        {DNNL_ARG_SCRATCHPAD, memory(primitive->scratchpad, engine, scratch.data_ptr())}};
    if (bias.defined()) {
      const memory::desc bias_layout({weight.size(0)}, memory::data_type::f32, memory::format_tag::x);
      args.emplace(DNNL_ARG_BIAS, memory(bias_layout, engine, bias.data_ptr()));
    }
    if (primitive->depthwise_fused) {
      args.emplace(DNNL_ARG_ATTR_POST_OP_DW | DNNL_ARG_WEIGHTS, primitive->depthwise_weights);
      args.emplace(DNNL_ARG_ATTR_POST_OP_DW | DNNL_ARG_BIAS, primitive->depthwise_bias);
    }
    dnnl::stream stream(engine);
    primitive->convolution.execute(stream, args);
    stream.wait();
    return primitive->depthwise_fused ? Tensors{out} : then_depthwise({out});
  }
};

}  // namespace

int64_t widest_channel_block() {
  static const int64_t channels = [] {
    const auto avx512 = static_cast<int>(dnnl::cpu_isa::avx512_core);
    return (static_cast<int>(dnnl::get_effective_cpu_isa()) & avx512) == avx512 ? 16 : 8;
  }();
  return channels;
}

Kernel to_dense() {
  return [](const Tensors& in) { return Tensors{is_blocked(in[0]) ? dense(in[0]) : in[0]}; };
}

at::Tensor dense_contiguous(const at::Tensor& value) {
  return is_blocked(value) ? dense(value, at::MemoryFormat::Contiguous) : value.contiguous();
}

Kernel blocked_convolution(const Node& node, at::Tensor weight, at::Tensor bias, ConvolutionPostOps post_ops,
                           int64_t block, Kernel fallback, const std::optional<DepthwiseStage>& depthwise) {
  std::shared_ptr<OneDnnConvolution> stage;
  if (depthwise) {
    stage = std::make_shared<OneDnnConvolution>(depthwise->node, depthwise->weight, depthwise->bias,
                                                ConvolutionPostOps{false, depthwise->clamp}, block, depthwise->fallback);
  }
  auto conv = std::make_shared<OneDnnConvolution>(node, std::move(weight), std::move(bias), post_ops, block,
                                                  std::move(fallback), std::move(stage));
  return [conv](const Tensors& in) { return (*conv)(in); };
}

Kernel blocked_clamp(Clamp clamp, Kernel fallback) {
  return [clamp, fallback](const Tensors& in) {
    if (!is_blocked(in[0])) return run_dense(fallback, in);
    return Tensors{clamped(is_sole(in[0]) ? in[0] : in[0].clone(at::MemoryFormat::Contiguous), clamp)};
  };
}

Kernel blocked_add(Kernel fallback) {
  return [fallback](const Tensors& in) {
    if (!is_blocked(in[0]) || !is_blocked(in[1]) || in[0].sizes() != in[1].sizes()) return run_dense(fallback, in);
    for (int i : {0, 1}) {
      if (!is_sole(in[i])) continue;
      auto sum = in[i];
      return Tensors{sum.add_(in[1 - i])};
    }
    return Tensors{at::add(in[0], in[1])};
  };
}

namespace {
// A blocked value [N, C/b, H, W, b] seen as N*C/b images of b channels in channels-last
// memory, the layout ATen's pools keep; and back.
at::Tensor as_channels_last(const at::Tensor& x) {
  return x.view({x.size(0) * x.size(1), x.size(2), x.size(3), x.size(4)}).permute({0, 3, 1, 2});
}
at::Tensor from_channels_last(const at::Tensor& y, int64_t n) {
  const auto blocks = y.size(0) / n;
  return y.permute({0, 2, 3, 1}).contiguous().view({n, blocks, y.size(2), y.size(3), y.size(1)});
}
}  // namespace

Kernel blocked_max_pool(const Node& node, Kernel fallback) {
  const auto attributes = read_window(node);
  return [attributes, fallback](const Tensors& in) {
    const auto& x = in[0];
    if (!is_blocked(x) || attributes.kernel.size() != 2) return run_dense(fallback, in);
    const auto window = resolve_window(attributes, {x.size(2), x.size(3)}, attributes.kernel);
    const auto padding = split_pool_padding(window);
    if (padding.has_extra()) return run_dense(fallback, in);
    const auto pooled = at::max_pool2d(as_channels_last(x), window.kernel, window.strides, padding.symmetric,
                                       window.dilations, attributes.ceil_mode);
    return Tensors{from_channels_last(pooled, x.size(0))};
  };
}

Kernel blocked_global_average_pool(Kernel fallback) {
  return [fallback](const Tensors& in) {
    if (!is_blocked(in[0])) return run_dense(fallback, in);
    return Tensors{in[0].mean({2, 3}, true)};
  };
}

}  // namespace lumos::onnx
