// Read-only access to the members of a zip archive (a Keras 3 .keras file) through libzip.
#pragma once

#include <memory>
#include <string>

namespace lumos::keras {

class ZipArchive {
 public:
  // Throws ModelError if `path` is not a readable zip archive.
  explicit ZipArchive(const std::string& path);

  bool has(const std::string& member) const;
  // The member's bytes; throws ModelError if it is missing, corrupt or implausibly large.
  std::string read(const std::string& member) const;

 private:
  struct State;
  std::shared_ptr<State> state_;
};

}  // namespace lumos::keras
