// NumPy .npy files: the exchange format for reference data and saved explanations.
#pragma once

#include <ATen/core/Tensor.h>

#include <string>

namespace lumos {

// Reads a C-order, little-endian .npy file (format 1.0 or 2.0) of float32, float64, int64,
// int32, uint8 or bool into a CPU tensor of that dtype and shape. Throws InputError naming
// the file and the problem (unreadable, not .npy, truncated, unsupported dtype or order).
at::Tensor read_npy(const std::string& path);

// Writes a tensor of one of those dtypes as a C-order .npy file (format 1.0, or 2.0 when the
// header needs it). Writes a temporary file in the same directory and renames it into place,
// so readers never see a partial file. Throws InputError if the dtype is unsupported and
// lumos::Error if the file cannot be written.
void write_npy(const std::string& path, const at::Tensor& tensor);

}  // namespace lumos
