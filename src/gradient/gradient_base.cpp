// The gradient base: names, target resolution, the noise tunnel per image, batched forward +
// backward passes to the input, and the display map of every method.
#include "gradient/gradient_method.hpp"

#include "lumos/error.hpp"
#include "util/stopwatch.hpp"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <torch/csrc/autograd/autograd.h>

#include <algorithm>
#include <cctype>

namespace lumos {
namespace {

struct Name {
  const char* name;
  std::vector<const char*> aliases;  // as method_key spells them
};

const std::vector<std::pair<GradientMethod, Name>>& method_names() {
  static const std::vector<std::pair<GradientMethod, Name>> names = {
      {GradientMethod::saliency, {"saliency", {"vanillagradient", "gradient"}}},
      {GradientMethod::gradient_x_input, {"gradient-x-input", {"inputxgradient", "gradxinput", "gradienttimesinput"}}},
      {GradientMethod::integrated_gradients, {"integrated-gradients", {"ig"}}},
      {GradientMethod::guided_backprop, {"guided-backprop", {"guidedbackpropagation", "gbp"}}},
      {GradientMethod::deconvolution, {"deconvolution", {"deconvnet", "deconv"}}},
      {GradientMethod::guided_gradcam, {"guided-gradcam", {}}},
  };
  return names;
}

const std::vector<std::pair<NoiseTunnel, Name>>& tunnel_names() {
  static const std::vector<std::pair<NoiseTunnel, Name>> names = {
      {NoiseTunnel::smoothgrad, {"smoothgrad", {"sg"}}},
      {NoiseTunnel::smoothgrad_sq, {"smoothgrad-sq", {"smoothgrad2", "smoothgradsquared", "sg2", "sgsq"}}},
      {NoiseTunnel::vargrad, {"vargrad", {}}},
  };
  return names;
}

// Lower case, letters, digits and '+' only: "Integrated Gradients + SmoothGrad" -> "integratedgradients+smoothgrad".
std::string method_key(const std::string& name) {
  std::string key;
  for (char c : name) {
    if (std::isalnum(static_cast<unsigned char>(c)) || c == '+') {
      key += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
  }
  return key;
}

template <typename T>
std::optional<T> find_name(const std::vector<std::pair<T, Name>>& names, const std::string& key) {
  for (const auto& [value, name] : names) {
    if (key == method_key(name.name)) return value;
    for (const char* alias : name.aliases) {
      if (key == alias) return value;
    }
  }
  return std::nullopt;
}

gradient::GradientFormula formula_of(GradientMethod method, const GradientOptions& options) {
  switch (method) {
    case GradientMethod::saliency: return gradient::saliency();
    case GradientMethod::gradient_x_input: return gradient::gradient_x_input();
    case GradientMethod::integrated_gradients: return gradient::integrated_gradients(options);
    case GradientMethod::guided_backprop: return gradient::guided_backprop();
    case GradientMethod::deconvolution: return gradient::deconvolution();
    case GradientMethod::guided_gradcam: return gradient::guided_grad_cam();
  }
  throw InputError("unknown gradient method");
}

// The display map of one image's attributions: |values| summed over channels, divided by its
// `percentile`-th percentile (linear interpolation, as numpy) and clipped to [0, 1].
at::Tensor magnitude_map(const at::Tensor& values, Layout layout, double percentile) {
  const auto magnitude = values.abs().sum(layout == Layout::NHWC ? 2 : 0);
  const auto highest = magnitude.max();
  auto scale = at::quantile(magnitude.flatten(), percentile / 100);
  scale = at::where(scale > 0, scale, highest);
  return at::where(highest > 0, (magnitude / scale).clamp_max(1), magnitude);
}

}  // namespace

std::string to_string(GradientAttribution attribution) {
  std::string method, tunnel;
  for (const auto& [value, name] : method_names()) {
    if (value == attribution.method) method = name.name;
  }
  for (const auto& [value, name] : tunnel_names()) {
    if (value == attribution.tunnel) tunnel = name.name;
  }
  if (tunnel.empty()) return method;
  return attribution.method == GradientMethod::saliency ? tunnel : method + "+" + tunnel;
}

GradientAttribution parse_gradient_method(const std::string& name) {
  const std::string key = method_key(name);
  const auto plus = key.find('+');
  GradientAttribution attribution;
  std::optional<GradientMethod> method;
  std::optional<NoiseTunnel> tunnel;
  if (plus == std::string::npos) {
    method = find_name(method_names(), key);
    tunnel = find_name(tunnel_names(), key);
    if (tunnel) method = GradientMethod::saliency;
  } else {
    method = find_name(method_names(), key.substr(0, plus));
    tunnel = find_name(tunnel_names(), key.substr(plus + 1));
  }
  if (!method || (plus != std::string::npos && !tunnel)) {
    std::string known;
    for (const auto& m : all_gradient_methods()) known += (known.empty() ? "" : ", ") + to_string(m);
    throw InputError("unknown gradient method '" + name + "'; choose from " + known +
                     " (any method + smoothgrad, smoothgrad-sq or vargrad)");
  }
  attribution.method = *method;
  if (tunnel) attribution.tunnel = *tunnel;
  return attribution;
}

std::vector<std::string> gradient_method_aliases(GradientAttribution attribution) {
  const auto spellings = [](const auto& names, auto value) {
    std::vector<std::string> out;
    for (const auto& [v, name] : names) {
      if (v != value) continue;
      out.push_back(method_key(name.name));
      out.insert(out.end(), name.aliases.begin(), name.aliases.end());
    }
    return out;
  };
  const auto methods = spellings(method_names(), attribution.method);
  if (attribution.tunnel == NoiseTunnel::none) return {methods.begin() + 1, methods.end()};
  const auto tunnels = spellings(tunnel_names(), attribution.tunnel);
  std::vector<std::string> out;
  if (attribution.method == GradientMethod::saliency) out.assign(tunnels.begin() + 1, tunnels.end());
  for (const auto& method : methods) {
    for (const auto& tunnel : tunnels) out.push_back(method + "+" + tunnel);
  }
  // The canonical spelling itself is not an alias.
  const auto canonical = method_key(to_string(attribution));
  out.erase(std::remove(out.begin(), out.end(), canonical), out.end());
  return out;
}

bool is_gradient_method(const std::string& name) {
  try {
    parse_gradient_method(name);
    return true;
  } catch (const InputError&) {
    return false;
  }
}

const std::vector<GradientAttribution>& all_gradient_methods() {
  static const std::vector<GradientAttribution> all = [] {
    std::vector<GradientAttribution> methods;
    for (const auto& [method, name] : method_names()) methods.push_back({method, NoiseTunnel::none});
    for (auto base : {GradientMethod::saliency, GradientMethod::integrated_gradients}) {
      for (const auto& [tunnel, name] : tunnel_names()) methods.push_back({base, tunnel});
    }
    return methods;
  }();
  return all;
}

namespace gradient {

void check_cancelled(const GradientContext& c) {
  if (c.options.cancel && c.options.cancel()) {
    throw CancelledError(c.method + " was cancelled; no explanation was written");
  }
}

void count_passes(const GradientContext& c, int64_t inputs) {
  c.passes.done += inputs;
  if (c.options.progress) c.options.progress({c.method, c.image, c.passes.done, c.passes.total});
}

std::vector<Target> targets_between(const std::vector<Target>& targets, int64_t begin, int64_t end) {
  if (targets.size() == 1) return targets;
  return {targets.begin() + begin, targets.begin() + end};
}

void for_each_gradient_batch(const GradientContext& c, int64_t count,
                             const std::function<at::Tensor(int64_t begin, int64_t end)>& make,
                             const std::function<std::vector<Target>(int64_t begin, int64_t end)>& targets_of,
                             ReluRule rule,
                             const std::function<void(int64_t begin, int64_t end, const GradientBatch&)>& consume) {
  for (int64_t begin = 0; begin < count; begin += c.options.batch_size) {
    check_cancelled(c);
    const int64_t end = std::min(count, begin + c.options.batch_size);
    // The input is the only leaf that requires grad: the executor's weights are constants.
    const auto inputs = make(begin, end).detach().requires_grad_(true);
    GradientBatch batch;
    {
      ReluRuleScope scope(rule);
      const auto trace = c.model.trace(inputs, {}, /*grad=*/true);
      batch.classes = resolve_targets(targets_of(begin, end), trace.scores, c.options.labels);
      const auto chosen = trace.scores.gather(1, at::tensor(batch.classes, at::kLong).unsqueeze(1)).squeeze(1);
      batch.gradients = torch::autograd::grad({chosen.sum()}, {inputs}, {}, /*retain_graph=*/false,
                                              /*create_graph=*/false, /*allow_unused=*/true)[0];
      batch.scores = chosen.detach().to(at::kFloat);
    }
    if (!batch.gradients.defined()) batch.gradients = at::zeros_like(inputs);  // scores independent of the input
    consume(begin, end, batch);
    count_passes(c, end - begin);
  }
}

Attributed input_gradients(const GradientContext& c, const at::Tensor& inputs, const std::vector<Target>& targets,
                           ReluRule rule) {
  const int64_t count = inputs.size(0);
  Attributed result;
  result.values = at::empty_like(inputs);
  result.scores = at::empty({count}, at::kFloat);
  result.classes.resize(count);
  for_each_gradient_batch(
      c, count, [&](int64_t begin, int64_t end) { return inputs.slice(0, begin, end); },
      [&](int64_t begin, int64_t end) { return targets_between(targets, begin, end); }, rule,
      [&](int64_t begin, int64_t end, const GradientBatch& batch) {
        result.values.slice(0, begin, end).copy_(batch.gradients);
        result.scores.slice(0, begin, end).copy_(batch.scores);
        std::copy(batch.classes.begin(), batch.classes.end(), result.classes.begin() + begin);
      });
  return result;
}

at::Tensor class_scores(const GradientContext& c, const at::Tensor& inputs, const std::vector<int64_t>& classes) {
  std::vector<at::Tensor> parts;
  for (int64_t begin = 0; begin < inputs.size(0); begin += c.options.batch_size) {
    const int64_t end = std::min(inputs.size(0), begin + c.options.batch_size);
    const auto index = at::tensor(std::vector<int64_t>(classes.begin() + begin, classes.begin() + end), at::kLong);
    parts.push_back(c.model.scores(inputs.slice(0, begin, end)).gather(1, index.unsqueeze(1)).squeeze(1));
  }
  return at::cat(parts).to(at::kFloat);
}

}  // namespace gradient

GradientExplainer::GradientExplainer(Model& model, std::vector<GradientAttribution> methods, GradientOptions options)
    : model_(model), methods_(std::move(methods)), options_(std::move(options)) {
  if (methods_.empty()) throw InputError("no gradient method asked for");
  bool tunnel = false;
  for (size_t i = 0; i < methods_.size(); ++i) {
    if (std::find(methods_.begin(), methods_.begin() + i, methods_[i]) != methods_.begin() + i) {
      throw InputError("gradient method '" + to_string(methods_[i]) + "' is listed twice");
    }
    if (methods_[i].method == GradientMethod::integrated_gradients) integration_points(options_.rule, options_.steps);
    tunnel = tunnel || methods_[i].tunnel != NoiseTunnel::none;
  }
  if (options_.batch_size < 1) {
    throw InputError("gradient batch size " + std::to_string(options_.batch_size) + " must be at least 1");
  }
  if (tunnel && (options_.samples < 1 || !(options_.noise_stdev > 0 || options_.noise_level > 0))) {
    throw InputError("the noise tunnel needs at least 1 sample and a noise level or standard deviation above 0");
  }
  if (!(options_.map_percentile > 0 && options_.map_percentile <= 100)) {
    throw InputError("map percentile " + std::to_string(options_.map_percentile) + " must be in (0, 100]");
  }
}

std::vector<AttributionExplanation> GradientExplainer::explain(const at::Tensor& batch,
                                                               const std::vector<Target>& targets) {
  if (!batch.defined() || batch.dim() != 4 || batch.size(0) == 0) {
    throw InputError("gradient attribution needs a non-empty batch of images of rank 4, got " +
                     (batch.defined() ? shape_string(batch.sizes()) : std::string("no tensor")));
  }
  const int64_t n = batch.size(0);
  if (targets.size() != 1 && static_cast<int64_t>(targets.size()) != n) {
    throw InputError(std::to_string(targets.size()) + " targets for a batch of " + std::to_string(n) +
                     " images; give one target per image, or one for all");
  }
  const Layout layout = model_.input().layout;
  const auto images = batch.to(at::kFloat).contiguous();
  const auto baselines = options_.baseline.of(images, layout);

  // The classes explained: resolved on the images first when the first method cannot resolve
  // them on its own inputs, else by the first method's pass.
  std::vector<int64_t> classes;
  at::Tensor target_scores;
  const auto first = formula_of(methods_.front().method, options_);
  if (methods_.front().tunnel != NoiseTunnel::none || !first.resolves_targets) {
    const auto scores = model_.scores(images);
    classes = resolve_targets(targets, scores, options_.labels);
    target_scores = scores.gather(1, at::tensor(classes, at::kLong).unsqueeze(1)).squeeze(1).to(at::kFloat);
  }

  std::vector<at::Tensor> values(methods_.size()), deltas(methods_.size());
  std::vector<std::vector<double>> times(methods_.size());  // [method][image] ms
  for (size_t m = 0; m < methods_.size(); ++m) {
    const auto method = methods_[m];
    const Stopwatch watch;
    const auto name = to_string(method);
    const auto formula = formula_of(method.method, options_);
    gradient::PassCounter passes;
    if (method.tunnel == NoiseTunnel::none) {
      passes.total = n * formula.passes_per_input;
      const gradient::GradientContext c{model_, options_, name, -1, passes};
      std::vector<Target> wanted = targets;
      if (!classes.empty()) {
        wanted.clear();
        for (auto k : classes) wanted.push_back(Target::class_index(k));
      }
      auto result = formula.attribute(c, images, baselines, wanted);
      if (classes.empty()) {
        classes = result.classes;
        target_scores = result.scores;
      }
      values[m] = result.values;
      deltas[m] = result.deltas;
      times[m].assign(n, watch.ms() / static_cast<double>(n));
      continue;
    }
    // Each tunnel draws from its own generator seeded alike, so SmoothGrad, SmoothGrad² and
    // VarGrad asked together see the same noise, and each equals captum's under torch.manual_seed(seed).
    auto generator = at::make_generator<at::CPUGeneratorImpl>(options_.seed);
    std::vector<at::Tensor> image_values, image_deltas;
    for (int64_t i = 0; i < n; ++i) {
      const Stopwatch image_watch;
      passes = {0, options_.samples * formula.passes_per_input};
      const gradient::GradientContext c{model_, options_, name, i, passes};
      const auto image = images.slice(0, i, i + 1);
      const double stdev = options_.noise_stdev > 0
                               ? options_.noise_stdev
                               : options_.noise_level * (image.max() - image.min()).item<double>();
      const auto result = gradient::noise_tunnel(c, method.tunnel, formula, image, baselines.slice(0, i, i + 1),
                                                 classes[i], stdev, generator);
      image_values.push_back(result.values);
      if (result.deltas.defined()) image_deltas.push_back(result.deltas);
      times[m].push_back(image_watch.ms());
    }
    values[m] = at::cat(image_values);
    if (!image_deltas.empty()) deltas[m] = at::cat(image_deltas);
  }

  std::vector<AttributionExplanation> out(n);
  for (int64_t i = 0; i < n; ++i) {
    auto& e = out[i];
    e.target = classes[i];
    if (e.target < static_cast<int64_t>(options_.labels.size())) e.label = options_.labels[e.target];
    e.score = target_scores[i].item<float>();
    for (size_t m = 0; m < methods_.size(); ++m) {
      AttributionMap map;
      map.method = to_string(methods_[m]);
      map.values = values[m][i].contiguous();
      map.map = magnitude_map(map.values, layout, options_.map_percentile).contiguous();
      if (deltas[m].defined()) map.convergence_delta = deltas[m][i].item<double>();
      map.time_ms = times[m][i];
      map.empty = map.map.max().item<float>() == 0;
      if (map.empty) {
        map.warning = map.method + " of image " + std::to_string(i) + " (class " + std::to_string(e.target) +
                      ") is zero everywhere: the score does not change with the input there";
      }
      e.maps.push_back(std::move(map));
    }
  }
  return out;
}

}  // namespace lumos
