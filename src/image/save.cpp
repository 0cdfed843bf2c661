// PNG files, written atomically.
#include "lumos/atomic_file.hpp"
#include "lumos/error.hpp"
#include "lumos/render.hpp"

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

namespace lumos {

void save_png(const cv::Mat& pixels, const std::string& path) {
  if (pixels.empty() || pixels.depth() != CV_8U || (pixels.channels() != 1 && pixels.channels() != 3)) {
    throw InputError("save_png needs a non-empty 8-bit grey or RGB picture");
  }
  cv::Mat encodable;  // a new buffer: the caller's pixels stay RGB
  if (pixels.channels() == 3) cv::cvtColor(pixels, encodable, cv::COLOR_RGB2BGR);
  else encodable = pixels;
  std::vector<uchar> bytes;
  if (!cv::imencode(".png", encodable, bytes)) throw Error("cannot encode a PNG for '" + path + "'");
  write_file_atomically(path, {std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size())});
}

void save_png(const Image& image, const std::string& path) { save_png(image.pixels(), path); }

}  // namespace lumos
