// LIME for images, as marcotcr/lime's LimeImageExplainer + LimeBase compute it:
// superpixels → Bernoulli(½) on/off samples (row 0 = the image itself) → model scores
// on the perturbed images → a locally weighted linear surrogate per explained label.
#pragma once

#include "lumos/error.hpp"
#include "lumos/segmentation.hpp"

#include <ATen/core/Tensor.h>
#include <opencv2/core/mat.hpp>

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace lumos {

class Model;
struct Preprocess;

// ---- The surrogate regression (lime_base.LimeBase.explain_instance_with_data) ----

enum class FeatureSelection {
  automatic,          // forward_selection if num_features <= 6, else highest_weights
  highest_weights,    // largest |coef| of a Ridge(α=0.01) on all segments
  forward_selection,  // greedily add the segment that most raises the weighted R²
  lasso_path,         // the last step of the LARS-lasso path with <= num_features segments
  none,               // all segments
};

FeatureSelection parse_feature_selection(const std::string& name);  // "auto", "highest_weights", …
std::string to_string(FeatureSelection selection);

struct RegressionOptions {
  int num_features = 100000;  // lime's default: every segment
  FeatureSelection feature_selection = FeatureSelection::automatic;
  double kernel_width = 0.25;
};

struct SegmentWeight {
  int segment;
  double weight;
};

struct LinearExplanation {
  double intercept = 0;
  std::vector<SegmentWeight> weights;  // the selected segments by |weight|, largest first
  double score = 0;                    // weighted R² of the surrogate on the samples
  double local_prediction = 0;         // the surrogate at row 0 (the unperturbed image)
};

// Cosine distance of every row of `data` [N, S] to row 0, as sklearn's pairwise_distances.
at::Tensor cosine_distances_to_first(const at::Tensor& data);

// lime_base's step for one label: `data` [N, S] of 0/1, `target` [N] the label's scores,
// `distances` [N]. Sample weights are sqrt(exp(-d²/kernel_width²)). Doubles throughout.
LinearExplanation explain_with_data(const at::Tensor& data, const at::Tensor& target, const at::Tensor& distances,
                                    const RegressionOptions& options = {});

// ---- Perturbation ----

// What a hidden segment shows.
struct HideColor {
  enum class Kind { segment_mean, constant, blur };
  Kind kind = Kind::segment_mean;  // lime's hide_color=None
  cv::Scalar value;                // Kind::constant, RGB 0-255 (the seed uses 0)
  double blur_sigma = 10;          // Kind::blur: Gaussian sigma in pixels

  static HideColor segment_mean() { return {}; }
  static HideColor constant(double v) { return {Kind::constant, cv::Scalar::all(v), 0}; }
  static HideColor blurred(double sigma) { return {Kind::blur, cv::Scalar(), sigma}; }
  // "mean", "blur" (sigma 10) or a grey level 0-255. Throws InputError naming the choices.
  static HideColor parse(const std::string& text);
};

// num_samples × num_segments of seeded Bernoulli(½) 0/1 (uint8); row 0 is all ones.
at::Tensor sample_matrix(int64_t num_samples, int64_t num_segments, uint64_t seed);

// The image every hidden segment is copied from (lime's fudged_image), CV_8UC3.
cv::Mat hidden_fill(const cv::Mat& rgb, const Segmentation& segments, const HideColor& hide);

// Perturbed images for `rows` [B, S] of the sample matrix: uint8 [B, H, W, 3] RGB.
at::Tensor perturbed_images(const cv::Mat& rgb, const cv::Mat& fill, const Segmentation& segments,
                            const at::Tensor& rows);

// ---- The explainer ----

// Scores [B, classes] for uint8 RGB images [B, H, W, 3].
using Classifier = std::function<at::Tensor(const at::Tensor& images)>;

// A classifier that brings the images to `input_size`, preprocesses them (make_batch) and
// calls model.scores. With bf16 the forward pass runs under CPU autocast to bfloat16
// (faster where the CPU has bf16 units; LIME needs rankings, not exact scores).
// The classifier refers to `model`, which must outlive it.
Classifier model_classifier(Model& model, const Preprocess& preprocess, cv::Size input_size, bool bf16 = false);

struct LimeOptions {
  int num_samples = 1000;
  int batch_size = 64;            // images per model call
  int top_labels = 5;             // explain the k best labels of the image; 0: use `labels`
  std::vector<int64_t> labels;    // explained when top_labels == 0
  RegressionOptions regression;
  HideColor hide;
  uint64_t seed = 0;
  std::function<void(int64_t done, int64_t total)> progress;  // after each batch
  std::function<bool()> cancel;   // checked between batches; true throws CancelledError
};

struct LimeTimings {
  double segmentation_ms = 0, images_ms = 0, model_ms = 0, regression_ms = 0;
};

struct LimeExplanation {
  cv::Mat image;  // the explained image, CV_8UC3 RGB
  Segmentation segments;
  at::Tensor samples;  // uint8 [num_samples, segments]
  at::Tensor scores;   // float64 [num_samples, classes]
  std::vector<int64_t> top_labels;  // explained labels, best first
  std::map<int64_t, LinearExplanation> explanations;
  LimeTimings timings;

  // Throws InputError when `label` was not explained.
  const LinearExplanation& of(int64_t label) const;
};

// Explains `rgb` (8-bit RGB or grey) with the given segmentation; all labels share one
// set of samples. Deterministic for a seed, whatever the thread count.
LimeExplanation explain_lime(const cv::Mat& rgb, const Segmentation& segments, const Classifier& classifier,
                             const LimeOptions& options = {});

// The same with lime's default segmentation (quickshift, seeded by options.seed).
LimeExplanation explain_lime(const cv::Mat& rgb, const Classifier& classifier, const LimeOptions& options = {});

// ---- Outputs ----

struct MaskOptions {
  bool positive_only = true;
  bool negative_only = false;
  bool hide_rest = false;
  int num_features = 5;
  double min_weight = 0;
};

struct ImageAndMask {
  cv::Mat image;  // like the explained image (CV_8UC3)
  cv::Mat mask;   // CV_32SC1: 1 for shown positive segments, -1 for negative ones, else 0
};

// ImageExplanation.get_image_and_mask.
ImageAndMask image_and_mask(const LimeExplanation& explanation, int64_t label, const MaskOptions& options = {});

// Its mask alone, from the segments and one label's weights (CV_32SC1 of 1, -1 and 0).
cv::Mat segment_mask(const Segmentation& segments, const LinearExplanation& explanation,
                     const MaskOptions& options = {});

enum class BoundaryMode { thick, inner, outer };

// skimage.segmentation.find_boundaries (connectivity 1): CV_8UC1 of 0/1.
cv::Mat find_boundaries(const cv::Mat& labels, BoundaryMode mode = BoundaryMode::thick, int background = 0);

// skimage.segmentation.mark_boundaries: the image as float RGB in [0, 1] (CV_64FC3) with
// boundary pixels set to `color` (RGB in [0, 1]).
cv::Mat mark_boundaries(const cv::Mat& image, const cv::Mat& labels, const cv::Scalar& color = cv::Scalar(1, 1, 0),
                        BoundaryMode mode = BoundaryMode::thick, int background = 0);

// Every pixel carries its segment's weight (0 for segments outside the explanation): CV_32FC1.
cv::Mat weight_heatmap(const Segmentation& segments, const LinearExplanation& explanation);

// The saliency map metrics and overlays use: positive segment weights divided by the
// largest, negative ones 0 (CV_32FC1 in [0, 1]; all zeros when no weight is positive).
cv::Mat positive_weight_map(const Segmentation& segments, const LinearExplanation& explanation);

}  // namespace lumos
