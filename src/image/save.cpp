// PNG pictures: encoded in memory, or written to files atomically.
#include "lumos/atomic_file.hpp"
#include "lumos/error.hpp"
#include "lumos/render.hpp"

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

namespace lumos {

std::string encode_png(const cv::Mat& pixels) {
  if (pixels.empty() || pixels.depth() != CV_8U || (pixels.channels() != 1 && pixels.channels() != 3)) {
    throw InputError("a PNG needs a non-empty 8-bit grey or RGB picture");
  }
  cv::Mat encodable;  // a new buffer: the caller's pixels stay RGB
  if (pixels.channels() == 3) cv::cvtColor(pixels, encodable, cv::COLOR_RGB2BGR);
  else encodable = pixels;
  std::vector<uchar> bytes;
  if (!cv::imencode(".png", encodable, bytes)) throw Error("OpenCV could not encode a PNG");
  return std::string(reinterpret_cast<const char*>(bytes.data()), bytes.size());
}

void save_png(const cv::Mat& pixels, const std::string& path) {
  const std::string bytes = encode_png(pixels);
  write_file_atomically(path, {bytes});
}

void save_png(const Image& image, const std::string& path) { save_png(image.pixels(), path); }

}  // namespace lumos
