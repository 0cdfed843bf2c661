// Writing output files so that no reader ever sees a half-written one.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace lumos {

// Writes the parts, in order, to a temporary file in the target's directory, then
// renames it over `path`. On any failure the temporary file is removed, `path` is left
// as it was, and lumos::Error is thrown naming the file and the reason.
void write_file_atomically(const std::string& path, const std::vector<std::string_view>& parts);

}  // namespace lumos
