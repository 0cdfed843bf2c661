// Decoding image files into 8-bit RGB, with the size checked before decoding.
#include "lumos/error.hpp"
#include "lumos/image.hpp"

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string_view>

namespace lumos {
namespace {

namespace fs = std::filesystem;

using Bytes = std::string_view;

int64_t big_endian(Bytes bytes, size_t at, int count) {
  int64_t value = 0;
  for (int i = 0; i < count; ++i) value = (value << 8) | static_cast<uchar>(bytes[at + i]);
  return value;
}

std::string megapixels(int64_t pixels) {
  std::ostringstream text;
  text << static_cast<double>(pixels) / 1e6;
  return text.str();
}

void check_pixel_count(int64_t width, int64_t height, const std::string& path, int64_t max_pixels) {
  if (width * height <= max_pixels) return;
  throw ImageTooLargeError("image '" + path + "' is " + std::to_string(width) + "x" + std::to_string(height) +
                           " pixels, more than the limit of " + megapixels(max_pixels) +
                           " megapixels; downscale it first");
}

[[noreturn]] void truncated(const std::string& path, const std::string& format, const std::string& missing) {
  throw ImageError("image '" + path + "' is truncated (the " + format + " data ends before its " + missing +
                   "); re-export or re-download it");
}

// PNG: the IHDR chunk comes first and holds the size; the chunks must reach IEND.
// Checked here because libpng reports truncation on stderr, not to the caller.
void check_png(Bytes bytes, const std::string& path, int64_t max_pixels) {
  if (bytes.size() < 24) truncated(path, "PNG", "header");
  check_pixel_count(big_endian(bytes, 16, 4), big_endian(bytes, 20, 4), path, max_pixels);
  for (size_t at = 8; at + 8 <= bytes.size();) {
    if (bytes.substr(at + 4, 4) == "IEND") return;
    at += 12 + static_cast<size_t>(big_endian(bytes, at, 4));
  }
  truncated(path, "PNG", "IEND chunk");
}

// JPEG: the start-of-frame segment holds the size; the end-of-image marker must follow
// the scan data. libjpeg would fill a truncated file with grey and only warn on stderr.
void check_jpeg(Bytes bytes, const std::string& path, int64_t max_pixels) {
  size_t at = 2;
  while (at + 4 <= bytes.size()) {
    if (static_cast<uchar>(bytes[at]) != 0xFF) return;  // not a marker: leave the verdict to the decoder
    const uchar marker = static_cast<uchar>(bytes[at + 1]);
    if (marker == 0xFF) {  // fill byte
      ++at;
      continue;
    }
    if (marker == 0x01 || (marker >= 0xD0 && marker <= 0xD7)) {  // segments without a length
      at += 2;
      continue;
    }
    const bool start_of_frame = marker >= 0xC0 && marker <= 0xCF && marker != 0xC4 && marker != 0xC8 && marker != 0xCC;
    if (start_of_frame && at + 9 <= bytes.size()) {
      check_pixel_count(big_endian(bytes, at + 7, 2), big_endian(bytes, at + 5, 2), path, max_pixels);
    }
    if (marker == 0xDA) {  // start of scan: entropy-coded data never holds FF D9
      if (bytes.find("\xFF\xD9", at) == Bytes::npos) {
        truncated(path, "JPEG", "end-of-image marker");
      }
      return;
    }
    at += 2 + big_endian(bytes, at + 2, 2);
  }
  truncated(path, "JPEG", "image data");
}

std::string read_file(const std::string& path) {
  std::error_code error;
  const auto status = fs::status(path, error);
  if (!fs::exists(status)) throw ImageError("image '" + path + "' does not exist; check the path");
  if (fs::is_directory(status)) throw ImageError("image '" + path + "' is a folder; give an image file");
  std::ifstream file(path, std::ios::binary);
  if (!file) throw ImageError("cannot open image '" + path + "'; check its permissions");
  const auto size = fs::file_size(path, error);
  if (error) throw ImageError("cannot read the size of image '" + path + "'; give a regular file");
  std::string bytes(static_cast<size_t>(size), '\0');
  file.read(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!file) throw ImageError("cannot read image '" + path + "'; check the file and its permissions");
  if (bytes.empty()) throw ImageError("image '" + path + "' is an empty file; give a real image");
  return bytes;
}

}  // namespace

Image::Image(cv::Mat rgb, std::string source, std::optional<cv::Size> original_size)
    : pixels_(std::move(rgb)), source_(std::move(source)), original_size_(original_size.value_or(pixels_.size())) {
  if (pixels_.type() != CV_8UC3 || pixels_.empty()) {
    throw InputError("an Image needs non-empty 8-bit 3-channel RGB pixels (CV_8UC3), got OpenCV type " +
                     std::to_string(pixels_.type()) + " of size " + std::to_string(pixels_.cols) + "x" +
                     std::to_string(pixels_.rows) + "; convert it first");
  }
}

Image Image::load(const std::string& path) { return decode(read_file(path), path); }

Image Image::decode(std::string_view bytes, const std::string& path, int64_t max_pixels) {
  if (bytes.empty()) throw ImageError("image '" + path + "' is empty; give a real image");
  if (bytes.substr(0, 8) == "\x89PNG\r\n\x1a\n") check_png(bytes, path, max_pixels);
  if (bytes.substr(0, 2) == "\xFF\xD8") check_jpeg(bytes, path, max_pixels);
  cv::Mat decoded;
  try {
    // IMREAD_COLOR: grey to 3 channels, alpha dropped, 16-bit to 8-bit, EXIF orientation applied.
    const cv::Mat encoded(1, static_cast<int>(bytes.size()), CV_8U, const_cast<char*>(bytes.data()));
    decoded = cv::imdecode(encoded, cv::IMREAD_COLOR);
  } catch (const cv::Exception& e) {
    throw ImageError("cannot decode image '" + path + "' (" + e.err + "); check that it is a valid image");
  }
  if (decoded.empty()) {
    throw ImageError("cannot decode image '" + path +
                     "': not an image format OpenCV reads, or the file is corrupt or truncated; "
                     "convert it to PNG or JPEG");
  }
  check_pixel_count(decoded.cols, decoded.rows, path, max_pixels);
  cv::Mat rgb;
  cv::cvtColor(decoded, rgb, cv::COLOR_BGR2RGB);
  return Image(std::move(rgb), path);
}

}  // namespace lumos
