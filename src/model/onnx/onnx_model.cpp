#include "model/onnx/onnx_model.hpp"

#include "lumos/error.hpp"

#include <ATen/ATen.h>
#include <c10/core/GradMode.h>
#include <c10/core/InferenceMode.h>

#include <algorithm>
#include <set>
#include <unordered_map>

namespace lumos::onnx {
namespace {

InputSpec input_spec(const ValueInfo& info, const std::string& path) {
  if (info.dims.size() != 4) {
    throw ModelError("'" + path + "' takes input '" + info.name + "' of rank " + std::to_string(info.dims.size()) +
                     " " + shape_string(info.dims) + "; lumos explains image classifiers with a 4-D input "
                     "(NCHW or NHWC)");
  }
  InputSpec spec;
  spec.name = info.name;
  spec.batch = info.dims[0];
  const auto& d = info.dims;
  auto is_channels = [](int64_t n) { return n == 1 || n == 3 || n == 4; };
  // NHWC when the last axis looks like colour channels and the second does not.
  if (is_channels(d[3]) && !is_channels(d[1])) {
    spec.layout = Layout::NHWC;
    spec.height = d[1];
    spec.width = d[2];
    spec.channels = d[3];
  } else {
    spec.layout = Layout::NCHW;
    spec.channels = d[1];
    spec.height = d[2];
    spec.width = d[3];
  }
  if (spec.channels < 0) spec.channels = 3;
  return spec;
}

// Levenshtein distance, for suggesting layer names.
size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = up;
    }
  }
  return row[b.size()];
}

// Layout of a 4-D value, followed through the ops that keep or change it. A Transpose
// is recognised by how it moves the axes of its input's shape.
Layout layout_after(const std::string& op, at::IntArrayRef in_shape, Layout in, at::IntArrayRef out_shape) {
  static const std::set<std::string> channels_first = {
      "Conv", "ConvTranspose", "MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool",
      "BatchNormalization", "InstanceNormalization", "LRN", "Resize", "Upsample"};
  if (channels_first.count(op)) return Layout::NCHW;
  if (op == "Transpose" && in_shape.size() == 4 && out_shape.size() == 4) {
    const auto& s = in_shape;
    const std::vector<int64_t> to_last{s[0], s[2], s[3], s[1]};
    const std::vector<int64_t> to_second{s[0], s[3], s[1], s[2]};
    if (in == Layout::NCHW && out_shape == at::IntArrayRef(to_last)) return Layout::NHWC;
    if (in == Layout::NHWC && out_shape == at::IntArrayRef(to_second)) return Layout::NCHW;
  }
  return in;
}

}  // namespace

OnnxModel::OnnxModel(const std::string& path, const LoadOptions& options) : path_(path), graph_(Graph::load(path)) {
  if (graph_.inputs().size() != 1) {
    throw ModelError("'" + path + "' takes " + std::to_string(graph_.inputs().size()) +
                     " inputs; lumos explains models with one image input");
  }
  if (graph_.outputs().empty()) throw ModelError("'" + path + "' has no outputs");
  input_ = input_spec(graph_.inputs().front(), path);

  const int output = graph_.slot(graph_.outputs().front().name);
  const bool ends_in_softmax = graph_.producer_op(output) == "Softmax";
  score_kind_ = options.score;
  if (options.score == Score::logits && ends_in_softmax) {
    score_slot_ = graph_.producer_input(output);
    score_description_ = "logits (the input of the model's final Softmax)";
  } else {
    score_slot_ = output;
    apply_softmax_ = options.score == Score::probability && !ends_in_softmax;
    score_description_ = options.score == Score::logits ? "logits (the model's output)"
                         : ends_in_softmax             ? "probabilities (the model's Softmax output)"
                                                       : "probabilities (softmax of the model's output)";
  }
}

void OnnxModel::check_batch(const at::Tensor& batch) const {
  std::vector<int64_t> expected = input_.layout == Layout::NCHW
                                      ? std::vector<int64_t>{input_.batch, input_.channels, input_.height, input_.width}
                                      : std::vector<int64_t>{input_.batch, input_.height, input_.width, input_.channels};
  bool ok = batch.dim() == 4;
  for (int i = 0; ok && i < 4; ++i) ok = expected[i] < 0 || expected[i] == batch.size(i);
  if (!ok) {
    throw InputError("input tensor has shape " + shape_string(batch.sizes()) + " but the model expects " +
                     shape_string(expected) + " (" + to_string(input_.layout) + "); resize the image to the model's "
                     "input size");
  }
}

at::Tensor OnnxModel::finish_scores(at::Tensor raw) const {
  if (raw.dim() < 2) {
    throw ModelError("'" + path_ + "' returns scores of rank " + std::to_string(raw.dim()) +
                     "; an image classifier returns [N, classes]");
  }
  if (raw.dim() != 2) raw = raw.flatten(1);
  if (!at::isfinite(raw).all().item<bool>()) {
    throw ModelError("'" + path_ + "' produced NaN or infinite scores for this input; check the preprocessing "
                     "(--preprocess, --mean/--std) and that the model file is intact");
  }
  return apply_softmax_ ? at::softmax(raw, 1) : raw;
}

at::Tensor OnnxModel::scores(const at::Tensor& batch) {
  check_batch(batch);
  c10::InferenceMode guard;
  return finish_scores(graph_.run({batch}, {score_slot_}).front());
}

Trace OnnxModel::trace(const at::Tensor& batch, const std::vector<std::string>& capture, bool grad) {
  check_batch(batch);
  std::unordered_map<int, std::string> wanted;
  for (const auto& name : capture) {
    const auto resolved = resolve_layer(name);
    wanted[graph_.slot(resolved)] = resolved;
  }
  Trace trace;
  c10::AutoGradMode grad_mode(grad);
  auto hook = [&](int slot, at::Tensor& value) {
    auto it = wanted.find(slot);
    if (it == wanted.end()) return;
    if (grad) value = value.detach().requires_grad_(true);
    trace.activations[it->second] = value;
  };
  trace.scores = finish_scores(graph_.run({batch}, {score_slot_}, hook).front());
  return trace;
}

at::Tensor OnnxModel::scores_given(const at::Tensor& batch, const std::string& layer, const at::Tensor& value) {
  check_batch(batch);
  if (value.size(0) != batch.size(0)) {
    throw InputError("the value given for layer '" + layer + "' holds " + std::to_string(value.size(0)) +
                     " images, the batch " + std::to_string(batch.size(0)));
  }
  c10::InferenceMode guard;
  return finish_scores(graph_.run({batch}, {score_slot_}, {}, {{graph_.slot(resolve_layer(layer)), value}}).front());
}

const std::vector<LayerInfo>& OnnxModel::layers() {
  if (layers_) return *layers_;
  // Shapes come from one forward pass at batch 1 on a zero image of the input size.
  if (input_.height < 0 || input_.width < 0) {
    throw ModelError("'" + path_ + "' does not fix its input size; layer shapes need one");
  }
  const auto sizes = input_.layout == Layout::NCHW
                         ? std::vector<int64_t>{1, input_.channels, input_.height, input_.width}
                         : std::vector<int64_t>{1, input_.height, input_.width, input_.channels};
  std::vector<LayerInfo> out;
  std::vector<Layout> layouts(graph_.num_slots(), Layout::NCHW);
  std::vector<std::vector<int64_t>> shapes(graph_.num_slots());
  c10::InferenceMode guard;
  auto hook = [&](int slot, at::Tensor& value) {
    const auto& op = graph_.producer_op(slot);
    const int from = graph_.producer_input(slot);
    shapes[slot] = value.sizes().vec();
    layouts[slot] = op == "input" ? input_.layout
                    : from >= 0   ? layout_after(op, shapes[from], layouts[from], value.sizes())
                                  : Layout::NCHW;
    out.push_back({graph_.slot_name(slot), op, shapes[slot], layouts[slot]});
  };
  graph_.run({at::zeros(sizes)}, {score_slot_}, hook);
  layers_ = std::move(out);
  return *layers_;
}

std::string OnnxModel::default_layer() {
  // A model may name its own CAM layer (the converter knows the architecture best).
  if (auto it = metadata().find("cam_layer"); it != metadata().end()) return resolve_layer(it->second);
  const auto& all = layers();
  // The last spatial 4-D value: later values are pooled, flattened or classified.
  for (auto it = all.rbegin(); it != all.rend(); ++it) {
    if (it->is_spatial() && it->op != "input") return it->name;
  }
  throw ModelError("'" + path_ + "' has no 4-D activation with spatial size > 1; name a layer explicitly");
}

std::string OnnxModel::resolve_layer(const std::string& name) {
  if (graph_.slot(name) >= 0) return name;
  if (int slot = graph_.node_output(name); slot >= 0) return graph_.slot_name(slot);
  std::vector<std::pair<size_t, std::string>> ranked;
  for (const auto& layer : layers()) ranked.emplace_back(edit_distance(name, layer.name), layer.name);
  std::sort(ranked.begin(), ranked.end());
  std::string hint;
  for (size_t i = 0; i < std::min<size_t>(3, ranked.size()); ++i) hint += (i ? ", '" : "'") + ranked[i].second + "'";
  throw LayerNotFoundError("no layer named '" + name + "' in '" + path_ + "'; closest: " + hint +
                           " (run `lumos layers -m MODEL` for the full list)");
}

}  // namespace lumos::onnx
