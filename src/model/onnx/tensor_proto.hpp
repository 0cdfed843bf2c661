// ONNX TensorProto <-> ATen: initializers, Constant attributes, test data.
#pragma once

#include <ATen/core/Tensor.h>

#include <string>

namespace onnx {
class TensorProto;
}

namespace lumos::onnx {

// The ATen dtype for an ONNX TensorProto.DataType; throws ModelError for the ones ATen lacks.
c10::ScalarType scalar_type_from_onnx(int32_t data_type, const std::string& context);

// Reads a tensor in any storage form: raw_data, the typed repeated fields, or external
// data (a file inside model_dir, the folder of the model file; "" when the tensor did not
// come from a file, and then external data is an error). The result owns its memory.
// Throws ModelError for a corrupt tensor or an external file that is missing, outside
// model_dir (absolute, "..", a symbolic link leading out) or shorter than stated.
at::Tensor tensor_from_proto(const ::onnx::TensorProto& proto, const std::string& model_dir);

// The folder external data of the model file at `path` is read from ("." for a bare name).
std::string model_folder(const std::string& path);

// Reads a serialized TensorProto file (the ONNX test data's input_N.pb / output_N.pb).
at::Tensor read_tensor_file(const std::string& path);

}  // namespace lumos::onnx
