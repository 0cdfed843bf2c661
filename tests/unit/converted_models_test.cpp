// The face-expression network converted from TF.js by tools/face_expression_to_onnx.py:
// lumos's outputs equal an independent PyTorch implementation of the TF.js forward pass.
// (Keras models in TF.js layers format need no converter: keras_model_test.cpp.)
#include "lumos/model.hpp"
#include "lumos/npy.hpp"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <filesystem>

namespace {

const std::string kFixtures = LUMOS_FIXTURES;

void require_fixture(const std::string& path, const std::string& script) {
  ASSERT_TRUE(std::filesystem::exists(path)) << path << " is missing: run /usr/bin/python3 tests/fixtures/" << script
                                             << " build/fixtures (scripts/make_fixtures.sh runs them all)";
}

double max_abs_diff(const at::Tensor& a, const at::Tensor& b) { return (a - b).abs().max().item<double>(); }

}  // namespace

TEST(ConvertedModels, FaceExpressionMatchesTfjsSemanticsAndSeesTheSmile) {
  const auto dir = kFixtures + "/face_expression/";
  require_fixture(dir + "probabilities.npy", "make_face_expression_reference.py");
  auto model = lumos::Model::load(dir + "face_expression.onnx", {lumos::Score::probability});
  EXPECT_EQ(model->input().layout, lumos::Layout::NHWC);
  EXPECT_EQ(model->metadata().at("labels"), "neutral,happy,sad,angry,fearful,disgusted,surprised");
  const auto expected = lumos::read_npy(dir + "probabilities.npy");
  const auto actual = model->scores(lumos::read_npy(dir + "input.npy"));
  EXPECT_LT(max_abs_diff(actual, expected), 1e-5);
  // The first sample is skimage's astronaut (Eileen Collins), smiling.
  EXPECT_EQ(actual[0].argmax().item<int64_t>(), 1) << "expected 'happy'";

  auto logits_model = lumos::Model::load(dir + "face_expression.onnx");
  EXPECT_NE(logits_model->score_description().find("Softmax"), std::string::npos);
  const auto logits = logits_model->scores(lumos::read_npy(dir + "input.npy"));
  EXPECT_LT(max_abs_diff(at::softmax(logits, 1), expected), 1e-5);
}
