#include "lumos/npy.hpp"

#include "lumos/atomic_file.hpp"
#include "lumos/error.hpp"
#include "lumos/file.hpp"
#include "lumos/model.hpp"
#include "util/checked.hpp"

#include <ATen/ATen.h>

#include <cctype>
#include <cstring>
#include <vector>

namespace lumos {
namespace {

// The format is specified in numpy/lib/format.py: magic, version, header length
// (uint16 in 1.0, uint32 in 2.0), a Python dict literal padded so the data starts at a
// multiple of 64 bytes, then the raw elements.
constexpr char kMagic[] = "\x93NUMPY";
constexpr size_t kMagicSize = 6;
constexpr size_t kAlignment = 64;
constexpr size_t kMaxHeaderBytes = size_t{1} << 20;

struct DtypeCode {
  c10::ScalarType type;
  const char* descr;
};

// Multi-byte types little-endian ('<'); single bytes have no byte order ('|').
constexpr DtypeCode kDtypes[] = {
    {at::kFloat, "<f4"}, {at::kDouble, "<f8"}, {at::kLong, "<i8"},
    {at::kInt, "<i4"},   {at::kByte, "|u1"},   {at::kBool, "|b1"},
};

std::string supported_descrs() {
  std::string s;
  for (const auto& d : kDtypes) s += (s.empty() ? "" : ", ") + std::string(d.descr);
  return s;
}

struct Header {
  std::string descr;
  bool fortran_order = false;
  std::vector<int64_t> shape;
};

// Parses the header's Python dict literal: {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }
class HeaderParser {
 public:
  HeaderParser(const std::string& text, const std::string& path) : text_(text), path_(path) {}

  Header parse() {
    Header header;
    bool seen_descr = false, seen_order = false, seen_shape = false;
    expect('{');
    while (!accept('}')) {
      const auto key = quoted();
      expect(':');
      if (key == "descr") {
        header.descr = quoted();
        seen_descr = true;
      } else if (key == "fortran_order") {
        header.fortran_order = boolean();
        seen_order = true;
      } else if (key == "shape") {
        header.shape = tuple();
        seen_shape = true;
      } else {
        fail("unexpected key '" + key + "'");
      }
      if (!accept(',')) {
        expect('}');
        break;
      }
    }
    if (!seen_descr || !seen_order || !seen_shape) fail("missing 'descr', 'fortran_order' or 'shape'");
    return header;
  }

 private:
  void skip_space() {
    while (pos_ < text_.size() && std::isspace(static_cast<unsigned char>(text_[pos_]))) ++pos_;
  }
  bool accept(char c) {
    skip_space();
    if (pos_ < text_.size() && text_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }
  void expect(char c) {
    if (!accept(c)) fail(std::string("expected '") + c + "' at offset " + std::to_string(pos_));
  }
  std::string quoted() {
    skip_space();
    if (pos_ >= text_.size() || (text_[pos_] != '\'' && text_[pos_] != '"')) fail("expected a quoted string");
    const char quote = text_[pos_++];
    const auto end = text_.find(quote, pos_);
    if (end == std::string::npos) fail("unterminated string");
    auto s = text_.substr(pos_, end - pos_);
    pos_ = end + 1;
    return s;
  }
  bool boolean() {
    skip_space();
    for (const auto& [word, value] : {std::pair{"True", true}, std::pair{"False", false}}) {
      if (text_.compare(pos_, std::strlen(word), word) == 0) {
        pos_ += std::strlen(word);
        return value;
      }
    }
    fail("expected True or False");
  }
  std::vector<int64_t> tuple() {
    std::vector<int64_t> dims;
    expect('(');
    while (!accept(')')) {
      skip_space();
      size_t used = 0;
      long long value = -1;
      try {
        value = std::stoll(text_.substr(pos_), &used);
      } catch (const std::exception&) {
        fail("expected an integer in 'shape'");
      }
      if (value < 0) fail("negative dimension in 'shape'");
      dims.push_back(value);
      pos_ += used;
      if (!accept(',')) {
        expect(')');
        break;
      }
    }
    return dims;
  }
  [[noreturn]] void fail(const std::string& what) const {
    // The header is text in a valid file; show its start only, and only printable bytes.
    std::string shown;
    for (char c : text_.substr(0, 80)) shown += std::isprint(static_cast<unsigned char>(c)) ? c : '?';
    throw InputError("'" + path_ + "' is not a valid .npy file: bad header (" + what + "): " + shown +
                     (text_.size() > 80 ? "..." : ""));
  }

  const std::string& text_;
  const std::string& path_;
  size_t pos_ = 0;
};

c10::ScalarType scalar_type_of(const Header& header, const std::string& path) {
  for (const auto& d : kDtypes) {
    if (header.descr == d.descr) return d.type;
  }
  std::string why = "unsupported dtype '" + header.descr + "'";
  if (!header.descr.empty() && header.descr[0] == '>') why += " (big-endian; save it little-endian)";
  throw InputError("'" + path + "': " + why + "; lumos reads " + supported_descrs() + " (e.g. numpy's .astype('<f4'))");
}

const char* descr_of(c10::ScalarType type) {
  for (const auto& d : kDtypes) {
    if (type == d.type) return d.descr;
  }
  throw InputError(std::string("cannot write a tensor of dtype ") + c10::toString(type) + " as .npy; lumos writes " +
                   supported_descrs());
}

uint32_t little_endian(const unsigned char* bytes, int count) {
  uint32_t value = 0;
  for (int i = count - 1; i >= 0; --i) value = (value << 8) | bytes[i];
  return value;
}

std::string header_text(const at::Tensor& tensor) {
  std::string shape;  // numpy's "(2, 3)", "(3,)" and "()"
  for (int64_t i = 0; i < tensor.dim(); ++i) shape += (i ? ", " : "") + std::to_string(tensor.size(i));
  if (tensor.dim() == 1) shape += ',';
  return std::string("{'descr': '") + descr_of(tensor.scalar_type()) + "', 'fortran_order': False, 'shape': (" + shape +
         "), }";
}

// Magic, version, length field and padded header, so the data begins on a 64-byte boundary.
std::string preamble(const at::Tensor& tensor) {
  std::string dict = header_text(tensor);
  const bool version2 = kMagicSize + 2 + 2 + dict.size() + 1 > 65535;
  const size_t length_field = version2 ? 4 : 2;
  const size_t unpadded = kMagicSize + 2 + length_field + dict.size() + 1;
  dict.append((kAlignment - unpadded % kAlignment) % kAlignment, ' ');
  dict += '\n';
  std::string out(kMagic, kMagicSize);
  out += static_cast<char>(version2 ? 2 : 1);
  out += '\0';
  for (size_t i = 0; i < length_field; ++i) out += static_cast<char>((dict.size() >> (8 * i)) & 0xff);
  return out + dict;
}

}  // namespace

at::Tensor read_npy(const std::string& path) { return parse_npy(read_file(path, ".npy file", kMaxArrayFileBytes), path); }

at::Tensor parse_npy(std::string_view bytes, const std::string& path) {
  const auto* raw = reinterpret_cast<const unsigned char*>(bytes.data());
  if (bytes.size() < kMagicSize + 4 || bytes.compare(0, kMagicSize, kMagic, kMagicSize) != 0) {
    throw InputError("'" + path + "' is not a .npy file (no \\x93NUMPY magic); save arrays with numpy.save");
  }
  const int major = raw[kMagicSize];
  if (major != 1 && major != 2) {
    throw InputError("'" + path + "' uses .npy format version " + std::to_string(major) + "." +
                     std::to_string(raw[kMagicSize + 1]) + "; lumos reads versions 1.0 and 2.0");
  }
  const size_t length_field = major == 1 ? 2 : 4;
  const size_t header_start = kMagicSize + 2 + length_field;
  if (bytes.size() < header_start) throw InputError("'" + path + "' is truncated inside its .npy header");
  const size_t header_size = little_endian(raw + kMagicSize + 2, static_cast<int>(length_field));
  if (bytes.size() < header_start + header_size) throw InputError("'" + path + "' is truncated inside its .npy header");
  if (header_size > kMaxHeaderBytes) {
    throw InputError("'" + path + "' has a .npy header of " + std::to_string(header_size) + " bytes; numpy writes "
                     "far shorter ones, so the file is corrupt");
  }

  const std::string header_text(bytes.substr(header_start, header_size));
  const Header header = HeaderParser(header_text, path).parse();
  const auto type = scalar_type_of(header, path);
  if (header.fortran_order) {
    throw InputError("'" + path + "' is in Fortran order; save it in C order (numpy.ascontiguousarray)");
  }
  // The size the header claims is checked against the bytes there before anything is allocated.
  const auto count = checked_product(header.shape);
  const auto data_size = count ? checked_multiply(*count, static_cast<int64_t>(c10::elementSize(type))) : std::nullopt;
  const size_t data_start = header_start + header_size;
  if (!data_size || bytes.size() - data_start != static_cast<size_t>(*data_size)) {
    throw InputError("'" + path + "' holds " + std::to_string(bytes.size() - data_start) + " data bytes but its header (" +
                     header.descr + ", shape " + shape_string(header.shape) + ") needs " +
                     (data_size ? std::to_string(*data_size) : std::string("more than fit in memory")) +
                     "; the file is truncated or corrupt");
  }
  auto tensor = at::empty(header.shape, at::TensorOptions().dtype(type));
  if (*data_size) std::memcpy(tensor.data_ptr(), bytes.data() + data_start, static_cast<size_t>(*data_size));
  if (type == at::kBool && tensor.numel() > 0 && at::gt(tensor.view(at::kByte), 1).any().item<bool>()) {
    throw InputError("'" + path + "' has bool elements that are neither 0 nor 1; the file is corrupt");
  }
  return tensor;
}

void write_npy(const std::string& path, const at::Tensor& tensor) {
  const auto data = tensor.detach().to(at::kCPU).contiguous();
  const std::string head = preamble(data);
  const std::string_view body(static_cast<const char*>(data.data_ptr()), data.numel() * data.element_size());
  write_file_atomically(path, {head, body});
}

}  // namespace lumos
