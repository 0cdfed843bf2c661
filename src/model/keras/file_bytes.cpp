#include "model/keras/file_bytes.hpp"

#include "lumos/file.hpp"

namespace lumos::keras {

Bytes read_file_bytes(const std::string& path) {
  // A regular file of a model's size only: a FIFO or a device is refused, not waited on.
  return hold(read_file(path, "model file", kMaxModelFileBytes));
}

Bytes hold(std::string bytes) {
  auto owner = std::make_shared<std::string>(std::move(bytes));
  return {owner, owner->data(), owner->size()};
}

}  // namespace lumos::keras
