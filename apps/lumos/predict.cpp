// lumos predict: the top-k classes of each image (the explain pipeline without methods).
#include "commands.hpp"

#include "lumos/error.hpp"
#include "lumos/explain.hpp"

#include <nlohmann/json.hpp>

#include <iomanip>
#include <iostream>

namespace lumos::cli {
namespace {

void print_text(const std::vector<ImageResult>& results, const Model& model, const Preprocess& preprocess) {
  std::cout << "scores: " << model.score_description() << "; preprocess: " << preprocess.name << "\n";
  for (const auto& result : results) {
    if (!result.ok()) continue;  // reported on stderr
    std::cout << result.name << "\n";
    for (size_t rank = 0; rank < result.predictions.size(); ++rank) {
      const auto& p = result.predictions[rank];
      std::cout << std::setw(4) << rank + 1 << ". " << std::setw(5) << p.class_index << "  " << std::setw(12)
                << std::setprecision(6) << p.score << (p.label.empty() ? "" : "  " + p.label) << "\n";
    }
  }
}

void print_json(const std::vector<ImageResult>& results, const PredictOptions& options, const Model& model,
                const Preprocess& preprocess) {
  nlohmann::json out;
  out["model"] = options.model.path;
  out["scores"] = model.score_description();
  out["preprocess"] = preprocess.name;
  out["results"] = nlohmann::json::array();
  for (const auto& result : results) {
    nlohmann::json entry{{"image", result.name}};
    if (!result.ok()) {
      entry["error"] = result.error;
    } else {
      entry["top"] = nlohmann::json::array();
      for (const auto& p : result.predictions) {
        entry["top"].push_back({{"class", p.class_index}, {"label", p.label}, {"score", p.score}});
      }
    }
    out["results"].push_back(entry);
  }
  std::cout << out.dump(2) << "\n";
}

}  // namespace

CLI::App* add_predict_command(CLI::App& app, PredictOptions& options) {
  auto* command = app.add_subcommand("predict", "Print the top-k classes of each image");
  options.model.add_to(*command, true);
  command->add_option("-i,--image", options.images,
                      "Image files (any format OpenCV reads) or folders of them; several are batched")
      ->required();
  command->add_option("--top", options.top, "How many classes to print per image")->check(kPositiveInteger);
  options.input.add_to(*command);
  command->add_option("--batch", options.batch, "Images per forward pass (default 16)")->check(integer_in(1, kMaxBatch));
  command->add_flag("--json", options.json, "Print JSON instead of text");
  return command;
}

int run_predict(const PredictOptions& options) {
  const auto model = options.model.load();
  ExplainRequest request;
  request.methods = {};
  request.targets = {};
  request.preprocess = options.input.preprocess_for(*model);
  request.input_size = options.input.size_for(*model);
  request.labels = options.input.labels_for(*model);
  request.top_k = options.top;
  request.batch_size = options.batch;
  std::vector<ImageInput> inputs;
  for (const auto& path : image_files(options.images)) inputs.push_back(ImageInput::file(path));
  ExplainPipeline pipeline(*model, request);

  std::vector<ImageResult> results(inputs.size());
  size_t failed = 0;
  pipeline.run(inputs, [&](ImageResult&& result) {
    if (!result.ok()) {
      print_error(result.error);
      ++failed;
    }
    results[result.index] = std::move(result);
  });
  if (options.json) print_json(results, options, *model, pipeline.preprocess());
  else print_text(results, *model, pipeline.preprocess());
  if (failed == 0) return kOk;
  return failed == results.size() ? kInputError : kSomeInputsFailed;
}

}  // namespace lumos::cli
