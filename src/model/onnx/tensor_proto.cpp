#include "model/onnx/tensor_proto.hpp"

#include "lumos/error.hpp"

#include <ATen/ATen.h>
#include <onnx/onnx_pb.h>

#include <cstring>
#include <filesystem>
#include <fstream>

namespace lumos::onnx {
namespace {

using ::onnx::TensorProto;

std::vector<int64_t> dims_of(const TensorProto& proto) { return {proto.dims().begin(), proto.dims().end()}; }

int64_t element_count(const std::vector<int64_t>& dims) {
  int64_t n = 1;
  for (auto d : dims) n *= d;
  return n;
}

std::string label(const TensorProto& proto) {
  return proto.name().empty() ? std::string("tensor") : "tensor '" + proto.name() + "'";
}

// Bytes of an external-data tensor, read from the file its metadata names.
std::string read_external(const TensorProto& proto, const std::string& base_dir) {
  std::string location;
  int64_t offset = 0;
  int64_t length = -1;
  for (const auto& entry : proto.external_data()) {
    if (entry.key() == "location") location = entry.value();
    if (entry.key() == "offset") offset = std::stoll(entry.value());
    if (entry.key() == "length") length = std::stoll(entry.value());
  }
  if (location.empty()) throw ModelError(label(proto) + " has external data without a location");
  const auto path = std::filesystem::path(base_dir) / location;
  std::ifstream file(path, std::ios::binary);
  if (!file) {
    throw ModelError(label(proto) + ": cannot open its external data file '" + path.string() +
                     "'; keep it next to the .onnx file");
  }
  file.seekg(0, std::ios::end);
  const int64_t size = file.tellg();
  if (length < 0) length = size - offset;
  if (offset < 0 || offset + length > size) {
    throw ModelError(label(proto) + ": external data file '" + path.string() + "' is too short (" +
                     std::to_string(size) + " bytes); it may be truncated");
  }
  std::string bytes(static_cast<size_t>(length), '\0');
  file.seekg(offset);
  file.read(bytes.data(), length);
  return bytes;
}

template <typename Field>
at::Tensor from_field(const Field& field, c10::ScalarType field_type, c10::ScalarType type) {
  using T = typename Field::value_type;
  auto t = at::empty({static_cast<int64_t>(field.size())}, at::TensorOptions().dtype(field_type));
  std::memcpy(t.data_ptr(), field.data(), field.size() * sizeof(T));
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

at::Tensor tensor_from_proto(const TensorProto& proto, const std::string& base_dir) {
  const auto type = scalar_type_from_onnx(proto.data_type(), label(proto));
  const auto dims = dims_of(proto);
  const int64_t count = element_count(dims);
  const auto options = at::TensorOptions().dtype(type);

  if (proto.data_location() == TensorProto::EXTERNAL || proto.has_raw_data()) {
    const std::string bytes = proto.data_location() == TensorProto::EXTERNAL ? read_external(proto, base_dir)
                                                                             : proto.raw_data();
    const auto expected = static_cast<size_t>(count) * c10::elementSize(type);
    if (bytes.size() != expected) {
      throw ModelError(label(proto) + " holds " + std::to_string(bytes.size()) + " bytes but its shape needs " +
                       std::to_string(expected) + "; the file may be truncated or corrupt");
    }
    auto t = at::empty(dims, options);
    if (expected) std::memcpy(t.data_ptr(), bytes.data(), expected);
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
  std::ifstream file(path, std::ios::binary);
  TensorProto proto;
  if (!file || !proto.ParseFromIstream(&file)) throw ModelError("cannot read tensor file '" + path + "'");
  return tensor_from_proto(proto, std::filesystem::path(path).parent_path().string());
}

}  // namespace lumos::onnx
