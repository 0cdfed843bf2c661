// lumos explain: heatmaps and superpixels for each image, a JSON file of every number,
// and one self-contained HTML report for the run.
#include "commands.hpp"
#include "progress.hpp"

#include "lumos/atomic_file.hpp"
#include "lumos/cam.hpp"
#include "lumos/error.hpp"
#include "lumos/lime.hpp"
#include "lumos/npy.hpp"
#include "lumos/render.hpp"
#include "lumos/report.hpp"
#include "lumos/runtime.hpp"

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>
#include <opencv2/imgproc.hpp>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <map>
#include <optional>
#include <set>

namespace lumos::cli {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using nlohmann::json;

double ms_since(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

std::string fixed(double value, int decimals) {
  char text[64];
  std::snprintf(text, sizeof text, "%.*f", decimals, value);
  return text;
}

// "top3" asks for each of the 3 best classes; other entries name one class each.
std::vector<Target> parse_targets(const std::string& text) {
  std::vector<Target> targets;
  for (const auto& part : split_commas(text)) {
    if (part.size() > 3 && part.compare(0, 3, "top") == 0) {
      size_t used = 0;
      long long k = 0;
      try {
        k = std::stoll(part.substr(3), &used);
      } catch (const std::exception&) {
      }
      if (used != part.size() - 3 || k < 1) throw UsageError("--target '" + part + "' — give top1, top2, …");
      for (int64_t rank = 1; rank <= k; ++rank) targets.push_back(Target::top(rank));
      continue;
    }
    try {
      targets.push_back(Target::parse(part));
    } catch (const InputError& e) {
      throw UsageError(std::string("--target: ") + e.what());
    }
  }
  if (targets.empty()) throw UsageError("--target is empty — give top1, topK, a class index or a label");
  return targets;
}

HideColor parse_hide(const std::string& text) {
  if (text == "mean") return HideColor::segment_mean();
  if (text == "blur") return HideColor::blurred(10);
  try {
    size_t used = 0;
    const double value = std::stod(text, &used);
    if (used == text.size() && value >= 0 && value <= 255) return HideColor::constant(value);
  } catch (const std::exception&) {
  }
  throw UsageError("--lime-hide '" + text + "' — give a grey level 0-255, mean, or blur");
}

// A name that is safe as a file or folder name.
std::string slug(const std::string& text) {
  std::string out;
  for (char c : text) out += (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == '+') ? c : '_';
  return out.empty() ? "_" : out;
}

struct Job {
  std::string path;
  std::string name;  // output folder, unique in the run
};

std::vector<Job> name_jobs(const std::vector<std::string>& paths) {
  std::vector<Job> jobs;
  std::map<std::string, int> used;
  for (const auto& path : paths) {
    std::string name = slug(fs::path(path).stem().string());
    if (const int n = used[name]++; n > 0) name += "_" + std::to_string(n + 1);
    jobs.push_back({path, name});
  }
  return jobs;
}

// An image's outputs go to a hidden folder that is renamed into place once they are all
// written, so an error or Ctrl-C never leaves a half-filled folder.
class StagedFolder {
 public:
  StagedFolder(const fs::path& out, const std::string& name)
      : final_(out / name), staging_(out / ("." + name + ".partial")) {
    fs::remove_all(staging_);
    fs::create_directories(staging_);
  }
  StagedFolder(const StagedFolder&) = delete;
  StagedFolder& operator=(const StagedFolder&) = delete;
  ~StagedFolder() {
    std::error_code ignored;
    if (!committed_) fs::remove_all(staging_, ignored);
  }
  std::string file(const std::string& name) const { return (staging_ / name).string(); }
  std::string final_file(const std::string& name) const { return (final_ / name).string(); }
  void commit() {
    fs::remove_all(final_);
    fs::rename(staging_, final_);
    committed_ = true;
  }

 private:
  fs::path final_, staging_;
  bool committed_ = false;
};

// LIME segments the image at the model's input size, as lime does, but at least 224 px
// a side: on a small input (112 px faces) quickshift would find only a few segments.
cv::Size lime_size(cv::Size model_size) {
  const double scale = std::max(1.0, 224.0 / std::min(model_size.width, model_size.height));
  return {static_cast<int>(std::lround(model_size.width * scale)), static_cast<int>(std::lround(model_size.height * scale))};
}

cv::Mat resized_nearest(const cv::Mat& labels, cv::Size size) {
  cv::Mat out;
  cv::resize(labels, out, size, 0, 0, cv::INTER_NEAREST);
  return out;
}

// Everything the run shares: the model, its settings and the explainers.
class Explainer {
 public:
  Explainer(const Explainer&) = delete;  // its CAM progress callback points back at it
  Explainer& operator=(const Explainer&) = delete;
  Explainer(const ExplainOptions& options, Model& model)
      : options_(options),
        model_(model),
        preprocess_(options.input.preprocess_for(model)),
        size_(options.input.size_for(model)),
        labels_(options.input.labels_for(model)),
        targets_(parse_targets(options.target)),
        colormap_(parse_colormap(options.colormap)),
        hide_(parse_hide(options.lime_hide)) {
    for (const auto& method : parse_methods(split_commas(options.methods))) {
      if (method.cam) {
        cam_methods_.push_back(*method.cam);
      } else {
        lime_ = true;
      }
    }
    if (cam_methods_.empty() && !lime_) throw UsageError("--method is empty — give e.g. gradcam,gradcam++,lime");
    for (const auto& format : split_commas(options.formats)) {
      if (format != "png" && format != "json" && format != "html" && format != "npy") {
        throw UsageError("--format '" + format + "' — give some of png, json, html, npy");
      }
      formats_.insert(format);
    }
    if (!cam_methods_.empty()) {
      CamOptions cam;
      cam.layers = options.layers;
      cam.labels = labels_;
      cam.aug_smooth = options.aug_smooth;
      cam.eigen_smooth = options.eigen_smooth;
      cam.perturbation_batch = options.perturbation_batch;
      cam.bf16 = options.bf16;
      // Score-CAM and Ablation-CAM run hundreds of forwards per image: show them, let Ctrl-C stop them.
      cam.progress = [this](const CamProgress& p) {
        if (!cam_progress_.bar) return;
        cam_progress_.bar->update(cam_progress_.done + p.image, to_string(p.method) + " " + std::to_string(p.done) +
                                                                    "/" + std::to_string(p.total));
      };
      cam.cancel = [] { return interrupted(); };
      cam_.emplace(model, cam_methods_, cam);
    }
  }

  bool wants(const std::string& format) const { return formats_.count(format) > 0; }

  std::vector<std::pair<std::string, std::string>> settings() const {
    std::vector<std::pair<std::string, std::string>> out{{"model", options_.model.path},
                                                         {"scores", model_.score_description()},
                                                         {"methods", options_.methods},
                                                         {"target", options_.target},
                                                         {"preprocess", preprocess_.name}};
    if (cam_) {
      std::string layers;
      for (const auto& layer : cam_->layers()) layers += (layers.empty() ? "" : ", ") + layer;
      out.emplace_back("CAM layer", layers);
    }
    return out;
  }

  // Explains the loaded images of one batch, writing each one's folder; returns report entries.
  std::vector<ReportImage> explain_batch(const std::vector<Job>& jobs, const std::vector<Image>& originals,
                                         ProgressBar& progress, int64_t done_before) {
    std::vector<Image> resized;
    for (const auto& image : originals) resized.push_back(resize(image, size_, preprocess_.fit));
    const at::Tensor batch = make_batch(resized, model_.input(), preprocess_, size_);
    const at::Tensor scores = model_.scores(batch);
    options_.input.check_labels(labels_, scores.size(1), model_);
    const int64_t n = scores.size(0);

    // classes[t][i]: the class target t names for image i.
    std::vector<std::vector<int64_t>> classes;
    for (const auto& target : targets_) {
      std::vector<int64_t> per_image;
      for (int64_t i = 0; i < n; ++i) per_image.push_back(target.resolve(scores[i], labels_));
      classes.push_back(per_image);
    }
    // cams[t][i]: every CAM method's map for target t of image i; one trace per target.
    std::vector<std::vector<CamExplanation>> cams;
    double cam_ms_per_image = 0;
    if (cam_) {
      const auto start = Clock::now();
      cam_progress_ = {&progress, done_before};
      for (const auto& per_image : classes) {
        std::vector<Target> batch_targets;
        for (int64_t c : per_image) batch_targets.push_back(Target::class_index(c));
        cams.push_back(cam_->explain(batch, batch_targets));
      }
      cam_ms_per_image = ms_since(start) / static_cast<double>(n);
    }

    std::vector<ReportImage> entries;
    for (int64_t i = 0; i < n; ++i) {
      throw_if_interrupted();
      StagedFolder folder(options_.out, jobs[i].name);
      ImageOutput out{jobs[i], originals[i], scores[i], at::softmax(scores[i].to(at::kDouble), 0), folder, {},
                      json::object()};
      describe_predictions(out);
      std::vector<int64_t> image_classes;
      for (const auto& per_image : classes) image_classes.push_back(per_image[i]);
      json targets = json::array();
      std::map<int64_t, json> methods_of;
      for (size_t t = 0; t < classes.size(); ++t) {
        const int64_t c = image_classes[t];
        if (methods_of.count(c)) continue;  // topK and an explicit class may coincide
        methods_of[c] = json::array();
        if (cam_) write_cams(out, c, cams[t][i], cam_ms_per_image, methods_of[c]);
      }
      if (lime_) {
        progress.update(done_before + i, "LIME on " + jobs[i].name);
        write_lime(out, methods_of, progress, done_before + i);
      }
      for (auto& [c, methods] : methods_of) {
        targets.push_back({{"class", c}, {"label", label_of(c, false)}, {"score", out.scores[c].item<double>()},
                           {"probability", out.probabilities[c].item<double>()}, {"methods", methods}});
      }
      out.record["targets"] = targets;
      if (wants("json")) write_file_atomically(folder.file("explanation.json"), {out.record.dump(2)});
      folder.commit();
      entries.push_back(std::move(out.report));
      progress.update(done_before + i + 1, "");
    }
    return entries;
  }

 private:
  struct ImageOutput {
    const Job& job;
    const Image& original;
    at::Tensor scores;         // [classes]
    at::Tensor probabilities;  // softmax of scores, float64
    StagedFolder& folder;
    ReportImage report;
    json record;
  };

  static Colormap parse_colormap(const std::string& name) {
    try {
      return colormap_named(name);
    } catch (const InputError& e) {
      throw UsageError(std::string("--colormap: ") + e.what());
    }
  }

  std::string label_of(int64_t c, bool with_fallback = true) const {
    if (!labels_.empty()) return labels_[c];
    return with_fallback ? "class " + std::to_string(c) : "";
  }

  // Saves a picture into the image's folder and returns its final path (for the report).
  std::string save(const ImageOutput& out, const cv::Mat& pixels, const std::string& name) const {
    save_png(pixels, out.folder.file(name));
    return out.folder.final_file(name);
  }

  void describe_predictions(ImageOutput& out) const {
    const auto& probabilities = out.probabilities;
    out.record = {{"image", out.job.path},
                {"size", {out.original.width(), out.original.height()}},
                {"model", options_.model.path},
                {"scores", model_.score_description()},
                {"preprocess", preprocess_.name},
                {"predictions", json::array()}};
    const auto [values, indices] = at::topk(out.scores, std::min<int64_t>(options_.top, out.scores.size(0)));
    for (int64_t k = 0; k < values.size(0); ++k) {
      const int64_t c = indices[k].item<int64_t>();
      out.record["predictions"].push_back({{"class", c}, {"label", label_of(c, false)},
                                         {"score", values[k].item<double>()},
                                         {"probability", probabilities[c].item<double>()}});
      out.report.predictions.push_back({label_of(c), probabilities[c].item<double>()});
    }
    out.report.name = out.job.path;
    out.report.source_png = save(out, out.original.pixels(), "input.png");
  }

  void write_cams(ImageOutput& out, int64_t c, const CamExplanation& explanation, double ms, json& methods) const {
    append_target(out.report, c);
    for (const auto& map : explanation.maps) {
      const std::string method = to_string(map.method);
      const std::string stem = slug(method) + "_" + slug(label_of(c));
      const std::string png = save(out, overlay(out.original, map.map, colormap_, options_.image_weight).pixels(),
                                   stem + ".png");
      json entry{{"method", method}, {"file", stem + ".png"}, {"time_ms", ms}, {"empty", map.empty}};
      if (wants("npy")) {
        write_npy(out.folder.file(stem + ".npy"), map.map);
        entry["map"] = stem + ".npy";
      }
      if (!map.warning.empty()) entry["warning"] = map.warning;
      methods.push_back(entry);
      ReportPanel panel{method + " · " + label_of(c), png, {{"time", fixed(ms, 0) + " ms"}}};
      if (map.empty) panel.facts.push_back({"note", "no positive evidence (empty map)"});
      out.report.panels.push_back(panel);
    }
  }

  void write_lime(ImageOutput& out, std::map<int64_t, json>& methods_of, ProgressBar& progress, int64_t done) const {
    LimeOptions lime;
    lime.num_samples = options_.lime_samples;
    lime.batch_size = options_.perturbation_batch;
    lime.top_labels = 0;
    for (const auto& [c, methods] : methods_of) lime.labels.push_back(c);
    lime.hide = hide_;
    lime.seed = options_.seed;
    lime.progress = [&](int64_t samples, int64_t total) {
      progress.update(done, "LIME " + std::to_string(samples) + "/" + std::to_string(total));
    };
    lime.cancel = [] { return interrupted(); };
    const auto start = Clock::now();
    const Image lime_image = resize(out.original, lime_size(size_), preprocess_.fit);
    const auto result = explain_lime(lime_image.pixels(), model_classifier(model_, preprocess_, size_, options_.bf16), lime);
    const double ms = ms_since(start);

    cv::Mat photo;
    out.original.pixels().convertTo(photo, CV_64FC3, 1.0 / 255);
    for (auto& [c, methods] : methods_of) {
      append_target(out.report, c);
      const auto& linear = result.of(c);
      MaskOptions mask_options;
      mask_options.num_features = options_.lime_features;
      const cv::Mat mask = resized_nearest(image_and_mask(result, c, mask_options).mask, out.original.size());
      const std::string stem = "lime_" + slug(label_of(c));
      cv::Mat boundaries, mask_pixels;
      // skimage.segmentation.mark_boundaries(image, mask) as the seed calls it: mode "outer".
      mark_boundaries(photo, mask, cv::Scalar(1, 1, 0), BoundaryMode::outer).convertTo(boundaries, CV_8UC3, 255.0);
      cv::Mat(mask != 0).copyTo(mask_pixels);
      const std::string boundaries_png = save(out, boundaries, stem + ".png");
      save(out, mask_pixels, stem + "_mask.png");
      const cv::Mat heat = resized_nearest(positive_weight_map(result.segments, linear), out.original.size());
      const std::string heat_png = save(out, overlay(out.original, heat, colormap_, options_.image_weight).pixels(),
                                        stem + "_heatmap.png");
      json weights = json::array();
      for (const auto& w : linear.weights) weights.push_back({{"segment", w.segment}, {"weight", w.weight}});
      methods.push_back({{"method", "lime"},
                         {"file", stem + ".png"},
                         {"mask", stem + "_mask.png"},
                         {"heatmap", stem + "_heatmap.png"},
                         {"time_ms", ms},
                         {"timings_ms", {{"segmentation", result.timings.segmentation_ms},
                                         {"images", result.timings.images_ms},
                                         {"model", result.timings.model_ms},
                                         {"regression", result.timings.regression_ms}}},
                         {"segments", result.segments.count},
                         {"samples", options_.lime_samples},
                         {"intercept", linear.intercept},
                         {"r2", linear.score},
                         {"local_prediction", linear.local_prediction},
                         {"weights", weights}});
      out.report.panels.push_back({"LIME · " + label_of(c), boundaries_png,
                                   {{"R²", fixed(linear.score, 2)}, {"time", fixed(ms, 0) + " ms"}}});
      out.report.panels.push_back({"LIME weights · " + label_of(c), heat_png, {}});
    }
  }

  void append_target(ReportImage& report, int64_t c) const {
    const std::string name = label_of(c);
    if (report.target.find(name) != std::string::npos) return;
    report.target += (report.target.empty() ? "" : ", ") + name;
  }

  const ExplainOptions& options_;
  Model& model_;
  Preprocess preprocess_;
  cv::Size size_;
  std::vector<std::string> labels_;
  std::vector<Target> targets_;
  Colormap colormap_;
  HideColor hide_;
  std::vector<CamMethod> cam_methods_;
  bool lime_ = false;
  std::set<std::string> formats_;
  std::optional<CamExplainer> cam_;
  struct {
    ProgressBar* bar = nullptr;
    int64_t done = 0;  // images finished before the batch under way
  } cam_progress_;
};

}  // namespace

CLI::App* add_explain_command(CLI::App& app, ExplainOptions& options) {
  auto* command = app.add_subcommand(
      "explain", "Explain each image's prediction: heatmaps, LIME superpixels, a JSON file and an HTML report");
  command->add_option("-m,--model", options.model.path, "Model file: .onnx, .keras, .h5, or a TF.js model.json. Default: the bundled face-expression model");
  command->add_option("--score", options.model.score,
                      "Explain logits (default; a final Softmax is skipped) or probability")
      ->check(CLI::IsMember({"logits", "probability"}));
  command->add_option("-i,--image", options.images, "Image files or folders (default: the bundled sample faces)");
  command->add_option("--method", options.methods,
                      "Comma-separated: gradcam, gradcam++, hirescam, xgradcam, layercam, eigencam, scorecam, "
                      "ablationcam, lime (default gradcam,gradcam++,lime)");
  command->add_option("--layer", options.layers,
                      "CAM target layer(s), comma-separated, averaged (default: the last conv block; see lumos layers)")
      ->delimiter(',');
  command->add_option("--target", options.target,
                      "What to explain: top1 (default), topK (each of the K best classes), a class index or a label; "
                      "comma-separated for several");
  options.input.add_to(*command);
  command->add_option("-o,--out", options.out, "Output folder (default lumos-out)");
  command->add_option("--format", options.formats,
                      "Outputs besides the PNG pictures: json, html, npy (raw float maps), comma-separated "
                      "(default json,html)");
  command->add_option("--top", options.top, "Predictions listed per image (default 5)")->check(kPositiveInteger);
  command->add_option("--batch", options.batch, "Images per forward pass (default 8)")->check(kPositiveInteger);
  command->add_option("--colormap", options.colormap, "Heatmap colours: jet (default), turbo, viridis, inferno");
  command->add_option("--image-weight", options.image_weight, "Weight of the photo in overlays, 0-1 (default 0.5)")
      ->check(CLI::Range(0.0, 1.0));
  command->add_flag("--aug-smooth", options.aug_smooth, "CAM: average over flips and scales (6 passes)");
  command->add_flag("--eigen-smooth", options.eigen_smooth, "CAM: first principal component instead of the sum");
  command->add_option("--perturbation-batch", options.perturbation_batch,
                      "Score-CAM, Ablation-CAM, LIME: perturbed images per forward pass (default 64)")
      ->check(kPositiveInteger);
  command->add_flag("--bf16", options.bf16, "Score-CAM and LIME forwards in bfloat16 (fast on CPUs with AMX)");
  command->add_option("--lime-samples", options.lime_samples, "LIME: perturbed samples (default 1000)")
      ->check(CLI::Range(2, 10000000));
  command->add_option("--lime-features", options.lime_features, "LIME: segments shown (default 5)")
      ->check(kPositiveInteger);
  command->add_option("--lime-hide", options.lime_hide,
                      "LIME: what hidden segments show: a grey level 0-255 (default 0), mean, or blur");
  command->add_option("--seed", options.seed, "Seed of LIME's segmentation and samples (default 0)");
  return command;
}

int run_explain(const ExplainOptions& requested) {
  ExplainOptions options = requested;
  const bool bundled = options.model.path.empty();
  if (bundled) {
    options.model.path = LUMOS_DEFAULT_MODEL;
    if (!fs::exists(options.model.path)) {
      throw InputError("the bundled model '" + options.model.path + "' is not there yet — run scripts/demo.sh "
                       "(or scripts/fetch_models.sh build/third_party), or give -m MODEL");
    }
  }
  if (options.images.empty()) {
    if (!bundled) throw UsageError("-i is required with -m — give image files or folders");
    options.images = {LUMOS_SAMPLES_DIR};
  }
  const auto jobs = name_jobs(collect_images(options.images));
  const auto model = options.model.load();
  Explainer explainer(options, *model);
  if (options.bf16 && !cpu_has_native_bf16()) {
    std::cerr << "lumos: warning: --bf16: this CPU has no native bfloat16 (AMX or AVX512-BF16), so the bf16 "
                 "forwards are emulated and slower than float32; leave --bf16 off here\n";
  }

  fs::create_directories(options.out);
  catch_interrupts();
  ProgressBar progress("explaining", static_cast<int64_t>(jobs.size()));
  ReportRun report;
  report.title = "lumos — " + fs::path(options.model.path).filename().string();
  report.settings = explainer.settings();
  std::vector<std::string> failures;
  // A model with a fixed batch size gets exactly that many images per pass.
  const size_t batch_size = model->input().batch > 0 ? 1 : static_cast<size_t>(options.batch);
  for (size_t first = 0; first < jobs.size(); first += batch_size) {
    throw_if_interrupted();
    std::vector<Job> batch_jobs;
    std::vector<Image> images;
    for (size_t j = first; j < std::min(jobs.size(), first + batch_size); ++j) {
      try {
        images.push_back(Image::load(jobs[j].path));
        batch_jobs.push_back(jobs[j]);
      } catch (const ImageError& e) {
        print_error(e.what());
        failures.push_back(jobs[j].path);
        report.images.push_back({jobs[j].path, "", "", {}, {}, e.what()});
      }
    }
    if (images.empty()) continue;
    for (auto& entry : explainer.explain_batch(batch_jobs, images, progress, static_cast<int64_t>(first))) {
      report.images.push_back(std::move(entry));
    }
  }
  progress.finish();
  if (explainer.wants("html")) {
    const auto path = fs::absolute(fs::path(options.out) / "report.html").string();
    write_html_report(path, report);
    std::cout << "report: " << path << "\n";
  }
  std::cout << "explained " << jobs.size() - failures.size() << " of " << jobs.size() << " images into "
            << fs::absolute(options.out).string() << "\n";
  if (failures.empty()) return kOk;
  std::string names;
  for (const auto& f : failures) names += (names.empty() ? "" : ", ") + f;
  print_error(std::to_string(failures.size()) + " of " + std::to_string(jobs.size()) + " images failed: " + names);
  return failures.size() == jobs.size() ? kInputError : kSomeInputsFailed;
}

}  // namespace lumos::cli
