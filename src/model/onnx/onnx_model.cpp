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

// The largest input side and batch lumos runs a model at; far above any classifier's.
constexpr int64_t kMaxInputSide = 16384;
constexpr int64_t kMaxInputBatch = 65536;

InputSpec input_spec(const ValueInfo& info, const std::string& path) {
  if (info.dims.size() != 4) {
    throw ModelError("'" + path + "' takes input '" + info.name + "' of rank " + std::to_string(info.dims.size()) +
                     " " + shape_string(info.dims) + "; lumos explains image classifiers with a 4-D input "
                     "(NCHW or NHWC)");
  }
  for (size_t d = 0; d < 4; ++d) {
    const int64_t most = d == 0 ? kMaxInputBatch : kMaxInputSide;
    if (info.dims[d] != -1 && (info.dims[d] < 1 || info.dims[d] > most)) {
      throw ModelError("'" + path + "' declares input '" + info.name + "' of shape " + shape_string(info.dims) +
                       ", which no image batch has (sizes 1 to " + std::to_string(most) + "); the file is corrupt");
    }
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

// Fixes the open height and width of `spec` to the size asked for; InputError if it
// contradicts a fixed side or is not a sensible size.
void apply_size(InputSpec& spec, const LoadOptions& options, const std::string& path) {
  if (options.height == 0 && options.width == 0) return;
  const auto asked = std::to_string(options.height) + "x" + std::to_string(options.width);
  if (options.height < 1 || options.width < 1 || options.height > kMaxInputSide || options.width > kMaxInputSide) {
    throw InputError("input size " + asked + " (HxW) is not one lumos runs a model at; give sides from 1 to " +
                     std::to_string(kMaxInputSide));
  }
  if ((spec.height > 0 && spec.height != options.height) || (spec.width > 0 && spec.width != options.width)) {
    throw InputError("'" + path + "' fixes its input size at " + shape_string({spec.height, spec.width}) +
                     " (HxW), which " + asked + " contradicts; leave the size out");
  }
  spec.height = options.height;
  spec.width = options.width;
}

// An output shape that is not [N, classes] read as such: [N] (one score) or
// [N, classes, 1, ...]. Open dims (-1) may still turn out right at run time.
bool is_scores_shape(at::IntArrayRef shape) {
  if (shape.empty()) return false;
  for (size_t d = 2; d < shape.size(); ++d) {
    if (shape[d] != 1 && shape[d] != -1) return false;
  }
  return true;
}

std::string output_names(const std::vector<ValueInfo>& outputs) {
  std::string names;
  for (const auto& o : outputs) names += (names.empty() ? "'" : ", '") + o.name + "'";
  return names;
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

OnnxModel::OnnxModel(const std::string& path, const LoadOptions& options)
    : OnnxModel(Graph::load(path), path, options) {}

OnnxModel::OnnxModel(Graph graph, const std::string& name, const LoadOptions& options,
                     std::optional<FrontEnd> front_end)
    : path_(name), graph_(std::move(graph)), front_end_(std::move(front_end)), metadata_(graph_.metadata()) {
  const auto& path = path_;
  if (graph_.inputs().size() != 1) {
    throw ModelError("'" + path + "' takes " + std::to_string(graph_.inputs().size()) +
                     " inputs; lumos explains models with one image input");
  }
  const auto& outputs = graph_.outputs();
  if (outputs.empty()) throw ModelError("'" + path + "' has no outputs");
  if (front_end_) {
    input_ = front_end_->input;
    for (const auto& [key, value] : front_end_->metadata) metadata_[key] = value;
  } else {
    input_ = input_spec(graph_.inputs().front(), path);
  }
  apply_size(input_, options, path);

  auto chosen = outputs.begin();
  if (!options.output.empty()) {
    chosen = std::find_if(outputs.begin(), outputs.end(), [&](const ValueInfo& o) { return o.name == options.output; });
    if (chosen == outputs.end()) {
      throw InputError("'" + path + "' has no output '" + options.output + "'; its outputs are " +
                       output_names(outputs));
    }
  }
  const std::string choose_another =
      outputs.size() > 1 ? "; choose the output that holds the class scores (--output NAME; the outputs are " +
                               output_names(outputs) + ")"
                         : "";
  if (!chosen->dims.empty() && !is_scores_shape(chosen->dims)) {
    throw ModelError("'" + path + "' output '" + chosen->name + "' has shape " + shape_string(chosen->dims) +
                     ", not [N, classes]: lumos explains classifiers, whose output holds one score per class" +
                     choose_another);
  }
  output_note_ = choose_another;

  score_kind_ = options.score;
  const int output = graph_.slot(chosen->name);
  const auto& head = graph_.producer_op(output);
  const std::string of_output = outputs.size() > 1 ? " '" + chosen->name + "'" : "";
  if (head == "Softmax" && options.score == Score::logits) {
    score_slot_ = graph_.producer_input(output);
    score_description_ = "logits (the input of the model's final Softmax" + of_output + ")";
  } else if (head == "Sigmoid") {
    // Multi-label: each class is its own yes/no; a softmax across them would mean nothing.
    multi_label_ = true;
    const bool logits = options.score == Score::logits;
    score_slot_ = logits ? graph_.producer_input(output) : output;
    score_description_ = logits ? "logits (the input of the model's final Sigmoid" + of_output + ", one per class)"
                                : "probabilities (the model's Sigmoid output" + of_output + ", one per class)";
  } else {
    score_slot_ = output;
    finish_ = options.score == Score::probability && head != "Softmax" ? Finish::probabilities : Finish::none;
    score_description_ = options.score == Score::logits ? "logits (the model's output" + of_output + ")"
                         : head == "Softmax"           ? "probabilities (the model's Softmax output" + of_output + ")"
                                                       : "probabilities (softmax of the model's output" + of_output +
                                                   "; sigmoid of a single score)";
  }
}

void OnnxModel::check_batch(const at::Tensor& batch) const {
  std::vector<int64_t> expected = input_.layout == Layout::NCHW
                                      ? std::vector<int64_t>{input_.batch, input_.channels, input_.height, input_.width}
                                      : std::vector<int64_t>{input_.batch, input_.height, input_.width, input_.channels};
  // Any batch size is run: a fixed one in pieces (in_model_batches).
  bool ok = batch.dim() == 4 && batch.size(0) >= 1;
  for (int i = 1; ok && i < 4; ++i) ok = expected[i] < 0 || expected[i] == batch.size(i);
  if (!ok) {
    expected[0] = -1;
    throw InputError("input tensor has shape " + shape_string(batch.sizes()) + " but the model expects " +
                     shape_string(expected) + " (" + to_string(input_.layout) + "); resize the image to the model's "
                     "input size");
  }
}

at::Tensor OnnxModel::finish_scores(at::Tensor raw, int64_t rows) const {
  const auto wrong = [&](const std::string& what) {
    return ModelError("'" + path_ + "' returns " + what + "; an image classifier returns [N, classes]" + output_note_);
  };
  if (!at::isFloatingType(raw.scalar_type())) {
    throw wrong(std::string(c10::toString(raw.scalar_type())) + " values of shape " + shape_string(raw.sizes()));
  }
  if (raw.dim() == 0 || raw.size(0) != rows) {
    throw wrong("scores of shape " + shape_string(raw.sizes()) + " for " + std::to_string(rows) + " image(s)");
  }
  if (!is_scores_shape(raw.sizes())) throw wrong("scores of shape " + shape_string(raw.sizes()));
  raw = raw.dim() == 1 ? raw.unsqueeze(1) : raw.flatten(1);
  if (raw.scalar_type() != at::kDouble) raw = raw.to(at::kFloat);
  if (!at::isfinite(raw).all().item<bool>()) {
    throw ModelError("'" + path_ + "' produced NaN or infinite scores for this input; check the preprocessing "
                     "(--preprocess, --mean/--std) and that the model file is intact");
  }
  return finish_ == Finish::probabilities ? probabilities_of_logits(raw) : raw;
}

at::Tensor OnnxModel::probabilities_of_logits(const at::Tensor& logits) const {
  return multi_label_ || logits.size(1) == 1 ? at::sigmoid(logits) : at::softmax(logits, 1);
}

at::Tensor OnnxModel::probabilities(const at::Tensor& scores) const {
  return score_kind_ == Score::probability ? scores : probabilities_of_logits(scores);
}

at::Tensor OnnxModel::in_model_batches(const Tensors& inputs, const Run& run) const {
  const int64_t rows = inputs.front().size(0);
  if (!needs_pieces(rows)) return run(inputs);
  const int64_t step = input_.batch;
  std::vector<at::Tensor> parts;
  for (int64_t begin = 0; begin < rows; begin += step) {
    const int64_t real = std::min(step, rows - begin);
    Tensors pieces;
    for (const auto& t : inputs) {
      auto piece = t.slice(0, begin, begin + real);
      if (real < step) {
        // The last piece is filled up with copies of its last image; their results are dropped.
        auto sizes = piece.sizes().vec();
        sizes[0] = step - real;
        piece = at::cat({piece, piece.slice(0, real - 1, real).detach().expand(sizes)});
      }
      pieces.push_back(piece);
    }
    const auto out = run(pieces);
    if (out.dim() == 0 || out.size(0) != step) {
      throw ModelError("'" + path_ + "' has a fixed batch of " + std::to_string(step) + " but made a value of shape " +
                       shape_string(out.sizes()) + " for it, so other batch sizes cannot be run in pieces; give "
                       "batches of exactly " + std::to_string(step) + " images");
    }
    parts.push_back(out.slice(0, 0, real));
  }
  return at::cat(parts);
}

at::Tensor OnnxModel::scores(const at::Tensor& batch) {
  check_batch(batch);
  c10::InferenceMode guard;
  const auto raw = in_model_batches({batch}, [&](const Tensors& pieces) {
    return graph_.run(pieces, {score_slot_}).front();
  });
  return finish_scores(raw, batch.size(0));
}

Trace OnnxModel::trace(const at::Tensor& batch, const std::vector<std::string>& capture, bool grad) {
  check_batch(batch);
  std::vector<std::string> layers;
  for (const auto& name : capture) layers.push_back(resolve_layer(name));
  if (needs_pieces(batch.size(0))) return trace_in_pieces(batch, layers, grad);
  std::unordered_map<int, std::string> wanted;
  for (const auto& layer : layers) wanted[graph_.slot(layer)] = layer;
  Trace trace;
  c10::AutoGradMode grad_mode(grad);
  auto hook = [&](int slot, at::Tensor& value) {
    auto it = wanted.find(slot);
    if (it == wanted.end()) return;
    if (grad) value = value.detach().requires_grad_(true);
    trace.activations[it->second] = value;
  };
  trace.scores = finish_scores(graph_.run({batch}, {score_slot_}, hook).front(), batch.size(0));
  return trace;
}

// A fixed-batch model traced on another batch size: first the layers' values for every
// image (in pieces, without autograd), made leaves; then the rest of the graph from
// slices of those leaves, piece by piece. A backward from the scores reaches the leaves
// through the slices, and stops there as in an ordinary trace.
Trace OnnxModel::trace_in_pieces(const at::Tensor& batch, const std::vector<std::string>& layers, bool grad) {
  std::vector<int> slots;
  for (const auto& layer : layers) slots.push_back(graph_.slot(layer));
  Tensors values;
  {
    c10::NoGradGuard no_grad;
    for (int slot : slots) {
      values.push_back(in_model_batches({batch}, [&](const Tensors& pieces) { return graph_.run(pieces, {slot}).front(); }));
    }
  }
  Trace trace;
  Tensors inputs{batch};
  for (size_t k = 0; k < slots.size(); ++k) {
    if (grad) values[k] = values[k].detach().requires_grad_(true);
    trace.activations[layers[k]] = values[k];
    inputs.push_back(values[k]);
  }
  c10::AutoGradMode grad_mode(grad);
  const auto raw = in_model_batches(inputs, [&](const Tensors& pieces) {
    Graph::GivenValues given;
    for (size_t k = 0; k < slots.size(); ++k) given[slots[k]] = pieces[k + 1];
    return graph_.run({pieces[0]}, {score_slot_}, {}, given).front();
  });
  trace.scores = finish_scores(raw, batch.size(0));
  return trace;
}

at::Tensor OnnxModel::scores_given(const at::Tensor& batch, const std::string& layer, const at::Tensor& value) {
  check_batch(batch);
  if (value.dim() == 0 || value.size(0) != batch.size(0)) {
    throw InputError("the value given for layer '" + layer + "' holds " +
                     std::to_string(value.dim() ? value.size(0) : 0) + " images, the batch " +
                     std::to_string(batch.size(0)));
  }
  const int slot = graph_.slot(resolve_layer(layer));
  c10::InferenceMode guard;
  const auto raw = in_model_batches({batch, value}, [&](const Tensors& pieces) {
    return graph_.run({pieces[0]}, {score_slot_}, {}, {{slot, pieces[1]}}).front();
  });
  return finish_scores(raw, batch.size(0));
}

const std::vector<LayerInfo>& OnnxModel::layers() {
  if (layers_) return *layers_;
  // Shapes come from one forward pass at batch 1 (or the model's own) on a zero image of the input size.
  if (input_.height < 0 || input_.width < 0) {
    throw ModelError("'" + path_ + "' does not fix its input size (" + shape_string({input_.height, input_.width}) +
                     ", HxW); give the size to run it at (--size HEIGHTxWIDTH, or LoadOptions height and width)");
  }
  const int64_t n = std::max<int64_t>(1, input_.batch);
  const auto sizes = input_.layout == Layout::NCHW
                         ? std::vector<int64_t>{n, input_.channels, input_.height, input_.width}
                         : std::vector<int64_t>{n, input_.height, input_.width, input_.channels};
  std::vector<LayerInfo> out;
  std::vector<Layout> layouts(graph_.num_slots(), Layout::NCHW);
  std::vector<std::vector<int64_t>> shapes(graph_.num_slots());
  c10::InferenceMode guard;
  auto hook = [&](int slot, at::Tensor& value) {
    const auto& op = graph_.producer_op(slot);
    const auto& name = graph_.slot_name(slot);
    const int from = graph_.producer_input(slot);
    shapes[slot] = value.sizes().vec();
    layouts[slot] = op == "input" ? input_.layout
                    : from >= 0   ? layout_after(op, shapes[from], layouts[from], value.sizes())
                                  : Layout::NCHW;
    std::string maker = op;
    if (front_end_) {
      if (!front_end_->layers.count(name)) return;
      if (auto it = front_end_->layouts.find(name); it != front_end_->layouts.end()) layouts[slot] = it->second;
      if (auto it = front_end_->makers.find(name); it != front_end_->makers.end()) maker = it->second;
    }
    out.push_back({name, maker, shapes[slot], layouts[slot]});
  };
  // Every output too: a trailing Softmax is not on the way to the logits.
  std::vector<int> wanted{score_slot_};
  for (const auto& output : graph_.outputs()) {
    const int slot = graph_.slot(output.name);
    if (std::find(wanted.begin(), wanted.end(), slot) == wanted.end()) wanted.push_back(slot);
  }
  graph_.run({at::zeros(sizes)}, wanted, hook);
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
  for (const auto& layer : layers()) {
    // A nested model's layer ("base/conv1") is what a bare "conv1" most likely meant.
    const bool nested = layer.name.size() > name.size() && layer.name.compare(layer.name.size() - name.size(), name.size(), name) == 0 &&
                        layer.name[layer.name.size() - name.size() - 1] == '/';
    ranked.emplace_back(nested ? 0 : edit_distance(name, layer.name), layer.name);
  }
  std::sort(ranked.begin(), ranked.end());
  std::string hint;
  for (size_t i = 0; i < std::min<size_t>(3, ranked.size()); ++i) hint += (i ? ", '" : "'") + ranked[i].second + "'";
  throw LayerNotFoundError("no layer named '" + name + "' in '" + path_ + "'; closest: " + hint +
                           " (run `lumos layers -m MODEL` for the full list)");
}

}  // namespace lumos::onnx
