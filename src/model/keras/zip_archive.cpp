#include "model/keras/zip_archive.hpp"

#include "lumos/error.hpp"
#include "lumos/file.hpp"

#include <zip.h>

#include <algorithm>
#include <cstring>
#include <functional>
#include <vector>

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

// Bytes [offset, offset + length) of the archive, or "" if they are not all inside it.
using ReadRange = std::function<std::string(uint64_t offset, uint64_t length)>;

struct Member {
  uint64_t local_header = 0;
  uint64_t stored_size = 0;  // the compressed size
  bool stored = false;       // kept as is (no compression)
};

// The members the central directory lists, in its order (libzip's indexes). Empty for
// anything unexpected (zip64, no end record): then libzip reads every member.
std::vector<Member> central_directory(uint64_t file_size, const ReadRange& read) {
  // The end of central directory record: 22 bytes plus a comment of up to 64 KiB.
  const uint64_t tail_size = std::min<uint64_t>(file_size, 22 + 65535);
  const std::string tail = read(file_size - tail_size, tail_size);
  if (tail.size() < 22) return {};
  const char* eocd = nullptr;
  for (size_t i = tail.size() - 22 + 1; i-- > 0;) {
    if (le32(tail.data() + i) == 0x06054b50) {
      eocd = tail.data() + i;
      break;
    }
  }
  if (!eocd) return {};
  const uint64_t entries = le16(eocd + 10);
  const std::string directory = read(le32(eocd + 16), le32(eocd + 12));
  std::vector<Member> members;
  for (uint64_t at = 0; members.size() < entries; ) {
    if (at + 46 > directory.size() || le32(directory.data() + at) != 0x02014b50) return {};
    const char* e = directory.data() + at;
    if (le32(e + 42) == 0xFFFFFFFF) return {};  // zip64
    members.push_back({le32(e + 42), le32(e + 20), le16(e + 10) == 0});
    at += 46 + le16(e + 28) + le16(e + 30) + le16(e + 32);
  }
  return members;
}

// Where a member's bytes start: its local header (at the offset the central directory
// gives, which libzip does not expose) is followed by its name, an extra field, then the
// data. Zero for anything unexpected.
uint64_t data_start(const Member& member, uint64_t file_size, const ReadRange& read) {
  const std::string header = read(member.local_header, 30);
  if (header.size() != 30 || le32(header.data()) != 0x04034b50) return 0;
  const uint64_t start = member.local_header + 30 + le16(header.data() + 26) + le16(header.data() + 28);
  return member.stored_size <= file_size && start <= file_size - member.stored_size ? start : 0;
}

// Where the largest stored member's data start in the file (the weights), 0 if unknown.
uint64_t largest_stored_member(const ReadOnlyFile& file) {
  const auto size = static_cast<uint64_t>(file.size());
  const ReadRange read = [&](uint64_t offset, uint64_t length) {
    return offset <= size && length <= size - offset ? file.read(offset, length) : std::string();
  };
  const auto members = central_directory(size, read);
  const Member* largest = nullptr;
  for (const auto& member : members) {
    if (member.stored && (!largest || member.stored_size > largest->stored_size)) largest = &member;
  }
  return largest ? data_start(*largest, size, read) : 0;
}

}  // namespace

struct ZipArchive::State {
  std::string path;
  Bytes file;
  std::vector<Member> members;
  zip_t* archive = nullptr;
  ~State() {
    if (archive) zip_discard(archive);
  }
  [[noreturn]] void fail(const std::string& message) const { throw ModelError("'" + path + "': " + message); }

  std::string range(uint64_t offset, uint64_t length) const {
    return offset <= file.size && length <= file.size - offset ? std::string(file.data + offset, length) : std::string();
  }
};

ZipArchive::ZipArchive(const std::string& path) : state_(std::make_shared<State>()) {
  state_->path = path;
  const ReadOnlyFile file(path, "model file");
  file.require_at_most(kMaxModelFileBytes);  // before any of it is read
  // Placed so that the weights' HDF5 image starts aligned: its floats are then used in place.
  state_->file = read_file_bytes(file, largest_stored_member(file));
  // Parsed again from the bytes read: the offsets must be those of the bytes libzip reads,
  // should the file have changed since.
  state_->members = central_directory(state_->file.size, [&](uint64_t o, uint64_t n) { return state_->range(o, n); });
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
    const auto& members = state_->members;
    const auto offset = stat.index < members.size()
                            ? data_start(members[stat.index], state_->file.size,
                                         [&](uint64_t o, uint64_t n) { return state_->range(o, n); })
                            : 0;
    if (offset && members[stat.index].stored_size == stat.size) {
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
