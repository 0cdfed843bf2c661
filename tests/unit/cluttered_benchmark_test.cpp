// The cluttered Fashion-MNIST benchmark (tools/cluttered_fashion_mnist.py) through lumos:
// the exported model scores as PyTorch did, and `lumos eval` reports what the library computes.
#include "lumos/cam.hpp"
#include "lumos/gradient.hpp"
#include "lumos/image.hpp"
#include "lumos/metrics.hpp"
#include "lumos/perturbation.hpp"
#include "perturbation/segmentation/labels.hpp"

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <unistd.h>

namespace fs = std::filesystem;

namespace {

struct Row {
  std::string image;
  int64_t label;
  lumos::Box box;
};

class ClutteredBenchmark : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::path(LUMOS_FIXTURES) / "cluttered_fashion_mnist";
    ASSERT_TRUE(fs::exists(dir_ / "model.onnx") && fs::exists(dir_ / "test" / "boxes.csv"))
        << dir_ << " is incomplete: run /usr/bin/python3 tests/fixtures/make_cluttered_fashion_mnist.py "
        << LUMOS_FIXTURES;
    std::ifstream file(dir_ / "test" / "boxes.csv");
    std::string line;
    std::getline(file, line);
    ASSERT_EQ(line, "image,class,x0,y0,x1,y1");
    while (std::getline(file, line)) {
      std::replace(line.begin(), line.end(), ',', ' ');
      std::istringstream in(line);
      Row row;
      in >> row.image >> row.label >> row.box.x0 >> row.box.y0 >> row.box.x1 >> row.box.y1;
      rows_.push_back(row);
    }
    model_ = lumos::Model::load((dir_ / "model.onnx").string());
  }

  at::Tensor batch(size_t first, size_t count) const {
    std::vector<lumos::Image> images;
    for (size_t i = first; i < first + count; ++i) images.push_back(lumos::Image::load((dir_ / "test" / rows_[i].image).string()));
    return lumos::make_batch(images, model_->input(), lumos::Preprocess::named("unit"), cv::Size(96, 96));
  }

  // Runs `lumos eval` on the first 6 images (batches of 4, 20 steps, ground-truth classes) with
  // `methods` and `options`, and checks every per-image and summary number against the metrics
  // of `maps` ([6, 96, 96] per method, what the library's explainers give).
  void expect_eval_reports(const std::vector<std::string>& methods, const std::string& options,
                           const std::vector<at::Tensor>& maps) const {
    const auto json_path = fs::temp_directory_path() / ("lumos_test_eval_" + std::to_string(::getpid()) + ".json");
    std::string method_list;
    for (const auto& m : methods) method_list += (method_list.empty() ? "" : ",") + m;
    const std::string command = std::string(LUMOS_CLI) + " eval -m " + (dir_ / "model.onnx").string() + " -i " +
                                (dir_ / "test").string() + " --boxes " + (dir_ / "test" / "boxes.csv").string() +
                                " --limit 6 --batch 4 --steps 20 --tolerance 6 --method " + method_list + " " + options +
                                " --json " + json_path.string() + " --threads 1 > /dev/null";
    ASSERT_EQ(std::system(command.c_str()), 0) << command;
    nlohmann::json out;
    std::ifstream(json_path) >> out;
    fs::remove(json_path);
    ASSERT_EQ(out["images"], 6);
    const at::Tensor images = batch(0, 6);
    lumos::CausalOptions causal;
    causal.steps = 20;
    for (size_t m = 0; m < methods.size(); ++m) {
      const auto& name = methods[m];
      const auto deletion = lumos::deletion_curves(*model_, images, maps[m], targets(), causal);
      const auto insertion = lumos::insertion_curves(*model_, images, maps[m], targets(), causal);
      const auto changes = lumos::confidence_changes(*model_, images, maps[m], targets());
      const auto& reported = out["methods"][name];
      double hits = 0;
      for (size_t i = 0; i < 6; ++i) {
        const auto& row = reported["per_image"][i];
        EXPECT_EQ(row["image"], rows_[i].image);
        EXPECT_EQ(row["class"], rows_[i].label);
        EXPECT_NEAR(row["deletion_auc"].get<double>(), deletion[i].auc, 1e-5) << name << " " << i;
        EXPECT_NEAR(row["insertion_auc"].get<double>(), insertion[i].auc, 1e-5) << name << " " << i;
        EXPECT_NEAR(row["probability_explained"].get<double>(), changes[i].explained, 1e-5) << name << " " << i;
        const at::Tensor region = lumos::box_mask(rows_[i].box, 96, 96);
        const bool hit = lumos::pointing_game_hit(maps[m][i], region, 6);
        hits += hit;
        EXPECT_EQ(row["pointing_hit"].get<bool>(), hit) << name << " " << i;
        EXPECT_NEAR(row["energy_in_box"].get<double>(), lumos::energy_in_region(maps[m][i], region), 1e-5) << name;
      }
      EXPECT_NEAR(reported["pointing_game"].get<double>(), hits / 6, 1e-9) << name;
      EXPECT_NEAR(reported["average_drop"].get<double>(), lumos::average_drop(changes), 1e-3) << name;
    }
  }

  std::vector<int64_t> targets() const {
    std::vector<int64_t> classes;
    for (size_t i = 0; i < 6; ++i) classes.push_back(rows_[i].label);
    return classes;
  }

  // Each method's maps of the first 6 images, explained in eval's batches of 4.
  template <typename Explain>
  std::vector<at::Tensor> maps_of(size_t methods, const Explain& explain) const {
    std::vector<std::vector<at::Tensor>> per_method(methods);
    for (size_t first = 0; first < 6; first += 4) {
      const size_t count = std::min<size_t>(4, 6 - first);
      std::vector<lumos::Target> wanted;
      for (size_t i = first; i < first + count; ++i) wanted.push_back(lumos::Target::class_index(rows_[i].label));
      const std::vector<std::vector<at::Tensor>> maps = explain(first, count, batch(first, count), wanted);
      for (size_t m = 0; m < methods; ++m) per_method[m].insert(per_method[m].end(), maps[m].begin(), maps[m].end());
    }
    std::vector<at::Tensor> out;
    for (const auto& maps : per_method) out.push_back(at::stack(maps));
    return out;
  }

  fs::path dir_;
  std::vector<Row> rows_;
  std::unique_ptr<lumos::Model> model_;
};

}  // namespace

TEST_F(ClutteredBenchmark, ModelAccuracyMatchesTraining) {
  nlohmann::json trained;
  std::ifstream(dir_ / "model.json") >> trained;
  ASSERT_EQ(rows_.size(), trained["test_images"].get<size_t>());
  int64_t correct = 0;
  for (size_t first = 0; first < rows_.size(); first += 100) {
    const at::Tensor predicted = model_->scores(batch(first, 100)).argmax(1);
    for (int64_t i = 0; i < 100; ++i) correct += predicted[i].item<int64_t>() == rows_[first + i].label;
  }
  EXPECT_NEAR(static_cast<double>(correct) / rows_.size(), trained["test_accuracy"].get<double>(), 0.0015);
  EXPECT_GT(static_cast<double>(correct) / rows_.size(), 0.8);
}

TEST_F(ClutteredBenchmark, EvalCommandReportsTheLibrarysNumbers) {
  lumos::CamExplainer explainer(*model_, {lumos::CamMethod::gradcam, lumos::CamMethod::eigencam});
  std::vector<lumos::Target> wanted;
  for (int64_t c : targets()) wanted.push_back(lumos::Target::class_index(c));
  const auto explanations = explainer.explain(batch(0, 6), wanted);
  std::vector<at::Tensor> maps;
  for (size_t m = 0; m < 2; ++m) {
    std::vector<at::Tensor> per_image;
    for (const auto& e : explanations) per_image.push_back(e.maps[m].map);
    maps.push_back(at::stack(per_image));
  }
  expect_eval_reports({"gradcam", "eigencam"}, "", maps);
}

// The gradient and perturbation attributions and the Keras CAM forms, with their options, as the
// explainers compute them on eval's batches (noise draws, RISE's masks and KernelSHAP's LIME
// segments included).
TEST_F(ClutteredBenchmark, EvalCommandReportsTheLibrarysNumbersForAttributions) {
  const std::vector<std::string> methods{"gradcam-keras", "integrated-gradients", "smoothgrad", "guided-backprop",
                                         "occlusion",     "rise",                 "kernelshap"};
  const std::string options =
      "--seed 5 --option ig.steps=8 --option smoothgrad.samples=4 --option occlusion.window=12 "
      "--option occlusion.stride=12 --option rise.masks=30 --option kernelshap.samples=30";
  lumos::CamExplainer cam(*model_, {lumos::CamMethod::gradcam_keras});
  lumos::GradientOptions gradient_options;
  gradient_options.steps = 8;
  gradient_options.samples = 4;
  gradient_options.seed = 5;
  lumos::GradientExplainer gradient(*model_, {lumos::parse_gradient_method("integrated-gradients"),
                                              lumos::parse_gradient_method("smoothgrad"),
                                              lumos::parse_gradient_method("guided-backprop")},
                                    gradient_options);
  lumos::PerturbationOptions perturbation_options;
  perturbation_options.window_height = perturbation_options.window_width = 12;
  perturbation_options.stride_height = perturbation_options.stride_width = 12;
  perturbation_options.rise_masks = 30;
  perturbation_options.shap_samples = 30;
  perturbation_options.seed = 5;
  perturbation_options.batch_size = 4;  // eval's --batch: the same forward batches, the same rounding
  lumos::PerturbationExplainer perturbation(*model_, lumos::all_perturbation_methods(), perturbation_options);
  const auto maps = maps_of(methods.size(), [&](size_t first, size_t count, const at::Tensor& images,
                                                const std::vector<lumos::Target>& wanted) {
    std::vector<lumos::Segmentation> segments;  // LIME's quickshift at the model's size, as eval asks
    for (size_t i = first; i < first + count; ++i) {
      lumos::QuickshiftOptions quickshift;
      quickshift.seed = 5;
      const auto image = lumos::Image::load((dir_ / "test" / rows_[i].image).string());
      segments.push_back(lumos::segmentation::relabel_sorted(lumos::quickshift(image.pixels(), quickshift).labels));
    }
    std::vector<std::vector<at::Tensor>> out(methods.size());
    for (const auto& e : cam.explain(images, wanted)) out[0].push_back(e.maps[0].map);
    for (const auto& e : gradient.explain(images, wanted)) {
      for (size_t m = 0; m < 3; ++m) out[1 + m].push_back(e.maps[m].map);
    }
    for (const auto& e : perturbation.explain(images, wanted, segments)) {
      for (size_t m = 0; m < 3; ++m) out[4 + m].push_back(e.maps[m].map);
    }
    return out;
  });
  expect_eval_reports(methods, options, maps);
}
