#include "lumos/file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <utility>

namespace lumos {
namespace {

std::string quoted(const std::string& what, const std::string& path) { return what + " '" + path + "'"; }

[[noreturn]] void fail_open(const std::string& what, const std::string& path, int error) {
  const auto name = quoted(what, path);
  switch (error) {
    case ENOENT: throw FileError(name + " does not exist; check the path");
    case ENOTDIR: throw FileError(name + " does not exist (a folder on its path is a file); check the path");
    case EACCES:
    case EPERM: throw FileError("cannot open " + name + ": permission denied; check its permissions");
    case ELOOP: throw FileError("cannot open " + name + ": too many symbolic links (a loop?); check the path");
    case ENAMETOOLONG: throw FileError("cannot open " + name + ": the path is too long");
    default: throw FileError("cannot open " + name + ": " + std::strerror(error));
  }
}

std::string kind_of(mode_t mode) {
  if (S_ISDIR(mode)) return "a folder";
  if (S_ISFIFO(mode)) return "a FIFO (named pipe)";
  if (S_ISCHR(mode) || S_ISBLK(mode)) return "a device";
  if (S_ISSOCK(mode)) return "a socket";
  return "not a regular file";
}

}  // namespace

ReadOnlyFile::ReadOnlyFile(const std::string& path, std::string what) : path_(path), what_(std::move(what)) {
  if (path.empty()) throw FileError("the " + what_ + " path is empty; give a file");
  // O_NONBLOCK: opening a FIFO without a writer would otherwise wait forever.
  fd_ = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
  if (fd_ < 0) fail_open(what_, path, errno);
  struct stat status {};
  if (::fstat(fd_, &status) != 0) {
    const int error = errno;
    ::close(fd_);
    fd_ = -1;
    fail_open(what_, path, error);
  }
  if (!S_ISREG(status.st_mode)) {
    ::close(fd_);
    fd_ = -1;
    throw FileError(quoted(what_, path) + " is " + kind_of(status.st_mode) + "; give a regular file");
  }
  size_ = static_cast<int64_t>(status.st_size);
}

ReadOnlyFile::~ReadOnlyFile() {
  if (fd_ >= 0) ::close(fd_);
}

ReadOnlyFile::ReadOnlyFile(ReadOnlyFile&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)), path_(std::move(other.path_)), what_(std::move(other.what_)), size_(other.size_) {}

ReadOnlyFile& ReadOnlyFile::operator=(ReadOnlyFile&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(other.fd_, -1);
    path_ = std::move(other.path_);
    what_ = std::move(other.what_);
    size_ = other.size_;
  }
  return *this;
}

void ReadOnlyFile::check_range(int64_t offset, int64_t length) const {
  if (offset < 0 || length < 0 || offset > size_ || length > size_ - offset) {
    throw FileError(quoted(what_, path_) + " is shorter than the data it should hold; it may be truncated");
  }
}

std::string ReadOnlyFile::read(int64_t offset, int64_t length) const {
  check_range(offset, length);  // before allocating for a length the file cannot hold
  std::string bytes(static_cast<size_t>(length), '\0');
  read_into(offset, length, bytes.data());
  return bytes;
}

void ReadOnlyFile::read_into(int64_t offset, int64_t length, char* out) const {
  check_range(offset, length);
  int64_t done = 0;
  while (done < length) {
    const auto n = ::pread(fd_, out + done, static_cast<size_t>(length - done), offset + done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw FileError("cannot read " + quoted(what_, path_) + ": " + std::strerror(errno));
    if (n == 0) throw FileError(quoted(what_, path_) + " became shorter while it was read; try again");
    done += n;
  }
}

void ReadOnlyFile::require_at_most(int64_t max_bytes) const {
  if (size_ > max_bytes) {
    throw FileError(quoted(what_, path_) + " is " + std::to_string(size_) + " bytes, more than lumos reads (" +
                    std::to_string(max_bytes) + "); check that it is the right file");
  }
}

std::string ReadOnlyFile::read_all(int64_t max_bytes) const {
  require_at_most(max_bytes);
  return read(0, size_);
}

std::string read_file(const std::string& path, const std::string& what, int64_t max_bytes) {
  return ReadOnlyFile(path, what).read_all(max_bytes);
}

std::string file_inside_folder(const std::string& folder, const std::string& location, std::string& why) {
  namespace fs = std::filesystem;
  const fs::path relative(location);
  if (relative.is_absolute() || relative.has_root_name() || relative.has_root_directory()) {
    why = "is an absolute path";
    return "";
  }
  for (const auto& part : relative) {
    if (part == "..") {
      why = "leaves the folder (..)";
      return "";
    }
  }
  std::error_code error;
  const auto real_folder = fs::canonical(folder.empty() ? "." : folder, error);
  const auto file = error ? fs::path() : fs::canonical(real_folder / relative, error);
  if (error) {
    why = "cannot be found";
    return "";
  }
  if (std::mismatch(real_folder.begin(), real_folder.end(), file.begin(), file.end()).first != real_folder.end()) {
    why = "is a symbolic link to a file outside the folder";
    return "";
  }
  return file.string();
}

}  // namespace lumos
