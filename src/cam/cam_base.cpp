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
    {CamMethod::gradcam, "gradcam"},
    {CamMethod::gradcam_plus_plus, "gradcam++"},
    {CamMethod::hirescam, "hirescam"},
    {CamMethod::xgradcam, "xgradcam"},
    {CamMethod::layercam, "layercam"},
    {CamMethod::eigencam, "eigencam"},
    {CamMethod::scorecam, "scorecam"},
    {CamMethod::ablationcam, "ablationcam"},
    {CamMethod::gradcam_keras, "gradcam-keras"},
    {CamMethod::gradcam_plus_plus_keras, "gradcam++-keras"},
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
    case CamMethod::gradcam_keras: return cam::grad_cam_keras();
    case CamMethod::gradcam_plus_plus_keras: return cam::grad_cam_plus_plus_keras();
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

// Each map divided by its maximum, as the Keras code does; a map whose maximum is not positive
// (all zero after its ReLU) stays as it is.
at::Tensor max_scaled(const at::Tensor& maps) {
  const auto highest = std::get<0>(maps.flatten(1).max(1)).view({-1, 1, 1});
  return maps / at::where(highest > 0, highest, at::ones({}, highest.options()));
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

// One pass of every method over a batch.
struct Pass {
  std::vector<int64_t> targets;
  at::Tensor target_scores;                         // [N]
  std::vector<std::vector<at::Tensor>> layer_maps;  // [method][layer] -> [N, h, w]
  std::vector<at::Tensor> maps;                     // [method] -> [N, H, W]
  std::vector<std::vector<bool>> saturated;         // [method][image]
};

// A lower-case key without separators, so "Grad-CAM++ (Keras)" spellings compare equal.
std::string method_key(const std::string& name) {
  std::string key;
  for (char c : name) {
    if (std::isalnum(static_cast<unsigned char>(c)) || c == '+') {
      key += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
  }
  for (const char* spelling : {"gradcamplusplus", "gradcampp"}) {
    if (key.rfind(spelling, 0) == 0) return "gradcam++" + key.substr(std::string(spelling).size());
  }
  return key;
}

}  // namespace

std::string to_string(CamMethod method) {
  for (const auto& m : kMethodNames) {
    if (m.method == method) return m.name;
  }
  return "unknown";
}

CamMethod parse_cam_method(const std::string& name) {
  const std::string key = method_key(name);
  std::string known;
  for (const auto& m : kMethodNames) {
    if (key == method_key(m.name)) return m.method;
    known += (known.empty() ? "" : ", ") + std::string(m.name);
  }
  throw InputError("unknown CAM method '" + name + "'; choose from " + known);
}

bool uses_gradients(CamMethod method) { return formula_of(method).derivatives > 0; }

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

Layout checked_layer_layout(Model& model, const std::string& layer) {
  const auto& all = model.layers();
  const auto info = std::find_if(all.begin(), all.end(), [&](const LayerInfo& l) { return l.name == layer; });
  if (info == all.end()) return Layout::NCHW;
  if (info->shape.size() != 4) throw InputError(not_4d_message(layer, info->shape));
  return info->layout;
}

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
  for (const auto& layer : layers_) layouts_.push_back(cam::checked_layer_layout(model_, layer));
}

namespace cam {

Capture capture_layers(Model& model, const at::Tensor& batch, const std::vector<std::string>& layers,
                       const std::vector<Layout>& layouts, const std::vector<Target>& targets,
                       const std::vector<std::string>& labels, int derivatives, Explained explained) {
  const bool with_gradients = derivatives > 0;
  const bool per_layer = with_gradients && layers.size() > 1;
  Capture capture;
  capture.activations.resize(layers.size());
  capture.gradients.assign(derivatives, std::vector<at::Tensor>(layers.size()));
  capture.saturated.assign(batch.size(0), false);
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
    // Derivative d is the gradient of the sum of derivative d - 1 (of the explained number for
    // d = 1), what nested GradientTapes compute; the graph is kept while more are needed.
    std::vector<std::vector<at::Tensor>> orders;
    if (with_gradients) {
      const auto index = at::tensor(capture.targets, at::kLong).unsqueeze(1);
      const auto explained_scores = explained == Explained::probability ? model.probabilities(trace.scores) : trace.scores;
      auto total = explained_scores.gather(1, index).sum();
      for (int d = 1; d <= derivatives; ++d) {
        const bool more = d < derivatives;
        std::vector<at::Tensor> gradients(leaves.size());
        if (total.requires_grad()) {
          gradients = torch::autograd::grad({total}, leaves, {}, /*retain_graph=*/more, /*create_graph=*/more,
                                            /*allow_unused=*/true);
        }
        if (more) {
          at::Tensor next = at::zeros({}, trace.scores.options());
          for (const auto& g : gradients) {
            if (g.defined()) next = next + g.sum();
          }
          total = next;
        }
        orders.push_back(std::move(gradients));
      }
    }
    for (size_t j = 0; j < group.size(); ++j) {
      const size_t slot = first + j;
      capture.activations[slot] = to_nchw(leaves[j].detach(), layouts[slot]);
      if (!with_gradients) continue;
      if (!orders[0][j].defined()) {
        throw InputError("the scores do not depend on layer '" + group[j] + "': it is not on the path to the model's "
                         "output, so gradient methods have nothing to weigh; choose a layer before the classifier");
      }
      for (int d = 0; d < derivatives; ++d) {
        const auto& g = orders[d][j];
        capture.gradients[d][slot] = g.defined() ? to_nchw(g.detach(), layouts[slot]) : at::zeros_like(capture.activations[slot]);
      }
      const auto nonzero = capture.gradients[0][slot].flatten(1).ne(0).any(1);
      for (int64_t i = 0; i < nonzero.size(0); ++i) {
        if (nonzero[i].item<bool>()) continue;
        if (explained == Explained::probability) {
          capture.saturated[i] = true;
          continue;
        }
        throw InputError("the score of class " + std::to_string(capture.targets[i]) + " for image " +
                         std::to_string(i) + " does not depend on layer '" + group[j] + "': its gradient there is "
                         "zero everywhere, so gradient CAMs would be empty; choose another layer or use eigencam "
                         "or scorecam");
      }
    }
  }
  return capture;
}

}  // namespace cam

std::vector<CamExplanation> CamExplainer::explain(const at::Tensor& batch, const std::vector<Target>& targets) {
  const bool nhwc = model_.input().layout == Layout::NHWC;
  if (batch.dim() != 4) {
    throw InputError("CAM needs a batch of images of rank 4, got shape " + shape_string(batch.sizes()));
  }
  const int64_t height = batch.size(nhwc ? 1 : 2);
  const int64_t width = batch.size(nhwc ? 2 : 3);
  std::vector<cam::CamFormula> formulas;
  for (const auto method : methods_) formulas.push_back(formula_of(method));
  // One capture per explained number that a gradient method needs (the model's score, or the
  // softmax probability of the Keras forms), with as many derivatives as its methods need; the
  // methods without gradients use the first capture.
  std::vector<cam::Explained> kinds;
  for (const auto& f : formulas) {
    if (f.derivatives > 0 && std::find(kinds.begin(), kinds.end(), f.explained) == kinds.end()) {
      kinds.push_back(f.explained);
    }
  }
  if (kinds.empty()) kinds.push_back(cam::Explained::score);

  auto run_pass = [&](const at::Tensor& input, const std::vector<Target>& pass_targets) {
    std::vector<cam::Capture> captures;
    for (const auto kind : kinds) {
      int derivatives = 0;
      for (const auto& f : formulas) {
        if (f.explained == kind) derivatives = std::max(derivatives, f.derivatives);
      }
      std::vector<Target> resolved;
      for (auto t : captures.empty() ? std::vector<int64_t>{} : captures.front().targets) {
        resolved.push_back(Target::class_index(t));
      }
      captures.push_back(cam::capture_layers(model_, input, layers_, layouts_,
                                             captures.empty() ? pass_targets : resolved, options_.labels,
                                             derivatives, kind));
    }
    Pass pass;
    pass.targets = captures.front().targets;
    pass.target_scores = captures.front().target_scores;
    const at::Tensor none;
    for (size_t m = 0; m < methods_.size(); ++m) {
      const auto& formula = formulas[m];
      const auto& c = formula.derivatives > 0
                          ? captures[std::find(kinds.begin(), kinds.end(), formula.explained) - kinds.begin()]
                          : captures.front();
      const auto derivative = [&](int order, size_t layer) -> const at::Tensor& {
        return static_cast<int>(c.gradients.size()) >= order ? c.gradients[order - 1][layer] : none;
      };
      std::vector<at::Tensor> layer_maps, resized;
      for (size_t l = 0; l < layers_.size(); ++l) {
        const cam::LayerContext context{model_,          options_,         methods_[m],    input,
                                        layers_[l],      layouts_[l],      c.activations[l], derivative(1, l),
                                        derivative(2, l), derivative(3, l), c.targets,      c.target_scores};
        const auto weighted = formula.weighted_activations(context);
        const auto summed = formula.always_project || options_.eigen_smooth ? cam::first_component_projection(weighted)
                                                                             : weighted.sum(1);
        switch (formula.normalisation) {
          case cam::Normalisation::min_max_then_resize:
            layer_maps.push_back(min_max(at::relu(summed)));
            resized.push_back(resize_like_cv2(layer_maps.back(), height, width));
            break;
          case cam::Normalisation::resize_then_max:
            layer_maps.push_back(max_scaled(at::relu(summed)));
            resized.push_back(max_scaled(at::relu(resize_like_cv2(summed, height, width))));
            break;
          case cam::Normalisation::max_then_resize:
            layer_maps.push_back(max_scaled(at::relu(summed)));
            resized.push_back(resize_like_cv2(layer_maps.back(), height, width));
            break;
        }
      }
      const auto stacked = at::stack(resized, 1);
      pass.maps.push_back(formula.normalisation == cam::Normalisation::min_max_then_resize
                              ? min_max(at::relu(stacked).mean(1))
                              : stacked.mean(1));
      pass.layer_maps.push_back(std::move(layer_maps));
      pass.saturated.push_back(formula.explained == cam::Explained::probability ? c.saturated
                                                                               : std::vector<bool>(c.saturated.size()));
    }
    return pass;
  };

  Pass pass = run_pass(batch, targets);
  if (options_.aug_smooth) {
    // pytorch-grad-cam's default test-time augmentation (ttach): horizontal flip x multiply by
    // 0.9, 1, 1.1. The targets are those resolved on the image itself.
    std::vector<Target> fixed;
    for (auto t : pass.targets) fixed.push_back(Target::class_index(t));
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
    e.target = pass.targets[i];
    if (e.target < static_cast<int64_t>(options_.labels.size())) e.label = options_.labels[e.target];
    e.score = pass.target_scores[i].item<float>();
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
                      std::to_string(e.target) + ") is zero everywhere: " +
                      (pass.saturated[m][i] ? "the class's softmax probability is saturated, so its gradient is zero"
                                            : "no positive evidence at the target layer");
      }
      e.maps.push_back(std::move(map));
    }
  }
  return out;
}

}  // namespace lumos
