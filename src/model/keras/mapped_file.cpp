#include "model/keras/mapped_file.hpp"

#include "lumos/error.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace lumos::keras {

Bytes map_file(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw ModelError("cannot open '" + path + "': " + std::strerror(errno));
  struct stat info {};
  if (::fstat(fd, &info) != 0 || info.st_size <= 0) {
    ::close(fd);
    throw ModelError("'" + path + "' is empty or unreadable");
  }
  const auto size = static_cast<size_t>(info.st_size);
  void* address = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
  ::close(fd);
  if (address == MAP_FAILED) throw ModelError("cannot map '" + path + "' into memory: " + std::strerror(errno));
  std::shared_ptr<const void> owner(address, [size](const void* p) { ::munmap(const_cast<void*>(p), size); });
  return {owner, static_cast<const char*>(address), size};
}

Bytes hold(std::string bytes) {
  auto owner = std::make_shared<std::string>(std::move(bytes));
  return {owner, owner->data(), owner->size()};
}

}  // namespace lumos::keras
