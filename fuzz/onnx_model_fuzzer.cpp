// The ONNX loader and executor on arbitrary bytes: parse, build the graph (every node
// checked against its op's signature), run every output on small inputs made from the
// declared types and shapes, then load it as a Model and take scores, layers and a
// gradient trace. Any lumos::Error (or an allocation that fails) is a clean refusal;
// a crash, a sanitizer report, another exception or a hang is a finding.
#include "lumos/error.hpp"
#include "model/onnx/graph.hpp"
#include "model/onnx/onnx_model.hpp"
#include "model/onnx/tensor_proto.hpp"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <onnx/onnx_pb.h>

#include <algorithm>

namespace {

using namespace lumos::onnx;

constexpr int64_t kMaxFeedElements = 4096;  // keeps each run fast

// A small deterministic tensor for a graph input, or undefined if none can be made.
at::Tensor feed_for(const ValueInfo& input) {
  c10::ScalarType type;
  try {
    type = scalar_type_from_onnx(input.elem_type ? input.elem_type : 1, "fuzz input");
  } catch (const lumos::ModelError&) {
    return {};
  }
  std::vector<int64_t> dims;
  int64_t count = 1;
  for (auto d : input.dims) {
    const int64_t size = d < 0 ? 2 : d;
    if (size > kMaxFeedElements || count * size > kMaxFeedElements) return {};
    dims.push_back(size);
    count *= size;
  }
  // Small integers: valid as indices, shapes and axes as often as not.
  return (at::arange(count, at::kLong).remainder(7) - 3).reshape(dims).to(type);
}

void run_graph(const Graph& graph) {
  Tensors feeds;
  for (const auto& input : graph.inputs()) {
    feeds.push_back(feed_for(input));
    if (!feeds.back().defined()) return;
  }
  std::vector<int> wanted;
  for (const auto& output : graph.outputs()) wanted.push_back(graph.slot(output.name));
  graph.run(feeds, wanted);
}

void run_model(Graph graph) {
  lumos::LoadOptions options;
  options.height = options.width = 8;  // used only if the model leaves them open
  OnnxModel model(std::move(graph), "fuzz.onnx", options);
  const auto& in = model.input();
  if (in.channels < 1 || in.channels * in.height * in.width > kMaxFeedElements) return;
  const auto sizes = in.layout == lumos::Layout::NCHW ? std::vector<int64_t>{3, in.channels, in.height, in.width}
                                                      : std::vector<int64_t>{3, in.height, in.width, in.channels};
  const auto batch = at::rand(sizes);
  model.scores(batch);
  model.layers();
  const auto layer = model.default_layer();
  const auto trace = model.trace(batch, {layer}, true);
  trace.scores.select(1, 0).sum().backward();
  model.scores_given(batch, layer, trace.activations.at(layer).detach() * 0.5);
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  at::set_num_threads(1);
  // Sizes given as data may make at most 16M elements here (64 MiB of float32), so a run
  // stays far inside libFuzzer's memory limit; the check is the same as at 2^30.
  set_max_created_elements(int64_t{1} << 24);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  ::onnx::ModelProto proto;
  if (!proto.ParseFromArray(data, static_cast<int>(size)) || !proto.has_graph()) return 0;
  try {
    Graph graph(proto, "");  // no folder: external data is refused
    run_graph(graph);
    run_model(std::move(graph));
  } catch (const lumos::Error&) {
  } catch (const std::bad_alloc&) {
  }
  return 0;
}
