#include "lumos/error.hpp"
#include "lumos/image.hpp"
#include "support/error_of.hpp"
#include "support/fixture_json.hpp"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <opencv2/imgproc.hpp>

#include <filesystem>

using lumos::testing::error_of;
namespace fs = std::filesystem;

namespace {

const fs::path kImages = fs::path(LUMOS_FIXTURES) / "images";

// The decoded pixels the fixture script worked out for each file.
const nlohmann::json& expected_images() {
  static const nlohmann::json all = lumos::testing::read_fixture_json("images.json", "make_image_fixtures.py");
  return all;
}

cv::Mat expected_pixels(const std::string& name) {
  const auto& entry = expected_images().at(name);
  const auto shape = entry.at("shape").get<std::vector<int>>();
  const auto values = entry.at("rgb").get<std::vector<uchar>>();
  return cv::Mat(shape[0], shape[1], CV_8UC3, const_cast<uchar*>(values.data())).clone();
}

std::string image_path(const std::string& name) { return (kImages / name).string(); }

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

lumos::InputSpec spec(lumos::Layout layout, int64_t channels, int64_t height, int64_t width) {
  lumos::InputSpec s;
  s.layout = layout;
  s.channels = channels;
  s.height = height;
  s.width = width;
  return s;
}

}  // namespace

using lumos::Image;


class DecodesTo : public ::testing::TestWithParam<std::string> {};

TEST_P(DecodesTo, TheRgbPixelsComputedFromTheSource) {
  const auto image = Image::load(image_path(GetParam()));
  const cv::Mat expected = expected_pixels(GetParam());
  ASSERT_EQ(image.size(), expected.size());
  EXPECT_EQ(image.pixels().type(), CV_8UC3);
  EXPECT_EQ(cv::norm(image.pixels(), expected, cv::NORM_INF), 0);
  EXPECT_EQ(image.source(), image_path(GetParam()));
  EXPECT_EQ(image.original_size(), expected.size());
}

INSTANTIATE_TEST_SUITE_P(Image, DecodesTo,
                         ::testing::Values("grey.png", "grey_alpha.png", "rgb.png", "rgba.png", "rgb.bmp",
                                           "rgb16.png", "grey16.png"),
                         [](const auto& info) {
                           auto name = info.param;
                           std::replace(name.begin(), name.end(), '.', '_');
                           return name;
                         });

TEST(Image, TurnsJpegUprightByItsExifOrientation) {
  const auto image = Image::load(image_path("exif_rotated.jpg"));
  const cv::Mat expected = expected_pixels("exif_rotated.jpg");  // 32 rows x 16: red over blue
  ASSERT_EQ(image.size(), expected.size());
  // Compare away from the red/blue edge, where JPEG rings.
  for (int row : {2, 8, 24, 29}) {
    for (int col : {3, 12}) {
      const auto got = image.pixels().at<cv::Vec3b>(row, col);
      const auto want = expected.at<cv::Vec3b>(row, col);
      for (int c = 0; c < 3; ++c) EXPECT_NEAR(got[c], want[c], 12) << "row " << row << " col " << col;
    }
  }
}

TEST(Image, RejectsHugeDimensionsFromTheHeader) {
  const auto msg = error_of<lumos::ImageError>([] { Image::load(image_path("huge_header.png")); });
  EXPECT_TRUE(contains(msg, "100000x100000")) << msg;
  EXPECT_TRUE(contains(msg, "huge_header.png")) << msg;
  EXPECT_TRUE(contains(msg, "downscale")) << msg;
}

TEST(Image, RejectsMissingEmptyTextAndTruncatedFiles) {
  EXPECT_TRUE(contains(error_of<lumos::ImageError>([] { Image::load(image_path("absent.png")); }), "does not exist"));
  EXPECT_TRUE(contains(error_of<lumos::ImageError>([] { Image::load(image_path("empty.png")); }), "empty"));
  EXPECT_TRUE(contains(error_of<lumos::ImageError>([] { Image::load(kImages.string()); }), "is a folder"));
  const auto msg = error_of<lumos::ImageError>([&] { Image::load(image_path("text.png")); });
  EXPECT_TRUE(contains(msg, "cannot decode image '" + image_path("text.png") + "'")) << msg;
  for (const auto* name : {"truncated.png", "truncated.jpg"}) {
    const auto msg = error_of<lumos::ImageError>([&] { Image::load(image_path(name)); });
    EXPECT_TRUE(contains(msg, "'" + image_path(name) + "' is truncated")) << msg;
  }
  EXPECT_NO_THROW(Image::load(image_path("noise.jpg")));
}

TEST(Image, RejectsPixelsThatAreNotRgb8) {
  EXPECT_THROW(Image(cv::Mat(2, 2, CV_8UC1)), lumos::InputError);
  EXPECT_THROW(Image(cv::Mat(2, 2, CV_32FC3)), lumos::InputError);
  EXPECT_THROW(Image(cv::Mat()), lumos::InputError);
}

TEST(Preprocess, PresetsAndErrors) {
  EXPECT_EQ(lumos::Preprocess::named("caffe").bgr, true);
  EXPECT_FLOAT_EQ(lumos::Preprocess::named("tf").divisor, 127.5f);
  const auto msg = error_of<lumos::InputError>([] { lumos::Preprocess::named("torch"); });
  EXPECT_TRUE(contains(msg, "unknown preprocessing 'torch'")) << msg;
  EXPECT_TRUE(contains(msg, "caffe, imagenet, raw, tf, unit")) << msg;
  EXPECT_THROW(lumos::Preprocess::mean_std({0.5f, 0.5f}, {0.2f}), lumos::InputError);
  EXPECT_THROW(lumos::Preprocess::mean_std({0.5f}, {0.f}), lumos::InputError);
}

// Reference: the formulas written out per pixel (torchvision ToTensor+Normalize,
// Keras preprocess_input modes), on a 2x2 image that needs no resizing.
TEST(Preprocess, NormalisesEachPresetAsItsFrameworkDoes) {
  cv::Mat pixels(2, 2, CV_8UC3);
  const uchar values[12] = {0, 10, 20, 255, 128, 64, 1, 2, 3, 200, 100, 50};
  std::memcpy(pixels.data, values, 12);
  const Image image(pixels);
  const auto nchw = spec(lumos::Layout::NCHW, 3, 2, 2);
  auto value = [&](const char* preset, int pixel, int c) {
    return lumos::make_batch({image}, nchw, lumos::Preprocess::named(preset), {2, 2})[0][c][pixel / 2][pixel % 2]
        .item<float>();
  };
  const float imagenet_mean[3] = {0.485f, 0.456f, 0.406f}, imagenet_std[3] = {0.229f, 0.224f, 0.225f};
  const float caffe_mean_bgr[3] = {103.939f, 116.779f, 123.68f};
  for (int p = 0; p < 4; ++p) {
    for (int c = 0; c < 3; ++c) {
      const float x = values[p * 3 + c];
      EXPECT_FLOAT_EQ(value("imagenet", p, c), (x / 255.f - imagenet_mean[c]) / imagenet_std[c]);
      EXPECT_FLOAT_EQ(value("tf", p, c), x / 127.5f - 1.f);
      EXPECT_FLOAT_EQ(value("unit", p, c), x / 255.f);
      EXPECT_FLOAT_EQ(value("raw", p, c), x);
      // caffe: channel c of the tensor is BGR channel c, i.e. RGB channel 2 - c.
      EXPECT_FLOAT_EQ(value("caffe", p, c), values[p * 3 + (2 - c)] - caffe_mean_bgr[c]);
    }
  }
  const auto custom = lumos::Preprocess::mean_std({0.5f}, {0.25f});
  EXPECT_FLOAT_EQ(lumos::make_batch({image}, nchw, custom, {2, 2})[0][1][0][1].item<float>(),
                  (128.f / 255.f - 0.5f) / 0.25f);
}

TEST(Preprocess, LaysOutNhwcAndGreyAndBatches) {
  cv::Mat a(3, 4, CV_8UC3), b(6, 2, CV_8UC3);
  cv::randu(a, 0, 256);
  cv::randu(b, 0, 256);
  const auto unit = lumos::Preprocess::named("unit");
  const auto nchw = lumos::make_batch({Image(a), Image(b)}, spec(lumos::Layout::NCHW, 3, 3, 4), unit, {4, 3});
  const auto nhwc = lumos::make_batch({Image(a), Image(b)}, spec(lumos::Layout::NHWC, 3, 3, 4), unit, {4, 3});
  ASSERT_EQ(nchw.sizes(), (std::vector<int64_t>{2, 3, 3, 4}));
  ASSERT_EQ(nhwc.sizes(), (std::vector<int64_t>{2, 3, 4, 3}));
  EXPECT_TRUE(at::equal(nchw.permute({0, 2, 3, 1}), nhwc));
  EXPECT_TRUE(nchw.is_contiguous());
  // The second image went through cv::resize INTER_LINEAR to 4 wide, 3 high.
  cv::Mat resized;
  cv::resize(b, resized, {4, 3}, 0, 0, cv::INTER_LINEAR);
  EXPECT_FLOAT_EQ(nhwc[1][2][3][1].item<float>(), resized.at<cv::Vec3b>(2, 3)[1] / 255.f);

  cv::Mat grey;
  cv::cvtColor(a, grey, cv::COLOR_RGB2GRAY);
  const auto one = lumos::make_batch({Image(a)}, spec(lumos::Layout::NCHW, 1, 3, 4),
                                     lumos::Preprocess::named("imagenet"), {4, 3});
  ASSERT_EQ(one.sizes(), (std::vector<int64_t>{1, 1, 3, 4}));
  const float mean = (0.485f + 0.456f + 0.406f) / 3.f, stdev = (0.229f + 0.224f + 0.225f) / 3.f;
  EXPECT_FLOAT_EQ(one[0][0][1][2].item<float>(), (grey.at<uchar>(1, 2) / 255.f - mean) / stdev);

  EXPECT_THROW(lumos::make_batch({Image(a)}, spec(lumos::Layout::NCHW, 4, 3, 4), unit, {4, 3}), lumos::InputError);
  EXPECT_THROW(lumos::make_batch({}, spec(lumos::Layout::NCHW, 3, 3, 4), unit, {4, 3}), lumos::InputError);
}

// make_batch writes each value in one pass; the batch must equal, bit for bit, what ATen's
// torchvision-like ops give (float, / divisor, - mean, / std, stacked, laid out), so that
// scores and LIME's explanations do not depend on how the batch was made or on the threads.
TEST(Preprocess, BatchIsBitIdenticalToTheTensorOps) {
  at::manual_seed(0);
  std::vector<Image> images;
  for (int i = 0; i < 9; ++i) {
    cv::Mat m(i < 6 ? 24 : 17, i < 6 ? 20 : 31, CV_8UC3);  // the last three are resized
    cv::randu(m, 0, 256);
    images.emplace_back(m);
  }
  const cv::Size size(20, 24);
  const int threads_before = at::get_num_threads();
  for (const char* preset : {"imagenet", "caffe", "tf"}) {
    const auto preprocess = lumos::Preprocess::named(preset);
    std::vector<at::Tensor> samples;
    for (const auto& image : images) {
      cv::Mat pixels = lumos::resize(image, size, preprocess.fit).pixels();
      if (preprocess.bgr) cv::cvtColor(pixels, pixels, cv::COLOR_RGB2BGR);
      samples.push_back(at::from_blob(pixels.data, {size.height, size.width, 3}, at::kByte)
                            .to(at::kFloat)
                            .div_(preprocess.divisor)
                            .sub_(at::tensor(std::vector<float>(preprocess.mean.begin(), preprocess.mean.end())))
                            .div_(at::tensor(std::vector<float>(preprocess.std.begin(), preprocess.std.end()))));
    }
    const at::Tensor expected = at::stack(samples);
    for (int threads : {1, 2}) {
      at::set_num_threads(threads);
      const auto nhwc = lumos::make_batch(images, spec(lumos::Layout::NHWC, 3, 24, 20), preprocess, size);
      const auto nchw = lumos::make_batch(images, spec(lumos::Layout::NCHW, 3, 24, 20), preprocess, size);
      EXPECT_TRUE(at::equal(nhwc, expected)) << preset << ", " << threads << " threads";
      EXPECT_TRUE(at::equal(nchw, expected.permute({0, 3, 1, 2}))) << preset << ", " << threads << " threads";
      EXPECT_TRUE(nchw.is_contiguous() && nhwc.is_contiguous());
    }
  }
  at::set_num_threads(threads_before);
}

TEST(Preprocess, CentreCropKeepsTheAspect) {
  cv::Mat wide(2, 8, CV_8UC3, cv::Scalar(0, 0, 0));
  wide.colRange(3, 5).setTo(cv::Scalar(255, 255, 255));  // a white centre band
  const auto out = lumos::resize(Image(wide, "wide.png"), {4, 4}, lumos::Fit::center_crop);
  ASSERT_EQ(out.size(), cv::Size(4, 4));
  EXPECT_EQ(out.original_size(), cv::Size(8, 2));
  EXPECT_EQ(out.source(), "wide.png");
  // Scaled to 16x4, the centre 4 columns are the white band (cols 6..9 of 16).
  EXPECT_GT(out.pixels().at<cv::Vec3b>(2, 1)[0], 200);
  EXPECT_GT(out.pixels().at<cv::Vec3b>(2, 2)[0], 200);
}

TEST(Preprocess, InputSizeComesFromTheModelOrIsRequired) {
  EXPECT_EQ(lumos::model_input_size(spec(lumos::Layout::NCHW, 3, 224, 200)), cv::Size(200, 224));
  auto msg = error_of<lumos::InputError>([] { lumos::model_input_size(spec(lumos::Layout::NCHW, 3, -1, -1)); });
  EXPECT_TRUE(contains(msg, "does not fix its input size")) << msg;
  EXPECT_EQ(lumos::model_input_size(spec(lumos::Layout::NCHW, 3, -1, -1), cv::Size(64, 32)), cv::Size(64, 32));
  msg = error_of<lumos::InputError>(
      [] { lumos::model_input_size(spec(lumos::Layout::NCHW, 3, 224, 224), cv::Size(100, 100)); });
  EXPECT_TRUE(contains(msg, "fixed at 224x224")) << msg;
}
