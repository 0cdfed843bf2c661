// The CAM base and methods on tiny ONNX models whose maps have closed forms:
// x -> Conv(stride 2) -> Relu = A [N,4,3,3] -> global average -> linear -> 5 scores.
// With a global average before a linear head, dscore_t/dA_k = W[k,t] / (h*w) everywhere,
// so Grad-CAM and HiResCAM are relu(sum_k W[k,t] A_k) (the original CAM), LayerCAM is
// relu(sum_k relu(W[k,t]) A_k), and ablating channel k lowers the score by W[k,t] mean(A_k).
#include "lumos/cam.hpp"
#include "lumos/error.hpp"
#include "support/onnx_builder.hpp"
#include "support/error_of.hpp"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>

using lumos::testing::error_of;
namespace fs = std::filesystem;
using lumos::CamExplainer;
using lumos::CamMethod;
using lumos::CamOptions;
using lumos::Target;
using lumos::testing::OnnxBuilder;

namespace {

constexpr int64_t kChannels = 4, kClasses = 5;
constexpr int kNegativeClass = 3;  // all head weights negative: every map is empty
constexpr int kDeadClass = 4;      // all head weights zero: the score depends on nothing

std::vector<float> wave(size_t n, float phase, float scale, float offset = 0) {
  std::vector<float> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = offset + scale * std::sin(1.7f * i + phase);
  return v;
}

std::vector<float> conv_weights() { return wave(kChannels * 3 * 3 * 3, 0.3f, 0.5f); }
std::vector<float> conv_bias() { return wave(kChannels, 1.1f, 0.2f, 0.1f); }
// fc [channels, classes], row-major: column t holds class t's weights.
std::vector<float> fc_weights() {
  auto w = wave(kChannels * kClasses, 2.0f, 1.0f);
  for (int k = 0; k < kChannels; ++k) {
    w[k * kClasses + kNegativeClass] = -0.5f - 0.1f * k;
    w[k * kClasses + kDeadClass] = 0.f;
  }
  return w;
}

void add_head(OnnxBuilder& b, const std::string& pooled_flat) {
  b.initializer("fc_w", {kChannels, kClasses}, fc_weights());
  b.initializer("fc_b", {kClasses}, wave(kClasses, 0.5f, 0.3f));
  b.node("MatMul", {pooled_flat, "fc_w"}, {"mm"}, "fc_matmul");
  b.node("Add", {"mm", "fc_b"}, {"scores"}, "fc_add");
  b.output("scores", {-1, kClasses});
}

void add_conv(OnnxBuilder& b, const std::string& input, const std::vector<float>& weights = conv_weights(),
              const std::vector<float>& bias = conv_bias()) {
  b.initializer("conv_w", {kChannels, 3, 3, 3}, weights);
  b.initializer("conv_b", {kChannels}, bias);
  auto& conv = b.node("Conv", {input, "conv_w", "conv_b"}, {"conv"}, "conv");
  OnnxBuilder::set_ints(conv, "pads", {1, 1, 1, 1});
  OnnxBuilder::set_ints(conv, "strides", {2, 2});
  b.node("Relu", {"conv"}, {"features"}, "relu");
}

std::string save(const OnnxBuilder& b, const std::string& name) {
  const auto path = (fs::temp_directory_path() / ("lumos_cam_" + name + ".onnx")).string();
  b.save(path);
  return path;
}

std::string nchw_model() {
  OnnxBuilder b;
  b.input("x", {-1, 3, 6, 6});
  add_conv(b, "x");
  b.node("GlobalAveragePool", {"features"}, {"pooled"}, "pool");
  b.node("Flatten", {"pooled"}, {"flat"}, "flatten");
  add_head(b, "flat");
  return save(b, "nchw");
}

// The network with channels whose Score-CAM masks coincide: channel 2 copies channel 0, and
// channels 1 and 3 are dead (a bias far below any response, so the Relu gives all zeros).
std::string repeated_masks_model() {
  auto weights = conv_weights();
  auto bias = conv_bias();
  const size_t per_channel = 3 * 3 * 3;
  std::copy_n(weights.begin(), per_channel, weights.begin() + 2 * per_channel);
  bias[2] = bias[0];
  bias[1] = bias[3] = -100.f;
  OnnxBuilder b;
  b.input("x", {-1, 3, 6, 6});
  add_conv(b, "x", weights, bias);
  b.node("GlobalAveragePool", {"features"}, {"pooled"}, "pool");
  b.node("Flatten", {"pooled"}, {"flat"}, "flatten");
  add_head(b, "flat");
  return save(b, "repeated_masks");
}

// The same network on NHWC input, with its target layer NHWC too.
std::string nhwc_model() {
  OnnxBuilder b;
  b.input("x", {-1, 6, 6, 3});
  OnnxBuilder::set_ints(b.node("Transpose", {"x"}, {"x_nchw"}, "to_nchw"), "perm", {0, 3, 1, 2});
  add_conv(b, "x_nchw");
  OnnxBuilder::set_ints(b.node("Transpose", {"features"}, {"features_nhwc"}, "to_nhwc"), "perm", {0, 2, 3, 1});
  auto& mean = b.node("ReduceMean", {"features_nhwc"}, {"flat"}, "pool");
  OnnxBuilder::set_ints(mean, "axes", {1, 2});
  auto* keep = mean.add_attribute();
  keep->set_name("keepdims");
  keep->set_type(::onnx::AttributeProto::INT);
  keep->set_i(0);
  add_head(b, "flat");
  return save(b, "nhwc");
}

at::Tensor images(int64_t n = 2) {
  return at::sin(at::arange(n * 3 * 6 * 6, at::kFloat).mul(0.37)).view({n, 3, 6, 6});
}

// Features A [N, 4, 3, 3] and head weights [4, 5] computed directly with ATen.
at::Tensor features(const at::Tensor& x) {
  const auto w = at::tensor(conv_weights()).view({kChannels, 3, 3, 3});
  return at::relu(at::conv2d(x, w, at::tensor(conv_bias()), {2, 2}, {1, 1}));
}
at::Tensor head() { return at::tensor(fc_weights()).view({kChannels, kClasses}); }

// pytorch-grad-cam's post-processing of one layer's relu'd map [h, w] at input size 6x6:
// min-max, half-pixel bilinear upsampling (cv2 and torch agree when upsampling), min-max.
at::Tensor post_process(const at::Tensor& cam) {
  auto scaled = [](at::Tensor m) {
    m = m - m.min();
    return m / (1e-7 + m.max());
  };
  const auto layer_map = scaled(at::relu(cam)).unsqueeze(0).unsqueeze(0);
  const auto up = at::upsample_bilinear2d(layer_map, {6, 6}, /*align_corners=*/false);
  return scaled(up[0][0]);
}

std::vector<lumos::CamExplanation> explain(lumos::Model& model, std::vector<CamMethod> methods,
                                            const at::Tensor& x, std::vector<Target> targets,
                                            CamOptions options = {}) {
  return CamExplainer(model, std::move(methods), std::move(options)).explain(x, targets);
}

void expect_near(const at::Tensor& a, const at::Tensor& b, double tolerance, const std::string& what) {
  ASSERT_EQ(a.sizes(), b.sizes()) << what;
  EXPECT_LE((a - b).abs().max().item<double>(), tolerance) << what;
}

// A model that counts the forward passes it is asked for.
class CountingModel final : public lumos::Model {
 public:
  explicit CountingModel(std::unique_ptr<lumos::Model> inner) : inner_(std::move(inner)) {}
  const lumos::InputSpec& input() const override { return inner_->input(); }
  const std::vector<lumos::LayerInfo>& layers() override { return inner_->layers(); }
  std::string default_layer() override { return inner_->default_layer(); }
  std::string resolve_layer(const std::string& name) override { return inner_->resolve_layer(name); }
  at::Tensor scores(const at::Tensor& batch) override {
    ++forwards;
    return inner_->scores(batch);
  }
  lumos::Trace trace(const at::Tensor& batch, const std::vector<std::string>& capture, bool grad) override {
    ++forwards;
    ++traces;
    return inner_->trace(batch, capture, grad);
  }
  at::Tensor scores_given(const at::Tensor& batch, const std::string& layer, const at::Tensor& value) override {
    ++forwards;
    return inner_->scores_given(batch, layer, value);
  }
  std::string score_description() const override { return inner_->score_description(); }
  lumos::Score score_kind() const override { return inner_->score_kind(); }
  at::Tensor probabilities(const at::Tensor& scores) const override { return inner_->probabilities(scores); }
  const std::map<std::string, std::string>& metadata() const override { return inner_->metadata(); }
  int forwards = 0;
  int traces = 0;

 private:
  std::unique_ptr<lumos::Model> inner_;
};

}  // namespace

TEST(Cam, GradCamHiResCamAndLayerCamHaveTheirClosedForms) {
  auto model = lumos::Model::load(nchw_model());
  const auto x = images();
  const auto result = explain(*model, {CamMethod::gradcam, CamMethod::hirescam, CamMethod::layercam}, x,
                              {Target::class_index(1), Target::class_index(2)});
  const auto a = features(x);
  for (int i = 0; i < 2; ++i) {
    const auto w = head().select(1, i + 1).view({kChannels, 1, 1});
    const auto cam = post_process((w * a[i]).sum(0));
    expect_near(result[i].maps[0].map, cam, 1e-5, "gradcam");
    expect_near(result[i].maps[1].map, cam, 1e-5, "hirescam");
    expect_near(result[i].maps[2].map, post_process((at::relu(w) * a[i]).sum(0)), 1e-5, "layercam");
    EXPECT_EQ(result[i].target, i + 1);
    ASSERT_EQ(result[i].maps[0].layers.size(), 1u);
    EXPECT_EQ(result[i].maps[0].layers[0].layer, "features");
    EXPECT_EQ(result[i].maps[0].layers[0].map.sizes(), (at::IntArrayRef{3, 3}));
    EXPECT_FALSE(result[i].maps[0].empty);
  }
}

// With the global average and the linear head, d softmax_t / dA_k = p_t (W[k,t] - sum_j p_j W[k,j]) / (h*w)
// at every position; the Keras Grad-CAM resizes sum_k that * A_k, then ReLU, then divides by the maximum.
TEST(Cam, KerasGradCamExplainsTheProbabilityAndResizesFirst) {
  auto model = lumos::Model::load(nchw_model());
  const auto x = images();
  const auto result = explain(*model, {CamMethod::gradcam_keras, CamMethod::gradcam}, x, {Target::class_index(1)});
  const auto a = features(x);
  const auto p = at::softmax(model->scores(x), 1);
  for (int i = 0; i < 2; ++i) {
    const auto w = p[i][1] * (head().select(1, 1) - at::matmul(head(), p[i]));
    const auto cam = (w.view({kChannels, 1, 1}) * a[i]).sum(0);
    const auto up = at::relu(at::upsample_bilinear2d(cam.view({1, 1, 3, 3}), {6, 6}, false)[0][0]);
    expect_near(result[i].maps[0].map, up / up.max(), 1e-5, "gradcam-keras");
    EXPECT_FALSE(result[i].maps[0].empty);
    // Not the logit's map: the probability's gradient subtracts the other classes' weights.
    EXPECT_GT((result[i].maps[0].map - result[i].maps[1].map).abs().max().item<float>(), 0.05f);
  }
}

// A saturated softmax has a zero gradient: the Keras forms give empty maps that say why,
// where the logit's methods still see their class.
TEST(Cam, KerasFormsFlagASaturatedProbability) {
  auto model = lumos::Model::load(nchw_model());
  const auto x = images() * 1e4;
  const auto result = explain(*model, {CamMethod::gradcam_keras, CamMethod::gradcam_plus_plus_keras, CamMethod::gradcam},
                              x, {Target::top(1)});
  for (int i = 0; i < 2; ++i) {
    for (int m = 0; m < 2; ++m) {
      EXPECT_TRUE(result[i].maps[m].empty);
      EXPECT_NE(result[i].maps[m].warning.find("saturated"), std::string::npos) << result[i].maps[m].warning;
    }
    EXPECT_FALSE(result[i].maps[2].empty);
  }
}

TEST(Cam, AblationCamHasItsClosedForm) {
  auto model = lumos::Model::load(nchw_model());
  const auto x = images();
  CamOptions options;
  options.perturbation_batch = 3;
  const auto result = explain(*model, {CamMethod::ablationcam}, x, {Target::class_index(0)}, options);
  const auto a = features(x);
  const auto scores = model->scores(x).select(1, 0);
  for (int i = 0; i < 2; ++i) {
    // Relu features have minimum 0, so ablation zeroes the channel.
    ASSERT_EQ(a[i].min().item<float>(), 0.f);
    const auto drop = head().select(1, 0) * a[i].mean({1, 2});
    const auto weights = (drop / scores[i]).view({kChannels, 1, 1});
    expect_near(result[i].maps[0].map, post_process((weights * a[i]).sum(0)), 1e-5, "ablationcam");
  }
}

TEST(Cam, TargetsAreResolvedPerImage) {
  auto model = lumos::Model::load(nchw_model());
  const auto x = images();
  const auto scores = model->scores(x);
  EXPECT_EQ(Target::top(2).resolve(scores[1], {}), std::get<1>(scores[1].topk(2))[1].item<int64_t>());
  const auto both = explain(*model, {CamMethod::gradcam}, x, {Target::top(1), Target::class_index(2)});
  EXPECT_EQ(both[0].target, scores[0].argmax().item<int64_t>());
  EXPECT_EQ(both[1].target, 2);
  EXPECT_FLOAT_EQ(both[1].score, scores[1][both[1].target].item<float>());
  // Each image's map is the one it gets when explained alone.
  const auto alone = explain(*model, {CamMethod::gradcam}, x.slice(0, 1, 2), {Target::class_index(both[1].target)});
  expect_near(both[1].maps[0].map, alone[0].maps[0].map, 1e-6, "image 1 alone");

  CamOptions options;
  options.labels = {"zero", "one", "two", "three", "four"};
  const auto labelled = explain(*model, {CamMethod::gradcam}, x, {Target::label("two")}, options);
  EXPECT_EQ(labelled[0].target, 2);
  EXPECT_EQ(labelled[1].label, "two");
}

TEST(Cam, FiveGradientMethodsShareOneTrace) {
  CountingModel model(lumos::Model::load(nchw_model()));
  const std::vector<CamMethod> methods = {CamMethod::gradcam, CamMethod::gradcam_plus_plus, CamMethod::hirescam,
                                          CamMethod::xgradcam, CamMethod::layercam, CamMethod::eigencam};
  const auto x = images();
  const auto together = explain(model, methods, x, {Target::top(1)});
  EXPECT_EQ(model.forwards, 1);
  for (size_t m = 0; m < methods.size(); ++m) {
    const auto alone = explain(model, {methods[m]}, x, {Target::top(1)});
    expect_near(together[0].maps[m].map, alone[0].maps[0].map, 0, lumos::to_string(methods[m]));
    EXPECT_EQ(together[0].maps[m].method, methods[m]);
  }
}

TEST(Cam, NhwcModelGivesTheSameMapsAsNchw) {
  auto nchw = lumos::Model::load(nchw_model());
  auto nhwc = lumos::Model::load(nhwc_model());
  ASSERT_EQ(nhwc->input().layout, lumos::Layout::NHWC);
  const auto x = images();
  const auto& methods = lumos::all_cam_methods();
  CamOptions nhwc_options;
  nhwc_options.layers = {"features_nhwc"};
  const auto expected = explain(*nchw, methods, x, {Target::class_index(0)});
  const auto actual = explain(*nhwc, methods, x.permute({0, 2, 3, 1}).contiguous(), {Target::class_index(0)},
                              nhwc_options);
  for (int i = 0; i < 2; ++i) {
    for (size_t m = 0; m < methods.size(); ++m) {
      expect_near(actual[i].maps[m].map, expected[i].maps[m].map, 1e-5, lumos::to_string(methods[m]));
    }
  }
}

TEST(Cam, SeveralLayersAreAveragedAfterTheirOwnScaling) {
  auto model = lumos::Model::load(nchw_model());
  const auto x = images();
  CamOptions two, conv, relu;
  two.layers = {"conv", "features"};
  conv.layers = {"conv"};
  relu.layers = {"features"};
  auto upsample = [](const at::Tensor& m) {
    return at::upsample_bilinear2d(m.unsqueeze(0).unsqueeze(0), {6, 6}, /*align_corners=*/false)[0][0];
  };
  for (auto method : {CamMethod::gradcam, CamMethod::scorecam}) {
    const auto both = explain(*model, {method}, x, {Target::class_index(1)}, two);
    // Each layer's map is the one it gets alone (the backward to "conv" passes through the Relu).
    const auto first = explain(*model, {method}, x, {Target::class_index(1)}, conv);
    const auto second = explain(*model, {method}, x, {Target::class_index(1)}, relu);
    for (int i = 0; i < 2; ++i) {
      const auto& layers = both[i].maps[0].layers;
      ASSERT_EQ(layers.size(), 2u);
      EXPECT_EQ(layers[0].layer, "conv");
      expect_near(layers[0].map, first[i].maps[0].layers[0].map, 1e-6, "conv alone");
      expect_near(layers[1].map, second[i].maps[0].layers[0].map, 1e-6, "relu alone");
      auto mean = (upsample(layers[0].map) + upsample(layers[1].map)) / 2;
      mean = mean - mean.min();
      mean = mean / (1e-7 + mean.max());
      expect_near(both[i].maps[0].map, mean, 1e-6, lumos::to_string(method));
    }
  }
}

TEST(Cam, AugSmoothAveragesFlippedAndScaledPasses) {
  auto model = lumos::Model::load(nchw_model());
  const auto x = images();
  CamOptions smooth;
  smooth.aug_smooth = true;
  const auto result = explain(*model, {CamMethod::gradcam}, x, {Target::top(1)}, smooth);
  const auto plain = explain(*model, {CamMethod::gradcam}, x, {Target::top(1)});
  std::vector<Target> targets = {Target::class_index(plain[0].target), Target::class_index(plain[1].target)};
  std::vector<at::Tensor> maps;
  for (bool flip : {false, true}) {
    for (double factor : {0.9, 1.0, 1.1}) {
      const auto input = flip ? (x * factor).flip({3}) : x * factor;
      const auto r = explain(*model, {CamMethod::gradcam}, input, targets);
      auto pair = at::stack({r[0].maps[0].map, r[1].maps[0].map});
      maps.push_back(flip ? pair.flip({2}) : pair);
    }
  }
  const auto expected = at::stack(maps).mean(0);
  for (int i = 0; i < 2; ++i) {
    expect_near(result[i].maps[0].map, expected[i], 1e-6, "aug_smooth");
    EXPECT_EQ(result[i].target, plain[i].target);
  }
}

TEST(Cam, ScoreCamDoesNotDependOnItsBatchSizeAndReportsProgress) {
  auto model = lumos::Model::load(nchw_model());
  const auto x = images();
  std::vector<lumos::CamProgress> reports;
  CamOptions by_three;
  by_three.perturbation_batch = 3;
  by_three.progress = [&](const lumos::CamProgress& p) { reports.push_back(p); };
  const auto small = explain(*model, {CamMethod::scorecam}, x, {Target::class_index(2)}, by_three);
  const auto large = explain(*model, {CamMethod::scorecam}, x, {Target::class_index(2)});
  for (int i = 0; i < 2; ++i) expect_near(small[i].maps[0].map, large[i].maps[0].map, 1e-6, "batch size");
  // 4 channels in batches of 3: two forwards per image.
  ASSERT_EQ(reports.size(), 4u);
  EXPECT_EQ(reports[0].done, 3);
  EXPECT_EQ(reports[1].done, 4);
  EXPECT_EQ(reports[1].total, 4);
  EXPECT_EQ(reports[3].image, 1);
  EXPECT_EQ(reports[3].method, CamMethod::scorecam);
}

// Score-CAM without sharing: every channel's mask scored on its own, one forward each.
at::Tensor score_cam_layer_map(lumos::Model& model, const at::Tensor& x, int64_t image, int64_t target) {
  const auto activations = model.trace(x, {"features"}, false).activations.at("features").slice(0, image, image + 1);
  std::vector<at::Tensor> scores;
  for (int64_t k = 0; k < kChannels; ++k) {
    auto mask = at::upsample_bilinear2d(activations.slice(1, k, k + 1), {6, 6}, /*align_corners=*/true)[0];
    mask = (mask - mask.min()) / (mask.max() - mask.min() + 1e-8);
    scores.push_back(model.scores(x.slice(0, image, image + 1) * mask.unsqueeze(1))[0][target]);
  }
  const auto weights = at::softmax(at::stack(scores), 0).view({1, kChannels, 1, 1});
  auto cam = at::relu((weights * activations).sum(1));
  cam = cam - cam.min();
  return (cam / (1e-7 + cam.max()))[0];
}

TEST(Cam, ScoreCamScoresIdenticalMasksOnceWithTheSameResult) {
  auto model = lumos::Model::load(repeated_masks_model());
  const auto x = images();
  const auto a = model->trace(x, {"features"}, false).activations.at("features");
  ASSERT_EQ(a.select(1, 1).abs().max().item<float>(), 0.f);  // dead channels, as meant
  ASSERT_TRUE(at::equal(a.select(1, 0), a.select(1, 2)));
  ASSERT_GT(a.select(1, 0).max().item<float>(), 0.f);
  for (const int64_t batch : {1, 32}) {
    std::vector<lumos::CamProgress> reports;
    CamOptions options;
    options.perturbation_batch = batch;
    options.progress = [&](const lumos::CamProgress& p) { reports.push_back(p); };
    const auto result = explain(*model, {CamMethod::scorecam}, x, {Target::class_index(1)}, options);
    // Four channels, two distinct masks (channel 0's, and the dead channels' zeros): 2 forwards per image.
    int64_t scored = 0;
    for (const auto& r : reports) scored += r.done == r.total ? r.total : 0;
    EXPECT_EQ(scored, 2 * 2) << batch;
    for (int64_t i = 0; i < 2; ++i) {
      const auto expected = score_cam_layer_map(*model, x, i, 1);
      // Scored one mask per forward, as the reference does: the very same numbers.
      expect_near(result[i].maps[0].layers[0].map, expected, batch == 1 ? 0 : 1e-6, "shared scores");
    }
  }
}

TEST(Cam, ScoreCamAndAblationCamStopWhenCancelled) {
  auto model = lumos::Model::load(nchw_model());
  const auto x = images();
  for (const auto method : {CamMethod::scorecam, CamMethod::ablationcam}) {
    int forwards = 0;
    CamOptions options;
    options.perturbation_batch = 1;
    options.progress = [&](const lumos::CamProgress&) { ++forwards; };
    options.cancel = [&] { return forwards == 2; };
    const auto msg =
        error_of<lumos::CancelledError>([&] { explain(*model, {method}, x, {Target::class_index(0)}, options); });
    EXPECT_NE(msg.find("was cancelled"), std::string::npos) << msg;
    EXPECT_EQ(forwards, 2) << to_string(method);
  }
}

TEST(Cam, ScoreCamInBf16StaysCloseToFp32) {
  auto model = lumos::Model::load(nchw_model());
  const auto x = images();
  CamOptions bf16;
  bf16.bf16 = true;
  const auto fast = explain(*model, {CamMethod::scorecam}, x, {Target::class_index(0)}, bf16);
  const auto exact = explain(*model, {CamMethod::scorecam}, x, {Target::class_index(0)});
  for (int i = 0; i < 2; ++i) expect_near(fast[i].maps[0].map, exact[i].maps[0].map, 0.02, "bf16");
  // Autocast is off again afterwards.
  const auto again = explain(*model, {CamMethod::scorecam}, x, {Target::class_index(0)});
  expect_near(again[0].maps[0].map, exact[0].maps[0].map, 0, "after bf16");
}

TEST(Cam, EigenCamSignMakesTheStrongestResponsePositive) {
  auto model = lumos::Model::load(nchw_model());
  const auto x = images();
  const auto result = explain(*model, {CamMethod::eigencam}, x, {Target::top(1)});
  const auto a = features(x).to(at::kDouble);
  for (int i = 0; i < 2; ++i) {
    auto centred = a[i].flatten(1).t();
    centred = centred - centred.mean(0, true);
    const auto v = std::get<2>(at::linalg_svd(centred, false))[0];
    auto projection = at::matmul(centred, v);
    if (projection.min().abs().item<double>() > projection.max().abs().item<double>()) projection = -projection;
    expect_near(result[i].maps[0].map, post_process(projection.view({3, 3}).to(at::kFloat)), 1e-5, "eigencam");
  }
}

TEST(Cam, AllZeroMapIsFlaggedNotDividedByZero) {
  auto model = lumos::Model::load(nchw_model());
  const auto result = explain(*model, {CamMethod::gradcam, CamMethod::layercam}, images(),
                              {Target::class_index(kNegativeClass)});
  for (const auto& e : result) {
    for (const auto& m : e.maps) {
      EXPECT_TRUE(m.empty);
      EXPECT_NE(m.warning.find("zero everywhere"), std::string::npos) << m.warning;
      EXPECT_EQ(m.map.abs().max().item<float>(), 0.f);
      EXPECT_FALSE(m.map.isnan().any().item<bool>());
    }
  }
}

TEST(Cam, ClearErrors) {
  auto model = lumos::Model::load(nchw_model());
  const auto x = images();
  EXPECT_NE(error_of<lumos::InputError>([&] { explain(*model, {CamMethod::gradcam}, x, {Target::class_index(5)}); })
                .find("the model has 5 classes"),
            std::string::npos);
  EXPECT_NE(error_of<lumos::InputError>([&] { explain(*model, {CamMethod::gradcam}, x, {Target::top(6)}); })
                .find("5 classes"),
            std::string::npos);
  EXPECT_NE(error_of<lumos::InputError>([&] { explain(*model, {CamMethod::gradcam}, x, {Target::label("cat")}); })
                .find("needs a label list"),
            std::string::npos);
  CamOptions flat;
  flat.layers = {"flat"};
  EXPECT_NE(error_of<lumos::InputError>([&] { explain(*model, {CamMethod::gradcam}, x, {Target::top(1)}, flat); })
                .find("4-D activation"),
            std::string::npos);
  const auto dead = error_of<lumos::InputError>(
      [&] { explain(*model, {CamMethod::gradcam}, x, {Target::class_index(kDeadClass)}); });
  EXPECT_NE(dead.find("does not depend on layer 'features'"), std::string::npos) << dead;
  EXPECT_NE(dead.find("gradient there is zero everywhere"), std::string::npos) << dead;
  // Gradient-free methods still explain that class.
  EXPECT_NO_THROW(explain(*model, {CamMethod::eigencam}, x, {Target::class_index(kDeadClass)}));
  EXPECT_NE(error_of<lumos::InputError>(
                [&] { explain(*model, {CamMethod::gradcam}, x, {Target::top(1), Target::top(1), Target::top(1)}); })
                .find("3 targets for a batch of 2"),
            std::string::npos);
  EXPECT_NE(error_of<lumos::InputError>([&] { CamExplainer(*model, {CamMethod::gradcam, CamMethod::gradcam}); })
                .find("listed twice"),
            std::string::npos);
  EXPECT_NE(error_of<lumos::InputError>([&] { lumos::parse_cam_method("gradcam+++"); }).find("choose from"),
            std::string::npos);
}

TEST(Cam, ParsesMethodsAndTargets) {
  EXPECT_EQ(lumos::parse_cam_method("gradcam++"), CamMethod::gradcam_plus_plus);
  EXPECT_EQ(lumos::parse_cam_method("Grad-CAM-PP"), CamMethod::gradcam_plus_plus);
  EXPECT_EQ(lumos::parse_cam_method("score_cam"), CamMethod::scorecam);
  EXPECT_EQ(lumos::parse_cam_method("Grad-CAM++ Keras"), CamMethod::gradcam_plus_plus_keras);
  EXPECT_EQ(lumos::parse_cam_method("gradcampp_keras"), CamMethod::gradcam_plus_plus_keras);
  EXPECT_EQ(lumos::parse_cam_method("GradCAM-Keras"), CamMethod::gradcam_keras);
  for (auto m : lumos::all_cam_methods()) EXPECT_EQ(lumos::parse_cam_method(lumos::to_string(m)), m);
  EXPECT_EQ(Target::parse("top3").describe(), "top-3");
  EXPECT_EQ(Target::parse("281").describe(), "class 281");
  EXPECT_EQ(Target::parse("tabby cat").describe(), "label 'tabby cat'");
  EXPECT_THROW(Target::parse("top0"), lumos::InputError);
  EXPECT_THROW(Target::parse(""), lumos::InputError);
}
