#include "model/keras/zip_archive.hpp"

#include "lumos/error.hpp"

#include <zip.h>

#include <cstring>

namespace lumos::keras {
namespace {

// A member that inflates to more than this many times its stored size, beyond
// 256 MiB, is a zip bomb rather than model weights (Keras applies the same guard).
constexpr uint64_t kMaxExpansion = 100;
constexpr uint64_t kExpansionFloor = uint64_t{1} << 28;

uint32_t le32(const char* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

uint16_t le16(const char* p) {
  uint16_t v;
  std::memcpy(&v, p, 2);
  return v;
}

}  // namespace

struct ZipArchive::State {
  std::string path;
  Bytes file;
  zip_t* archive = nullptr;
  ~State() {
    if (archive) zip_discard(archive);
  }
  [[noreturn]] void fail(const std::string& message) const { throw ModelError("'" + path + "': " + message); }

  // Where a stored member's bytes start in the file: its local header (at the offset its
  // central directory entry gives, which libzip does not expose) is followed by its name,
  // an extra field, then the data. Zero for anything unexpected (then libzip reads it).
  uint64_t data_offset(zip_uint64_t index, uint64_t size) const {
    // The end of central directory record: 22 bytes plus a comment of up to 64 KiB.
    const char* end = file.data + file.size;
    const char* eocd = nullptr;
    for (const char* p = end - 22; p >= file.data && p >= end - 22 - 65535; --p) {
      if (le32(p) == 0x06054b50) {
        eocd = p;
        break;
      }
    }
    if (!eocd) return 0;
    uint64_t entry = le32(eocd + 16);
    const uint64_t entries = le16(eocd + 10);
    if (entry == 0xFFFFFFFF || index >= entries) return 0;  // zip64: leave it to libzip
    for (zip_uint64_t i = 0; i <= index; ++i) {
      if (entry + 46 > file.size || le32(file.data + entry) != 0x02014b50) return 0;
      const char* e = file.data + entry;
      if (i == index) {
        const uint64_t local = le32(e + 42);
        if (local + 30 > file.size || le32(file.data + local) != 0x04034b50) return 0;
        const uint64_t start = local + 30 + le16(file.data + local + 26) + le16(file.data + local + 28);
        return size <= file.size && start <= file.size - size ? start : 0;
      }
      entry += 46 + le16(e + 28) + le16(e + 30) + le16(e + 32);
    }
    return 0;
  }
};

ZipArchive::ZipArchive(const std::string& path) : state_(std::make_shared<State>()) {
  state_->path = path;
  state_->file = read_file_bytes(path);
  zip_error_t error;
  zip_error_init(&error);
  zip_source_t* source = zip_source_buffer_create(state_->file.data, state_->file.size, 0, &error);
  if (source) state_->archive = zip_open_from_source(source, ZIP_RDONLY | ZIP_CHECKCONS, &error);
  if (!state_->archive) {
    if (source) zip_source_free(source);
    const std::string reason = zip_error_strerror(&error);
    zip_error_fini(&error);
    state_->fail("not a readable zip archive (" + reason + "); a .keras file may be truncated");
  }
  zip_error_fini(&error);
}

bool ZipArchive::has(const std::string& member) const {
  return zip_name_locate(state_->archive, member.c_str(), 0) >= 0;
}

Bytes ZipArchive::read(const std::string& member) const {
  zip_stat_t stat;
  zip_stat_init(&stat);
  if (zip_stat(state_->archive, member.c_str(), 0, &stat) != 0) state_->fail("has no member '" + member + "'");
  if (!(stat.valid & ZIP_STAT_SIZE) || !(stat.valid & ZIP_STAT_COMP_SIZE) || !(stat.valid & ZIP_STAT_INDEX)) {
    state_->fail("member '" + member + "' has no recorded size");
  }
  const bool stored = (stat.valid & ZIP_STAT_COMP_METHOD) && stat.comp_method == ZIP_CM_STORE && stat.size == stat.comp_size;
  if (stored) {
    // In place: no copy, and no CRC pass over every byte (HDF5 checks its own structure;
    // ONNX files carry no checksum either).
    if (const auto offset = state_->data_offset(stat.index, stat.size)) {
      return {state_->file.owner, state_->file.data + offset, static_cast<size_t>(stat.size)};
    }
  }
  if (stat.size > kExpansionFloor && stat.size > kMaxExpansion * stat.comp_size) {
    state_->fail("member '" + member + "' would inflate to " + std::to_string(stat.size) +
                 " bytes; the archive is not a Keras model");
  }
  zip_file_t* file = zip_fopen_index(state_->archive, stat.index, 0);
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
  return hold(std::move(bytes));
}

}  // namespace lumos::keras
