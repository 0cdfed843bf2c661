// The .npy reader on arbitrary bytes. An InputError is a clean refusal; a crash, a
// sanitizer report or another exception is a finding.
#include "lumos/error.hpp"
#include "lumos/npy.hpp"

#include <ATen/ATen.h>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    const auto tensor = lumos::parse_npy(std::string_view(reinterpret_cast<const char*>(data), size), "fuzz.npy");
    if (tensor.numel() > static_cast<int64_t>(size)) __builtin_trap();  // every element came from the file
  } catch (const lumos::InputError&) {
  }
  return 0;
}
