// LIME: the surrogate regression against scikit-learn (fixture), the perturbation steps,
// the explainer on a stand-in classifier and on a tiny ONNX model, outputs, bad input.
#include "lumos/error.hpp"
#include "lumos/image.hpp"
#include "lumos/lime.hpp"
#include "lumos/model.hpp"
#include "support/onnx_builder.hpp"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <opencv2/imgproc.hpp>

#include <filesystem>
#include <fstream>

namespace fs = std::filesystem;

namespace {

at::Tensor matrix_of(const nlohmann::json& rows, at::ScalarType type) {
  std::vector<double> values;
  for (const auto& row : rows) {
    for (double v : row) values.push_back(v);
  }
  return at::tensor(values, at::kDouble).reshape({static_cast<int64_t>(rows.size()), -1}).to(type);
}

at::Tensor vector_of(const nlohmann::json& values) { return at::tensor(values.get<std::vector<double>>(), at::kDouble); }

TEST(LimeRegression, MatchesScikitLearn) {
  const fs::path path = fs::path(LUMOS_FIXTURES) / "lime" / "regression.json";
  std::ifstream in(path);
  ASSERT_TRUE(in) << "missing " << path << "; run: /usr/bin/python3 tests/fixtures/make_lime_reference.py build/fixtures";
  const auto fixture = nlohmann::json::parse(in);
  double worst = 0;
  int checked = 0;
  for (const auto& c : fixture["cases"]) {
    const at::Tensor data = matrix_of(c["data"], at::kByte);
    const at::Tensor scores = matrix_of(c["scores"], at::kDouble);
    const at::Tensor distances = lumos::cosine_distances_to_first(data);
    EXPECT_TRUE(at::allclose(distances, vector_of(c["distances"]), 0, 1e-12));
    for (const auto& e : c["expected"]) {
      lumos::RegressionOptions options;
      options.feature_selection = lumos::parse_feature_selection(e["method"]);
      options.num_features = e["num_features"];
      options.kernel_width = fixture["kernel_width"];
      const auto got = lumos::explain_with_data(data, scores.select(1, e["label"].get<int64_t>()), distances, options);
      const std::string what = e["method"].get<std::string>() + "/" + std::to_string(e["num_features"].get<int>()) +
                               " label " + std::to_string(e["label"].get<int>()) + " N=" + std::to_string(data.size(0));
      const auto segments = e["segments"].get<std::vector<int>>();
      const auto weights = e["weights"].get<std::vector<double>>();
      ASSERT_EQ(got.weights.size(), segments.size()) << what;
      for (size_t i = 0; i < segments.size(); ++i) {
        EXPECT_EQ(got.weights[i].segment, segments[i]) << what << " rank " << i;
        EXPECT_NEAR(got.weights[i].weight, weights[i], 1e-6) << what << " rank " << i;
        worst = std::max(worst, std::abs(got.weights[i].weight - weights[i]));
      }
      EXPECT_NEAR(got.intercept, e["intercept"].get<double>(), 1e-6) << what;
      EXPECT_NEAR(got.score, e["score"].get<double>(), 1e-6) << what;
      EXPECT_NEAR(got.local_prediction, e["local_prediction"].get<double>(), 1e-6) << what;
      for (const char* key : {"intercept", "score", "local_prediction"}) {
        const double value = std::string(key) == "intercept" ? got.intercept
                             : std::string(key) == "score"   ? got.score
                                                             : got.local_prediction;
        worst = std::max(worst, std::abs(value - e[key].get<double>()));
      }
      ++checked;
    }
  }
  std::cout << checked << " surrogates, largest difference from scikit-learn " << worst << "\n";
  EXPECT_GT(checked, 0);
}

TEST(LimeRegression, RejectsTooFewSamplesAndNaN) {
  const at::Tensor data = at::ones({1, 3}, at::kByte);
  EXPECT_THROW(lumos::explain_with_data(data, at::zeros({1}), at::zeros({1})), lumos::InputError);
  const at::Tensor two = at::tensor({1, 1, 0, 1}, at::kByte).reshape({2, 2});
  EXPECT_THROW(lumos::explain_with_data(two, at::tensor({1.0, NAN}), at::zeros({2})), lumos::InputError);
  EXPECT_THROW(lumos::parse_feature_selection("best"), lumos::InputError);
  lumos::RegressionOptions none;
  none.num_features = 0;
  EXPECT_THROW(lumos::explain_with_data(two, at::tensor({1.0, 0.0}), at::zeros({2}), none), lumos::InputError);
}

TEST(LimeSampling, FirstRowIsTheImageAndSeedsRepeat) {
  const at::Tensor a = lumos::sample_matrix(500, 30, 7), b = lumos::sample_matrix(500, 30, 7);
  EXPECT_TRUE(at::equal(a, b));
  EXPECT_FALSE(at::equal(a, lumos::sample_matrix(500, 30, 8)));
  EXPECT_EQ(a[0].sum().item<int64_t>(), 30);
  const double ones = a.slice(0, 1).to(at::kDouble).mean().item<double>();
  EXPECT_NEAR(ones, 0.5, 0.03);
  EXPECT_EQ(a.max().item<int>(), 1);
}

// A 4x4 image of two segments (left and right halves).
struct TwoHalves {
  cv::Mat rgb = cv::Mat(4, 4, CV_8UC3);
  lumos::Segmentation segments;
  TwoHalves() {
    segments.labels = cv::Mat(4, 4, CV_32SC1);
    segments.count = 2;
    for (int r = 0; r < 4; ++r) {
      for (int c = 0; c < 4; ++c) {
        rgb.at<cv::Vec3b>(r, c) = cv::Vec3b(10 * r + c, c < 2 ? 200 : 0, 1);
        segments.labels.at<int>(r, c) = c < 2 ? 0 : 1;
      }
    }
  }
};

TEST(LimeSampling, HiddenFillAndPerturbedImages) {
  const TwoHalves t;
  // Segment 0 holds red 0,1,10,11,20,21,30,31: mean 15.5 → 15 (lime truncates to uint8).
  const cv::Mat mean = lumos::hidden_fill(t.rgb, t.segments, lumos::HideColor::segment_mean());
  EXPECT_EQ(mean.at<cv::Vec3b>(3, 0), cv::Vec3b(15, 200, 1));
  EXPECT_EQ(mean.at<cv::Vec3b>(0, 3), cv::Vec3b(17, 0, 1));
  const cv::Mat zero = lumos::hidden_fill(t.rgb, t.segments, lumos::HideColor::constant(0));
  EXPECT_EQ(cv::countNonZero(zero.reshape(1)), 0);
  const cv::Mat blurred = lumos::hidden_fill(t.rgb, t.segments, lumos::HideColor::blurred(2));
  EXPECT_EQ(blurred.size(), t.rgb.size());

  const at::Tensor rows = at::tensor({1, 0, 0, 1}, at::kByte).reshape({2, 2});
  const at::Tensor images = lumos::perturbed_images(t.rgb, zero, t.segments, rows);
  ASSERT_EQ(images.sizes(), (std::vector<int64_t>{2, 4, 4, 3}));
  EXPECT_EQ(images[0][2][1][0].item<int>(), 21);  // kept
  EXPECT_EQ(images[0][2][3][1].item<int>(), 0);   // hidden
  EXPECT_EQ(images[1][2][1][1].item<int>(), 0);   // hidden
  EXPECT_EQ(images[1][2][3][0].item<int>(), 23);  // kept
}

TEST(LimeSampling, FloatingPointImagesKeepTheirValues) {
  const TwoHalves t;
  for (const int type : {CV_32FC3, CV_64FC3}) {
    cv::Mat values;
    t.rgb.convertTo(values, type, 1.0 / 127.5, -1.0);  // [-1, 1], as lime's tutorials prepare images
    // Segment 0's red mean (15.5 / 127.5 - 1) is not truncated; a constant is used as it is.
    const cv::Mat mean = lumos::hidden_fill(values, t.segments, lumos::HideColor::segment_mean());
    ASSERT_EQ(mean.type(), type);
    cv::Mat mean64;
    mean.convertTo(mean64, CV_64FC3);
    EXPECT_NEAR(mean64.at<cv::Vec3d>(3, 0)[0], 15.5 / 127.5 - 1, 1e-6);
    const cv::Mat fill = lumos::hidden_fill(values, t.segments, lumos::HideColor::constant(0.25));
    const at::Tensor rows = at::tensor({1, 0, 0, 1}, at::kByte).reshape({2, 2});
    const at::Tensor images = lumos::perturbed_images(values, fill, t.segments, rows);
    EXPECT_EQ(images.scalar_type(), type == CV_32FC3 ? at::kFloat : at::kDouble);
    EXPECT_NEAR(images[0][2][1][0].item<double>(), 21 / 127.5 - 1, 1e-6);  // kept
    EXPECT_EQ(images[0][2][3][1].item<double>(), 0.25);                  // hidden
    EXPECT_EQ(images[1][2][1][1].item<double>(), 0.25);                  // hidden
    EXPECT_NEAR(images[1][2][3][0].item<double>(), 23 / 127.5 - 1, 1e-6);  // kept
  }
}

// Stand-in classifier: class 0 = mean red, class 1 = mean green, class 2 = constant.
at::Tensor colour_scores(const at::Tensor& images) {
  const at::Tensor mean = images.to(at::kFloat).mean({1, 2}) / 255.0;  // [B, 3]
  return at::stack({mean.select(1, 0), mean.select(1, 1), at::full({images.size(0)}, 0.1f)}, 1);
}

cv::Mat stripes(int size) {
  cv::Mat rgb(size, size, CV_8UC3);
  for (int r = 0; r < size; ++r) {
    for (int c = 0; c < size; ++c) {
      const int band = c * 4 / size;
      rgb.at<cv::Vec3b>(r, c) = band == 0 ? cv::Vec3b(250, 0, 0) : band == 2 ? cv::Vec3b(0, 200, 0) : cv::Vec3b(60, 60, 60);
    }
  }
  return rgb;
}

lumos::Segmentation bands(int size, int count) {
  lumos::Segmentation s;
  s.count = count;
  s.labels = cv::Mat(size, size, CV_32SC1);
  for (int r = 0; r < size; ++r) {
    for (int c = 0; c < size; ++c) s.labels.at<int>(r, c) = c * count / size;
  }
  return s;
}

TEST(LimeExplainer, FindsTheSegmentsThatDriveEachClass) {
  lumos::LimeOptions options;
  options.num_samples = 300;
  options.batch_size = 32;
  options.top_labels = 2;
  options.hide = lumos::HideColor::constant(0);
  std::vector<int64_t> progress;
  options.progress = [&](int64_t done, int64_t total) {
    EXPECT_EQ(total, 300);
    progress.push_back(done);
  };
  const auto e = lumos::explain_lime(stripes(32), bands(32, 4), colour_scores, options);
  ASSERT_EQ(e.top_labels, (std::vector<int64_t>{0, 1}));  // red mean 0.36 > green 0.31 > 0.1
  EXPECT_EQ(e.of(0).weights[0].segment, 0);  // the red band
  EXPECT_EQ(e.of(1).weights[0].segment, 2);  // the green band
  EXPECT_GT(e.of(0).weights[0].weight, 0);
  EXPECT_GT(e.of(0).score, 0.95);  // the stand-in is linear in the segments
  EXPECT_NEAR(e.of(0).local_prediction, e.scores[0][0].item<double>(), 0.03);
  EXPECT_EQ(progress.size(), 10u);
  EXPECT_EQ(progress.back(), 300);
  EXPECT_THROW(e.of(2), lumos::InputError);
}

TEST(LimeExplainer, ExplainsAFloatingPointImageAsItsBytes) {
  // The same picture in [-1, 1] (as lime's tutorials pass it), with a classifier of the same
  // values: the classifier sees float64 images and the surrogate is the 8-bit one's.
  cv::Mat values;
  stripes(32).convertTo(values, CV_64FC3, 1.0 / 127.5, -1.0);
  lumos::LimeOptions options;
  options.num_samples = 200;
  options.top_labels = 2;
  options.hide = lumos::HideColor::constant(0);
  const auto bytes = lumos::explain_lime(stripes(32), bands(32, 4), colour_scores, options);
  options.hide = lumos::HideColor::constant(-1);  // black in [-1, 1]
  at::ScalarType seen = at::kByte;
  const auto floats = lumos::explain_lime(values, bands(32, 4), [&](const at::Tensor& images) {
    seen = images.scalar_type();
    return colour_scores((images + 1) * 127.5);
  }, options);
  EXPECT_EQ(seen, at::kDouble);
  EXPECT_EQ(floats.image.type(), CV_64FC3);
  ASSERT_EQ(floats.top_labels, bytes.top_labels);
  for (int64_t label : bytes.top_labels) {
    ASSERT_EQ(floats.of(label).weights.size(), bytes.of(label).weights.size());
    for (size_t i = 0; i < bytes.of(label).weights.size(); ++i) {
      EXPECT_EQ(floats.of(label).weights[i].segment, bytes.of(label).weights[i].segment);
      EXPECT_NEAR(floats.of(label).weights[i].weight, bytes.of(label).weights[i].weight, 1e-6);
    }
  }
}

TEST(LimeExplainer, SameResultForAnyThreadCount) {
  lumos::LimeOptions options;
  options.num_samples = 120;
  options.seed = 3;
  const cv::Mat image = stripes(48);
  const int threads = at::get_num_threads();
  at::set_num_threads(1);
  const auto one = lumos::explain_lime(image, colour_scores, options);
  at::set_num_threads(2);
  const auto two = lumos::explain_lime(image, colour_scores, options);
  at::set_num_threads(threads);
  EXPECT_EQ(cv::countNonZero(one.segments.labels != two.segments.labels), 0);
  EXPECT_TRUE(at::equal(one.samples, two.samples));
  for (int64_t label : one.top_labels) {
    ASSERT_EQ(one.of(label).weights.size(), two.of(label).weights.size());
    for (size_t i = 0; i < one.of(label).weights.size(); ++i) {
      EXPECT_EQ(one.of(label).weights[i].segment, two.of(label).weights[i].segment);
      EXPECT_EQ(one.of(label).weights[i].weight, two.of(label).weights[i].weight);
    }
  }
}

TEST(LimeExplainer, CancelStopsBetweenBatches) {
  lumos::LimeOptions options;
  options.num_samples = 100;
  options.batch_size = 10;
  int batches = 0;
  options.progress = [&](int64_t, int64_t) { ++batches; };
  options.cancel = [&] { return batches == 3; };
  EXPECT_THROW(lumos::explain_lime(stripes(16), bands(16, 4), colour_scores, options), lumos::CancelledError);
  EXPECT_EQ(batches, 3);
}

TEST(LimeExplainer, BadAndEdgeInputs) {
  lumos::LimeOptions options;
  options.num_samples = 1;
  EXPECT_THROW(lumos::explain_lime(stripes(16), bands(16, 4), colour_scores, options), lumos::InputError);
  options.num_samples = 40;

  // One segment: a one-feature surrogate.
  const auto single = lumos::explain_lime(stripes(16), bands(16, 1), colour_scores, options);
  EXPECT_EQ(single.of(single.top_labels[0]).weights.size(), 1u);

  // A 20x20 image and a grey one go through the default quickshift.
  cv::Mat tiny = stripes(20);
  const auto small = lumos::explain_lime(tiny, colour_scores, options);
  EXPECT_GE(small.segments.count, 1);
  cv::Mat grey;
  cv::cvtColor(stripes(24), grey, cv::COLOR_RGB2GRAY);
  const auto g = lumos::explain_lime(grey, colour_scores, options);
  EXPECT_EQ(g.image.type(), CV_8UC3);

  // Segments of another size, a classifier returning the wrong shape or NaN.
  EXPECT_THROW(lumos::explain_lime(stripes(16), bands(8, 2), colour_scores, options), lumos::InputError);
  EXPECT_THROW(lumos::explain_lime(stripes(16), bands(16, 2), [](const at::Tensor&) { return at::zeros({1}); }, options),
               lumos::InputError);
  EXPECT_THROW(lumos::explain_lime(stripes(16), bands(16, 2),
                                   [](const at::Tensor& x) { return at::full({x.size(0), 2}, NAN); }, options),
               lumos::InputError);
  options.top_labels = 0;
  options.labels = {7};
  EXPECT_THROW(lumos::explain_lime(stripes(16), bands(16, 2), colour_scores, options), lumos::InputError);
}

TEST(LimeExplainer, RunsAnOnnxModelThroughPreprocessing) {
  // x[N,3,H,W] -> GlobalAveragePool -> Flatten -> MatMul(3x2): class 0 = red - blue, class 1 = green - blue.
  lumos::testing::OnnxBuilder b;
  b.input("x", {-1, 3, 16, 16}).output("scores", {-1, 2});
  b.initializer("w", {3, 2}, {1.f, 0.f, 0.f, 1.f, -1.f, -1.f});
  b.node("GlobalAveragePool", {"x"}, {"pool"});
  b.node("Flatten", {"pool"}, {"flat"});
  b.node("MatMul", {"flat", "w"}, {"scores"});
  const fs::path path = fs::temp_directory_path() / "lumos_lime_tiny.onnx";
  b.save(path.string());
  auto model = lumos::Model::load(path.string());
  const auto classifier = lumos::model_classifier(*model, lumos::Preprocess::named("unit"), cv::Size(16, 16));

  lumos::LimeOptions options;
  options.num_samples = 200;
  options.top_labels = 1;
  options.hide = lumos::HideColor::constant(0);
  const auto e = lumos::explain_lime(stripes(16), bands(16, 4), classifier, options);
  ASSERT_EQ(e.top_labels, (std::vector<int64_t>{0}));
  EXPECT_EQ(e.of(0).weights[0].segment, 0);
  // Each band is a quarter of the image: hiding the red band (250 → 0) lowers class 0 by
  // 250/255/4; the grey bands leave red - blue unchanged. Ridge(α=1) shrinks a little.
  EXPECT_NEAR(e.of(0).weights[0].weight, 250.0 / 255 / 4, 0.02);
  EXPECT_NEAR(e.scores[0][0].item<double>(), 250.0 / 255 / 4, 1e-5);
  EXPECT_NEAR(e.scores[0][1].item<double>(), 200.0 / 255 / 4, 1e-5);

  // The model's classifier preprocesses 8-bit pictures; floating-point ones need the caller's.
  cv::Mat values;
  stripes(16).convertTo(values, CV_32FC3, 1.0 / 255);
  EXPECT_THROW(lumos::explain_lime(values, bands(16, 4), classifier, options), lumos::InputError);
}

// ---- outputs ----

lumos::LimeExplanation fake_explanation() {
  lumos::LimeExplanation e;
  e.image = stripes(8);
  e.segments = bands(8, 4);
  e.top_labels = {0};
  e.explanations[0].weights = {{2, 0.5}, {0, -0.4}, {3, 0.2}, {1, -0.01}};
  return e;
}

TEST(LimeOutputs, ImageAndMaskAsLime) {
  const auto e = fake_explanation();
  lumos::MaskOptions positive;
  positive.num_features = 5;
  auto m = lumos::image_and_mask(e, 0, positive);
  EXPECT_EQ(m.mask.at<int>(0, 4), 1);  // segment 2
  EXPECT_EQ(m.mask.at<int>(0, 6), 1);  // segment 3
  EXPECT_EQ(m.mask.at<int>(0, 0), 0);
  EXPECT_EQ(cv::countNonZero(m.image.reshape(1) != e.image.reshape(1)), 0);  // hide_rest=False keeps the image

  positive.hide_rest = true;
  positive.num_features = 1;
  m = lumos::image_and_mask(e, 0, positive);
  EXPECT_EQ(cv::countNonZero(m.mask), 16);
  EXPECT_EQ(m.image.at<cv::Vec3b>(0, 0), cv::Vec3b(0, 0, 0));
  EXPECT_EQ(m.image.at<cv::Vec3b>(0, 4), e.image.at<cv::Vec3b>(0, 4));

  lumos::MaskOptions negative;
  negative.positive_only = false;
  negative.negative_only = true;
  negative.min_weight = 0.05;
  m = lumos::image_and_mask(e, 0, negative);
  EXPECT_EQ(m.mask.at<int>(0, 0), 1);
  EXPECT_EQ(m.mask.at<int>(0, 2), 0);  // |-0.01| <= min_weight

  lumos::MaskOptions both;
  both.positive_only = false;
  both.num_features = 2;
  m = lumos::image_and_mask(e, 0, both);
  EXPECT_EQ(m.mask.at<int>(0, 4), 1);
  EXPECT_EQ(m.mask.at<int>(0, 0), -1);
  EXPECT_EQ(m.mask.at<int>(0, 6), 0);
  EXPECT_EQ(m.image.at<cv::Vec3b>(0, 4)[1], 250);  // positive: channel 1 set to the image maximum
  EXPECT_EQ(m.image.at<cv::Vec3b>(0, 0)[0], 250);  // negative: channel 0

  lumos::MaskOptions conflicting;
  conflicting.negative_only = true;
  EXPECT_THROW(lumos::image_and_mask(e, 0, conflicting), lumos::InputError);
  EXPECT_THROW(lumos::image_and_mask(e, 5, {}), lumos::InputError);
}

// The example in skimage.segmentation.find_boundaries' docstring.
cv::Mat docstring_labels() {
  const int v[9][10] = {{0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, {0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, {0, 0, 0, 0, 0, 5, 5, 5, 0, 0},
                        {0, 0, 1, 1, 1, 5, 5, 5, 0, 0}, {0, 0, 1, 1, 1, 5, 5, 5, 0, 0}, {0, 0, 1, 1, 1, 5, 5, 5, 0, 0},
                        {0, 0, 0, 0, 0, 5, 5, 5, 0, 0}, {0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, {0, 0, 0, 0, 0, 0, 0, 0, 0, 0}};
  cv::Mat m(9, 10, CV_32SC1);
  for (int r = 0; r < 9; ++r) {
    for (int c = 0; c < 10; ++c) m.at<int>(r, c) = v[r][c];
  }
  return m;
}

std::vector<std::string> rows_of(const cv::Mat& b) {
  std::vector<std::string> out;
  for (int r = 0; r < b.rows; ++r) {
    std::string s;
    for (int c = 0; c < b.cols; ++c) s += b.at<uint8_t>(r, c) ? '1' : '0';
    out.push_back(s);
  }
  return out;
}

TEST(LimeOutputs, FindBoundariesAsScikitImage) {
  const cv::Mat labels = docstring_labels();
  EXPECT_EQ(rows_of(lumos::find_boundaries(labels, lumos::BoundaryMode::thick)),
            (std::vector<std::string>{"0000000000", "0000011100", "0011111110", "0111110110", "0110110110",
                                      "0111110110", "0011111110", "0000011100", "0000000000"}));
  EXPECT_EQ(rows_of(lumos::find_boundaries(labels, lumos::BoundaryMode::inner)),
            (std::vector<std::string>{"0000000000", "0000000000", "0000011100", "0011110100", "0010110100",
                                      "0011110100", "0000011100", "0000000000", "0000000000"}));
  EXPECT_EQ(rows_of(lumos::find_boundaries(labels, lumos::BoundaryMode::outer)),
            (std::vector<std::string>{"0000000000", "0000011100", "0011110010", "0100110010", "0100110010",
                                      "0100110010", "0011110010", "0000011100", "0000000000"}));
}

TEST(LimeOutputs, MarkBoundariesAndHeatmap) {
  const cv::Mat labels = docstring_labels();
  const cv::Mat grey(9, 10, CV_8UC1, cv::Scalar(51));
  const cv::Mat marked = lumos::mark_boundaries(grey, labels);
  ASSERT_EQ(marked.type(), CV_64FC3);
  EXPECT_EQ(marked.at<cv::Vec3d>(1, 5), cv::Vec3d(1, 1, 0));
  EXPECT_NEAR(marked.at<cv::Vec3d>(0, 0)[0], 0.2, 1e-12);

  const auto e = fake_explanation();
  const cv::Mat heat = lumos::weight_heatmap(e.segments, e.of(0));
  EXPECT_FLOAT_EQ(heat.at<float>(3, 4), 0.5f);
  EXPECT_FLOAT_EQ(heat.at<float>(3, 0), -0.4f);
  EXPECT_FLOAT_EQ(heat.at<float>(3, 3), -0.01f);
}

}  // namespace
