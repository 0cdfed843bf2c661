// The CAM base, shaped like pytorch-grad-cam's BaseCAM: trace -> activations A and
// gradients g of each image's target score -> the method's weighted activations ->
// relu(sum over channels) -> per-image min-max -> bilinear resize as cv2.resize ->
// average over layers -> min-max again.
#include "cam/cam_method.hpp"

#include "lumos/error.hpp"

#include <ATen/ATen.h>
#include <opencv2/imgproc.hpp>
#include <torch/csrc/autograd/autograd.h>

#include <algorithm>
#include <cctype>

namespace lumos {
namespace {

struct MethodName {
  CamMethod method;
  const char* name;
};

constexpr MethodName kMethodNames[] = {
    {CamMethod::gradcam, "gradcam"},   {CamMethod::gradcam_plus_plus, "gradcam++"},
    {CamMethod::hirescam, "hirescam"}, {CamMethod::xgradcam, "xgradcam"},
    {CamMethod::layercam, "layercam"}, {CamMethod::eigencam, "eigencam"},
    {CamMethod::scorecam, "scorecam"}, {CamMethod::ablationcam, "ablationcam"},
};

cam::CamFormula formula_of(CamMethod method) {
  switch (method) {
    case CamMethod::gradcam: return cam::grad_cam();
    case CamMethod::gradcam_plus_plus: return cam::grad_cam_plus_plus();
    case CamMethod::hirescam: return cam::hires_cam();
    case CamMethod::xgradcam: return cam::xgrad_cam();
    case CamMethod::layercam: return cam::layer_cam();
    case CamMethod::eigencam: return cam::eigen_cam();
    case CamMethod::scorecam: return cam::score_cam();
    case CamMethod::ablationcam: return cam::ablation_cam();
  }
  throw InputError("unknown CAM method");
}

std::string not_4d_message(const std::string& layer, at::IntArrayRef shape) {
  return "layer '" + layer + "' has shape " + shape_string(shape) + " (rank " + std::to_string(shape.size()) +
         "); CAM methods need a 4-D activation (N,C,H,W or N,H,W,C): choose a convolutional layer "
         "(`lumos layers -m MODEL` lists them)";
}

// pytorch-grad-cam's scale_cam_image without a size: each map minus its minimum, divided by
// (1e-7 + its new maximum). An all-zero map stays all zero.
at::Tensor min_max(const at::Tensor& maps) {
  const auto flat = maps.flatten(1);
  const auto shifted = maps - std::get<0>(flat.min(1)).view({-1, 1, 1});
  return shifted / (1e-7 + std::get<0>(shifted.flatten(1).max(1)).view({-1, 1, 1}));
}

// Bilinear resize of each map [N, h, w] to [N, height, width] by OpenCV itself, so the
// numbers are cv2.resize's (INTER_LINEAR, half-pixel centres, edge replication).
at::Tensor resize_like_cv2(const at::Tensor& maps, int64_t height, int64_t width) {
  const auto source = maps.to(at::kFloat).contiguous();
  auto out = at::empty({source.size(0), height, width}, source.options());
  for (int64_t i = 0; i < source.size(0); ++i) {
    const cv::Mat from(static_cast<int>(source.size(1)), static_cast<int>(source.size(2)), CV_32F,
                       source[i].data_ptr<float>());
    cv::Mat to(static_cast<int>(height), static_cast<int>(width), CV_32F, out[i].data_ptr<float>());
    cv::resize(from, to, to.size(), 0, 0, cv::INTER_LINEAR);
  }
  return out;
}

at::Tensor to_nchw(const at::Tensor& value, Layout layout) {
  return (layout == Layout::NHWC ? value.permute({0, 3, 1, 2}) : value).to(at::kFloat).contiguous();
}

// Activations and gradients of every target layer for one batch, with the resolved targets.
struct Capture {
  std::vector<int64_t> targets;
  at::Tensor target_scores;  // [N]
  std::vector<at::Tensor> activations;  // per layer, NCHW
  std::vector<at::Tensor> gradients;    // per layer, NCHW; empty without gradients
};

// One pass of every method over a batch.
struct Pass {
  Capture capture;
  std::vector<std::vector<at::Tensor>> layer_maps;  // [method][layer] -> [N, h, w]
  std::vector<at::Tensor> maps;                     // [method] -> [N, H, W]
};

}  // namespace

std::string to_string(CamMethod method) {
  for (const auto& m : kMethodNames) {
    if (m.method == method) return m.name;
  }
  return "unknown";
}

CamMethod parse_cam_method(const std::string& name) {
  std::string key;
  for (char c : name) {
    if (c != '-' && c != '_' && c != ' ') key += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  if (key == "gradcampp" || key == "gradcamplusplus") key = "gradcam++";
  std::string known;
  for (const auto& m : kMethodNames) {
    if (key == m.name) return m.method;
    known += (known.empty() ? "" : ", ") + std::string(m.name);
  }
  throw InputError("unknown CAM method '" + name + "'; choose from " + known);
}

bool uses_gradients(CamMethod method) {
  return method == CamMethod::gradcam || method == CamMethod::gradcam_plus_plus || method == CamMethod::hirescam ||
         method == CamMethod::xgradcam || method == CamMethod::layercam;
}

const std::vector<CamMethod>& all_cam_methods() {
  static const std::vector<CamMethod> methods = [] {
    std::vector<CamMethod> all;
    for (const auto& m : kMethodNames) all.push_back(m.method);
    return all;
  }();
  return methods;
}

namespace cam {

at::Tensor channel_weighted(const at::Tensor& weights, const at::Tensor& activations) {
  return weights.to(activations.scalar_type()).unsqueeze(2).unsqueeze(3) * activations;
}

at::Tensor first_component_projection(const at::Tensor& activations) {
  // Double precision: the leading singular vector of a [h*w, C] matrix is well defined, and
  // computing it in float32 would add noise of the order of the tolerance to tie-like cases.
  auto x = activations.to(at::kDouble);
  x = at::where(at::isnan(x), at::zeros({}, x.options()), x);
  x = x.flatten(2).transpose(1, 2);  // [N, h*w, C]
  x = x - x.mean(1, /*keepdim=*/true);
  const auto vh = std::get<2>(at::linalg_svd(x, /*full_matrices=*/false));
  auto projection = at::matmul(x, vh.select(1, 0).unsqueeze(2)).squeeze(2);  // [N, h*w]
  const auto lowest = std::get<0>(projection.min(1)).abs();
  const auto highest = std::get<0>(projection.max(1)).abs();
  projection = at::where((lowest > highest).unsqueeze(1), -projection, projection);
  return projection.view({activations.size(0), activations.size(2), activations.size(3)}).to(at::kFloat);
}

at::Tensor score_perturbations(const LayerContext& context, int64_t image, int64_t count,
                               const std::function<at::Tensor(int64_t begin, int64_t end)>& scores_of) {
  const int64_t step = context.options.perturbation_batch;
  std::vector<at::Tensor> parts;
  for (int64_t begin = 0; begin < count; begin += step) {
    if (context.options.cancel && context.options.cancel()) {
      throw CancelledError(to_string(context.method) + " was cancelled; no explanation was written");
    }
    const int64_t end = std::min(count, begin + step);
    parts.push_back(scores_of(begin, end).select(1, context.targets[image]).to(at::kFloat));
    if (context.options.progress) context.options.progress({context.method, image, end, count});
  }
  return at::cat(parts);
}

at::Tensor image_of(const LayerContext& context, int64_t image) { return context.batch.slice(0, image, image + 1); }

}  // namespace cam

CamExplainer::CamExplainer(Model& model, std::vector<CamMethod> methods, CamOptions options)
    : model_(model), methods_(std::move(methods)), options_(std::move(options)) {
  if (methods_.empty()) throw InputError("no CAM method asked for");
  for (size_t i = 0; i < methods_.size(); ++i) {
    if (std::find(methods_.begin(), methods_.begin() + i, methods_[i]) != methods_.begin() + i) {
      throw InputError("CAM method '" + to_string(methods_[i]) + "' is listed twice");
    }
  }
  if (options_.perturbation_batch < 1) {
    throw InputError("perturbation batch size " + std::to_string(options_.perturbation_batch) + " must be at least 1");
  }
  if (options_.layers.empty()) {
    layers_.push_back(model_.default_layer());
  } else {
    for (const auto& name : options_.layers) layers_.push_back(model_.resolve_layer(name));
  }
  const auto& all = model_.layers();
  for (const auto& layer : layers_) {
    const auto info = std::find_if(all.begin(), all.end(), [&](const LayerInfo& l) { return l.name == layer; });
    if (info != all.end() && info->shape.size() != 4) throw InputError(not_4d_message(layer, info->shape));
    layouts_.push_back(info != all.end() ? info->layout : Layout::NCHW);
  }
}

namespace {

Capture capture_layers(Model& model, const at::Tensor& batch, const std::vector<std::string>& layers,
                       const std::vector<Layout>& layouts, const std::vector<Target>& targets,
                       const std::vector<std::string>& labels, bool with_gradients) {
  // With gradients, each trace detaches its captured layers, so a backward cannot pass from
  // one captured layer to an earlier one: several layers take one trace each.
  const bool per_layer = with_gradients && layers.size() > 1;
  Capture capture;
  capture.activations.resize(layers.size());
  if (with_gradients) capture.gradients.resize(layers.size());
  for (size_t first = 0; first < layers.size(); first = per_layer ? first + 1 : layers.size()) {
    const std::vector<std::string> group =
        per_layer ? std::vector<std::string>{layers[first]} : std::vector<std::string>(layers.begin(), layers.end());
    const auto trace = model.trace(batch, group, with_gradients);
    if (first == 0) {
      capture.targets = resolve_targets(targets, trace.scores, labels);
      const auto index = at::tensor(capture.targets, at::kLong).unsqueeze(1);
      capture.target_scores = trace.scores.detach().gather(1, index).squeeze(1).to(at::kFloat);
    }
    std::vector<at::Tensor> leaves;
    for (const auto& layer : group) {
      const auto found = trace.activations.find(layer);
      if (found == trace.activations.end()) {
        throw InputError("layer '" + layer + "' is not computed on the way to the model's scores, so it cannot "
                         "explain them; choose a layer before the classifier");
      }
      const auto& value = found->second;
      if (value.dim() != 4) throw InputError(not_4d_message(layer, value.sizes()));
      leaves.push_back(value);
    }
    std::vector<at::Tensor> gradients;
    if (with_gradients) {
      const auto index = at::tensor(capture.targets, at::kLong).unsqueeze(1);
      const auto total = trace.scores.gather(1, index).sum();
      gradients = torch::autograd::grad({total}, leaves, {}, /*retain_graph=*/false, /*create_graph=*/false,
                                        /*allow_unused=*/true);
    }
    for (size_t j = 0; j < group.size(); ++j) {
      const size_t slot = first + j;
      capture.activations[slot] = to_nchw(leaves[j].detach(), layouts[slot]);
      if (!with_gradients) continue;
      if (!gradients[j].defined()) {
        throw InputError("the scores do not depend on layer '" + group[j] + "': it is not on the path to the model's "
                         "output, so gradient methods have nothing to weigh; choose a layer before the classifier");
      }
      const auto gradient = to_nchw(gradients[j], layouts[slot]);
      const auto nonzero = gradient.flatten(1).ne(0).any(1);
      for (int64_t i = 0; i < gradient.size(0); ++i) {
        if (!nonzero[i].item<bool>()) {
          throw InputError("the score of class " + std::to_string(capture.targets[i]) + " for image " +
                           std::to_string(i) + " does not depend on layer '" + group[j] + "': its gradient there is "
                           "zero everywhere, so gradient CAMs would be empty; choose another layer or use eigencam "
                           "or scorecam");
        }
      }
      capture.gradients[slot] = gradient;
    }
  }
  return capture;
}

}  // namespace

std::vector<CamExplanation> CamExplainer::explain(const at::Tensor& batch, const std::vector<Target>& targets) {
  const bool nhwc = model_.input().layout == Layout::NHWC;
  if (batch.dim() != 4) {
    throw InputError("CAM needs a batch of images of rank 4, got shape " + shape_string(batch.sizes()));
  }
  const int64_t height = batch.size(nhwc ? 1 : 2);
  const int64_t width = batch.size(nhwc ? 2 : 3);
  const bool with_gradients = std::any_of(methods_.begin(), methods_.end(), uses_gradients);

  auto run_pass = [&](const at::Tensor& input, const std::vector<Target>& pass_targets) {
    Pass pass;
    pass.capture = capture_layers(model_, input, layers_, layouts_, pass_targets, options_.labels, with_gradients);
    const auto& c = pass.capture;
    const at::Tensor none;
    for (const auto method : methods_) {
      const auto formula = formula_of(method);
      std::vector<at::Tensor> layer_maps, resized;
      for (size_t l = 0; l < layers_.size(); ++l) {
        const cam::LayerContext context{model_, options_, method, input, layers_[l], layouts_[l], c.activations[l],
                                        c.gradients.empty() ? none : c.gradients[l], c.targets, c.target_scores};
        const auto weighted = formula.weighted_activations(context);
        const auto summed = formula.always_project || options_.eigen_smooth ? cam::first_component_projection(weighted)
                                                                             : weighted.sum(1);
        layer_maps.push_back(min_max(at::relu(summed)));
        resized.push_back(resize_like_cv2(layer_maps.back(), height, width));
      }
      pass.maps.push_back(min_max(at::relu(at::stack(resized, 1)).mean(1)));
      pass.layer_maps.push_back(std::move(layer_maps));
    }
    return pass;
  };

  Pass pass = run_pass(batch, targets);
  if (options_.aug_smooth) {
    // pytorch-grad-cam's default test-time augmentation (ttach): horizontal flip x multiply by
    // 0.9, 1, 1.1. The targets are those resolved on the image itself.
    std::vector<Target> fixed;
    for (auto t : pass.capture.targets) fixed.push_back(Target::class_index(t));
    const int64_t width_axis = nhwc ? 2 : 3;
    std::vector<std::vector<at::Tensor>> augmented(methods_.size());
    for (bool flip : {false, true}) {
      for (double factor : {0.9, 1.0, 1.1}) {
        const auto input = flip ? (batch * factor).flip({width_axis}) : batch * factor;
        const Pass p = run_pass(input, fixed);
        for (size_t m = 0; m < methods_.size(); ++m) augmented[m].push_back(flip ? p.maps[m].flip({2}) : p.maps[m]);
      }
    }
    for (size_t m = 0; m < methods_.size(); ++m) {
      pass.maps[m] = at::stack(augmented[m]).mean(0);
      pass.layer_maps[m].clear();
    }
  }

  std::vector<CamExplanation> out(batch.size(0));
  for (int64_t i = 0; i < batch.size(0); ++i) {
    auto& e = out[i];
    e.target = pass.capture.targets[i];
    if (e.target < static_cast<int64_t>(options_.labels.size())) e.label = options_.labels[e.target];
    e.score = pass.capture.target_scores[i].item<float>();
    for (size_t m = 0; m < methods_.size(); ++m) {
      CamMap map;
      map.method = methods_[m];
      map.map = pass.maps[m][i].contiguous();
      for (size_t l = 0; l < pass.layer_maps[m].size(); ++l) {
        map.layers.push_back({layers_[l], pass.layer_maps[m][l][i].contiguous()});
      }
      map.empty = map.map.max().item<float>() == 0;
      if (map.empty) {
        map.warning = to_string(methods_[m]) + " map of image " + std::to_string(i) + " (class " +
                      std::to_string(e.target) + ") is zero everywhere: no positive evidence at the target layer";
      }
      e.maps.push_back(std::move(map));
    }
  }
  return out;
}

}  // namespace lumos
