// The cluttered Fashion-MNIST benchmark (tools/cluttered_fashion_mnist.py) through lumos:
// the exported model scores as PyTorch did, and `lumos eval` reports what the library computes.
#include "lumos/cam.hpp"
#include "lumos/image.hpp"
#include "lumos/metrics.hpp"

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

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
  const auto json_path = fs::temp_directory_path() / "lumos_test_eval.json";
  const std::string command = std::string(LUMOS_CLI) + " eval -m " + (dir_ / "model.onnx").string() + " -i " +
                              (dir_ / "test").string() + " --boxes " + (dir_ / "test" / "boxes.csv").string() +
                              " --limit 6 --batch 4 --steps 20 --tolerance 6 --method gradcam,eigencam --json " +
                              json_path.string() + " --threads 1 > /dev/null";
  ASSERT_EQ(std::system(command.c_str()), 0) << command;
  nlohmann::json out;
  std::ifstream(json_path) >> out;
  ASSERT_EQ(out["images"], 6);

  lumos::CamExplainer explainer(*model_, {lumos::CamMethod::gradcam, lumos::CamMethod::eigencam});
  std::vector<int64_t> targets;
  std::vector<lumos::Target> cam_targets;
  for (size_t i = 0; i < 6; ++i) {
    targets.push_back(rows_[i].label);
    cam_targets.push_back(lumos::Target::class_index(rows_[i].label));
  }
  const at::Tensor images = batch(0, 6);
  const auto explanations = explainer.explain(images, cam_targets);
  lumos::CausalOptions causal;
  causal.steps = 20;
  for (const auto& [m, name] : {std::pair<size_t, std::string>{0, "gradcam"}, {1, "eigencam"}}) {
    std::vector<at::Tensor> per_image;
    for (const auto& e : explanations) per_image.push_back(e.maps[m].map);
    const at::Tensor maps = at::stack(per_image);
    const auto deletion = lumos::deletion_curves(*model_, images, maps, targets, causal);
    const auto insertion = lumos::insertion_curves(*model_, images, maps, targets, causal);
    const auto changes = lumos::confidence_changes(*model_, images, maps, targets);
    const auto& reported = out["methods"][name];
    double hits = 0;
    for (size_t i = 0; i < 6; ++i) {
      const auto& row = reported["per_image"][i];
      EXPECT_EQ(row["image"], rows_[i].image);
      EXPECT_EQ(row["class"], targets[i]);
      EXPECT_NEAR(row["deletion_auc"].get<double>(), deletion[i].auc, 1e-5) << name << " " << i;
      EXPECT_NEAR(row["insertion_auc"].get<double>(), insertion[i].auc, 1e-5) << name << " " << i;
      EXPECT_NEAR(row["probability_explained"].get<double>(), changes[i].explained, 1e-5) << name << " " << i;
      const at::Tensor region = lumos::box_mask(rows_[i].box, 96, 96);
      const bool hit = lumos::pointing_game_hit(maps[i], region, 6);
      hits += hit;
      EXPECT_EQ(row["pointing_hit"].get<bool>(), hit) << name << " " << i;
      EXPECT_NEAR(row["energy_in_box"].get<double>(), lumos::energy_in_region(maps[i], region), 1e-6);
    }
    EXPECT_NEAR(reported["pointing_game"].get<double>(), hits / 6, 1e-9);
    EXPECT_NEAR(reported["average_drop"].get<double>(), lumos::average_drop(changes), 1e-3);
  }
}
