#include "lumos/error.hpp"
#include "lumos/npy.hpp"

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>

namespace fs = std::filesystem;

namespace {

// Files written by numpy 1.24 (np.save; the int64 one by np.lib.format.write_array(version=(2, 0))).
// np.array([[1.5, -2, 3.25], [0, 1e-3, -7]], dtype='<f4')
const std::string kNumpyFloat32(
    "\x93NUMPY\x01\x00v\x00{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }               "
    "                                           \x0a\x00\x00\xc0?\x00\x00\x00\xc0\x00\x00P@\x00\x00"
    "\x00\x00o\x12\x83:\x00\x00\xe0\xc0",
    152);
// np.array([1, -2, 3**30], dtype='<i8'), format 2.0
const std::string kNumpyInt64V2(
    "\x93NUMPY\x02\x00t\x00\x00\x00{'descr': '<i8', 'fortran_order': False, 'shape': (3,), }         "
    "                                                 \x0a\x01\x00\x00\x00\x00\x00\x00\x00\xfe\xff"
    "\xff\xff\xff\xff\xff\xff\xb9x\xca\xc3"
    "A\xbb\x00\x00",
    152);
// np.array([True, False, True])
const std::string kNumpyBool(
    "\x93NUMPY\x01\x00v\x00{'descr': '|b1', 'fortran_order': False, 'shape': (3,), }                 "
    "                                           \x0a\x01\x00\x01",
    131);
// np.array(7, dtype=np.uint8), a 0-d array
const std::string kNumpyScalarUint8(
    "\x93NUMPY\x01\x00v\x00{'descr': '|u1', 'fortran_order': False, 'shape': (), }                   "
    "                                           \x0a\x07",
    129);

class Npy : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("lumos_npy_test_" + std::to_string(::getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string file_with(const std::string& name, const std::string& bytes) const {
    const auto path = (dir_ / name).string();
    std::ofstream(path, std::ios::binary) << bytes;
    return path;
  }
  static std::string bytes_of(const std::string& path) {
    std::ifstream file(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(file), {}};
  }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }

  std::string error_reading(const std::string& bytes) const {
    try {
      lumos::read_npy(file_with("bad.npy", bytes));
    } catch (const lumos::InputError& e) {
      return e.what();
    }
    return "";
  }

  fs::path dir_;
};

void expect_identical(const at::Tensor& a, const at::Tensor& b) {
  EXPECT_EQ(a.scalar_type(), b.scalar_type());
  EXPECT_EQ(a.sizes(), b.sizes());
  EXPECT_TRUE(at::equal(a, b)) << a << "\nvs\n" << b;
}

}  // namespace

TEST_F(Npy, ReadsFloat32WrittenByNumpy) {
  auto t = lumos::read_npy(file_with("f4.npy", kNumpyFloat32));
  expect_identical(t, at::tensor({1.5f, -2.f, 3.25f, 0.f, 1e-3f, -7.f}).view({2, 3}));
}

TEST_F(Npy, ReadsVersion2Int64WrittenByNumpy) {
  auto t = lumos::read_npy(file_with("i8.npy", kNumpyInt64V2));
  expect_identical(t, at::tensor(std::vector<int64_t>{1, -2, 205891132094649}));
}

TEST_F(Npy, ReadsBoolAndScalarWrittenByNumpy) {
  expect_identical(lumos::read_npy(file_with("b.npy", kNumpyBool)), at::tensor({1, 0, 1}).to(at::kBool));
  auto scalar = lumos::read_npy(file_with("u1.npy", kNumpyScalarUint8));
  expect_identical(scalar, at::scalar_tensor(7, at::kByte));
  EXPECT_EQ(scalar.dim(), 0);
}

TEST_F(Npy, WritesTheBytesNumpyWrites) {
  lumos::write_npy(path("f4.npy"), at::tensor({1.5f, -2.f, 3.25f, 0.f, 1e-3f, -7.f}).view({2, 3}));
  EXPECT_EQ(bytes_of(path("f4.npy")), kNumpyFloat32);
  lumos::write_npy(path("b.npy"), at::tensor({1, 0, 1}).to(at::kBool));
  EXPECT_EQ(bytes_of(path("b.npy")), kNumpyBool);
  lumos::write_npy(path("u1.npy"), at::scalar_tensor(7, at::kByte));
  EXPECT_EQ(bytes_of(path("u1.npy")), kNumpyScalarUint8);
}

TEST_F(Npy, RoundTripsEverySupportedDtype) {
  const auto values = at::randn({2, 3, 4, 5}, at::TensorOptions().dtype(at::kDouble)) * 100;
  for (auto type : {at::kFloat, at::kDouble, at::kLong, at::kInt, at::kByte, at::kBool}) {
    SCOPED_TRACE(c10::toString(type));
    const auto t = values.to(type);
    lumos::write_npy(path("t.npy"), t);
    expect_identical(lumos::read_npy(path("t.npy")), t);
  }
}

TEST_F(Npy, WritesNonContiguousTensorsInLogicalOrder) {
  const auto t = at::arange(24, at::kFloat).view({2, 3, 4}).permute({2, 0, 1});
  lumos::write_npy(path("p.npy"), t);
  expect_identical(lumos::read_npy(path("p.npy")), t.contiguous());
}

TEST_F(Npy, RoundTripsEmptyAndLargeHeaderShapes) {
  lumos::write_npy(path("e.npy"), at::zeros({0, 3}));
  expect_identical(lumos::read_npy(path("e.npy")), at::zeros({0, 3}));
  // A header longer than 65535 bytes needs format 2.0.
  std::vector<int64_t> many_dims(25000, 1);
  const auto t = at::ones(many_dims, at::kByte);
  lumos::write_npy(path("deep.npy"), t);
  EXPECT_EQ(bytes_of(path("deep.npy"))[6], '\x02');
  expect_identical(lumos::read_npy(path("deep.npy")), t);
}

TEST_F(Npy, WriteReplacesTheFileAndLeavesNoTemporary) {
  lumos::write_npy(path("r.npy"), at::ones({4}));
  lumos::write_npy(path("r.npy"), at::zeros({2}));
  expect_identical(lumos::read_npy(path("r.npy")), at::zeros({2}));
  EXPECT_EQ(std::distance(fs::directory_iterator(dir_), fs::directory_iterator{}), 1);
}

TEST_F(Npy, WriteFailureNamesThePathAndLeavesNoFile) {
  try {
    lumos::write_npy(path("missing_dir/x.npy"), at::ones({1}));
    FAIL() << "expected lumos::Error";
  } catch (const lumos::Error& e) {
    EXPECT_NE(std::string(e.what()).find("missing_dir/x.npy"), std::string::npos) << e.what();
  }
  try {
    lumos::write_npy(path("c.npy"), at::ones({1}, at::kComplexFloat));
    FAIL() << "expected InputError";
  } catch (const lumos::InputError& e) {
    EXPECT_NE(std::string(e.what()).find("dtype"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(fs::exists(path("c.npy")));
  EXPECT_EQ(std::distance(fs::directory_iterator(dir_), fs::directory_iterator{}), 0);
}

TEST_F(Npy, RejectsBadFilesWithAClearMessage) {
  auto expect_error = [&](const std::string& bytes, const std::string& fragment) {
    const auto msg = error_reading(bytes);
    EXPECT_NE(msg.find(fragment), std::string::npos) << "message: '" << msg << "'";
  };
  expect_error("just some text, not an array", "not a .npy file");
  expect_error("", "not a .npy file");
  expect_error(kNumpyFloat32.substr(0, 40), "truncated");
  expect_error(kNumpyFloat32.substr(0, kNumpyFloat32.size() - 3), "truncated");
  expect_error(kNumpyFloat32 + "xx", "corrupt");

  auto with_header_field = [](std::string bytes, const std::string& from, const std::string& to) {
    bytes.replace(bytes.find(from), from.size(), to);
    return bytes;
  };
  expect_error(with_header_field(kNumpyFloat32, "'<f4'", "'>f4'"), "big-endian");
  expect_error(with_header_field(kNumpyFloat32, "'<f4'", "'<c8'"), "unsupported dtype '<c8'");
  expect_error(with_header_field(kNumpyFloat32, "False", "True "), "Fortran order");
  expect_error(with_header_field(kNumpyFloat32, "(2, 3)", "(2, x)"), "bad header");
  expect_error(with_header_field(kNumpyFloat32, "'shape'", "'shope'"), "bad header");
  expect_error(with_header_field(kNumpyFloat32, "NUMPY\x01", std::string("NUMPY\x03", 6)), "version 3.0");
  expect_error(with_header_field(kNumpyBool, std::string("\x0a\x01\x00", 3), std::string("\x0a\x01\x05", 3)),
               "neither 0 nor 1");

  try {
    lumos::read_npy(path("does_not_exist.npy"));
    FAIL() << "expected InputError";
  } catch (const lumos::InputError& e) {
    EXPECT_NE(std::string(e.what()).find("does_not_exist.npy"), std::string::npos) << e.what();
  }
}
