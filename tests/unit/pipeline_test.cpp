// The explain pipeline (lumos/explain.hpp): it hands back what the explainers themselves
// compute (their parity with pytorch-grad-cam and lime is tested in cam_parity_test and
// lime_test), for the classes the targets name, in the request's order; images from memory or
// files; per-image failures and cancellation; and a method family registered from outside the
// library going through the pipeline and the writers.
#include "lumos/cam.hpp"
#include "lumos/error.hpp"
#include "lumos/explain.hpp"
#include "lumos/explanation_files.hpp"
#include "lumos/gradient.hpp"
#include "lumos/method_family.hpp"
#include "lumos/npy.hpp"
#include "lumos/perturbation.hpp"
#include "lumos/report.hpp"
#include "lumos/runtime.hpp"
#include "support/error_of.hpp"
#include "support/tiny_classifier.hpp"

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace fs = std::filesystem;
using lumos::testing::error_of;

namespace {

// A temporary folder per test binary, removed at exit.
fs::path work_dir() {
  static const struct Dir {
    fs::path path = fs::temp_directory_path() / ("lumos_pipeline_test_" + std::to_string(::getpid()));
    Dir() { fs::create_directories(path); }
    ~Dir() {
      std::error_code ignored;
      fs::remove_all(path, ignored);
    }
  } dir;
  return dir.path;
}

std::string model_file(int64_t batch = -1) {
  const auto path = work_dir() / ("classifier_batch" + std::to_string(batch) + ".onnx");
  if (!fs::exists(path)) lumos::testing::tiny_classifier(8, 8, batch).save(path.string());
  return path.string();
}

// A picture of 2x2-pixel blocks of pseudo-random colours, so that LIME finds several segments.
lumos::Image picture(int width, int height, int phase) {
  cv::Mat rgb(height, width, CV_8UC3);
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x) {
      const unsigned block = static_cast<unsigned>((y / 2) * 31 + (x / 2) * 17 + phase * 101);
      const unsigned hash = block * 2654435761u;
      rgb.at<cv::Vec3b>(y, x) = {static_cast<uchar>(hash >> 24), static_cast<uchar>(hash >> 16), static_cast<uchar>(hash >> 8)};
    }
  }
  return lumos::Image(rgb, "picture" + std::to_string(phase));
}

lumos::ExplainRequest small_request() {
  lumos::ExplainRequest request;
  request.lime.samples = 40;
  request.lime.min_side = 96;
  return request;
}

void expect_same(const at::Tensor& a, const at::Tensor& b, const std::string& what) {
  ASSERT_EQ(a.sizes(), b.sizes()) << what;
  EXPECT_TRUE(at::allclose(a.to(at::kFloat), b.to(at::kFloat), 0, 1e-6)) << what;
}

}  // namespace

TEST(ExplainPipeline, ResultsAreTheExplainersOwnInTheRequestsOrder) {
  auto model = lumos::Model::load(model_file());
  const std::vector<lumos::Image> images{picture(12, 10, 1), picture(8, 8, 2)};
  auto request = small_request();
  request.methods = {"Grad-CAM", "lime", "gradcampp"};
  request.targets = lumos::parse_target_list("top2");
  const auto results = lumos::explain(*model, images, request);
  ASSERT_EQ(results.size(), 2u);

  const auto preprocess = lumos::Preprocess::named("imagenet");
  std::vector<lumos::Image> resized;
  for (const auto& image : images) resized.push_back(lumos::resize(image, {8, 8}));
  const auto batch = lumos::make_batch(resized, model->input(), preprocess, {8, 8});
  const auto scores = model->scores(batch);
  lumos::CamExplainer cam(*model, {lumos::CamMethod::gradcam, lumos::CamMethod::gradcam_plus_plus});
  for (size_t i = 0; i < images.size(); ++i) {
    const auto& result = results[i];
    ASSERT_TRUE(result.ok()) << result.error;
    EXPECT_EQ(result.index, i);
    EXPECT_EQ(result.size, images[i].size());
    expect_same(result.scores, scores[i], "scores");
    ASSERT_EQ(result.predictions.size(), 4u);  // top_k 5, but the model has 4 classes
    const auto order = std::get<1>(scores[i].topk(4));
    ASSERT_EQ(result.targets.size(), 2u);
    std::vector<int64_t> classes;
    for (size_t k = 0; k < 2; ++k) {
      const auto& target = result.targets[k];
      classes.push_back(target.class_index);
      EXPECT_EQ(target.class_index, order[static_cast<int64_t>(k)].item<int64_t>());
      EXPECT_NEAR(target.probability, at::softmax(scores[i].to(at::kDouble), 0)[target.class_index].item<double>(), 1e-12);
      ASSERT_EQ(target.methods.size(), 3u);
      EXPECT_EQ(target.methods[0].method, "gradcam");
      EXPECT_EQ(target.methods[1].method, "lime");
      EXPECT_EQ(target.methods[2].method, "gradcam++");
      const auto own = cam.explain(batch[static_cast<int64_t>(i)].unsqueeze(0),
                                   {lumos::Target::class_index(target.class_index)})[0];
      expect_same(target.methods[0].map, own.maps[0].map, "gradcam");
      expect_same(target.methods[2].map, own.maps[1].map, "gradcam++");
    }
    lumos::LimeOptions lime;
    lime.num_samples = 40;
    lime.top_labels = 0;
    lime.labels = classes;
    lime.hide = lumos::HideColor::constant(0);
    const auto own = lumos::explain_lime(lumos::resize(images[i], {96, 96}).pixels(),
                                         lumos::model_classifier(*model, preprocess, {8, 8}), lime);
    EXPECT_GT(own.segments.count, 3);
    for (size_t k = 0; k < 2; ++k) {
      const auto& method = result.targets[k].methods[1];
      ASSERT_TRUE(method.segments.has_value());
      const auto& linear = own.of(classes[k]);
      EXPECT_EQ(method.segments->segments.count, own.segments.count);
      EXPECT_EQ(method.segments->samples, 40);
      EXPECT_DOUBLE_EQ(method.segments->linear.score, linear.score);
      ASSERT_EQ(method.segments->linear.weights.size(), linear.weights.size());
      for (size_t w = 0; w < linear.weights.size(); ++w) {
        EXPECT_EQ(method.segments->linear.weights[w].segment, linear.weights[w].segment);
        EXPECT_DOUBLE_EQ(method.segments->linear.weights[w].weight, linear.weights[w].weight);
      }
      const cv::Mat map = lumos::positive_weight_map(own.segments, linear);
      expect_same(method.map, at::from_blob(map.data, {map.rows, map.cols}, at::kFloat), "lime map");
      EXPECT_EQ(method.time_split_ms.size(), 4u);
    }
  }
}

// A model loaded as probabilities scores with them: the predictions' probabilities are its
// scores, not a softmax of them; loaded as logits, they are the softmax of the logits.
TEST(ExplainPipeline, PredictionProbabilitiesFollowTheScoresKind) {
  auto request = small_request();
  request.methods = {};
  const std::vector<lumos::Image> images{picture(12, 10, 1)};
  const auto as_probabilities = lumos::Model::load(model_file(), {lumos::Score::probability});
  const auto as_logits = lumos::Model::load(model_file());
  const auto from_probabilities = lumos::explain(*as_probabilities, images, request)[0].predictions;
  const auto from_logits = lumos::explain(*as_logits, images, request)[0].predictions;
  ASSERT_EQ(from_probabilities.size(), from_logits.size());
  for (size_t k = 0; k < from_logits.size(); ++k) {
    EXPECT_NEAR(from_probabilities[k].probability, from_probabilities[k].score, 1e-6) << k;
    EXPECT_NEAR(from_logits[k].probability, from_probabilities[k].probability, 1e-6) << k;
  }
}

// bf16 pays only where the CPU computes in it; elsewhere the run is float32, with one warning.
TEST(ExplainPipeline, Bf16FallsBackToFloat32WithOneWarningWhereTheCpuEmulatesIt) {
  auto model = lumos::Model::load(model_file());
  const std::vector<lumos::Image> images{picture(12, 10, 1), picture(8, 8, 2)};
  auto request = small_request();
  request.methods = {"scorecam", "lime"};
  const auto exact = lumos::explain(*model, images, request);
  request.bf16 = true;
  const lumos::ExplainPipeline pipeline(*model, request);
  const bool native = lumos::cpu_has_native_bf16();
  EXPECT_EQ(pipeline.request().bf16, native);
  ASSERT_EQ(pipeline.warnings().size(), native ? 0u : 1u);
  if (native) return;
  EXPECT_NE(pipeline.warnings()[0].find("no native bfloat16"), std::string::npos) << pipeline.warnings()[0];
  const auto fallback = lumos::explain(*model, images, request);
  for (size_t i = 0; i < images.size(); ++i) {
    for (size_t m = 0; m < 2; ++m) {
      EXPECT_TRUE(at::equal(fallback[i].targets[0].methods[m].map, exact[i].targets[0].methods[m].map)) << m;
    }
  }
}

// The gradient and perturbation families hand back what GradientExplainer and
// PerturbationExplainer compute with the options the request names, one pass per k-th class of
// every image (so the noise tunnel's draws and RISE's masks are the explainers' own).
TEST(ExplainPipeline, AttributionFamiliesGiveTheExplainersOwnResults) {
  auto model = lumos::Model::load(model_file());
  const std::vector<lumos::Image> images{picture(12, 10, 1), picture(8, 8, 2)};
  auto request = small_request();
  request.methods = {"IG", "SmoothGrad", "guided-backprop", "occlusion", "rise", "KernelSHAP"};
  request.targets = lumos::parse_target_list("top2");
  request.seed = 7;
  request.perturbation_batch = 7;
  request.options = {{"ig.steps", "6"},           {"ig.rule", "riemann_trapezoid"}, {"ig.baseline", "black"},
                     {"smoothgrad.samples", "3"}, {"smoothgrad.stdev", "0.2"},      {"gradient.batch", "5"},
                     {"occlusion.window", "4"},   {"occlusion.stride", "2"},        {"rise.masks", "20"},
                     {"rise.cells", "3"},         {"rise.probability", "0.4"},      {"kernelshap.samples", "30"},
                     {"perturbation.baseline", "blurred"}};
  const auto results = lumos::explain(*model, images, request);

  const auto preprocess = lumos::Preprocess::named("imagenet");
  std::vector<lumos::Image> resized;
  for (const auto& image : images) resized.push_back(lumos::resize(image, {8, 8}));
  const auto batch = lumos::make_batch(resized, model->input(), preprocess, {8, 8});
  lumos::GradientOptions gradient_options;
  gradient_options.steps = 6;
  gradient_options.rule = lumos::IntegrationRule::riemann_trapezoid;
  gradient_options.baseline = lumos::Baseline::black(model->input(), preprocess);
  gradient_options.samples = 3;
  gradient_options.noise_stdev = 0.2;
  gradient_options.batch_size = 5;
  gradient_options.seed = 7;
  lumos::GradientExplainer gradient(*model, {lumos::parse_gradient_method("integrated-gradients"),
                                             lumos::parse_gradient_method("smoothgrad"),
                                             lumos::parse_gradient_method("guided-backprop")},
                                    gradient_options);
  lumos::PerturbationOptions perturbation_options;
  perturbation_options.window_height = perturbation_options.window_width = 4;
  perturbation_options.stride_height = perturbation_options.stride_width = 2;
  perturbation_options.rise_masks = 20;
  perturbation_options.rise_cells = 3;
  perturbation_options.rise_probability = 0.4;
  perturbation_options.shap_samples = 30;
  perturbation_options.baseline = lumos::Baseline::blurred();
  perturbation_options.batch_size = 7;
  perturbation_options.seed = 7;
  lumos::PerturbationExplainer perturbation(*model, lumos::all_perturbation_methods(), perturbation_options);

  for (size_t k = 0; k < 2; ++k) {
    std::vector<lumos::Target> targets;
    std::vector<lumos::Segmentation> segments;
    for (const auto& result : results) {
      ASSERT_TRUE(result.ok()) << result.error;
      ASSERT_EQ(result.targets[k].methods.size(), 6u);
      targets.push_back(lumos::Target::class_index(result.targets[k].class_index));
      const auto& shap = result.targets[k].methods[5];
      ASSERT_TRUE(shap.segments.has_value());
      EXPECT_GT(shap.segments->segments.count, 3);
      segments.push_back(shap.segments->segments);
    }
    const auto own_gradient = gradient.explain(batch, targets);
    const auto own_perturbation = perturbation.explain(batch, targets, segments);
    for (size_t i = 0; i < results.size(); ++i) {
      const auto& methods = results[i].targets[k].methods;
      const std::vector<lumos::AttributionMap> own{own_gradient[i].maps[0], own_gradient[i].maps[1],
                                                   own_gradient[i].maps[2], own_perturbation[i].maps[0],
                                                   own_perturbation[i].maps[1], own_perturbation[i].maps[2]};
      for (size_t m = 0; m < own.size(); ++m) {
        const std::string what = own[m].method + " image " + std::to_string(i) + " class " + std::to_string(k);
        EXPECT_EQ(methods[m].method, own[m].method);
        expect_same(methods[m].map, own[m].map, what + " map");
        expect_same(methods[m].raw, own[m].values, what + " values");
        EXPECT_GT(methods[m].time_ms, 0) << what;
      }
      ASSERT_EQ(methods[0].numbers.size(), 1u);
      EXPECT_EQ(methods[0].numbers[0].name, "convergence_delta");
      EXPECT_NEAR(methods[0].numbers[0].value, *own[0].convergence_delta, 1e-9);
      // KernelSHAP as a segment explanation: its values by |value|, the image's and the baseline's scores.
      const auto& linear = methods[5].segments->linear;
      ASSERT_EQ(linear.weights.size(), own[5].segment_values.size());
      double sum = 0;
      for (size_t w = 0; w < linear.weights.size(); ++w) {
        EXPECT_DOUBLE_EQ(linear.weights[w].weight, own[5].segment_values[linear.weights[w].segment]);
        if (w > 0) EXPECT_GE(std::abs(linear.weights[w - 1].weight), std::abs(linear.weights[w].weight));
        sum += linear.weights[w].weight;
      }
      EXPECT_NEAR(linear.local_prediction, own_perturbation[i].score, 1e-6);
      EXPECT_NEAR(linear.local_prediction - linear.intercept, sum - *own[5].convergence_delta, 1e-6);
      EXPECT_DOUBLE_EQ(linear.score, *own[5].r2);
    }
  }
}

TEST(ExplainPipeline, EachClassOnceAndPerImageTargets) {
  auto model = lumos::Model::load(model_file());
  auto request = small_request();
  request.methods = {"gradcam"};
  request.targets = lumos::parse_target_list("2,top1,2");
  lumos::ExplainPipeline pipeline(*model, request);
  auto second = lumos::ImageInput::decoded(picture(9, 9, 3), "second");
  second.targets = {lumos::Target::class_index(3)};
  const auto results = pipeline.run({lumos::ImageInput::decoded(picture(9, 9, 4), "first"), second});
  ASSERT_TRUE(results[0].ok() && results[1].ok());
  std::vector<int64_t> first_classes;
  for (const auto& target : results[0].targets) first_classes.push_back(target.class_index);
  const int64_t top = results[0].predictions[0].class_index;
  const std::vector<int64_t> expected = top == 2 ? std::vector<int64_t>{2} : std::vector<int64_t>{2, top};
  EXPECT_EQ(first_classes, expected);
  ASSERT_EQ(results[1].targets.size(), 1u);
  EXPECT_EQ(results[1].targets[0].class_index, 3);
  EXPECT_EQ(results[1].name, "second");
  EXPECT_EQ(pipeline.summary().targets, "2,top1,2");
  EXPECT_EQ(pipeline.summary().methods, "gradcam");
  EXPECT_EQ(pipeline.summary().method_settings,
            (std::vector<std::pair<std::string, std::string>>{{"CAM layer", "relu"}}));
}

TEST(ExplainPipeline, FailedAndCancelledImagesLeaveTheOthersExplained) {
  auto model = lumos::Model::load(model_file());
  const auto text = work_dir() / "not_an_image.png";
  std::ofstream(text) << "plain text";
  auto request = small_request();
  request.methods = {"gradcam", "lime"};
  request.batch_size = 2;
  lumos::ExplainPipeline pipeline(*model, request);
  auto unwanted = lumos::ImageInput::decoded(picture(8, 8, 5), "unwanted");
  unwanted.cancelled = [] { return true; };
  std::vector<lumos::ImageInput> inputs{lumos::ImageInput::file((work_dir() / "absent.png").string()),
                                        lumos::ImageInput::decoded(picture(8, 8, 6), "good"), unwanted,
                                        lumos::ImageInput::file(text.string()),
                                        lumos::ImageInput::decoded(picture(8, 8, 7), "also good")};
  std::vector<size_t> order;
  std::vector<lumos::ImageResult> results(inputs.size());
  pipeline.run(inputs, [&](lumos::ImageResult&& result) {
    order.push_back(result.index);
    results[result.index] = std::move(result);
  });
  // Failures are handed out as soon as they are known; batches fill up with images that load.
  EXPECT_EQ(order, (std::vector<size_t>{0, 2, 3, 1, 4}));
  EXPECT_NE(results[0].error.find("absent.png"), std::string::npos) << results[0].error;
  EXPECT_TRUE(results[2].cancelled);
  EXPECT_NE(results[3].error.find("not_an_image.png"), std::string::npos) << results[3].error;
  for (size_t i : {1, 4}) {
    ASSERT_TRUE(results[i].ok()) << results[i].error;
    EXPECT_TRUE(results[i].image.has_value());
    EXPECT_EQ(results[i].targets.at(0).methods.size(), 2u);
  }
}

// A server batches requests: a target one of them names out of range fails that one alone;
// the request's own targets out of range fail the run.
TEST(ExplainPipeline, AnInputsOwnTargetOutOfRangeFailsThatInputAlone) {
  auto model = lumos::Model::load(model_file());
  auto request = small_request();
  request.methods = {"gradcam", "lime"};
  lumos::ExplainPipeline pipeline(*model, request);
  auto wrong = lumos::ImageInput::decoded(picture(8, 8, 1), "wrong");
  wrong.targets = {lumos::Target::class_index(9)};
  const auto results = pipeline.run({wrong, lumos::ImageInput::decoded(picture(8, 8, 2), "right")});
  EXPECT_NE(results[0].error.find("'wrong': target class 9 is out of range: the model has 4 classes"),
            std::string::npos) << results[0].error;
  EXPECT_FALSE(results[0].cancelled);
  ASSERT_TRUE(results[1].ok()) << results[1].error;
  EXPECT_EQ(results[1].targets.at(0).methods.size(), 2u);

  request.targets = {lumos::Target::class_index(9)};
  lumos::ExplainPipeline out_of_range(*model, request);
  EXPECT_THROW(out_of_range.run({lumos::ImageInput::decoded(picture(8, 8, 2))}), lumos::InputError);
}

TEST(ExplainPipeline, ProgressIsReportedAndCancelStopsTheRun) {
  auto model = lumos::Model::load(model_file());
  auto request = small_request();
  request.methods = {"lime"};
  request.perturbation_batch = 10;
  lumos::ExplainPipeline pipeline(*model, request);
  std::vector<lumos::ExplainProgress> steps;
  lumos::ExplainControl control;
  control.progress = [&](const lumos::ExplainProgress& p) { steps.push_back(p); };
  const auto inputs = std::vector<lumos::ImageInput>{lumos::ImageInput::decoded(picture(8, 8, 1)),
                                                     lumos::ImageInput::decoded(picture(8, 8, 2))};
  pipeline.run(inputs, control);
  ASSERT_EQ(steps.size(), 8u);  // 40 samples in 4 batches, for each image
  EXPECT_EQ(steps[3].image, 0u);
  EXPECT_EQ(steps[4].image, 1u);
  EXPECT_EQ(steps[4].images, 2u);
  EXPECT_EQ(steps[4].method, "lime");
  EXPECT_EQ(steps[7].done, 40);
  EXPECT_EQ(steps[7].total, 40);

  control.cancel = [&] { return steps.size() >= 10; };  // after two more steps
  EXPECT_THROW(pipeline.run(inputs, control), lumos::CancelledError);
  EXPECT_EQ(steps.size(), 10u);
}

TEST(ExplainPipeline, FixedBatchModelsGetFullBatches) {
  auto fixed = lumos::Model::load(model_file(3));
  auto open = lumos::Model::load(model_file());
  auto request = small_request();
  request.methods = {"gradcam"};
  std::vector<lumos::Image> images;
  for (int i = 0; i < 4; ++i) images.push_back(picture(8, 8, i));
  const auto from_fixed = lumos::explain(*fixed, images, request);  // batches of 3: images 0-2, then 3 and two repeats
  const auto from_open = lumos::explain(*open, images, request);
  for (size_t i = 0; i < images.size(); ++i) {
    ASSERT_TRUE(from_fixed[i].ok()) << from_fixed[i].error;
    expect_same(from_fixed[i].scores, from_open[i].scores, "scores");
    expect_same(from_fixed[i].targets[0].methods[0].map, from_open[i].targets[0].methods[0].map, "gradcam");
  }
}

TEST(ExplainPipeline, PredictionsOnlyKeepNoPictures) {
  auto model = lumos::Model::load(model_file());
  lumos::ExplainRequest request;
  request.methods = {};
  request.targets = {};
  request.top_k = 2;
  request.labels = lumos::ClassLabels{{"cat", "dog", "fox", "owl"}, "test labels"};
  const auto results = lumos::explain(*model, {picture(30, 20, 1)}, request);
  ASSERT_TRUE(results[0].ok());
  EXPECT_FALSE(results[0].image.has_value());
  EXPECT_EQ(results[0].size, cv::Size(30, 20));
  EXPECT_TRUE(results[0].targets.empty());
  ASSERT_EQ(results[0].predictions.size(), 2u);
  EXPECT_EQ(results[0].predictions[0].label,
            std::vector<std::string>({"cat", "dog", "fox", "owl"})[static_cast<size_t>(results[0].predictions[0].class_index)]);

  request.labels = lumos::ClassLabels{{"cat", "dog"}, "test labels"};
  const auto message = error_of<lumos::InputError>([&] { lumos::explain(*model, {picture(8, 8, 1)}, request); });
  EXPECT_NE(message.find("test labels has 2 labels but the model scores 4 classes"), std::string::npos) << message;
}

TEST(ExplainPipeline, RequestErrorsNameTheProblem) {
  auto model = lumos::Model::load(model_file());
  const auto error = [&](lumos::ExplainRequest request) {
    return error_of<lumos::InputError>([&] { lumos::ExplainPipeline(*model, std::move(request)); });
  };
  auto request = small_request();
  request.methods = {"gradcam", "magic"};
  EXPECT_NE(error(request).find("unknown method 'magic'; choose from gradcam, gradcam++"), std::string::npos);
  request.methods = {"gradcam", "Grad_CAM"};
  EXPECT_NE(error(request).find("lists gradcam twice"), std::string::npos) << error(request);
  request.methods = {"gradcam"};
  request.options = {{"gradcam.steps", "3"}};
  EXPECT_NE(error(request).find("unknown option 'gradcam.steps'"), std::string::npos) << error(request);
  request.options = {};
  request.targets = {};
  EXPECT_NE(error(request).find("no target"), std::string::npos) << error(request);
  request.targets = {lumos::Target::top(1)};
  request.batch_size = 0;
  EXPECT_NE(error(request).find("batch size is 0"), std::string::npos) << error(request);
  request.batch_size = 8;
  request.layers = {"rleu"};
  EXPECT_NE(error(request).find("closest: 'relu'"), std::string::npos) << error(request);
  request.layers = {};
  request.methods = {"ig", "occlusion"};
  request.options = {{"ig.rule", "simpson"}};
  EXPECT_NE(error(request).find("option ig.rule='simpson'"), std::string::npos) << error(request);
  request.options = {{"occlusion.window", "2"}, {"occlusion.stride", "3"}};
  EXPECT_NE(error(request).find("stride larger than the window"), std::string::npos) << error(request);
  request.options = {{"smoothgrad.samples", "0"}};
  EXPECT_NE(error(request).find("option smoothgrad.samples='0'"), std::string::npos) << error(request);
  request.options = {};
  request.methods = {"lime"};
  request.lime.samples = 1;
  EXPECT_NE(error(request).find("at least 2 samples"), std::string::npos) << error(request);
}

// ---- A method family defined outside the library, as a user's program could ----

namespace {

// "centerdot": a disc of the option's radius around the image centre, for every class.
class CenterDotFamily : public lumos::MethodFamily {
 public:
  explicit CenterDotFamily(const lumos::FamilySetup& setup)
      : radius_(lumos::option_number(setup.request, "centerdot.radius", 2, 0.5, 100)), size_(setup.input_size) {}

  lumos::BatchResults explain(const lumos::MethodBatch& batch) override {
    lumos::BatchResults results(batch.size());
    const auto ys = at::arange(size_.height, at::kFloat).view({-1, 1}) - (size_.height - 1) / 2.0;
    const auto xs = at::arange(size_.width, at::kFloat).view({1, -1}) - (size_.width - 1) / 2.0;
    const auto distance = (ys * ys + xs * xs).sqrt();
    for (size_t i = 0; i < batch.size(); ++i) {
      for (size_t k = 0; k < batch.classes[i].size(); ++k) {
        lumos::MethodResult result;
        result.method = "centerdot";
        result.map = (distance <= radius_).to(at::kFloat);
        result.raw = radius_ - distance;
        result.numbers = {{"radius", radius_}};
        result.warnings = {"a test method"};
        result.time_ms = 1;
        result.pictures = {{"mask2", cv::Mat(size_.height, size_.width, CV_8UC1, cv::Scalar(255))}};
        results[i].push_back({result});
      }
    }
    return results;
  }

 private:
  double radius_;
  cv::Size size_;
};

}  // namespace

LUMOS_METHOD_FAMILY(center_dot) {
  return {"test_centerdot",
          {{"centerdot", "Center dot", {"center-dot"}}},
          {{"centerdot.radius", "Center dot: radius in pixels (default 2)"}},
          [](const lumos::FamilySetup& setup) -> std::unique_ptr<lumos::MethodFamily> {
            return std::make_unique<CenterDotFamily>(setup);
          }};
}

TEST(MethodFamily, ARegisteredFamilyGoesThroughThePipelineAndTheWriters) {
  auto model = lumos::Model::load(model_file());
  auto request = small_request();
  request.methods = {"Center-Dot", "gradcam"};
  request.options = {{"centerdot.radius", "1.5"}};
  request.labels = lumos::ClassLabels{{"cat", "dog", "fox", "owl"}, "test labels"};
  lumos::ExplainPipeline pipeline(*model, request);
  EXPECT_EQ(pipeline.methods(), (std::vector<std::string>{"centerdot", "gradcam"}));
  const auto result = pipeline.run({lumos::ImageInput::decoded(picture(16, 12, 1), "dot")})[0];
  ASSERT_TRUE(result.ok()) << result.error;
  const auto& target = result.targets[0];
  const auto& dot = target.methods[0];
  EXPECT_EQ(dot.map.sum().item<float>(), 4.f);  // the 4 pixels around the centre of 8x8 lie within 1.5

  lumos::FolderOptions options;
  options.npy = true;
  lumos::RunSummary run = pipeline.summary();
  run.model = "tiny.onnx";
  const auto folder = lumos::write_image_folder(work_dir().string(), "dot", result, run, options);
  const std::string stem = "centerdot_" + target.label;
  for (const std::string& file : {stem + ".png", stem + "_mask2.png", stem + ".npy", stem + "_raw.npy",
                                  std::string("input.png"), std::string("explanation.json")}) {
    EXPECT_TRUE(fs::exists(fs::path(folder) / file)) << file;
  }
  EXPECT_TRUE(at::equal(lumos::read_npy((fs::path(folder) / (stem + "_raw.npy")).string()), dot.raw));
  std::ifstream in(fs::path(folder) / "explanation.json");
  const auto json = nlohmann::json::parse(in);
  const auto& entry = json["targets"][0]["methods"][0];
  EXPECT_EQ(entry["method"], "centerdot");
  EXPECT_EQ(entry["radius"], 1.5);
  EXPECT_EQ(entry["warning"], "a test method");
  EXPECT_EQ(entry["mask2"], stem + "_mask2.png");
  EXPECT_EQ(entry["raw"], stem + "_raw.npy");
  EXPECT_EQ(entry["map"], stem + ".npy");
  EXPECT_EQ(json["targets"][0]["methods"][1]["method"], "gradcam");

  // The report shows the new method from its JSON alone: its title, picture, extra picture and number.
  lumos::ReportOptions linked;
  linked.self_contained = false;
  const auto report = lumos::write_report({folder}, (work_dir() / "dot_report").string(), linked);
  std::ifstream data_file(report.data);
  std::string data((std::istreambuf_iterator<char>(data_file)), std::istreambuf_iterator<char>());
  const auto gallery = nlohmann::json::parse(data.substr(data.find('{'), data.rfind('}') - data.find('{') + 1));
  EXPECT_EQ(gallery["methods"][0]["title"], "Center dot");
  EXPECT_EQ(gallery["methods"][0]["numbers"], nlohmann::json::array({"radius"}));
  EXPECT_EQ(gallery["methods"][1]["title"], "Grad-CAM");
  const auto& shown = gallery["images"][0]["t"][0]["m"][0];
  EXPECT_EQ(shown["f"], stem + ".png");
  EXPECT_EQ(shown["th"], stem + ".thumb.jpg");
  EXPECT_EQ(shown["pic"]["mask2"], stem + "_mask2.png");
  EXPECT_EQ(shown["x"]["radius"], 1.5);
  EXPECT_EQ(shown["w"], "a test method");

  request.options = {{"centerdot.radius", "0"}};
  const auto message = error_of<lumos::InputError>([&] { lumos::ExplainPipeline(*model, request); });
  EXPECT_NE(message.find("centerdot.radius='0'"), std::string::npos) << message;
}

TEST(ExplanationFiles, AFolderIsWrittenWholeOrNotAtAll) {
  auto model = lumos::Model::load(model_file());
  auto request = small_request();
  request.methods = {"gradcam"};
  auto result = lumos::explain(*model, {picture(8, 8, 1)}, request)[0];
  result.targets[0].methods[0].map[0][0] = NAN;  // cannot be drawn
  const auto parent = work_dir() / "whole";
  fs::create_directories(parent);
  EXPECT_THROW(lumos::write_image_folder(parent.string(), "broken", result, {}, {}), lumos::InputError);
  EXPECT_TRUE(fs::is_empty(parent));

  const auto file = work_dir() / "a_file";
  std::ofstream(file) << "x";
  EXPECT_THROW(lumos::write_image_folder(file.string(), "inside", result, {}, {}), lumos::Error);
}

TEST(ExplanationFiles, FolderAndFileNamesAreSafeAndUnique) {
  EXPECT_EQ(lumos::folder_names({"a/cat.png", "b/cat.jpg", "c/x y.png", "cat"}),
            (std::vector<std::string>{"cat", "cat_2", "x_y", "cat_3"}));
  EXPECT_EQ(lumos::picture_file("lime_dog", "mask"), "lime_dog_mask.png");
  EXPECT_EQ(lumos::picture_file("lime_dog", ""), "lime_dog.png");
  lumos::MethodResult method;
  method.method = "gradcam++";
  lumos::TargetResult target;
  target.class_index = 3;
  EXPECT_EQ(lumos::file_stem(method, target), "gradcam++_class_3");
  target.label = "sea/lion";
  EXPECT_EQ(lumos::file_stem(method, target), "gradcam++_sea_lion");
}
