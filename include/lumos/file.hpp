// Reading the files lumos is given (models, images, external weights, arrays, label
// lists): only regular files, opened without blocking, each kind with a size limit.
// A FIFO is refused instead of waited on, a device (/dev/zero) instead of read until
// memory runs out, a folder with a message that says so.
#pragma once

#include "lumos/error.hpp"

#include <cstdint>
#include <string>

namespace lumos {

// A file cannot be used: missing, not a regular file, too large, or unreadable. The
// message names the file (with `what` it is, e.g. "image") and what to do.
class FileError : public InputError {
 public:
  using InputError::InputError;
};

// Size limits of the files lumos reads whole. Protobuf cannot parse a model larger than
// 2 GiB (larger models keep their weights in external data files, which are read by range).
constexpr int64_t kMaxModelFileBytes = int64_t{2} << 30;
constexpr int64_t kMaxImageFileBytes = int64_t{1} << 30;
constexpr int64_t kMaxArrayFileBytes = int64_t{4} << 30;
constexpr int64_t kMaxTextFileBytes = int64_t{64} << 20;

// An open regular file, read by byte ranges. Move-only; closes the file when destroyed.
class ReadOnlyFile {
 public:
  // Opens `path` without blocking and checks it is a regular file; throws FileError
  // ("<what> '<path>' is a FIFO ...") otherwise.
  ReadOnlyFile(const std::string& path, std::string what);
  ~ReadOnlyFile();
  ReadOnlyFile(ReadOnlyFile&& other) noexcept;
  ReadOnlyFile& operator=(ReadOnlyFile&& other) noexcept;
  ReadOnlyFile(const ReadOnlyFile&) = delete;
  ReadOnlyFile& operator=(const ReadOnlyFile&) = delete;

  int64_t size() const { return size_; }
  const std::string& path() const { return path_; }

  // Bytes [offset, offset + length). Throws FileError if the range is not inside the file
  // or the file cannot be read.
  std::string read(int64_t offset, int64_t length) const;
  // The same bytes into `out`, which has room for `length` of them.
  void read_into(int64_t offset, int64_t length, char* out) const;
  // Throws FileError if the file is larger than max_bytes (before it is read whole).
  void require_at_most(int64_t max_bytes) const;
  // The whole file; throws FileError if it is larger than max_bytes.
  std::string read_all(int64_t max_bytes) const;

 private:
  void check_range(int64_t offset, int64_t length) const;

  int fd_ = -1;
  std::string path_;
  std::string what_;
  int64_t size_ = 0;
};

// The whole of a regular file of at most max_bytes (see ReadOnlyFile).
std::string read_file(const std::string& path, const std::string& what, int64_t max_bytes);

// The real path of `location`, a file a model names beside itself, inside `folder`: it must
// be relative, without "..", and (symbolic links followed) still inside the folder, so a
// model cannot make lumos read, or tell the size of, any other file on the machine. Else
// returns "" and sets `why` ("is an absolute path", "leaves the folder (..)", "is a
// symbolic link to a file outside the folder", or "cannot be found").
std::string file_inside_folder(const std::string& folder, const std::string& location, std::string& why);

}  // namespace lumos
