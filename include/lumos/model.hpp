// The model a user wants explained: run it, and reach inside it.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace lumos {

enum class Layout { NCHW, NHWC };

std::string to_string(Layout layout);

// "[1,3,224,224]" for messages; "?" for a size the model file leaves open (-1).
std::string shape_string(at::IntArrayRef shape);

// What the model takes: one image tensor. Dimensions unknown in the file are -1.
struct InputSpec {
  std::string name;
  Layout layout = Layout::NCHW;
  // -1: any batch size. A model exported with a fixed batch (torch.onnx.export does this
  // unless told otherwise) still takes batches of any size: the Model runs them in pieces
  // of its own batch size.
  int64_t batch = -1;
  int64_t channels = 3;
  int64_t height = -1;
  int64_t width = -1;
};

// A value inside the model that can be captured (a target layer).
struct LayerInfo {
  std::string name;            // the value's name in the graph
  std::string op;              // the operator that produces it ("input" for the model input)
  std::vector<int64_t> shape;  // at batch 1, for the model's input size
  Layout layout = Layout::NCHW;  // meaningful for 4-D values only

  // A 4-D value with more than one spatial position: what CAM methods need.
  bool is_spatial() const;
};

// Which number the explained score is.
enum class Score {
  logits,       // pre-softmax scores; a trailing Softmax in the model is skipped
  probability,  // softmax output (the model's own when it ends in Softmax)
};

struct LoadOptions {
  Score score = Score::logits;
  // For a model whose file leaves its input's height and width open (OCR-style
  // classifiers): the size to run it at. Layer shapes, the default CAM layer and every
  // batch use it. 0: as the file says. A size that contradicts a fixed one is an InputError.
  int64_t height = 0;
  int64_t width = 0;
  // For a model with several outputs: the one that holds the class scores (default: the first).
  std::string output;
};

// The result of a forward pass that captured inner values.
struct Trace {
  at::Tensor scores;  // [N, classes]
  // Captured values by name. With grad, each is a leaf that requires grad, and the
  // forward continued from it: a backward from `scores` stops there.
  std::map<std::string, at::Tensor> activations;
};

class Model {
 public:
  // Loads an ONNX model, a Keras model (.keras, .h5) or a TF.js layers model (model.json
  // with its weight shards, or the directory holding them); the format is told by the
  // content. Throws ModelError (with the reason) if it cannot be used: unreadable or not a
  // regular file, not a model lumos knows, an unsupported op or layer, a malformed node,
  // an output that is not [N, classes]. Throws InputError if `options` do not fit the
  // model (an output it lacks, a size that contradicts its own).
  //
  // The scores of every method are [N, classes]. Outputs shaped [N] (one score) or
  // [N, classes, 1, ...] are read as [N, classes]; any other shape is an error. A model
  // ending in Softmax is explained by the Softmax's input (Score::logits) or its output
  // (Score::probability). One ending in Sigmoid is multi-label: each class is its own
  // yes/no, so logits are the Sigmoid's input and probabilities its output, one per
  // class, never a softmax across classes.
  static std::unique_ptr<Model> load(const std::string& path, const LoadOptions& options = {});

  virtual ~Model() = default;

  virtual const InputSpec& input() const = 0;

  // Every capturable value, in execution order, with its shape at batch 1 (at the
  // model's own batch size if it fixes one). Throws ModelError if the input size is open
  // and LoadOptions gave none.
  virtual const std::vector<LayerInfo>& layers() = 0;

  // The model's "cam_layer" metadata if it has one, else the last spatial 4-D value
  // before global pooling: the usual CAM target.
  virtual std::string default_layer() = 0;

  // Resolves a value name or node name to the value name; throws LayerNotFoundError
  // naming the closest existing layers.
  virtual std::string resolve_layer(const std::string& name) = 0;

  // Scores [N, classes] for a batch laid out as input() says, without autograd.
  virtual at::Tensor scores(const at::Tensor& batch) = 0;

  // Forward pass that captures the named values (see Trace).
  virtual Trace trace(const at::Tensor& batch, const std::vector<std::string>& capture, bool grad) = 0;

  // Scores [N, classes], without autograd, of a forward pass in which the named value is
  // `value` (laid out as the layer is) instead of what `batch` gives. Only what follows
  // the layer runs, plus any path from the input that bypasses it (Ablation-CAM ablates
  // channels this way, at the cost of the model's head only).
  virtual at::Tensor scores_given(const at::Tensor& batch, const std::string& layer, const at::Tensor& value) = 0;

  // How the scores were obtained, e.g. "logits (input of the final Softmax)".
  virtual std::string score_description() const = 0;

  // Which number scores() returns: logits, or probabilities (softmax already applied).
  virtual Score score_kind() const = 0;

  // Class probabilities from scores() (also inside an autograd graph): the scores as they
  // are when they are probabilities already; else a softmax across the classes, or a
  // sigmoid per class for a multi-label (Sigmoid) head and for a single score.
  virtual at::Tensor probabilities(const at::Tensor& scores) const = 0;

  // Key/value metadata stored in the model file. lumos reads "labels" (class names,
  // comma-separated), "preprocess" (a preset name) and "cam_layer" (the default CAM
  // layer) when the user gives none of them.
  virtual const std::map<std::string, std::string>& metadata() const = 0;
};

}  // namespace lumos
