// lumos predict: the top-k classes of each image.
#include "commands.hpp"

#include "lumos/error.hpp"
#include "lumos/image.hpp"

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include <iomanip>
#include <iostream>
#include <optional>
#include <sstream>

namespace lumos::cli {
namespace {

struct Prediction {
  int64_t index;
  std::string label;
  float score;
};

struct ImageResult {
  std::string path;
  std::string error;  // empty when the image was classified
  std::vector<Prediction> top;
};

void print_text(const std::vector<ImageResult>& results, const Model& model, const Preprocess& preprocess) {
  std::cout << "scores: " << model.score_description() << "; preprocess: " << preprocess.name << "\n";
  for (const auto& result : results) {
    if (!result.error.empty()) continue;  // reported on stderr
    std::cout << result.path << "\n";
    for (size_t rank = 0; rank < result.top.size(); ++rank) {
      const auto& p = result.top[rank];
      std::cout << std::setw(4) << rank + 1 << ". " << std::setw(5) << p.index << "  " << std::setw(12)
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
    nlohmann::json entry{{"image", result.path}};
    if (!result.error.empty()) {
      entry["error"] = result.error;
    } else {
      entry["top"] = nlohmann::json::array();
      for (const auto& p : result.top) {
        entry["top"].push_back({{"class", p.index}, {"label", p.label}, {"score", p.score}});
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
  const auto preprocess = options.input.preprocess_for(*model);
  const auto& input = model->input();
  const cv::Size size = options.input.size_for(*model);
  const auto labels = options.input.labels_for(*model);
  const auto paths = collect_images(options.images);
  const auto batch_size = static_cast<size_t>(options.batch);

  std::vector<ImageResult> results(paths.size());
  std::vector<Image> pending;
  std::vector<size_t> pending_index;
  auto classify_pending = [&] {
    if (pending.empty()) return;
    const auto scores = model->scores(make_batch(pending, input, preprocess, size));
    const int64_t classes = scores.size(1);
    options.input.check_labels(labels, classes, *model);
    const auto [values, indices] = at::topk(scores, std::min<int64_t>(options.top, classes), 1);
    for (size_t row = 0; row < pending.size(); ++row) {
      auto& result = results[pending_index[row]];
      for (int64_t k = 0; k < values.size(1); ++k) {
        const int64_t index = indices[row][k].item<int64_t>();
        result.top.push_back({index, labels.empty() ? "" : labels[index], values[row][k].item<float>()});
      }
    }
    pending.clear();
    pending_index.clear();
  };

  size_t failed = 0;
  for (size_t i = 0; i < paths.size(); ++i) {
    results[i].path = paths[i];
    try {
      // Resized at once, so a batch of large photos does not sit in memory.
      pending.push_back(resize(Image::load(paths[i]), size, preprocess.fit));
      pending_index.push_back(i);
    } catch (const ImageError& e) {
      results[i].error = e.what();
      print_error(e.what());
      ++failed;
    }
    if (pending.size() == batch_size) classify_pending();
  }
  classify_pending();

  if (options.json) print_json(results, options, *model, preprocess);
  else print_text(results, *model, preprocess);
  if (failed == 0) return kOk;
  return failed == results.size() ? kInputError : kSomeInputsFailed;
}

}  // namespace lumos::cli
