// Bytes of a model file without copying them: the file mapped into memory, and views
// into it that keep the mapping alive.
#pragma once

#include <cstddef>
#include <memory>
#include <string>

namespace lumos::keras {

// A contiguous run of bytes and whatever keeps them alive.
struct Bytes {
  std::shared_ptr<const void> owner;
  const char* data = nullptr;
  size_t size = 0;
};

// Maps `path` read-only. Throws ModelError.
Bytes map_file(const std::string& path);

// Bytes held in memory (a member libzip had to inflate).
Bytes hold(std::string bytes);

}  // namespace lumos::keras
