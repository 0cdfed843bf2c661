#include "lumos/atomic_file.hpp"

#include "lumos/error.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>

namespace lumos {

void write_file_atomically(const std::string& path, const std::vector<std::string_view>& parts) {
  namespace fs = std::filesystem;
  const fs::path target(path);
  const fs::path dir = target.has_parent_path() ? target.parent_path() : fs::path(".");
  std::string temp = (dir / ("." + target.filename().string() + ".XXXXXX")).string();
  const int fd = mkstemp(temp.data());
  if (fd < 0) throw Error("cannot write '" + path + "': " + std::strerror(errno) + "; check the output directory");
  FILE* file = fdopen(fd, "wb");
  bool written = file != nullptr;
  for (const auto& part : parts) {
    if (!written) break;
    written = part.empty() || std::fwrite(part.data(), 1, part.size(), file) == part.size();
  }
  const int write_errno = errno;
  const bool closed = file ? std::fclose(file) == 0 : ::close(fd) == 0;
  std::error_code renamed;
  if (written && closed) fs::rename(temp, target, renamed);
  if (!written || !closed || renamed) {
    std::error_code ignored;
    fs::remove(temp, ignored);
    throw Error("cannot write '" + path + "': " +
                (renamed ? renamed.message() : std::string(std::strerror(write_errno ? write_errno : errno))) +
                "; check free space and permissions");
  }
  // mkstemp makes the file private to its owner; give it the permissions a plain open would.
  const mode_t mask = umask(0);
  umask(mask);
  fs::permissions(target, static_cast<fs::perms>(0666 & ~mask), renamed);
}

}  // namespace lumos

namespace lumos {

StagedFolder::StagedFolder(const std::string& parent, const std::string& name) {
  namespace fs = std::filesystem;
  final_ = (fs::path(parent) / name).string();
  staging_ = (fs::path(parent) / ("." + name + ".partial")).string();
  std::error_code error;
  fs::remove_all(staging_, error);
  if (!error) fs::create_directories(staging_, error);
  if (error) throw Error("cannot make the folder '" + staging_ + "': " + error.message() + "; check the output folder");
}

StagedFolder::~StagedFolder() {
  std::error_code ignored;
  if (!committed_) std::filesystem::remove_all(staging_, ignored);
}

std::string StagedFolder::file(const std::string& name) const {
  return (std::filesystem::path(staging_) / name).string();
}

void StagedFolder::commit() {
  namespace fs = std::filesystem;
  std::error_code error;
  fs::remove_all(final_, error);
  if (!error) fs::rename(staging_, final_, error);
  if (error) throw Error("cannot move the folder '" + staging_ + "' to '" + final_ + "': " + error.message());
  committed_ = true;
}

}  // namespace lumos
