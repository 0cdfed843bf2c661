#include "model/keras/hdf5.hpp"

#include "lumos/error.hpp"
#include "lumos/model.hpp"
#include "util/checked.hpp"

#include <ATen/ATen.h>
#include <hdf5.h>
#include <hdf5_hl.h>

#include <algorithm>
#include <cstring>
#include <mutex>
#include <optional>
#include <string_view>
#include <unordered_map>

namespace lumos::keras {
namespace {

// libhdf5 (Debian's serial build) is not thread-safe: one call at a time.
std::mutex& hdf5_mutex() {
  static std::mutex m;
  return m;
}

// Errors become exceptions here; libhdf5 must not print its error stack.
void silence_hdf5() {
  static const bool silenced = [] {
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
    return true;
  }();
  (void)silenced;
}

// Owns one HDF5 identifier and closes it with the matching function.
class Handle {
 public:
  Handle(hid_t id, herr_t (*close)(hid_t)) : id_(id), close_(close) {}
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
  ~Handle() {
    if (id_ >= 0) close_(id_);
  }
  hid_t get() const { return id_; }
  bool ok() const { return id_ >= 0; }

 private:
  hid_t id_;
  herr_t (*close_)(hid_t);
};

std::vector<int64_t> dims_of(hid_t space) {
  const int rank = H5Sget_simple_extent_ndims(space);
  if (rank < 0) return {};
  std::vector<hsize_t> dims(rank);
  H5Sget_simple_extent_dims(space, dims.data(), nullptr);
  return {dims.begin(), dims.end()};
}

// zlib's deflate shrinks data by at most 1032:1.
constexpr uint64_t kMaxFilterRatio = 1032;

float bfloat16_to_float(uint16_t bits) {
  const uint32_t wide = static_cast<uint32_t>(bits) << 16;
  float out;
  std::memcpy(&out, &wide, sizeof out);
  return out;
}

// libhdf5 1.10 (Debian 12's) walks a global heap collection without checking that each
// object moves it forward: an object of index 0 and size 0 loops forever, and a size
// beyond the collection reads past it. Variable-length strings (Keras's model_config)
// live in these collections, so every collection in the file is checked here first
// (by its "GCOL" signature; the layout is the HDF5 format's, section III.E) and such a
// file is refused as corrupt. Returns the offset of the first bad collection, if any.
std::optional<size_t> find_corrupt_global_heap(std::string_view file) {
  // The superblock (at 0, 512, 1024, ...) gives the width of lengths; h5py writes 8.
  size_t length_width = 8;
  constexpr std::string_view kSuperblock("\x89HDF\r\n\x1a\n", 8);
  for (size_t at = 0; at + 16 <= file.size(); at = at == 0 ? 512 : at * 2) {
    if (file.substr(at, 8) != kSuperblock) continue;
    const auto version = static_cast<uint8_t>(file[at + 8]);
    length_width = static_cast<uint8_t>(file[at + (version < 2 ? 14 : 10)]);
    break;
  }
  if (length_width == 0 || length_width > 8) return std::nullopt;  // libhdf5 refuses such a file itself
  const auto decode = [&](size_t at, size_t width) {
    uint64_t value = 0;
    for (size_t i = width; i-- > 0;) value = value << 8 | static_cast<uint8_t>(file[at + i]);
    return value;
  };
  const size_t header = 8 + length_width, object_header = 8 + length_width;
  for (size_t start = file.find("GCOL"); start != std::string_view::npos; start = file.find("GCOL", start + 1)) {
    if (start + header > file.size() || static_cast<uint8_t>(file[start + 4]) != 1) continue;
    const uint64_t size = decode(start + 8, length_width);
    if (size < header || size > file.size() - start) continue;  // libhdf5 fails to read it
    for (uint64_t at = header; at + object_header <= size;) {
      const uint64_t index = decode(start + at, 2), object_size = decode(start + at + 8, length_width);
      const uint64_t padded = object_size > size ? size : (object_size + 7) / 8 * 8;
      const uint64_t need = index > 0 ? object_header + padded : object_size;
      if (need == 0 || need > size - at) return start;
      at += need;
    }
  }
  return std::nullopt;
}

}  // namespace

struct Hdf5File::State {
  std::string label;
  Bytes image;  // the file's bytes; HDF5 reads them in place
  hid_t file = -1;
  // Every dataset's path and object address, from one walk of the file: a lookup here
  // and an open by address replace a path traversal per query.
  std::optional<std::unordered_map<std::string, haddr_t>> datasets;
  ~State() {
    if (file >= 0) H5Fclose(file);
  }

  [[noreturn]] void fail(const std::string& message) const { throw ModelError("'" + label + "': " + message); }

  // With the error stack silenced, a missing link anywhere on the path is just "no".
  bool exists(const std::string& path) const { return H5Oexists_by_name(file, path.c_str(), H5P_DEFAULT) > 0; }

  const std::unordered_map<std::string, haddr_t>& dataset_index() {
    if (!datasets) {
      datasets.emplace();
      const auto visit = [](hid_t, const char* name, const H5O_info_t* info, void* out) -> herr_t {
        if (info->type == H5O_TYPE_DATASET) (*static_cast<std::unordered_map<std::string, haddr_t>*>(out))[name] = info->addr;
        return 0;
      };
      if (H5Ovisit2(file, H5_INDEX_NAME, H5_ITER_INC, visit, &*datasets, H5O_INFO_BASIC) < 0) fail("cannot list its datasets");
    }
    return *datasets;
  }

  std::vector<std::string> read_strings(const std::string& object, const std::string& attribute) const {
    Handle attr(H5Aopen_by_name(file, object.c_str(), attribute.c_str(), H5P_DEFAULT, H5P_DEFAULT), H5Aclose);
    if (!attr.ok()) fail("cannot read attribute '" + attribute + "' of '" + object + "'");
    Handle type(H5Aget_type(attr.get()), H5Tclose);
    Handle space(H5Aget_space(attr.get()), H5Sclose);
    const hssize_t count = H5Sget_simple_extent_npoints(space.get());
    if (count < 0) fail("attribute '" + attribute + "' of '" + object + "' has no readable size");
    // h5py stores an empty list (a layer without weights) as an empty float array.
    if (count == 0) return {};
    if (H5Tget_class(type.get()) != H5T_STRING) fail("attribute '" + attribute + "' of '" + object + "' is not text");
    // An attribute's values are stored in the file, each in at least one byte: a count
    // or width beyond the file's size is corruption, refused before allocating for it.
    const size_t width = H5Tget_size(type.get());
    if (static_cast<size_t>(count) > image.size ||
        (H5Tis_variable_str(type.get()) <= 0 && width > image.size / static_cast<size_t>(count))) {
      fail("attribute '" + attribute + "' of '" + object + "' declares more text than the file holds; it is corrupt");
    }
    std::vector<std::string> out;
    if (H5Tis_variable_str(type.get()) > 0) {
      Handle memory(H5Tcopy(H5T_C_S1), H5Tclose);
      H5Tset_size(memory.get(), H5T_VARIABLE);
      H5Tset_cset(memory.get(), H5Tget_cset(type.get()));
      std::vector<char*> values(count, nullptr);
      const herr_t status = H5Aread(attr.get(), memory.get(), values.data());
      if (status >= 0) {
        for (char* v : values) out.emplace_back(v ? v : "");
      }
      // A read that fails part-way has allocated the strings before the failure.
      H5Dvlen_reclaim(memory.get(), space.get(), H5P_DEFAULT, values.data());
      if (status < 0) fail("cannot read attribute '" + attribute + "'");
    } else {
      if (width == 0) fail("attribute '" + attribute + "' of '" + object + "' has text of width 0");
      Handle memory(H5Tcopy(H5T_C_S1), H5Tclose);
      H5Tset_size(memory.get(), width);
      H5Tset_strpad(memory.get(), H5T_STR_NULLPAD);
      std::string buffer(width * count, '\0');
      if (H5Aread(attr.get(), memory.get(), buffer.data()) < 0) fail("cannot read attribute '" + attribute + "'");
      for (hssize_t i = 0; i < count; ++i) {
        std::string value = buffer.substr(i * width, width);
        value.resize(std::strlen(value.c_str()));
        out.push_back(std::move(value));
      }
    }
    return out;
  }
};

Hdf5File::Hdf5File(std::shared_ptr<State> state) : state_(std::move(state)) {}

Hdf5File Hdf5File::open(const std::string& path) { return open_image(read_file_bytes(path), path); }

Hdf5File Hdf5File::open_image(Bytes bytes, const std::string& label) {
  std::lock_guard lock(hdf5_mutex());
  silence_hdf5();
  auto state = std::make_shared<State>();
  state->label = label;
  state->image = std::move(bytes);
  if (const auto heap = find_corrupt_global_heap({state->image.data, state->image.size})) {
    state->fail("its global heap at byte " + std::to_string(*heap) + " is corrupt (an object overruns it or does not advance)");
  }
  if (state->image.size > 0) {
    // DONT_COPY / DONT_RELEASE: HDF5 reads the caller's bytes, which it never writes.
    state->file = H5LTopen_file_image(const_cast<char*>(state->image.data), state->image.size,
                                      H5LT_FILE_IMAGE_DONT_COPY | H5LT_FILE_IMAGE_DONT_RELEASE);
  }
  if (state->file < 0) state->fail("not a readable HDF5 file (truncated or corrupt)");
  return Hdf5File(std::move(state));
}

const std::string& Hdf5File::label() const { return state_->label; }

bool Hdf5File::has(const std::string& path) const {
  std::lock_guard lock(hdf5_mutex());
  return path.empty() || state_->exists(path);
}

bool Hdf5File::has_dataset(const std::string& path) const {
  std::lock_guard lock(hdf5_mutex());
  return state_->dataset_index().count(path) > 0;
}

bool Hdf5File::is_group(const std::string& path) const {
  std::lock_guard lock(hdf5_mutex());
  if (!path.empty() && !state_->exists(path)) return false;
  H5O_info_t info;
  if (H5Oget_info_by_name2(state_->file, path.empty() ? "/" : path.c_str(), &info, H5O_INFO_BASIC, H5P_DEFAULT) < 0) return false;
  return info.type == H5O_TYPE_GROUP;
}

std::vector<std::string> Hdf5File::members(const std::string& group) const {
  std::lock_guard lock(hdf5_mutex());
  Handle g(H5Gopen2(state_->file, group.empty() ? "/" : group.c_str(), H5P_DEFAULT), H5Gclose);
  if (!g.ok()) state_->fail("has no group '" + group + "'");
  H5G_info_t info;
  if (H5Gget_info(g.get(), &info) < 0) state_->fail("cannot list group '" + group + "'");
  std::vector<std::string> names;
  for (hsize_t i = 0; i < info.nlinks; ++i) {
    const ssize_t size = H5Lget_name_by_idx(g.get(), ".", H5_INDEX_NAME, H5_ITER_INC, i, nullptr, 0, H5P_DEFAULT);
    if (size < 0) state_->fail("cannot list group '" + group + "'");
    std::string name(size, '\0');
    H5Lget_name_by_idx(g.get(), ".", H5_INDEX_NAME, H5_ITER_INC, i, name.data(), size + 1, H5P_DEFAULT);
    names.push_back(std::move(name));
  }
  return names;
}

std::vector<std::string> Hdf5File::datasets(const std::string& group) const {
  std::lock_guard lock(hdf5_mutex());
  std::vector<std::string> found;
  for (const auto& [path, address] : state_->dataset_index()) {
    if (path.size() > group.size() && path.compare(0, group.size(), group) == 0 && path[group.size()] == '/') {
      found.push_back(path);
    }
  }
  std::sort(found.begin(), found.end());
  return found;
}

std::optional<std::string> Hdf5File::text(const std::string& object, const std::string& attribute) const {
  std::lock_guard lock(hdf5_mutex());
  const auto path = object.empty() ? std::string("/") : object;
  if (!object.empty() && !state_->exists(object)) return std::nullopt;
  if (H5Aexists_by_name(state_->file, path.c_str(), attribute.c_str(), H5P_DEFAULT) <= 0) return std::nullopt;
  auto values = state_->read_strings(path, attribute);
  if (values.size() != 1) {
    state_->fail("attribute '" + attribute + "' of '" + path + "' holds " + std::to_string(values.size()) +
                 " strings; one was expected");
  }
  return values.front();
}

std::vector<std::string> Hdf5File::texts(const std::string& object, const std::string& attribute) const {
  std::lock_guard lock(hdf5_mutex());
  const auto path = object.empty() ? std::string("/") : object;
  if (!object.empty() && !state_->exists(object)) return {};
  if (H5Aexists_by_name(state_->file, path.c_str(), attribute.c_str(), H5P_DEFAULT) <= 0) return {};
  return state_->read_strings(path, attribute);
}

at::Tensor Hdf5File::read(const std::string& dataset) const {
  std::lock_guard lock(hdf5_mutex());
  const auto& index = state_->dataset_index();
  const auto found = index.find(dataset);
  if (found == index.end()) state_->fail("has no dataset '" + dataset + "'");
  Handle data(H5Oopen_by_addr(state_->file, found->second), H5Oclose);
  if (!data.ok()) state_->fail("cannot open dataset '" + dataset + "'");
  Handle type(H5Dget_type(data.get()), H5Tclose);
  Handle space(H5Dget_space(data.get()), H5Sclose);
  const auto dims = dims_of(space.get());
  const auto count = checked_product(dims);
  // A filter (gzip) stores data in at least 1/1032 of its size: a dataset declaring more
  // values than its stored bytes could hold (or none stored at all) is corrupt, and is
  // refused before anything is allocated for it.
  const uint64_t stored = H5Dget_storage_size(data.get());
  if (!count || (*count > 0 && static_cast<uint64_t>(*count) > stored * kMaxFilterRatio)) {
    state_->fail("dataset '" + dataset + "' declares shape " + shape_string(dims) + " but stores " +
                 std::to_string(stored) + " bytes; the file is corrupt");
  }
  // Contiguous storage has a file offset (chunked, and so filtered, data has none):
  // little-endian float32 there is the tensor's bytes as they are.
  const haddr_t offset = H5Dget_offset(data.get());
  const size_t bytes = static_cast<size_t>(*count) * sizeof(float);
  if (offset != HADDR_UNDEF && offset <= state_->image.size && bytes <= state_->image.size - offset &&
      H5Tequal(type.get(), H5T_IEEE_F32LE) > 0) {
    const char* start = state_->image.data + offset;
    // The file's own bytes, when aligned for floats: the caller's copy is the only one.
    if (reinterpret_cast<uintptr_t>(start) % alignof(float) == 0) {
      auto owner = state_->image.owner;
      return at::from_blob(const_cast<char*>(start), dims, [owner](void*) {}, at::kFloat);
    }
    at::Tensor out = at::empty(dims, at::kFloat);
    std::memcpy(out.data_ptr(), start, bytes);
    return out;
  }
  const auto type_class = H5Tget_class(type.get());
  // Keras 3 stores bfloat16 variables as raw 16-bit values with a dtype attribute.
  bool bfloat16 = false;
  if (type_class != H5T_FLOAT && H5Aexists(data.get(), "dtype") > 0) {
    const auto dtype = state_->read_strings(dataset, "dtype");
    bfloat16 = dtype.size() == 1 && dtype.front() == "bfloat16";
  }
  at::Tensor out = at::empty(dims, at::kFloat);
  herr_t status = -1;
  if (bfloat16 && H5Tget_size(type.get()) == 2) {
    std::vector<uint16_t> raw(out.numel());
    Handle memory(H5Tcopy(type.get()), H5Tclose);
    status = H5Dread(data.get(), memory.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, raw.data());
    auto* values = out.data_ptr<float>();
    for (size_t i = 0; i < raw.size(); ++i) values[i] = bfloat16_to_float(raw[i]);
  } else if (type_class == H5T_FLOAT || type_class == H5T_INTEGER) {
    status = H5Dread(data.get(), H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, out.data_ptr());
  } else {
    state_->fail("dataset '" + dataset + "' does not hold numbers");
  }
  if (status < 0) state_->fail("cannot read dataset '" + dataset + "' (the file may be truncated)");
  return out;
}

}  // namespace lumos::keras
