// The explain flags as the library's request and output settings: `lumos explain` and
// `lumos serve` (whose requests carry the same settings as parameters) share them.
#pragma once

#include "commands.hpp"

#include "lumos/explain.hpp"
#include "lumos/explanation_files.hpp"

namespace lumos::cli {

// Throws UsageError naming the flag whose value does not fit (an unknown method, target, option).
ExplainRequest request_of(const ExplainOptions& options, const Model& model);

struct Outputs {
  FolderOptions folder;
  bool html = false;
};
Outputs outputs_of(const ExplainOptions& options);

}  // namespace lumos::cli
