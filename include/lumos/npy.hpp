// NumPy .npy files: the exchange format for reference data and saved explanations.
#pragma once

#include <ATen/core/Tensor.h>

#include <string>
#include <string_view>

namespace lumos {

// Reads a C-order, little-endian .npy file (format 1.0 or 2.0) of float32, float64, int64,
// int32, uint8 or bool into a CPU tensor of that dtype and shape. Throws InputError naming
// the file and the problem (unreadable or not a regular file, not .npy, truncated, a shape
// its bytes do not hold, unsupported dtype or order).
at::Tensor read_npy(const std::string& path);
// The same for a file's contents already in memory; `source` names it in messages.
at::Tensor parse_npy(std::string_view bytes, const std::string& source);

// Writes a tensor of one of those dtypes as a C-order .npy file (format 1.0, or 2.0 when the
// header needs it). Writes a temporary file in the same directory and renames it into place,
// so readers never see a partial file. Throws InputError if the dtype is unsupported and
// lumos::Error if the file cannot be written.
void write_npy(const std::string& path, const at::Tensor& tensor);

}  // namespace lumos
