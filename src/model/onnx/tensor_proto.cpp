#include "model/onnx/tensor_proto.hpp"

#include "lumos/error.hpp"
#include "lumos/file.hpp"
#include "lumos/model.hpp"
#include "util/checked.hpp"

#include <ATen/ATen.h>
#include <onnx/onnx_pb.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <filesystem>
#include <optional>

namespace lumos::onnx {
namespace {

namespace fs = std::filesystem;
using ::onnx::TensorProto;

std::string label(const TensorProto& proto) {
  return proto.name().empty() ? std::string("tensor") : "tensor '" + proto.name() + "'";
}

std::vector<int64_t> dims_of(const TensorProto& proto) { return {proto.dims().begin(), proto.dims().end()}; }

// The number of elements the dims describe; ModelError for a negative dim or an overflow.
int64_t element_count(const TensorProto& proto) {
  const auto dims = dims_of(proto);
  const auto count = checked_product(dims);
  if (!count) {
    throw ModelError(label(proto) + " has shape " + shape_string(dims) +
                     ", which is not a valid size; the model file is corrupt");
  }
  return *count;
}

// A whole non-negative decimal number, as external data offsets and lengths are written.
int64_t parse_offset(const std::string& text, const std::string& key, const TensorProto& proto) {
  int64_t value = -1;
  const auto end = text.data() + text.size();
  const auto [last, error] = std::from_chars(text.data(), end, value);
  if (text.empty() || error != std::errc() || last != end || value < 0) {
    throw ModelError(label(proto) + ": external data " + key + " '" + text +
                     "' is not a whole number of bytes; the model file is corrupt");
  }
  return value;
}

// The external data file, which must lie inside the model's folder: a relative location
// without "..", whose real path (symbolic links followed) is still inside the folder. So a
// model cannot make lumos read, or tell the size of, any other file on the machine.
std::string external_file(const TensorProto& proto, const std::string& location, const std::string& model_dir) {
  if (model_dir.empty()) {
    throw ModelError(label(proto) + " keeps its data in an external file, which only a model loaded from a file "
                     "may do");
  }
  const fs::path relative(location);
  const auto outside = [&](const std::string& why) {
    return ModelError(label(proto) + ": external data location '" + location + "' " + why +
                      "; lumos reads external data only from files inside the model's folder");
  };
  if (location.empty()) throw ModelError(label(proto) + " has external data without a location");
  if (relative.is_absolute() || relative.has_root_name() || relative.has_root_directory()) {
    throw outside("is an absolute path");
  }
  for (const auto& part : relative) {
    if (part == "..") throw outside("leaves the folder (..)");
  }
  std::error_code error;
  const auto folder = fs::canonical(model_dir, error);
  const auto file = error ? fs::path() : fs::canonical(fs::path(model_dir) / relative, error);
  if (error) {
    throw ModelError(label(proto) + ": cannot find its external data file '" + location +
                     "' in the model's folder; keep it next to the .onnx file");
  }
  const auto [inside, rest] = std::mismatch(folder.begin(), folder.end(), file.begin(), file.end());
  if (inside != folder.end()) throw outside("is a symbolic link to a file outside the folder");
  return file.string();
}

// Bytes of an external-data tensor: `length` (or the rest of the file) from `offset`.
std::string read_external(const TensorProto& proto, const std::string& model_dir, int64_t expected_bytes) {
  std::string location;
  int64_t offset = 0;
  std::optional<int64_t> length;
  for (const auto& entry : proto.external_data()) {
    if (entry.key() == "location") location = entry.value();
    if (entry.key() == "offset") offset = parse_offset(entry.value(), "offset", proto);
    if (entry.key() == "length") length = parse_offset(entry.value(), "length", proto);
  }
  try {
    const ReadOnlyFile file(external_file(proto, location, model_dir), "external data file");
    if (offset > file.size() || (length && *length > file.size() - offset)) {
      throw ModelError(label(proto) + ": its external data file '" + location +
                       "' is shorter than the offset and length the model gives; it may be truncated");
    }
    const int64_t bytes = length.value_or(file.size() - offset);
    if (bytes != expected_bytes) {
      throw ModelError(label(proto) + " has " + std::to_string(bytes) + " bytes of external data but its shape needs " +
                       std::to_string(expected_bytes) + "; the model file or its data file is corrupt");
    }
    return file.read(offset, bytes);
  } catch (const FileError& e) {
    throw ModelError(label(proto) + ": " + e.what());
  }
}

template <typename Field>
at::Tensor from_field(const Field& field, c10::ScalarType field_type, c10::ScalarType type) {
  using T = typename Field::value_type;
  auto t = at::empty({static_cast<int64_t>(field.size())}, at::TensorOptions().dtype(field_type));
  if (field.size() > 0) std::memcpy(t.data_ptr(), field.data(), field.size() * sizeof(T));
  return t.to(type);
}

}  // namespace

c10::ScalarType scalar_type_from_onnx(int32_t data_type, const std::string& context) {
  switch (data_type) {
    case TensorProto::FLOAT: return at::kFloat;
    case TensorProto::DOUBLE: return at::kDouble;
    case TensorProto::FLOAT16: return at::kHalf;
    case TensorProto::BFLOAT16: return at::kBFloat16;
    case TensorProto::INT8: return at::kChar;
    case TensorProto::UINT8: return at::kByte;
    case TensorProto::INT16: return at::kShort;
    case TensorProto::INT32: return at::kInt;
    case TensorProto::INT64: return at::kLong;
    case TensorProto::BOOL: return at::kBool;
    default:
      throw ModelError(context + ": ONNX data type " + std::to_string(data_type) +
                       " (" + TensorProto::DataType_Name(static_cast<TensorProto::DataType>(data_type)) +
                       ") is not supported");
  }
}

at::Tensor tensor_from_proto(const TensorProto& proto, const std::string& model_dir) {
  const auto type = scalar_type_from_onnx(proto.data_type(), label(proto));
  const auto dims = dims_of(proto);
  const int64_t count = element_count(proto);
  const auto options = at::TensorOptions().dtype(type);

  if (proto.data_location() == TensorProto::EXTERNAL || proto.has_raw_data()) {
    const auto expected = checked_multiply(count, static_cast<int64_t>(c10::elementSize(type)));
    if (!expected) throw ModelError(label(proto) + " has shape " + shape_string(dims) + ", too large to hold");
    const std::string bytes = proto.data_location() == TensorProto::EXTERNAL
                                  ? read_external(proto, model_dir, *expected)
                                  : proto.raw_data();
    if (static_cast<int64_t>(bytes.size()) != *expected) {
      throw ModelError(label(proto) + " holds " + std::to_string(bytes.size()) + " bytes but its shape needs " +
                       std::to_string(*expected) + "; the file may be truncated or corrupt");
    }
    auto t = at::empty(dims, options);
    if (*expected) std::memcpy(t.data_ptr(), bytes.data(), bytes.size());
    return t;
  }

  at::Tensor t;
  switch (proto.data_type()) {
    case TensorProto::FLOAT: t = from_field(proto.float_data(), at::kFloat, type); break;
    case TensorProto::DOUBLE: t = from_field(proto.double_data(), at::kDouble, type); break;
    case TensorProto::INT64: t = from_field(proto.int64_data(), at::kLong, type); break;
    case TensorProto::FLOAT16:
    case TensorProto::BFLOAT16: {
      // 16-bit floats are stored as their bit patterns, one per int32.
      auto bits = from_field(proto.int32_data(), at::kInt, at::kShort);
      t = bits.view(type);
      break;
    }
    default: t = from_field(proto.int32_data(), at::kInt, type); break;
  }
  if (t.numel() != count) {
    throw ModelError(label(proto) + " holds " + std::to_string(t.numel()) + " values but its shape needs " +
                     std::to_string(count));
  }
  return t.reshape(dims);  // the typed fields are flat
}

at::Tensor read_tensor_file(const std::string& path) {
  std::string bytes;
  try {
    bytes = read_file(path, "tensor file", kMaxModelFileBytes);
  } catch (const FileError& e) {
    throw ModelError(e.what());
  }
  TensorProto proto;
  if (!proto.ParseFromString(bytes)) throw ModelError("cannot read tensor file '" + path + "': not a TensorProto");
  return tensor_from_proto(proto, model_folder(path));
}

std::string model_folder(const std::string& path) {
  const auto folder = fs::path(path).parent_path();
  return folder.empty() ? "." : folder.string();
}

}  // namespace lumos::onnx
