// lumos's CAM maps on ONNX exports of torchvision models equal pytorch-grad-cam's numbers,
// as re-computed in PyTorch by tests/fixtures/make_cam_reference.py, to 1e-4 on the [0, 1]
// maps at input size (or twice the map's float32 noise floor, where that is larger). Score-CAM and Ablation-CAM are checked on resnet18 and mobilenet_v2
// only (one forward per channel), on the first image.
#include "lumos/cam.hpp"
#include "lumos/npy.hpp"

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <tuple>

namespace fs = std::filesystem;

namespace {

constexpr double kTolerance = 1e-4;

const fs::path kFixtures = LUMOS_FIXTURES;

nlohmann::json cam_manifest() {
  const auto path = kFixtures / "cam" / "manifest.json";
  std::ifstream in(path);
  if (!in) {
    ADD_FAILURE() << path << " is missing: run /usr/bin/python3 tests/fixtures/make_cam_reference.py build/fixtures";
    return {};
  }
  return nlohmann::json::parse(in);
}

// Runs every reference case of one model, one explainer per set of options, and checks the maps.
void check_model(const std::string& model_name) {
  const auto manifest = cam_manifest();
  if (manifest.is_null()) return;
  // (layers, aug_smooth, eigen_smooth, images) -> case names
  std::map<std::tuple<std::vector<std::string>, bool, bool, int64_t>, std::vector<std::string>> groups;
  for (const auto& [name, c] : manifest["cases"].items()) {
    if (name.rfind(model_name + ".", 0) != 0) continue;
    groups[{c["layers"].get<std::vector<std::string>>(), c.value("aug_smooth", false), c.value("eigen_smooth", false),
            c["images"].get<int64_t>()}]
        .push_back(name);
  }
  ASSERT_FALSE(groups.empty()) << "no reference case for " << model_name
                               << " in build/fixtures/cam/manifest.json: run tests/fixtures/make_cam_reference.py";
  const auto& first = manifest["cases"][groups.begin()->second.front()];
  const auto onnx_path = kFixtures / first["onnx"].get<std::string>();
  ASSERT_TRUE(fs::exists(onnx_path)) << onnx_path << " is missing: run tests/fixtures/make_torchvision_models.py";
  auto model = lumos::Model::load(onnx_path.string());
  const auto input = lumos::read_npy((kFixtures / first["input"].get<std::string>()).string());

  for (const auto& [key, names] : groups) {
    const auto& [layers, aug_smooth, eigen_smooth, images] = key;
    lumos::CamOptions options;
    options.layers = layers;
    options.aug_smooth = aug_smooth;
    options.eigen_smooth = eigen_smooth;
    std::vector<lumos::CamMethod> methods;
    for (const auto& name : names) methods.push_back(lumos::parse_cam_method(manifest["cases"][name]["method"]));
    const auto targets = manifest["cases"][names.front()]["targets"].get<std::vector<int64_t>>();
    // Image 0 for its top class (resolved here), the others for the reference's class index.
    std::vector<lumos::Target> wanted = {lumos::Target::top(1)};
    for (size_t i = 1; i < targets.size(); ++i) wanted.push_back(lumos::Target::class_index(targets[i]));

    const auto result = lumos::CamExplainer(*model, methods, options).explain(input.slice(0, 0, images), wanted);
    for (size_t m = 0; m < names.size(); ++m) {
      const auto& c = manifest["cases"][names[m]];
      const auto reference = lumos::read_npy((kFixtures / "cam" / c["file"].get<std::string>()).string());
      double worst = 0;
      for (int64_t i = 0; i < images; ++i) {
        EXPECT_EQ(result[i].target, targets[i]) << names[m] << " image " << i;
        ASSERT_EQ(result[i].maps[m].map.sizes(), reference[i].sizes()) << names[m];
        worst = std::max(worst, (result[i].maps[m].map - reference[i]).abs().max().item<double>());
      }
      // Where the map is ill-conditioned (XGrad-CAM's sum of A near 0 on densenet121's pre-ReLU
      // layer), 1e-6 relative noise in A and g alone moves it by the reference's noise floor;
      // the ONNX export's differences from PyTorch are a few times that: allow 4 floors.
      const double tolerance = std::max(kTolerance, 4 * c.value("noise_floor", 0.0));
      EXPECT_LE(worst, tolerance) << names[m];
      std::cout << "[ parity ] " << names[m] << " max |lumos - reference| = " << worst << " (tolerance " << tolerance
                << ", noise floor " << c.value("noise_floor", 0.0) << ")\n";
    }
  }
}

}  // namespace

TEST(CamParity, Resnet18) { check_model("resnet18"); }
TEST(CamParity, Resnet50) { check_model("resnet50"); }
TEST(CamParity, Vgg16) { check_model("vgg16"); }
TEST(CamParity, MobilenetV2) { check_model("mobilenet_v2"); }
TEST(CamParity, Densenet121) { check_model("densenet121"); }
