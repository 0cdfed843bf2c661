// Real trained networks converted from TF.js by tools/: lumos's outputs equal an
// independent PyTorch implementation of the original (TF.js / Keras) semantics.
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

class KerasModel : public ::testing::TestWithParam<std::string> {};

TEST_P(KerasModel, MatchesKerasSemantics) {
  const auto prefix = kFixtures + "/keras/nsfw_" + GetParam();
  require_fixture(prefix + ".probabilities.npy", "make_keras_reference.py");
  auto model = lumos::Model::load(prefix + ".onnx", {lumos::Score::probability});
  EXPECT_EQ(model->input().layout, lumos::Layout::NHWC);
  const auto expected = lumos::read_npy(prefix + ".probabilities.npy");
  const auto actual = model->scores(lumos::read_npy(prefix + ".input.npy"));
  EXPECT_LT(max_abs_diff(actual, expected), 1e-4);
  EXPECT_TRUE(at::equal(actual.argmax(1), expected.argmax(1)));
  // The default CAM layer is the last spatial activation, kept in NCHW inside the graph.
  const auto layer = model->default_layer();
  for (const auto& info : model->layers()) {
    if (info.name == layer) EXPECT_EQ(info.layout, lumos::Layout::NCHW) << layer;
  }
}

INSTANTIATE_TEST_SUITE_P(Nsfwjs, KerasModel, ::testing::Values("mobilenet_v2", "inception_v3"));
