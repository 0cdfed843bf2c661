// lumos explain: the flags of the library's explain pipeline, a progress bar and exit codes.
// The pipeline (lumos/explain.hpp) computes; explanation_files.hpp and report.hpp write.
#include "commands.hpp"
#include "progress.hpp"

#include "lumos/error.hpp"
#include "lumos/explain.hpp"
#include "lumos/explanation_files.hpp"
#include "lumos/method_family.hpp"
#include "lumos/report.hpp"
#include "lumos/runtime.hpp"

#include <filesystem>
#include <iostream>

namespace lumos::cli {
namespace {

namespace fs = std::filesystem;

std::string joined(const std::vector<std::string>& items, const char* separator) {
  std::string out;
  for (const auto& item : items) out += (out.empty() ? "" : separator) + item;
  return out;
}

// The library's InputError for a flag's value becomes a usage error naming the flag.
template <typename Parse>
auto flag_value(const std::string& flag, Parse parse) {
  try {
    return parse();
  } catch (const InputError& e) {
    throw UsageError(flag + ": " + e.what());
  }
}

ExplainRequest request_of(const ExplainOptions& options, const Model& model) {
  ExplainRequest request;
  request.methods = parse_methods(split_commas(options.methods));
  if (request.methods.empty()) throw UsageError("--method is empty — give e.g. gradcam,gradcam++,lime");
  request.targets = flag_value("--target", [&] { return parse_target_list(options.target); });
  request.layers = options.layers;
  request.preprocess = options.input.preprocess_for(model);
  request.input_size = options.input.size_for(model);
  request.labels = options.input.labels_for(model);
  request.top_k = options.top;
  request.batch_size = options.batch;
  request.perturbation_batch = options.perturbation_batch;
  request.bf16 = options.bf16;
  request.seed = options.seed;
  request.cam.aug_smooth = options.aug_smooth;
  request.cam.eigen_smooth = options.eigen_smooth;
  request.lime.samples = options.lime_samples;
  request.lime.hide = flag_value("--lime-hide", [&] { return HideColor::parse(options.lime_hide); });
  request.options = parse_method_options(options.method_options);
  return request;
}

struct Outputs {
  FolderOptions folder;
  bool html = false;
};

Outputs outputs_of(const ExplainOptions& options) {
  Outputs out;
  out.folder.json = false;
  for (const auto& format : split_commas(options.formats)) {
    if (format == "json") out.folder.json = true;
    else if (format == "npy") out.folder.npy = true;
    else if (format == "html") out.html = true;
    else if (format != "png") throw UsageError("--format '" + format + "' — give some of png, json, html, npy");
  }
  out.folder.render.colormap = flag_value("--colormap", [&] { return colormap_named(options.colormap); });
  out.folder.render.image_weight = options.image_weight;
  out.folder.render.segments_shown = options.lime_features;
  return out;
}

// "LIME 300/1000", "scorecam 12/64".
std::string step_of(const ExplainProgress& p) {
  return (p.method == "lime" ? "LIME" : p.method) + " " + std::to_string(p.done) + "/" + std::to_string(p.total);
}

}  // namespace

CLI::App* add_explain_command(CLI::App& app, ExplainOptions& options) {
  auto* command = app.add_subcommand(
      "explain", "Explain each image's prediction: heatmaps, LIME superpixels, a JSON file and an HTML report");
  command->add_option("-m,--model", options.model.path, "Model file (.onnx). Default: the bundled face-expression model");
  command->add_option("--score", options.model.score,
                      "Explain logits (default; a final Softmax is skipped) or probability")
      ->check(CLI::IsMember({"logits", "probability"}));
  command->add_option("-i,--image", options.images, "Image files or folders (default: the bundled sample faces)");
  command->add_option("--method", options.methods,
                      "Comma-separated: " + joined(MethodRegistry::instance().method_names(), ", ") +
                          " (default gradcam,gradcam++,lime)");
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
                      "Score-CAM, Ablation-CAM, LIME, Occlusion, RISE, KernelSHAP: perturbed images per forward pass (default 64)")
      ->check(kPositiveInteger);
  command->add_flag("--bf16", options.bf16, "Score-CAM and LIME forwards in bfloat16 (fast on CPUs with AMX)");
  command->add_option("--lime-samples", options.lime_samples, "LIME: perturbed samples (default 1000)")
      ->check(CLI::Range(2, 10000000));
  command->add_option("--lime-features", options.lime_features, "LIME: segments shown (default 5)")
      ->check(kPositiveInteger);
  command->add_option("--lime-hide", options.lime_hide,
                      "LIME: what hidden segments show: a grey level 0-255 (default 0), mean, or blur");
  command->add_option("--seed", options.seed, "Seed of every random draw: LIME's and KernelSHAP's segments and samples, noise tunnels, RISE's masks (default 0)");
  command->add_option("--option", options.method_options, method_options_help());
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
  const auto paths = image_files(options.images);
  const auto folders = folder_names(paths);
  const auto model = options.model.load();
  const auto outputs = outputs_of(options);
  ExplainPipeline pipeline(*model, request_of(options, *model));
  if (options.bf16 && !cpu_has_native_bf16()) {
    std::cerr << "lumos: warning: --bf16: this CPU has no native bfloat16 (AMX or AVX512-BF16), so the bf16 "
                 "forwards are emulated and slower than float32; leave --bf16 off here\n";
  }

  fs::create_directories(options.out);
  catch_interrupts();
  ProgressBar progress("explaining", static_cast<int64_t>(paths.size()));
  RunSummary run = pipeline.summary();
  run.model = options.model.path;
  run.methods = options.methods;
  run.targets = options.target;
  ReportRun report;
  report.title = "lumos — " + fs::path(options.model.path).filename().string();
  report.settings = report_settings(run);
  std::vector<std::string> failures;
  std::vector<ImageInput> inputs;
  for (const auto& path : paths) inputs.push_back(ImageInput::file(path));
  ExplainControl control;
  control.progress = [&](const ExplainProgress& p) { progress.update(static_cast<int64_t>(p.image), step_of(p)); };
  control.cancel = [] { return interrupted(); };
  try {
    pipeline.run(
        inputs,
        [&](ImageResult&& result) {
          if (!result.ok()) {
            print_error(result.error);
            failures.push_back(result.name);
            report.images.push_back(report_image(result, ""));
            return;
          }
          throw_if_interrupted();
          const auto folder = write_image_folder(options.out, folders[result.index], result, run, outputs.folder);
          report.images.push_back(report_image(result, folder));
          progress.update(static_cast<int64_t>(result.index) + 1, "");
        },
        control);
  } catch (const CancelledError&) {
    throw_if_interrupted();
    throw;
  }
  progress.finish();
  if (outputs.html) {
    const auto path = fs::absolute(fs::path(options.out) / "report.html").string();
    write_html_report(path, report);
    std::cout << "report: " << path << "\n";
  }
  std::cout << "explained " << paths.size() - failures.size() << " of " << paths.size() << " images into "
            << fs::absolute(options.out).string() << "\n";
  if (failures.empty()) return kOk;
  std::string names;
  for (const auto& f : failures) names += (names.empty() ? "" : ", ") + f;
  print_error(std::to_string(failures.size()) + " of " + std::to_string(paths.size()) + " images failed: " + names);
  return failures.size() == paths.size() ? kInputError : kSomeInputsFailed;
}

}  // namespace lumos::cli
