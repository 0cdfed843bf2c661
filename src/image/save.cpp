// PNG pictures: encoded in memory, or written to files atomically.
#include "lumos/atomic_file.hpp"
#include "lumos/error.hpp"
#include "lumos/render.hpp"

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <cmath>

namespace lumos {

namespace {

std::string encoded(const cv::Mat& pixels, const std::string& format, const std::vector<int>& parameters) {
  if (pixels.empty() || pixels.depth() != CV_8U || (pixels.channels() != 1 && pixels.channels() != 3)) {
    throw InputError("a " + format + " needs a non-empty 8-bit grey or RGB picture");
  }
  cv::Mat encodable;  // a new buffer: the caller's pixels stay RGB
  if (pixels.channels() == 3) cv::cvtColor(pixels, encodable, cv::COLOR_RGB2BGR);
  else encodable = pixels;
  std::vector<uchar> bytes;
  if (!cv::imencode("." + format, encodable, bytes, parameters)) throw Error("OpenCV could not encode a " + format);
  return std::string(reinterpret_cast<const char*>(bytes.data()), bytes.size());
}

}  // namespace

std::string encode_png(const cv::Mat& pixels) { return encoded(pixels, "png", {}); }

std::string encode_jpeg(const cv::Mat& pixels, int quality) {
  return encoded(pixels, "jpg", {cv::IMWRITE_JPEG_QUALITY, std::clamp(quality, 0, 100)});
}

cv::Mat thumbnail(const cv::Mat& pixels, int max_side) {
  const int side = std::max(pixels.cols, pixels.rows);
  if (side <= max_side || side == 0) return pixels;
  const double scale = static_cast<double>(max_side) / side;
  cv::Mat out;
  cv::resize(pixels, out, cv::Size(std::max(1, static_cast<int>(std::lround(pixels.cols * scale))),
                                   std::max(1, static_cast<int>(std::lround(pixels.rows * scale)))),
             0, 0, cv::INTER_AREA);
  return out;
}

void save_png(const cv::Mat& pixels, const std::string& path) {
  const std::string bytes = encode_png(pixels);
  write_file_atomically(path, {bytes});
}

void save_png(const Image& image, const std::string& path) { save_png(image.pixels(), path); }

}  // namespace lumos
