// libhdf5 files written here, with the C API, so that the layouts Keras never writes
// (a dataset never written) can be made. Only this file includes hdf5.h.
#include "lumos/error.hpp"
#include "model/keras/hdf5.hpp"
#include "support/error_of.hpp"

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <hdf5.h>

#include <filesystem>

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
