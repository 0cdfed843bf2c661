#include "model/keras/zip_archive.hpp"

#include "lumos/error.hpp"

#include <zip.h>

namespace lumos::keras {
namespace {

// A member that inflates to more than this many times its stored size, beyond
// 256 MiB, is a zip bomb rather than model weights (Keras applies the same guard).
constexpr uint64_t kMaxExpansion = 100;
constexpr uint64_t kExpansionFloor = uint64_t{1} << 28;

}  // namespace

struct ZipArchive::State {
  std::string path;
  zip_t* archive = nullptr;
  ~State() {
    if (archive) zip_discard(archive);
  }
  [[noreturn]] void fail(const std::string& message) const { throw ModelError("'" + path + "': " + message); }
};

ZipArchive::ZipArchive(const std::string& path) : state_(std::make_shared<State>()) {
  state_->path = path;
  int error = 0;
  state_->archive = zip_open(path.c_str(), ZIP_RDONLY | ZIP_CHECKCONS, &error);
  if (!state_->archive) {
    zip_error_t details;
    zip_error_init_with_code(&details, error);
    const std::string reason = zip_error_strerror(&details);
    zip_error_fini(&details);
    state_->fail("not a readable zip archive (" + reason + "); a .keras file may be truncated");
  }
}

bool ZipArchive::has(const std::string& member) const {
  return zip_name_locate(state_->archive, member.c_str(), 0) >= 0;
}

std::string ZipArchive::read(const std::string& member) const {
  zip_stat_t stat;
  zip_stat_init(&stat);
  if (zip_stat(state_->archive, member.c_str(), 0, &stat) != 0) state_->fail("has no member '" + member + "'");
  if (!(stat.valid & ZIP_STAT_SIZE) || !(stat.valid & ZIP_STAT_COMP_SIZE)) {
    state_->fail("member '" + member + "' has no recorded size");
  }
  if (stat.size > kExpansionFloor && stat.size > kMaxExpansion * stat.comp_size) {
    state_->fail("member '" + member + "' would inflate to " + std::to_string(stat.size) +
                 " bytes; the archive is not a Keras model");
  }
  zip_file_t* file = zip_fopen(state_->archive, member.c_str(), 0);
  if (!file) state_->fail("cannot open member '" + member + "': " + zip_strerror(state_->archive));
  std::string bytes(stat.size, '\0');
  zip_int64_t done = 0;
  while (done < static_cast<zip_int64_t>(bytes.size())) {
    const zip_int64_t n = zip_fread(file, bytes.data() + done, bytes.size() - done);
    if (n <= 0) break;
    done += n;
  }
  const std::string reason = zip_file_strerror(file);
  const bool failed = zip_fclose(file) != 0 || done != static_cast<zip_int64_t>(bytes.size());
  if (failed) state_->fail("member '" + member + "' is truncated or corrupt (" + reason + ")");
  return bytes;
}

}  // namespace lumos::keras
