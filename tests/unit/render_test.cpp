#include "lumos/error.hpp"
#include "lumos/render.hpp"
#include "support/fixture_json.hpp"

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <filesystem>
#include <limits>

namespace fs = std::filesystem;

namespace {

// Made by tests/fixtures/make_render_reference.py with cv2, as pytorch-grad-cam computes.
const nlohmann::json& reference() {
  static const nlohmann::json all =
      lumos::testing::read_fixture_json("render_reference.json", "make_render_reference.py");
  return all;
}

template <typename T>
cv::Mat mat_of(const nlohmann::json& values, const nlohmann::json& shape, int type) {
  const auto dims = shape.get<std::vector<int>>();
  auto data = values.get<std::vector<T>>();
  return cv::Mat(dims[0], dims[1], type, data.data()).clone();
}

cv::Mat reference_map() { return mat_of<float>(reference().at("map"), reference().at("map_shape"), CV_32F); }

lumos::Image reference_image() {
  return lumos::Image(mat_of<uchar>(reference().at("image"), reference().at("image_shape"), CV_8UC3), "ref.png");
}

fs::path fresh_dir(const std::string& name) {
  const auto dir = fs::temp_directory_path() / ("lumos_render_test_" + name);
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

}  // namespace

TEST(Render, ColorizeMatchesCv2ApplyColorMap) {
  const auto map = reference_map();
  for (const auto& name : lumos::colormap_names()) {
    const auto& expected_values = reference().at("colorized").at(name);
    const cv::Mat expected = mat_of<uchar>(expected_values, reference().at("map_shape"), CV_8UC3);
    const cv::Mat got = lumos::colorize(map, lumos::colormap_named(name));
    EXPECT_EQ(cv::norm(got, expected, cv::NORM_INF), 0) << name;
  }
}

TEST(Render, OverlayMatchesShowCamOnImage) {
  const auto image = reference_image();
  const auto map = reference_map();
  for (const auto& c : reference().at("overlays")) {
    const auto colormap = lumos::colormap_named(c.at("colormap").get<std::string>());
    const double weight = c.at("image_weight").get<double>();
    const cv::Mat expected = mat_of<uchar>(c.at("overlay"), reference().at("image_shape"), CV_8UC3);
    const auto got = lumos::overlay(image, map, colormap, weight);
    ASSERT_EQ(got.size(), image.size());
    EXPECT_EQ(cv::norm(got.pixels(), expected, cv::NORM_INF), 0) << c.at("colormap") << " weight " << weight;
    EXPECT_EQ(got.source(), "ref.png");
    // The tensor form draws the same picture.
    const auto tensor = at::from_blob(map.data, {map.rows, map.cols}, at::kFloat);
    EXPECT_EQ(cv::norm(lumos::overlay(image, tensor, colormap, weight).pixels(), expected, cv::NORM_INF), 0);
  }
}

TEST(Render, RejectsMapsItCannotDraw) {
  const auto image = reference_image();
  cv::Mat map = reference_map();
  cv::Mat too_high = map * 3;
  EXPECT_THROW(lumos::overlay(image, too_high), lumos::InputError);
  cv::Mat with_nan = map.clone();
  with_nan.at<float>(1, 1) = std::numeric_limits<float>::quiet_NaN();
  EXPECT_THROW(lumos::colorize(with_nan), lumos::InputError);
  EXPECT_THROW(lumos::overlay(image, map, lumos::Colormap::jet, 1.5), lumos::InputError);
  EXPECT_THROW(lumos::overlay(image, at::zeros({1, 4, 4})), lumos::InputError);
  EXPECT_THROW(lumos::colormap_named("rainbow"), lumos::InputError);
}

TEST(Render, SavePngWritesWhatItWasGiven) {
  const auto dir = fresh_dir("save");
  const auto image = reference_image();
  const auto path = (dir / "out.png").string();
  lumos::save_png(image, path);
  cv::Mat back = cv::imread(path, cv::IMREAD_UNCHANGED);
  cv::cvtColor(back, back, cv::COLOR_BGR2RGB);
  EXPECT_EQ(cv::norm(back, image.pixels(), cv::NORM_INF), 0);
  // Overwriting replaces the file whole, and leaves nothing else in the folder.
  lumos::save_png(cv::Mat(3, 3, CV_8UC1, cv::Scalar(9)), path);
  EXPECT_EQ(cv::imread(path, cv::IMREAD_UNCHANGED).size(), cv::Size(3, 3));
  EXPECT_EQ(std::distance(fs::directory_iterator(dir), fs::directory_iterator()), 1);
}

TEST(Render, SavePngLeavesNoPartialFileOnError) {
  const auto dir = fresh_dir("save_error");
  EXPECT_THROW(lumos::save_png(reference_image(), (dir / "missing_folder" / "out.png").string()), lumos::Error);
  fs::create_directory(dir / "taken.png");  // a folder where the file should go
  EXPECT_THROW(lumos::save_png(reference_image(), (dir / "taken.png").string()), lumos::Error);
  EXPECT_TRUE(fs::is_directory(dir / "taken.png"));
  EXPECT_EQ(std::distance(fs::directory_iterator(dir), fs::directory_iterator()), 1);
  EXPECT_THROW(lumos::save_png(cv::Mat(2, 2, CV_32FC3), (dir / "float.png").string()), lumos::InputError);
}
