// Segmentations: quickshift against scikit-image's label maps (adjusted Rand index),
// and the shared contract of every segmentation (labels 0 … count-1, contiguous).
#include "lumos/error.hpp"
#include "lumos/segmentation.hpp"

#include <gtest/gtest.h>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <filesystem>
#include <map>
#include <set>

namespace fs = std::filesystem;

namespace {

const char* kMakeReference = "run: /usr/bin/python3 tests/fixtures/make_quickshift_reference.py build/fixtures";

cv::Mat read_rgb(const fs::path& path) {
  cv::Mat bgr = cv::imread(path.string(), cv::IMREAD_COLOR);
  if (bgr.empty()) return bgr;
  cv::Mat rgb;
  cv::cvtColor(bgr, rgb, cv::COLOR_BGR2RGB);
  return rgb;
}

// Adjusted Rand index (Hubert & Arabie) of two labelings of the same pixels, as
// sklearn.metrics.adjusted_rand_score computes it.
double adjusted_rand_index(const cv::Mat& a, const cv::Mat& b) {
  std::map<std::pair<int, int>, int64_t> joint;
  std::map<int, int64_t> rows, cols;
  auto ia = a.begin<int>();
  for (auto ib = b.begin<int>(); ib != b.end<int>(); ++ia, ++ib) {
    ++joint[{*ia, *ib}];
    ++rows[*ia];
    ++cols[*ib];
  }
  auto pairs = [](int64_t n) { return static_cast<double>(n) * (n - 1) / 2.0; };
  double index = 0, sum_rows = 0, sum_cols = 0;
  for (const auto& [key, n] : joint) index += pairs(n);
  for (const auto& [key, n] : rows) sum_rows += pairs(n);
  for (const auto& [key, n] : cols) sum_cols += pairs(n);
  const double expected = sum_rows * sum_cols / pairs(static_cast<int64_t>(a.total()));
  const double max_index = 0.5 * (sum_rows + sum_cols);
  if (max_index == expected) return 1.0;
  return (index - expected) / (max_index - expected);
}

void expect_contiguous(const lumos::Segmentation& s, const cv::Size& size) {
  ASSERT_EQ(s.labels.type(), CV_32SC1);
  ASSERT_EQ(s.labels.size(), size);
  std::set<int> seen(s.labels.begin<int>(), s.labels.end<int>());
  ASSERT_EQ(static_cast<int>(seen.size()), s.count);
  EXPECT_EQ(*seen.begin(), 0);
  EXPECT_EQ(*seen.rbegin(), s.count - 1);
}

class QuickshiftReference : public ::testing::TestWithParam<std::string> {};

TEST_P(QuickshiftReference, AgreesWithScikitImage) {
  const fs::path dir = fs::path(LUMOS_FIXTURES) / "quickshift";
  const cv::Mat rgb = read_rgb(dir / (GetParam() + ".png"));
  cv::Mat expected = cv::imread((dir / (GetParam() + "_labels.png")).string(), cv::IMREAD_UNCHANGED);
  ASSERT_FALSE(rgb.empty() || expected.empty()) << "missing fixture in " << dir << "; " << kMakeReference;
  expected.convertTo(expected, CV_32SC1);

  const lumos::Segmentation s = lumos::quickshift(rgb);
  expect_contiguous(s, rgb.size());
  const double ari = adjusted_rand_index(s.labels, expected);
  double lo, hi;
  cv::minMaxLoc(expected, &lo, &hi);
  std::cout << GetParam() << ": " << s.count << " segments (skimage " << hi + 1 << "), ARI " << ari << "\n";
  EXPECT_GE(ari, 0.95);
}

INSTANTIATE_TEST_SUITE_P(Photos, QuickshiftReference, ::testing::Values("chelsea", "astronaut", "coffee", "rocket"));

TEST(AdjustedRandIndex, MatchesHandComputedValues) {
  // Same partition under other names: 1. sklearn: adjusted_rand_score([0,0,1,1],[0,0,1,2]) = 0.5714285714.
  const cv::Mat a = (cv::Mat_<int>(1, 4) << 0, 0, 1, 1);
  EXPECT_DOUBLE_EQ(adjusted_rand_index(a, (cv::Mat_<int>(1, 4) << 5, 5, 3, 3)), 1.0);
  EXPECT_NEAR(adjusted_rand_index(a, (cv::Mat_<int>(1, 4) << 0, 0, 1, 2)), 0.5714285714285714, 1e-12);
}

TEST(RgbToLab, MatchesScikitImageValues) {
  // skimage.color.rgb2lab(np.uint8([[[255, 0, 0], [0, 128, 255], [0, 0, 0], [255, 255, 255]]]))
  const cv::Mat rgb = (cv::Mat_<cv::Vec3b>(1, 4) << cv::Vec3b(255, 0, 0), cv::Vec3b(0, 128, 255), cv::Vec3b(0, 0, 0),
                       cv::Vec3b(255, 255, 255));
  const cv::Mat lab = lumos::rgb_to_lab(rgb);
  const cv::Vec3d expected[4] = {{53.240587944, 80.092308226, 67.202751044},
                                 {54.714538792, 18.773463797, -70.913764366},
                                 {0, 0, 0},
                                 {100, -2.4549378620e-03, 4.6534211541e-03}};
  for (int i = 0; i < 4; ++i) {
    for (int ch = 0; ch < 3; ++ch) EXPECT_NEAR(lab.at<cv::Vec3d>(0, i)[ch], expected[i][ch], 1e-6) << i << "," << ch;
  }
}

TEST(RgbToLab, TakesFloatingPointValuesAsTheyAre) {
  // skimage.color.rgb2lab(np.array([[[-0.5, 0.2, 1.0], [1.0, -1.0, 0.0], [0.25, 0.5, 0.75]]])): lime's
  // tutorials segment images in [-1, 1].
  const cv::Mat rgb = (cv::Mat_<cv::Vec3d>(1, 3) << cv::Vec3d(-0.5, 0.2, 1.0), cv::Vec3d(1.0, -1.0, 0.0),
                       cv::Vec3d(0.25, 0.5, 0.75));
  const cv::Vec3d expected[3] = {{35.52076841589, 63.07790300059, -102.5109376465},
                                 {46.62064196470, 99.96276572909, 65.93210806700},
                                 {52.01801158234, 0.09063119248726, -39.35936971864}};
  for (const int type : {CV_64FC3, CV_32FC3}) {
    cv::Mat values;
    rgb.convertTo(values, type);
    const cv::Mat lab = lumos::rgb_to_lab(values);
    for (int i = 0; i < 3; ++i) {
      for (int ch = 0; ch < 3; ++ch) EXPECT_NEAR(lab.at<cv::Vec3d>(0, i)[ch], expected[i][ch], 1e-4) << i << "," << ch;
    }
  }
}

cv::Mat gradient_image(int size) {
  cv::Mat rgb(size, size, CV_8UC3);
  for (int r = 0; r < size; ++r) {
    for (int c = 0; c < size; ++c) rgb.at<cv::Vec3b>(r, c) = cv::Vec3b(r * 255 / size, c * 255 / size, (r < size / 2) * 200);
  }
  return rgb;
}

TEST(Quickshift, IsDeterministicForASeed) {
  const cv::Mat rgb = gradient_image(64);
  const auto a = lumos::quickshift(rgb), b = lumos::quickshift(rgb);
  EXPECT_EQ(cv::countNonZero(a.labels != b.labels), 0);
}

TEST(Quickshift, GreyAndTinyImagesGiveValidLabels) {
  cv::Mat grey(20, 20, CV_8UC1);
  cv::randu(grey, 0, 255);
  expect_contiguous(lumos::quickshift(grey), grey.size());
  const cv::Mat flat(20, 20, CV_8UC3, cv::Scalar(90, 90, 90));
  expect_contiguous(lumos::quickshift(flat), flat.size());
  const cv::Mat one_pixel(1, 1, CV_8UC3, cv::Scalar(1, 2, 3));
  EXPECT_EQ(lumos::quickshift(one_pixel).count, 1);
}

TEST(Quickshift, FloatingPointImagesSegmentAsTheirBytes) {
  const cv::Mat rgb = read_rgb(fs::path(LUMOS_FIXTURES) / "quickshift" / "chelsea.png");
  ASSERT_FALSE(rgb.empty()) << kMakeReference;
  cv::Mat unit;
  rgb.convertTo(unit, CV_64FC3, 1.0 / 255);  // skimage's img_as_float of the bytes
  EXPECT_GE(adjusted_rand_index(lumos::quickshift(unit).labels, lumos::quickshift(rgb).labels), 0.999);
}

TEST(Quickshift, RejectsBadInput) {
  EXPECT_THROW(lumos::quickshift(cv::Mat()), lumos::InputError);
  EXPECT_THROW(lumos::quickshift(cv::Mat(8, 8, CV_16UC3, cv::Scalar::all(1))), lumos::InputError);
  EXPECT_THROW(lumos::quickshift(cv::Mat(8, 8, CV_32FC3, cv::Scalar::all(NAN))), lumos::InputError);
  lumos::QuickshiftOptions options;
  options.kernel_size = 0.5;
  EXPECT_THROW(lumos::quickshift(gradient_image(8), options), lumos::InputError);
}

TEST(SlicAndFelzenszwalb, GiveContiguousLabels) {
  const cv::Mat rgb = gradient_image(96);
  const auto s = lumos::slic(rgb);
  expect_contiguous(s, rgb.size());
  EXPECT_GT(s.count, 4);
  const auto f = lumos::felzenszwalb(rgb);
  expect_contiguous(f, rgb.size());
  EXPECT_GT(f.count, 1);
  const cv::Mat grey(20, 20, CV_8UC1, cv::Scalar(7));
  expect_contiguous(lumos::slic(grey), grey.size());
  expect_contiguous(lumos::felzenszwalb(grey), grey.size());
}

}  // namespace
