// A model file's bytes, read once, and views into them that keep them alive (a .keras
// archive's weights are read in place from the file's bytes).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace lumos {
class ReadOnlyFile;
}

namespace lumos::keras {

// A contiguous run of bytes and whatever keeps them alive.
struct Bytes {
  std::shared_ptr<const void> owner;
  const char* data = nullptr;
  size_t size = 0;
};

// The whole file, in memory. Throws FileError (a ModelError) naming the problem.
Bytes read_file_bytes(const std::string& path);

// The whole of an open file, placed so that its byte `anchor` lies on a 64-byte boundary:
// an HDF5 image stored at that offset in a zip then has its float data aligned, so the
// weights are used in place instead of copied.
Bytes read_file_bytes(const ReadOnlyFile& file, uint64_t anchor);

// Bytes held in memory (a member libzip had to inflate).
Bytes hold(std::string bytes);

}  // namespace lumos::keras
