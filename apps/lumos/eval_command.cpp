// lumos eval: explains every image with each method and measures the maps (docs/metrics.md).
#include "eval_command.hpp"

#include "boxes.hpp"
#include "progress.hpp"
#include "lumos/atomic_file.hpp"
#include "lumos/cam.hpp"
#include "lumos/error.hpp"
#include "lumos/explain.hpp"
#include "lumos/method_family.hpp"
#include "lumos/metrics.hpp"

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <map>
#include <optional>
#include <sstream>

namespace lumos::cli {
namespace {

namespace fs = std::filesystem;

// One image to evaluate, with what the boxes file says about it.
struct Item {
  std::string name;
  std::string path;
  std::optional<int64_t> truth;
  std::vector<Box> boxes;
};

struct ImageScores {
  std::string image;
  int64_t target = 0;
  double deletion = 0, insertion = 0;
  ConfidenceChange confidence;
  std::optional<bool> hit;
  std::optional<double> energy;
  std::optional<double> rank_correlation;
};

// Every CAM method when --method is not given.
std::vector<std::string> methods_to_evaluate(const std::vector<std::string>& names) {
  if (!names.empty()) return parse_methods(names);
  std::vector<std::string> methods;
  for (auto method : all_cam_methods()) methods.push_back(to_string(method));
  return methods;
}

std::vector<Item> list_items(const EvalOptions& options) {
  const bool one_dir = options.inputs.size() == 1 && fs::is_directory(options.inputs[0]);
  if (!options.boxes.empty()) {
    if (!one_dir) throw UsageError("with --boxes, -i must be the one directory the boxes file's images are in");
    std::vector<Item> items;
    for (auto& boxed : read_boxes(options.boxes)) {
      items.push_back({boxed.name, (fs::path(options.inputs[0]) / boxed.name).string(), boxed.truth,
                       std::move(boxed.boxes)});
    }
    return items;
  }
  std::vector<Item> items;
  if (one_dir) {
    for (const auto& file : image_files(options.inputs)) {
      items.push_back({fs::path(file).filename().string(), file, std::nullopt, {}});
    }
  } else {
    for (const auto& path : options.inputs) items.push_back({path, path, std::nullopt, {}});
  }
  return items;
}

// Maps [n, H, W] of every method, in method order, from the explain pipeline: each image's
// target class; LIME as lime's defaults have it (segment-mean hiding), at the model's input size.
struct Explained {
  std::vector<int64_t> targets;  // the class explained in each image
  std::vector<at::Tensor> maps;
};

Explained explain(Model& model, const std::vector<std::string>& methods, const std::vector<Image>& images,
                  const std::vector<Target>& targets, const Preprocess& preprocess, cv::Size size,
                  const EvalOptions& options, const std::map<std::string, std::string>& method_options) {
  ExplainRequest request;
  request.methods = methods;
  request.options = method_options;
  request.layers = options.layers;
  request.preprocess = preprocess;
  request.input_size = size;
  request.batch_size = options.batch;
  request.perturbation_batch = options.batch;
  request.seed = options.seed;
  request.lime.samples = options.lime_samples;
  request.lime.hide = HideColor::segment_mean();
  request.lime.min_side = 0;
  std::vector<ImageInput> inputs;
  for (size_t i = 0; i < images.size(); ++i) {
    inputs.push_back(ImageInput::decoded(images[i]));
    inputs.back().targets = {targets[i]};
  }
  const auto results = ExplainPipeline(model, request).run(inputs);
  Explained out;
  for (const auto& result : results) out.targets.push_back(result.targets.at(0).class_index);
  for (size_t m = 0; m < methods.size(); ++m) {
    std::vector<at::Tensor> per_image;
    for (const auto& result : results) per_image.push_back(result.targets.at(0).methods.at(m).map);
    out.maps.push_back(at::stack(per_image).to(at::kFloat));
  }
  return out;
}

at::Tensor region_of(const Item& item, const Image& image, cv::Size size) {
  try {
    return boxes_region(item.boxes, image.original_size().width, image.original_size().height, size.height,
                        size.width);
  } catch (const InputError& e) {
    throw InputError(item.name + ": " + e.what());
  }
}

double mean(const std::vector<double>& values) {
  double sum = 0;
  for (double v : values) sum += v;
  return values.empty() ? NAN : sum / static_cast<double>(values.size());
}

nlohmann::json summarise(const std::vector<ImageScores>& scores) {
  std::vector<double> deletion, insertion, hits, energy, correlation;
  std::vector<ConfidenceChange> changes;
  int64_t undefined_correlations = 0;
  for (const auto& s : scores) {
    deletion.push_back(s.deletion);
    insertion.push_back(s.insertion);
    changes.push_back(s.confidence);
    if (s.hit) hits.push_back(*s.hit ? 1 : 0);
    if (s.energy) energy.push_back(*s.energy);
    if (s.rank_correlation) {
      if (std::isnan(*s.rank_correlation)) ++undefined_correlations;
      else correlation.push_back(*s.rank_correlation);
    }
  }
  nlohmann::json out{{"images", scores.size()},
                     {"deletion_auc", mean(deletion)},
                     {"insertion_auc", mean(insertion)},
                     {"average_drop", average_drop(changes)},
                     {"increase_in_confidence", increase_in_confidence(changes)}};
  if (!hits.empty()) out["pointing_game"] = mean(hits);
  if (!energy.empty()) out["energy_in_box"] = mean(energy);
  if (!correlation.empty() || undefined_correlations > 0) {
    out["rank_correlation"] = correlation.empty() ? nlohmann::json(nullptr) : nlohmann::json(mean(correlation));
    out["rank_correlation_undefined"] = undefined_correlations;  // a constant map on either side
  }
  return out;
}

std::string cell(const nlohmann::json& summary, const char* key, double scale, int precision) {
  if (!summary.contains(key) || summary[key].is_null()) return "-";
  std::ostringstream out;
  out << std::fixed << std::setprecision(precision) << summary[key].get<double>() * scale;
  return out.str();
}

void print_table(const std::vector<std::string>& methods, const std::vector<nlohmann::json>& summaries) {
  const std::vector<std::pair<std::string, std::string>> columns{
      {"pointing_game", "pointing %"}, {"energy_in_box", "energy %"},       {"deletion_auc", "deletion"},
      {"insertion_auc", "insertion"},  {"average_drop", "avg drop %"},      {"increase_in_confidence", "increase %"},
      {"rank_correlation", "rank corr"}};
  int width = 12;
  for (const auto& method : methods) width = std::max(width, static_cast<int>(method.size()) + 2);
  std::cout << std::left << std::setw(width) << "method";
  for (const auto& column : columns) std::cout << std::right << std::setw(12) << column.second;
  std::cout << "\n";
  for (size_t m = 0; m < methods.size(); ++m) {
    std::cout << std::left << std::setw(width) << methods[m];
    for (const auto& [key, title] : columns) {
      const bool percent = key == "pointing_game" || key == "energy_in_box";
      const bool auc_like = key == "deletion_auc" || key == "insertion_auc" || key == "rank_correlation";
      std::cout << std::right << std::setw(12) << cell(summaries[m], key.c_str(), percent ? 100 : 1, auc_like ? 3 : 1);
    }
    std::cout << "\n";
  }
}

}  // namespace

CLI::App* add_eval_command(CLI::App& app, EvalOptions& options) {
  auto* command = app.add_subcommand(
      "eval", "Measure explanations over a folder: deletion/insertion AUC, average drop, increase in confidence, "
              "pointing game and energy in the box (with --boxes)");
  options.model.add_to(*command, false);
  command->add_option("-i,--input", options.inputs, "A directory of images, or image files")->required();
  std::string names;
  for (const auto& name : MethodRegistry::instance().method_names()) names += (names.empty() ? "" : ", ") + name;
  command->add_option("--method", options.methods, "Methods, comma-separated: " + names + " (default: every CAM method)")
      ->delimiter(',');
  command->add_option("--boxes", options.boxes,
                      "CSV with header image,x0,y0,x1,y1 and optionally class: boxes in image pixels, half-open; "
                      "the images are looked up in the -i directory");
  command->add_option("--target", options.target,
                      "Class explained: truth (the boxes file's class), top1, or auto (truth when known)")
      ->check(one_of({"auto", "truth", "top1"}));
  command->add_option("--layer", options.layers, "CAM target layer (repeat for several; default: the model's)");
  command->add_option("--preprocess", options.preprocess,
                      "Normalisation preset (default: the model's metadata, else imagenet)");
  command->add_option("--steps", options.steps, "Deletion/insertion steps (default 100)")
      ->check(integer_in(1, kMaxSteps));
  command->add_option("--batch", options.batch, "Inputs per forward pass (default 32); also images per chunk")
      ->check(integer_in(1, kMaxBatch));
  command->add_option("--limit", options.limit, "Evaluate only the first N images")->check(kPositiveInteger);
  command->add_option("--tolerance", options.tolerance, "Pointing game tolerance in pixels (default 15)")
      ->check(number_in(0, 1e6));
  command->add_option("--baseline", options.baseline,
                      "What deleted pixels become: zero (0 in the model's input, RISE's choice) or black")
      ->check(one_of({"zero", "black"}));
  command->add_option("--sanity-model", options.sanity_model,
                      "The model with randomised top layers: report the rank correlation of the maps (Adebayo et al.)");
  command->add_option("--lime-samples", options.lime_samples, "LIME samples per image (default 1000)")
      ->check(integer_in(2, kMaxSamples));
  command->add_option("--seed", options.seed, "Seed of every random draw: LIME, noise tunnels, RISE, KernelSHAP (default 0)")
      ->check(kNonNegativeInteger);
  command->add_option("--option", options.method_options, method_options_help());
  command->add_option("--json", options.json, "Also write per-image and per-method results to this JSON file");
  return command;
}

int run_eval(const EvalOptions& options) {
  const auto methods = methods_to_evaluate(options.methods);
  const auto method_options = parse_method_options(options.method_options);
  auto items = list_items(options);
  if (options.limit > 0 && static_cast<size_t>(options.limit) < items.size()) items.resize(options.limit);
  const bool truth = options.target == "truth" ||
                     (options.target == "auto" && std::all_of(items.begin(), items.end(), [](const Item& i) {
                        return i.truth.has_value();
                      }));
  if (truth && !std::all_of(items.begin(), items.end(), [](const Item& i) { return i.truth.has_value(); })) {
    throw UsageError("--target truth needs a boxes file with a class for every image (--boxes)");
  }

  const auto model = options.model.load();
  std::unique_ptr<Model> sanity_model;
  if (!options.sanity_model.empty()) {
    ModelOptions sanity = options.model;
    sanity.path = options.sanity_model;
    sanity_model = sanity.load();
  }
  const auto preprocess = choose_preprocess(options.preprocess, {}, {}, *model);
  const auto& input = model->input();
  const cv::Size size = model_input_size(input);

  CausalOptions causal;
  causal.steps = options.steps;
  if (options.baseline == "black") {
    const Image black(cv::Mat::zeros(size, CV_8UC3));
    causal.baseline = make_batch({black}, input, preprocess, size)[0];
  }
  MetricOptions metric_options;
  metric_options.batch_size = options.batch;

  std::vector<std::vector<ImageScores>> scores(methods.size());
  ProgressBar progress("eval", static_cast<int64_t>(items.size()));
  size_t done = 0;
  std::string method_name;
  metric_options.progress = [&](const MetricProgress& p) {
    progress.update(static_cast<int64_t>(done), method_name + " " + p.metric + " " + std::to_string(p.done) + "/" +
                                                    std::to_string(p.total));
    throw_if_interrupted();
  };
  for (size_t first = 0; first < items.size(); first += options.batch) {
    const size_t end = std::min(items.size(), first + static_cast<size_t>(options.batch));
    std::vector<Image> images;
    for (size_t i = first; i < end; ++i) images.push_back(resize(Image::load(items[i].path), size, preprocess.fit));
    const at::Tensor batch = make_batch(images, input, preprocess, size);
    std::vector<Target> wanted;
    for (size_t i = first; i < end; ++i) wanted.push_back(truth ? Target::class_index(*items[i].truth) : Target::top(1));
    const auto explained = explain(*model, methods, images, wanted, preprocess, size, options, method_options);
    const auto& targets = explained.targets;
    const auto& maps = explained.maps;
    std::vector<at::Tensor> random_maps;
    if (sanity_model) {
      std::vector<Target> same;
      for (int64_t c : targets) same.push_back(Target::class_index(c));
      random_maps = explain(*sanity_model, methods, images, same, preprocess, size, options, method_options).maps;
    }

    for (size_t m = 0; m < methods.size(); ++m) {
      method_name = methods[m];
      const auto deletion = deletion_curves(*model, batch, maps[m], targets, causal, metric_options);
      const auto insertion = insertion_curves(*model, batch, maps[m], targets, causal, metric_options);
      const auto changes = confidence_changes(*model, batch, maps[m], targets, metric_options);
      for (size_t i = 0; i < images.size(); ++i) {
        ImageScores s;
        s.image = items[first + i].name;
        s.target = targets[i];
        s.deletion = deletion[i].auc;
        s.insertion = insertion[i].auc;
        s.confidence = changes[i];
        if (!items[first + i].boxes.empty()) {
          const at::Tensor region = region_of(items[first + i], images[i], size);
          s.hit = pointing_game_hit(maps[m][i], region, options.tolerance);
          s.energy = energy_in_region(maps[m][i], region);
        }
        if (sanity_model) s.rank_correlation = spearman_correlation(maps[m][i], random_maps[m][i]);
        scores[m].push_back(std::move(s));
      }
    }
    done = end;
    progress.update(static_cast<int64_t>(done), "");
  }
  progress.finish();

  std::vector<nlohmann::json> summaries;
  for (const auto& method_scores : scores) summaries.push_back(summarise(method_scores));
  std::cout << "lumos eval: " << items.size() << " images, class: " << (truth ? "ground truth" : "top-1")
            << ", steps " << options.steps << ", deletion baseline " << options.baseline << ", pointing tolerance "
            << options.tolerance << " px\n";
  print_table(methods, summaries);

  if (!options.json.empty()) {
    nlohmann::json out{{"model", options.model.path},
                       {"images", items.size()},
                       {"target", truth ? "truth" : "top1"},
                       {"steps", options.steps},
                       {"baseline", options.baseline},
                       {"tolerance", options.tolerance},
                       {"methods", nlohmann::json::object()}};
    if (sanity_model) out["sanity_model"] = options.sanity_model;
    for (size_t m = 0; m < methods.size(); ++m) {
      nlohmann::json entry = summaries[m];
      entry["per_image"] = nlohmann::json::array();
      for (const auto& s : scores[m]) {
        nlohmann::json row{{"image", s.image},
                           {"class", s.target},
                           {"deletion_auc", s.deletion},
                           {"insertion_auc", s.insertion},
                           {"probability", s.confidence.original},
                           {"probability_explained", s.confidence.explained}};
        if (s.hit) row["pointing_hit"] = *s.hit;
        if (s.energy) row["energy_in_box"] = *s.energy;
        if (s.rank_correlation) {
          row["rank_correlation"] =
              std::isnan(*s.rank_correlation) ? nlohmann::json(nullptr) : nlohmann::json(*s.rank_correlation);
        }
        entry["per_image"].push_back(row);
      }
      out["methods"][methods[m]] = entry;
    }
    write_file_atomically(options.json, {out.dump(2) + "\n"});
  }
  return kOk;
}

}  // namespace lumos::cli
