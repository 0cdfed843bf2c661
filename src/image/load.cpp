// Decoding image files into 8-bit RGB. The size is read from the header and checked
// before any decoder runs, so a small file that declares a huge picture costs nothing;
// what the decoders print on stderr is captured into the error message.
#include "lumos/error.hpp"
#include "lumos/file.hpp"
#include "lumos/image.hpp"
#include "util/stderr_capture.hpp"

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <optional>

namespace lumos {
namespace {

enum class Format { png, jpeg, bmp, tiff, webp, pnm };

const char* name_of(Format format) {
  switch (format) {
    case Format::png: return "PNG";
    case Format::jpeg: return "JPEG";
    case Format::bmp: return "BMP";
    case Format::tiff: return "TIFF";
    case Format::webp: return "WebP";
    case Format::pnm: return "PNM";
  }
  return "image";
}

// The file's bytes with bounds-checked reads; `source` names the file in messages.
class Header {
 public:
  Header(std::string_view bytes, const std::string& source) : bytes_(bytes), source_(source) {}

  size_t size() const { return bytes_.size(); }
  bool has(size_t at, size_t count) const { return at <= bytes_.size() && count <= bytes_.size() - at; }
  bool starts_with(std::string_view prefix, size_t at = 0) const {
    return has(at, prefix.size()) && bytes_.substr(at, prefix.size()) == prefix;
  }
  uint8_t byte(size_t at) const { return static_cast<uint8_t>(bytes_[at]); }
  // Unsigned integers of `count` bytes; the caller checked has(at, count).
  uint64_t big_endian(size_t at, int count) const {
    uint64_t value = 0;
    for (int i = 0; i < count; ++i) value = (value << 8) | byte(at + i);
    return value;
  }
  uint64_t little_endian(size_t at, int count) const {
    uint64_t value = 0;
    for (int i = count - 1; i >= 0; --i) value = (value << 8) | byte(at + i);
    return value;
  }
  std::string_view bytes() const { return bytes_; }

  [[noreturn]] void truncated(const std::string& format, const std::string& missing) const {
    throw ImageError("image '" + source_ + "' is truncated (the " + format + " data ends before its " + missing +
                     "); re-export or re-download it");
  }
  [[noreturn]] void corrupt(const std::string& format, const std::string& what) const {
    throw ImageError("image '" + source_ + "' is not a valid " + format + " file (" + what +
                     "); re-export or re-download it");
  }

 private:
  std::string_view bytes_;
  const std::string& source_;
};

struct Declared {
  uint64_t width = 0;
  uint64_t height = 0;
  uint64_t least_bytes = 0;  // the smallest file that can hold that many pixels (0: not known)
};

std::optional<Format> format_of(const Header& h) {
  if (h.starts_with("\x89PNG\r\n\x1a\n")) return Format::png;
  if (h.starts_with("\xFF\xD8")) return Format::jpeg;
  if (h.starts_with("BM")) return Format::bmp;
  if (h.starts_with(std::string_view("II*\0", 4)) || h.starts_with(std::string_view("MM\0*", 4))) return Format::tiff;
  if (h.starts_with("RIFF") && h.starts_with("WEBP", 8)) return Format::webp;
  if (h.size() >= 2 && h.byte(0) == 'P' && h.byte(1) >= '1' && h.byte(1) <= '6') return Format::pnm;
  return std::nullopt;
}

// PNG: the IHDR chunk comes first; the chunks must reach IEND (libpng reports a
// truncated file on stderr, not to the caller). Deflate packs at most 1032 bytes into
// one, so a file smaller than its rows / 1032 cannot hold them.
Declared png_size(const Header& h) {
  if (!h.has(8, 25) || !h.starts_with("IHDR", 12)) h.truncated("PNG", "header");
  const Declared size{h.big_endian(16, 4), h.big_endian(20, 4), 0};
  const uint64_t depth = h.byte(24), colour = h.byte(25);
  const uint64_t channels = colour == 0 ? 1 : colour == 2 ? 3 : colour == 3 ? 1 : colour == 4 ? 2 : 4;
  size_t at = 8;
  while (true) {
    if (!h.has(at, 8)) h.truncated("PNG", "IEND chunk");
    if (h.starts_with("IEND", at + 4)) break;
    const uint64_t length = h.big_endian(at, 4);
    if (length > h.size()) h.truncated("PNG", "IEND chunk");
    at += 12 + static_cast<size_t>(length);
  }
  // Each row: a filter byte and its samples. Sizes up to 2^32 keep this inside 64 bits.
  const uint64_t row_bytes = 1 + (size.width * channels * std::max<uint64_t>(depth, 1) + 7) / 8;
  return {size.width, size.height, size.height <= UINT64_MAX / row_bytes ? size.height * row_bytes / 1032 : UINT64_MAX};
}

// JPEG: the start-of-frame segment holds the size; the end-of-image marker must follow
// the scan data (libjpeg would fill a truncated file with grey and only warn). A
// Huffman-coded scan spends at least one bit on each 8x8 block, so a file with fewer
// bytes than pixels / 512 is truncated, however it ends.
Declared jpeg_size(const Header& h) {
  std::optional<Declared> size;
  bool huffman = true;
  size_t at = 2;
  while (h.has(at, 4)) {
    if (h.byte(at) != 0xFF) h.corrupt("JPEG", "stray bytes between its segments");
    const uint8_t marker = h.byte(at + 1);
    if (marker == 0xFF) {  // fill byte
      ++at;
      continue;
    }
    if (marker == 0x01 || (marker >= 0xD0 && marker <= 0xD7)) {  // segments without a length
      at += 2;
      continue;
    }
    const bool start_of_frame = marker >= 0xC0 && marker <= 0xCF && marker != 0xC4 && marker != 0xC8 && marker != 0xCC;
    if (start_of_frame && h.has(at, 9)) {
      size = Declared{h.big_endian(at + 7, 2), h.big_endian(at + 5, 2), 0};
      huffman = marker <= 0xC7;  // 0xC9-0xCF are arithmetic-coded
    }
    if (marker == 0xDA) {  // start of scan: entropy-coded data never holds FF D9
      if (h.bytes().find("\xFF\xD9", at) == std::string_view::npos) h.truncated("JPEG", "end-of-image marker");
      if (!size) h.corrupt("JPEG", "no frame header before the image data");
      if (huffman) size->least_bytes = size->width * size->height / 512;
      return *size;
    }
    at += 2 + h.big_endian(at + 2, 2);
  }
  h.truncated("JPEG", "image data");
}

// BMP: the DIB header's size tells its layout; the height is negative for top-down rows.
Declared bmp_size(const Header& h) {
  if (!h.has(14, 4)) h.truncated("BMP", "header");
  const uint64_t header_size = h.little_endian(14, 4);
  if (header_size == 12) {  // BITMAPCOREHEADER: 16-bit sizes
    if (!h.has(18, 4)) h.truncated("BMP", "header");
    return {h.little_endian(18, 2), h.little_endian(20, 2), 0};
  }
  if (!h.has(18, 8)) h.truncated("BMP", "header");
  const auto width = static_cast<int32_t>(h.little_endian(18, 4));
  const auto height = static_cast<int32_t>(h.little_endian(22, 4));
  return {static_cast<uint64_t>(std::abs(static_cast<int64_t>(width))),
          static_cast<uint64_t>(std::abs(static_cast<int64_t>(height))), 0};
}

// TIFF: the first image file directory holds ImageWidth (256) and ImageLength (257).
Declared tiff_size(const Header& h) {
  const bool little = h.byte(0) == 'I';
  const auto read = [&](size_t at, int count) { return little ? h.little_endian(at, count) : h.big_endian(at, count); };
  if (!h.has(4, 4)) h.truncated("TIFF", "header");
  const uint64_t directory = read(4, 4);
  if (!h.has(directory, 2)) h.truncated("TIFF", "image directory");
  const uint64_t entries = read(directory, 2);
  Declared size;
  for (uint64_t i = 0; i < entries; ++i) {
    const size_t entry = directory + 2 + 12 * i;
    if (!h.has(entry, 12)) h.truncated("TIFF", "image directory");
    const uint64_t tag = read(entry, 2), type = read(entry + 2, 2);
    const uint64_t value = type == 3 ? read(entry + 8, 2) : read(entry + 8, 4);  // SHORT or LONG
    if (tag == 256) size.width = value;
    if (tag == 257) size.height = value;
  }
  if (!size.width || !size.height) h.corrupt("TIFF", "no image width or length");
  return size;
}

// WebP: the first chunk is VP8 (lossy), VP8L (lossless) or VP8X (extended, canvas size).
Declared webp_size(const Header& h) {
  if (!h.has(12, 8)) h.truncated("WebP", "header");
  const size_t data = 20;
  if (h.starts_with("VP8 ", 12)) {
    if (!h.has(data, 10)) h.truncated("WebP", "frame header");
    return {h.little_endian(data + 6, 2) & 0x3FFF, h.little_endian(data + 8, 2) & 0x3FFF, 0};
  }
  if (h.starts_with("VP8L", 12)) {
    if (!h.has(data, 5)) h.truncated("WebP", "frame header");
    const uint64_t bits = h.little_endian(data + 1, 4);
    return {(bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1, 0};
  }
  if (h.starts_with("VP8X", 12)) {
    if (!h.has(data, 10)) h.truncated("WebP", "header");
    return {h.little_endian(data + 4, 3) + 1, h.little_endian(data + 7, 3) + 1, 0};
  }
  h.corrupt("WebP", "unknown first chunk");
}

// PNM: "P1".."P6", then width and height as decimal text, with # comments between.
Declared pnm_size(const Header& h) {
  size_t at = 2;
  const auto number = [&]() -> uint64_t {
    while (at < h.size() && (std::isspace(h.byte(at)) || h.byte(at) == '#')) {
      if (h.byte(at) == '#') {
        while (at < h.size() && h.byte(at) != '\n') ++at;
      } else {
        ++at;
      }
    }
    if (at >= h.size()) h.truncated("PNM", "size");
    if (!std::isdigit(h.byte(at))) h.corrupt("PNM", "no width and height after its magic number");
    uint64_t value = 0;
    for (; at < h.size() && std::isdigit(h.byte(at)); ++at) {
      if (value > (UINT64_MAX - 9) / 10) h.corrupt("PNM", "a size too large to read");
      value = value * 10 + (h.byte(at) - '0');
    }
    return value;
  };
  const uint64_t width = number();
  return {width, number(), 0};
}

Declared declared_size(const Header& h, Format format) {
  switch (format) {
    case Format::png: return png_size(h);
    case Format::jpeg: return jpeg_size(h);
    case Format::bmp: return bmp_size(h);
    case Format::tiff: return tiff_size(h);
    case Format::webp: return webp_size(h);
    case Format::pnm: return pnm_size(h);
  }
  return {};
}

void check_pixel_count(uint64_t width, uint64_t height, const std::string& source) {
  const uint64_t limit = kMaxImagePixels;
  // Each side at most the limit keeps the product inside 64 bits.
  if (width <= limit && height <= limit && width * height <= limit) return;
  throw ImageError("image '" + source + "' is " + std::to_string(width) + "x" + std::to_string(height) +
                   " pixels, more than lumos's limit of " + std::to_string(kMaxImagePixels / 1000000) +
                   " megapixels; downscale it first");
}

// libjpeg's warnings that mean the picture came out wrong (grey or garbled blocks).
bool reports_corrupt_data(const std::string& decoder_text) {
  return decoder_text.find("Corrupt JPEG data") != std::string::npos ||
         decoder_text.find("Premature end of JPEG") != std::string::npos;
}

std::string first_line(const std::string& text) {
  auto line = text.substr(0, text.find('\n'));
  while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
  return line;
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

Image Image::load(const std::string& path) {
  std::string bytes;
  try {
    bytes = read_file(path, "image", kMaxImageFileBytes);
  } catch (const FileError& e) {
    throw ImageError(e.what());
  }
  return decode(bytes, path);
}

Image Image::decode(std::string_view bytes, const std::string& source) {
  if (bytes.empty()) throw ImageError("image '" + source + "' is an empty file; give a real image");
  if (bytes.size() > static_cast<size_t>(kMaxImageFileBytes)) {
    throw ImageError("image '" + source + "' is " + std::to_string(bytes.size()) + " bytes, more than lumos reads (" +
                     std::to_string(kMaxImageFileBytes) + ")");
  }
  const Header header(bytes, source);
  const auto format = format_of(header);
  if (!format) {
    throw ImageError("cannot decode image '" + source + "': not an image format lumos reads (PNG, JPEG, BMP, TIFF, "
                     "WebP, PNM); convert it to PNG or JPEG");
  }
  const auto size = declared_size(header, *format);
  check_pixel_count(size.width, size.height, source);
  if (size.width == 0 || size.height == 0) header.corrupt(name_of(*format), "its size is 0");
  if (size.least_bytes > bytes.size()) {
    header.corrupt(name_of(*format), "its " + std::to_string(bytes.size()) + " bytes cannot hold " +
                                         std::to_string(size.width) + "x" + std::to_string(size.height) + " pixels");
  }

  cv::Mat decoded;
  std::string decoder_text;
  {
    StderrCapture capture;
    try {
      // IMREAD_COLOR: grey to 3 channels, alpha dropped, 16-bit to 8-bit, EXIF orientation applied.
      const cv::Mat encoded(1, static_cast<int>(bytes.size()), CV_8U, const_cast<char*>(bytes.data()));
      decoded = cv::imdecode(encoded, cv::IMREAD_COLOR);
    } catch (const cv::Exception& e) {
      decoder_text = e.err;
    }
    decoder_text = decoder_text.empty() ? capture.text() : decoder_text;
  }
  if (decoded.empty()) {
    throw ImageError("cannot decode image '" + source + "'" +
                     (decoder_text.empty() ? "" : " (" + first_line(decoder_text) + ")") +
                     ": the " + name_of(*format) + " file is corrupt or truncated; re-export or re-download it");
  }
  if (reports_corrupt_data(decoder_text)) header.corrupt(name_of(*format), first_line(decoder_text));
  check_pixel_count(decoded.cols, decoded.rows, source);
  cv::Mat rgb;
  cv::cvtColor(decoded, rgb, cv::COLOR_BGR2RGB);
  return Image(std::move(rgb), source);
}

}  // namespace lumos
