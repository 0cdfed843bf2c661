// The explain pipeline: a model, images and a request in; for each image its predictions and,
// for each target class, every requested method's explanation out, in memory. The lumos CLI,
// the Python module and the HTTP server are shells around it. Writers of files are separate:
// explanation_files.hpp (pictures, explanation.json, npy) and report.hpp (the HTML report).
//
//   auto model = lumos::Model::load("classifier.onnx");
//   lumos::ExplainRequest request;
//   request.methods = {"gradcam", "lime"};
//   auto results = lumos::explain(*model, {lumos::Image::load("cat.jpg")}, request);
//   const auto& gradcam = results[0].targets[0].methods[0];   // the top class's Grad-CAM
//   gradcam.map                                                // [H, W] float32 in [0, 1]
//
// Method names come from the method families registered in the library (method_family.hpp):
// the CAM methods (gradcam, gradcam++, …, gradcam-keras), lime, the gradient attributions (saliency,
// integrated-gradients, smoothgrad, guided-backprop, …) and occlusion, rise, kernelshap.
#pragma once

#include "lumos/image.hpp"
#include "lumos/labels.hpp"
#include "lumos/lime.hpp"
#include "lumos/metrics.hpp"
#include "lumos/model.hpp"
#include "lumos/render.hpp"
#include "lumos/target.hpp"

#include <ATen/core/Tensor.h>
#include <opencv2/core.hpp>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace lumos {

// ---- The request ----

// Options of the CAM methods (cam.hpp).
struct CamSettings {
  bool aug_smooth = false;    // mean over flips and scales (6 passes), as pytorch-grad-cam's
  bool eigen_smooth = false;  // first principal component instead of the channel sum
};

// Options of LIME (lime.hpp).
struct LimeSettings {
  int64_t samples = 1000;
  HideColor hide = HideColor::constant(0);  // the seed's hide_color=0; lime's own default is the segment mean
  // LIME segments the image at the model's input size scaled up to at least this many pixels a
  // side (quickshift finds only a handful of segments on a 112 px face); 0: the model's size.
  int min_side = 224;
};

struct ExplainRequest {
  // Method names (any spelling the registry knows: "Grad-CAM" is gradcam). May be empty: then
  // only predictions are made.
  std::vector<std::string> methods{"gradcam", "gradcam++", "lime"};
  // What to explain in each image; a class explained twice is explained once.
  std::vector<Target> targets{Target::top(1)};
  // Target layers of methods that look inside the model (CAMs); empty: the model's default.
  std::vector<std::string> layers;
  // Normalisation; none: the model's "preprocess" metadata, else imagenet (default_preprocess).
  std::optional<Preprocess> preprocess;
  // For models whose input size is open; none: the model's own size.
  std::optional<cv::Size> input_size;
  // Class names; none: the model's "labels" metadata, if any.
  std::optional<ClassLabels> labels;
  int64_t top_k = 5;                // predictions listed per image
  int64_t batch_size = 8;           // images per forward pass (a model with a fixed batch size sets its own)
  // perturbed inputs per forward pass (Score-CAM, Ablation-CAM, LIME, Occlusion, RISE, KernelSHAP)
  int64_t perturbation_batch = 64;
  // Perturbation forwards under CPU autocast bfloat16, on CPUs that compute in it natively
  // (cpu_has_native_bf16); elsewhere they stay float32 and the pipeline warns (warnings()).
  bool bf16 = false;
  uint64_t seed = 0;                // of every random draw (LIME, KernelSHAP, noise tunnels, RISE)
  CamSettings cam;
  LimeSettings lime;
  // Options of method families without fields of their own, "family.option" → value
  // (method_family.hpp lists what each registered family accepts). An unknown key is an error.
  std::map<std::string, std::string> options;
};

// ---- Results ----

// A number with a name, e.g. {"convergence_delta", 1e-4}.
struct NamedValue {
  std::string name;
  double value = 0;
};

// An explanation by image segments (LIME, KernelSHAP): a weight per segment.
struct SegmentAttribution {
  Segmentation segments;     // labels at the size the image was segmented at
  LinearExplanation linear;  // weights by |weight|, largest first; intercept, R², local prediction
  int64_t samples = 0;       // perturbed samples the weights were fitted on
};

// One method's explanation of one target class of one image.
struct MethodResult {
  std::string method;  // its canonical name: "gradcam", "lime"
  // [h, w] float32 in [0, 1], what overlays show: CAMs at the model's input size; a segment
  // explanation at its segmentation's size (positive weights over the largest). Writers
  // stretch it to the picture.
  at::Tensor map;
  at::Tensor raw;      // the method's own values (signed, per channel, …), when it has any
  bool empty = false;  // the map is zero everywhere: no positive evidence
  std::vector<std::string> warnings;
  std::vector<NamedValue> numbers;        // what else the method measured
  double time_ms = 0;                     // this image's share of the method's time
  std::vector<NamedValue> time_split_ms;  // parts of time_ms (LIME: segmentation, images, model, regression)
  std::optional<SegmentAttribution> segments;
  std::vector<Picture> pictures;          // pictures the method draws itself, besides the usual ones
};

// One target class of one image.
struct TargetResult {
  int64_t class_index = -1;
  std::string label;         // its name; "" when the classes have no names
  double score = 0;          // the model's score (logit or probability, as the model was loaded)
  double probability = 0;    // softmax of the scores
  std::vector<MethodResult> methods;  // in the request's order
};

struct Prediction {
  int64_t class_index = -1;
  std::string label;
  double score = 0;
  double probability = 0;
};

struct ImageResult {
  size_t index = 0;  // position among the inputs of the run
  std::string name;  // as given: the file's path, or the caller's name
  // The picture as loaded, at its own size. Empty when it could not be loaded, and for a
  // request without methods (which resizes each image as soon as it is loaded).
  std::optional<Image> image;
  cv::Size size;                         // the picture's size
  at::Tensor scores;                     // [classes] float32
  at::Tensor probabilities;              // [classes] float64, Model::probabilities of the scores
  std::vector<Prediction> predictions;   // the top_k classes, best first
  std::vector<TargetResult> targets;     // in the order the request names them
  std::vector<Box> boxes;                // its input's boxes
  std::string error;                     // why the image was not explained (unreadable, cancelled)
  bool cancelled = false;                // its input's `cancelled` said so

  bool ok() const { return error.empty(); }
};

// ---- Running ----

// One image to explain: a file to load, or an image already decoded.
struct ImageInput {
  std::string name;            // the file's path; for a decoded image, a name for messages and folders
  std::optional<Image> image;  // set: this image; empty: Image::load(name)
  std::vector<Target> targets;  // empty: the request's
  // Polled while the run goes on: true means this image is no longer wanted (a client left, a
  // deadline passed). Its result then says cancelled; the others go on.
  std::function<bool()> cancelled;
  // Where the object is, in the picture's pixels (a union of boxes): each method's result then
  // has the number "energy_in_box", the share of its map inside them (metrics.hpp).
  std::vector<Box> boxes;

  static ImageInput file(std::string path);
  static ImageInput decoded(Image image, std::string name = "");
};

struct ExplainProgress {
  size_t image = 0;       // the input being explained (its index)
  size_t images = 0;      // inputs in the run
  std::string method;     // the method under way
  int64_t done = 0;       // its steps done for this image (perturbed forwards, LIME samples)
  int64_t total = 0;
};

struct ExplainControl {
  std::function<void(const ExplainProgress&)> progress;
  // Polled between steps; true stops the run with CancelledError (results handed out before stay valid).
  std::function<bool()> cancel;
};

// What a run is, in words: for explanation.json and the report's settings line.
struct RunSummary {
  std::string model;       // the pipeline does not know the file; its caller fills this in
  std::string scores;      // model.score_description()
  std::string methods;     // "gradcam,gradcam++,lime"
  std::string targets;     // "top1"
  std::string preprocess;  // preset name
  std::vector<std::pair<std::string, std::string>> method_settings;  // ("CAM layer", "layer4"), …
};

class ExplainPipeline {
 public:
  // Settles everything that does not depend on an image: the preprocessing, input size,
  // labels, methods and their layers and options. Throws InputError naming what does not fit
  // (an unknown method, layer or option), ModelError for unusable metadata.
  ExplainPipeline(Model& model, ExplainRequest request);
  ~ExplainPipeline();
  ExplainPipeline(const ExplainPipeline&) = delete;
  ExplainPipeline& operator=(const ExplainPipeline&) = delete;

  // Explains the inputs batch_size at a time. Each image's result goes to `on_result` as soon
  // as it is known: one that cannot be loaded (ImageError) or was cancelled at once, the others
  // when their batch is done; ImageResult::index says which input it is. An input whose own
  // targets do not fit the model (a class out of range) is a result with that error. Any other
  // error stops the run and is thrown (InputError: the request's targets do not fit the model;
  // CancelledError; ModelError …).
  void run(const std::vector<ImageInput>& inputs, const std::function<void(ImageResult&&)>& on_result,
           const ExplainControl& control = {});
  // The same, every result in input order.
  std::vector<ImageResult> run(const std::vector<ImageInput>& inputs, const ExplainControl& control = {});

  // The request as it runs (bf16 off where the CPU has no native bfloat16).
  const ExplainRequest& request() const;
  // What the pipeline changed or doubts about the request, in words, one per line.
  const std::vector<std::string>& warnings() const;
  const std::vector<std::string>& methods() const;  // canonical names, in the request's order
  const Preprocess& preprocess() const;
  cv::Size input_size() const;
  const ClassLabels& labels() const;
  RunSummary summary() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

// The one-call form: explains `images` (already decoded) as `request` says.
std::vector<ImageResult> explain(Model& model, const std::vector<Image>& images, const ExplainRequest& request = {},
                                 const ExplainControl& control = {});

}  // namespace lumos
