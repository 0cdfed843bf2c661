// Read-only access to the members of a zip archive (a Keras 3 .keras file): libzip over
// the file's bytes in memory, so a stored (uncompressed) member is read in place.
#pragma once

#include "model/keras/file_bytes.hpp"

#include <memory>
#include <string>

namespace lumos::keras {

class ZipArchive {
 public:
  // Throws ModelError if `path` is not a readable zip archive.
  explicit ZipArchive(const std::string& path);

  bool has(const std::string& member) const;
  // The member's bytes: a view into the file for a stored member (Keras stores them
  // all), else inflated. Throws ModelError if it is missing, corrupt or implausibly large.
  Bytes read(const std::string& member) const;

 private:
  struct State;
  std::shared_ptr<State> state_;
};

}  // namespace lumos::keras
