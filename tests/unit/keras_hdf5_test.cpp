// libhdf5 files written here, with the C API, so that the layouts Keras never writes
// (a dataset never written) can be made. Only this file includes hdf5.h.
#include "lumos/error.hpp"
#include "model/keras/hdf5.hpp"
#include "model/keras/zip_archive.hpp"
#include "support/error_of.hpp"

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <hdf5.h>
#include <zip.h>

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

namespace fs = std::filesystem;
using lumos::testing::error_of;

// Sizes an HDF5 file declares are checked against what it stores before anything is
// allocated (a dataset declaring 2^40 values with none stored once asked for 4 TiB).
TEST(KerasHdf5, DatasetsDeclaringMoreThanTheyStoreAreRefused) {
  const auto path = (fs::temp_directory_path() / "lumos_keras_hdf5_sizes.h5").string();
  {
    const hid_t file = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    const hsize_t dims[2] = {hsize_t{1} << 20, hsize_t{1} << 20}, chunk[2] = {1, 1}, small[1] = {4};
    const hid_t space = H5Screate_simple(2, dims, nullptr);
    const hid_t chunked = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_chunk(chunked, 2, chunk);
    H5Dclose(H5Dcreate2(file, "never_written", H5T_IEEE_F32LE, space, H5P_DEFAULT, chunked, H5P_DEFAULT));
    const hid_t small_space = H5Screate_simple(1, small, nullptr);
    const hid_t written = H5Dcreate2(file, "written", H5T_IEEE_F32LE, small_space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    const float values[4] = {1, 2, 3, 4};
    H5Dwrite(written, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, values);
    H5Dclose(written);
    for (const hid_t id : {space, small_space}) H5Sclose(id);
    H5Pclose(chunked);
    H5Fclose(file);
  }
  const auto file = lumos::keras::Hdf5File::open(path);
  EXPECT_TRUE(file.read("written").equal(at::tensor({1.f, 2.f, 3.f, 4.f})));
  const auto message = error_of<lumos::ModelError>([&] { file.read("never_written"); });
  EXPECT_NE(message.find("dataset 'never_written' declares shape [1048576,1048576] but stores 0 bytes"), std::string::npos)
      << message;
}

// A global heap object of index 0 and size 0 made libhdf5 1.10 loop forever reading a
// variable-length string (Keras's model_config lives there): found by the keras_model
// fuzzer. Such a file is refused before libhdf5 reads it; alarm() turns a regression
// into a failure instead of a hung test.
TEST(KerasHdf5, GlobalHeapsThatDoNotAdvanceAreRefused) {
  const auto path = (fs::temp_directory_path() / "lumos_keras_hdf5_heap.h5").string();
  {
    const hid_t file = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    const hid_t type = H5Tcopy(H5T_C_S1);
    H5Tset_size(type, H5T_VARIABLE);
    const hid_t scalar = H5Screate(H5S_SCALAR);
    const hid_t attribute = H5Acreate2(file, "model_config", type, scalar, H5P_DEFAULT, H5P_DEFAULT);
    const char* config = R"({"class_name": "Sequential", "config": {"layers": []}})";
    H5Awrite(attribute, type, &config);
    H5Aclose(attribute);
    H5Sclose(scalar);
    H5Tclose(type);
    H5Fclose(file);
  }
  const auto intact = lumos::keras::Hdf5File::open(path);
  ASSERT_EQ(intact.text("", "model_config").value_or("").substr(0, 14), R"({"class_name":)");

  std::string bytes;
  {
    std::ifstream in(path, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  const auto heap = bytes.find("GCOL");
  ASSERT_NE(heap, std::string::npos);
  std::fill_n(bytes.begin() + heap + 16, 16, '\0');  // the first object: index 0, size 0
  { std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes; }

  alarm(60);
  const auto message = error_of<lumos::ModelError>([&] {
    lumos::keras::Hdf5File::open(path).text("", "model_config");
  });
  alarm(0);
  EXPECT_NE(message.find("global heap at byte " + std::to_string(heap) + " is corrupt"), std::string::npos) << message;
}

// A .keras file's weights are used where they lie in the file's bytes: the zip is read so
// that its stored HDF5 member starts 64-byte aligned, whatever the member's offset (HDF5
// keeps float data 4-byte aligned within its own file; the zip's headers do not).
TEST(KerasHdf5, StoredWeightsInAZipAreReadInPlace) {
  const auto h5_path = (fs::temp_directory_path() / "lumos_keras_in_place.h5").string();
  const auto expected = at::arange(1000, at::kFloat);
  {
    const hid_t file = H5Fcreate(h5_path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    const hsize_t dims[1] = {1000};
    const hid_t space = H5Screate_simple(1, dims, nullptr);
    const hid_t data = H5Dcreate2(file, "w", H5T_IEEE_F32LE, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    H5Dwrite(data, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, expected.data_ptr());
    H5Dclose(data);
    H5Sclose(space);
    H5Fclose(file);
  }
  std::string image;
  {
    std::ifstream in(h5_path, std::ios::binary);
    image.assign(std::istreambuf_iterator<char>(in), {});
  }
  // A first member of 1, 2, 3 or 4 bytes moves the weights' offset in the file by as much.
  for (const std::string first : {"a", "ab", "abc", "abcd"}) {
    const auto path = (fs::temp_directory_path() / ("lumos_keras_in_place_" + first + ".keras")).string();
    {
      int error = 0;
      zip_t* archive = zip_open(path.c_str(), ZIP_CREATE | ZIP_TRUNCATE, &error);
      ASSERT_NE(archive, nullptr);
      // libzip reads the members' bytes when it writes the archive, in zip_close.
      const std::vector<std::pair<std::string, const std::string*>> members{{"metadata.json", &first},
                                                                            {"model.weights.h5", &image}};
      for (const auto& [name, bytes] : members) {
        zip_source_t* source = zip_source_buffer(archive, bytes->data(), bytes->size(), 0);
        const zip_int64_t index = zip_file_add(archive, name.c_str(), source, ZIP_FL_OVERWRITE);
        ASSERT_GE(index, 0);
        zip_set_file_compression(archive, index, ZIP_CM_STORE, 0);
      }
      ASSERT_EQ(zip_close(archive), 0);
    }
    const lumos::keras::ZipArchive zip(path);
    const auto member = zip.read("model.weights.h5");
    EXPECT_EQ(reinterpret_cast<uintptr_t>(member.data) % 64, 0u) << first;
    const auto weights = lumos::keras::Hdf5File::open_image(member, path).read("w");
    EXPECT_TRUE(weights.equal(expected)) << first;
    const auto* start = static_cast<const char*>(weights.data_ptr());
    EXPECT_TRUE(start >= member.data && start < member.data + member.size) << first << ": copied, not read in place";
  }
}
