// lumos explain: the flags of the library's explain pipeline, a progress bar and exit codes.
// The pipeline (lumos/explain.hpp) computes; explanation_files.hpp and report.hpp write.
#include "boxes.hpp"
#include "commands.hpp"
#include "explain_settings.hpp"
#include "progress.hpp"
#include "shard.hpp"

#include "lumos/error.hpp"
#include "lumos/explain.hpp"
#include "lumos/explanation_files.hpp"
#include "lumos/method_family.hpp"
#include "util/join.hpp"

#include <filesystem>
#include <iostream>
#include <algorithm>
#include <map>
#include <optional>
#include <set>

namespace lumos::cli {
namespace {

namespace fs = std::filesystem;

// The library's InputError for a flag's value becomes a usage error naming the flag.
template <typename Parse>
auto flag_value(const std::string& flag, Parse parse) {
  try {
    return parse();
  } catch (const InputError& e) {
    throw UsageError(flag + ": " + e.what());
  }
}

// "LIME 300/1000", "scorecam 12/64".
std::string step_of(const ExplainProgress& p) {
  return (p.method == "lime" ? "LIME" : p.method) + " " + std::to_string(p.done) + "/" + std::to_string(p.total);
}

// A default path (the bundled model and samples) as the user would write it: relative to the
// current folder when it lies inside it.
std::string as_user_writes(const std::string& path) {
  const fs::path relative = fs::path(path).lexically_relative(fs::current_path());
  return relative.empty() || *relative.begin() == ".." ? path : relative.string();
}

// Each image's boxes from the boxes file, matched by the path as given or relative to the
// -i folder it was found in.
std::vector<std::vector<Box>> boxes_of(const std::string& file, const std::vector<std::string>& paths,
                                       const std::vector<std::string>& given) {
  std::map<std::string, std::vector<Box>> listed;
  for (auto& boxed : read_boxes(file)) listed[fs::path(boxed.name).lexically_normal().string()] = std::move(boxed.boxes);
  std::vector<std::vector<Box>> boxes(paths.size());
  std::set<std::string> used;
  for (size_t i = 0; i < paths.size(); ++i) {
    std::vector<std::string> names{fs::path(paths[i]).lexically_normal().string()};
    for (const auto& folder : given) {
      const fs::path relative = fs::path(paths[i]).lexically_relative(folder);
      if (!relative.empty() && *relative.begin() != "..") names.push_back(relative.lexically_normal().string());
    }
    for (const auto& name : names) {
      const auto it = listed.find(name);
      if (it == listed.end()) continue;
      boxes[i] = it->second;
      used.insert(name);
      break;
    }
  }
  const auto unused = std::find_if(listed.begin(), listed.end(), [&](const auto& item) { return !used.count(item.first); });
  if (unused != listed.end()) {
    print_error("warning: --boxes: " + std::to_string(listed.size() - used.size()) + " of the " +
                std::to_string(listed.size()) + " images in '" + file + "' are not among the images given, e.g. '" +
                unused->first + "' (name them as given to -i, or relative to its folder)");
  }
  return boxes;
}

// A run record names the run that finished last in its folder; an older run's must not outlive
// this one. A shard removes only its own record (and an unsharded run's run.json): the other
// shards' records in a shared folder stay. An unsharded run removes every record.
void remove_stale_records(const std::string& out, const std::optional<Shard>& shard) {
  std::error_code ignored;
  fs::remove(fs::path(out) / "run.json", ignored);
  if (shard) {
    fs::remove(fs::path(out) / shard->record_name(), ignored);
    return;
  }
  for (const auto& entry : fs::directory_iterator(out, ignored)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind("run.shard-", 0) == 0 && entry.path().extension() == ".json") fs::remove(entry.path(), ignored);
  }
}

}  // namespace

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

Outputs outputs_of(const ExplainOptions& options) {
  Outputs out;
  out.folder.json = false;
  for (const auto& format : split_commas(options.formats)) {
    if (format == "json") out.folder.json = true;
    else if (format == "npy") out.folder.npy = true;
    else if (format == "html") out.html = true;
    else if (format != "png") throw UsageError("--format '" + format + "' — give some of png, json, html, npy");
  }
  out.folder.json = out.folder.json || out.html;  // the report is made from explanation.json
  out.folder.render.colormap = flag_value("--colormap", [&] { return colormap_named(options.colormap); });
  out.folder.render.image_weight = options.image_weight;
  out.folder.render.segments_shown = options.lime_features;
  return out;
}

CLI::App* add_explain_command(CLI::App& app, ExplainOptions& options) {
  auto* command = app.add_subcommand(
      "explain", "Explain each image's prediction: heatmaps, LIME superpixels, a JSON file and an HTML report");
  command->add_option("-m,--model", options.model.path,
                      "Model file: .onnx, .keras, .h5, or a TF.js model.json. Default: the bundled face-expression model");
  options.model.add_load_options(*command, true);
  command->add_option("-i,--image", options.images, "Image files or folders (default: the bundled sample faces)");
  command->add_option("--method", options.methods,
                      "Comma-separated: " + join(MethodRegistry::instance().method_names(), ", ") +
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
  command->add_option("--batch", options.batch, "Images per forward pass (default 8)")->check(integer_in(1, kMaxBatch));
  command->add_option("--colormap", options.colormap, "Heatmap colours: jet (default), turbo, viridis, inferno");
  command->add_option("--image-weight", options.image_weight, "Weight of the photo in overlays, 0-1 (default 0.5)")
      ->check(number_in(0, 1));
  command->add_flag("--aug-smooth", options.aug_smooth, "CAM: average over flips and scales (6 passes)");
  command->add_flag("--eigen-smooth", options.eigen_smooth, "CAM: first principal component instead of the sum");
  command->add_option("--perturbation-batch", options.perturbation_batch,
                      "Score-CAM, Ablation-CAM, LIME, Occlusion, RISE, KernelSHAP: perturbed images per forward pass (default 64)")
      ->check(integer_in(1, kMaxBatch));
  command->add_flag("--bf16", options.bf16,
                    "Score-CAM and LIME forwards in bfloat16 where the CPU has it natively (AMX, AVX512-BF16); "
                    "float32 elsewhere");
  command->add_option("--lime-samples", options.lime_samples, "LIME: perturbed samples (default 1000)")
      ->check(integer_in(2, kMaxSamples));
  command->add_option("--lime-features", options.lime_features, "LIME: segments shown (default 5)")
      ->check(kPositiveInteger);
  command->add_option("--lime-hide", options.lime_hide,
                      "LIME: what hidden segments show: a grey level 0-255 (default 0), mean, or blur");
  command->add_option("--seed", options.seed,
                      "Seed of every random draw: LIME's and KernelSHAP's segments and samples, noise tunnels, RISE's masks (default 0)")
      ->check(kNonNegativeInteger);
  command->add_option("--option", options.method_options, method_options_help());
  command->add_option("--boxes", options.boxes,
                      "CSV with header image,x0,y0,x1,y1: where the object is (image pixels, half-open); each map "
                      "gets energy_in_box, the share of it inside the box");
  command->add_flag("--self-contained", options.self_contained,
                    "Embed every picture in report.html (the default for at most 20 images)");
  command->add_option("--shard", options.shard,
                      "K/N: explain only the K-th of N shares of the images (0 <= K < N; by a hash of each path, "
                      "whatever the order), write run.shard-K-of-N.json and no report; merge with lumos report");
  return command;
}

int run_explain(const ExplainOptions& requested) {
  ExplainOptions options = requested;
  const std::optional<Shard> shard = options.shard.empty() ? std::nullopt : std::optional(Shard::parse(options.shard));
  const bool bundled = options.model.path.empty();
  if (bundled) {
    options.model.path = as_user_writes(LUMOS_DEFAULT_MODEL);
    if (!fs::exists(options.model.path)) {
      throw InputError("the bundled model '" + options.model.path + "' is not there yet — run scripts/demo.sh "
                       "(or scripts/fetch_models.sh build/third_party), or give -m MODEL");
    }
  }
  if (options.images.empty()) {
    if (!bundled) throw UsageError("-i is required with -m — give image files or folders");
    options.images = {as_user_writes(LUMOS_SAMPLES_DIR)};
  }
  const auto listed = image_files(options.images);
  const auto boxes = options.boxes.empty() ? std::vector<std::vector<Box>>() : boxes_of(options.boxes, listed, options.images);
  // Folder names come from the whole list, so that shards writing into one folder never collide.
  const auto listed_folders = folder_names(listed);
  std::vector<size_t> chosen;  // the images of this run among those listed
  for (size_t i = 0; i < listed.size(); ++i) {
    if (!shard || shard->holds(listed[i])) chosen.push_back(i);
  }
  const auto model = options.model.load();
  const auto outputs = outputs_of(options);
  ExplainPipeline pipeline(*model, request_of(options, *model));
  for (const auto& warning : pipeline.warnings()) print_error("warning: " + warning);

  prepare_output_folder(options.out);
  remove_stale_records(options.out, shard);
  catch_interrupts();
  ProgressBar progress("explaining", static_cast<int64_t>(chosen.size()));
  RunSummary run = pipeline.summary();
  run.model = options.model.path;
  run.methods = options.methods;
  run.targets = options.target;
  std::vector<std::string> failures;
  std::vector<RunRecordEntry> record(chosen.size());
  std::vector<std::string> folders;
  std::vector<ImageInput> inputs;
  for (const size_t i : chosen) {
    inputs.push_back(ImageInput::file(listed[i]));
    folders.push_back(listed_folders[i]);
    if (!boxes.empty()) inputs.back().boxes = boxes[i];
  }
  ExplainControl control;
  control.progress = [&](const ExplainProgress& p) { progress.update(static_cast<int64_t>(p.image), step_of(p)); };
  control.cancel = [] { return interrupted(); };
  try {
    pipeline.run(
        inputs,
        [&](ImageResult&& result) {
          record[result.index].image = result.name;
          if (!result.ok()) {
            print_error(result.error);
            failures.push_back(result.name);
            record[result.index].error = result.error;
            return;
          }
          throw_if_interrupted();
          write_image_folder(options.out, folders[result.index], result, run, outputs.folder);
          record[result.index].folder = folders[result.index];
          progress.update(static_cast<int64_t>(result.index) + 1, "");
        },
        control);
  } catch (const CancelledError&) {
    throw_if_interrupted();
    throw;
  }
  progress.finish();
  if (outputs.folder.json) write_run_record(options.out, record, shard ? shard->record_name() : "run.json");
  std::cout << "explained " << inputs.size() - failures.size() << " of " << inputs.size() << " images";
  if (shard) {
    std::cout << " (shard " << options.shard << " of the " << listed.size() << " listed)";
  }
  std::cout << " into " << options.out << "\n";
  if (shard && outputs.html) {
    std::cout << "when every shard is done, merge them: lumos report <the shards' -o folders> -o REPORT\n";
  } else if (outputs.html) {
    write_report_files({options.out}, options.out, "", options.self_contained);
  }
  if (failures.empty()) return kOk;
  print_error(std::to_string(failures.size()) + " of " + std::to_string(inputs.size()) +
              " images failed: " + join(failures, ", "));
  return failures.size() == inputs.size() ? kInputError : kSomeInputsFailed;
}

}  // namespace lumos::cli
