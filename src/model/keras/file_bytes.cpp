#include "model/keras/file_bytes.hpp"

#include "lumos/file.hpp"

namespace lumos::keras {

Bytes read_file_bytes(const std::string& path) {
  // A regular file of a model's size only: a FIFO or a device is refused, not waited on.
  return read_file_bytes(ReadOnlyFile(path, "model file"), 0);
}

Bytes read_file_bytes(const ReadOnlyFile& file, uint64_t anchor) {
  constexpr uintptr_t kAlignment = 64;
  file.require_at_most(kMaxModelFileBytes);
  const auto size = static_cast<size_t>(file.size());
  // Not value-initialised: every byte is read from the file.
  std::shared_ptr<char[]> buffer(new char[size + kAlignment]);
  const auto address = reinterpret_cast<uintptr_t>(buffer.get()) + anchor;
  char* data = buffer.get() + (kAlignment - address % kAlignment) % kAlignment;
  file.read_into(0, file.size(), data);
  return {std::shared_ptr<const void>(buffer, buffer.get()), data, size};
}

Bytes hold(std::string bytes) {
  auto owner = std::make_shared<std::string>(std::move(bytes));
  return {owner, owner->data(), owner->size()};
}

}  // namespace lumos::keras
