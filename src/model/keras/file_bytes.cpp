#include "model/keras/file_bytes.hpp"

#include "lumos/error.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>

namespace lumos::keras {

Bytes read_file_bytes(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw ModelError("cannot open '" + path + "': " + std::strerror(errno));
  struct stat info {};
  if (::fstat(fd, &info) != 0 || info.st_size <= 0) {
    ::close(fd);
    throw ModelError("'" + path + "' is empty or unreadable");
  }
  const auto size = static_cast<size_t>(info.st_size);
  // Read into the heap rather than mapped: with lumos::keep_freed_memory() the buffer
  // reuses memory already faulted in, where a fresh mapping faults every page again.
  std::shared_ptr<char[]> buffer(new char[size]);
  size_t done = 0;
  while (done < size) {
    const ssize_t n = ::read(fd, buffer.get() + done, size - done);
    if (n <= 0) break;
    done += static_cast<size_t>(n);
  }
  ::close(fd);
  if (done != size) throw ModelError("cannot read '" + path + "': " + std::strerror(errno));
  return {buffer, buffer.get(), size};
}

Bytes hold(std::string bytes) {
  auto owner = std::make_shared<std::string>(std::move(bytes));
  return {owner, owner->data(), owner->size()};
}

}  // namespace lumos::keras
