// Each class of bad input the library must refuse with a clear error instead of
// hanging, reading without bound, crashing or reading outside the model's folder:
// special files, external data that escapes, lying image headers, .npy and tensor sizes
// that overflow, nonsense input shapes. The CLI's side is in cli_test.cpp.
// Images: /usr/bin/python3 tests/fixtures/make_malformed_images.py build/fixtures
#include "lumos/error.hpp"
#include "lumos/file.hpp"
#include "lumos/image.hpp"
#include "lumos/model.hpp"
#include "lumos/npy.hpp"
#include "model/onnx/graph.hpp"
#include "support/error_of.hpp"
#include "support/onnx_builder.hpp"

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>

#include <sys/stat.h>
#include <unistd.h>

#include <csignal>
#include <filesystem>
#include <fstream>

namespace fs = std::filesystem;
using lumos::testing::error_of;
using lumos::testing::OnnxBuilder;

namespace {

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

// A fresh folder per test, removed afterwards; SIGALRM ends a test that hangs.
class Robustness : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("lumos_robustness_" + std::to_string(::getpid()) + "_" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    ::alarm(60);
  }
  void TearDown() override {
    ::alarm(0);
    std::error_code ignored;
    fs::remove_all(dir_, ignored);
  }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }
  std::string written(const std::string& name, const std::string& bytes) const {
    std::ofstream(path(name), std::ios::binary) << bytes;
    return path(name);
  }
  std::string fifo(const std::string& name) const {
    EXPECT_EQ(::mkfifo(path(name).c_str(), 0600), 0);
    return path(name);
  }

  fs::path dir_;
};

// x[N,1,2,2] -> Mul(w) -> GlobalAveragePool -> Flatten: 1 class, with w an initializer
// whose data lives wherever `external` says.
OnnxBuilder with_external_weight(const std::vector<std::pair<std::string, std::string>>& external) {
  OnnxBuilder b;
  b.input("x", {-1, 1, 2, 2}).output("y", {-1, 1});
  auto* w = b.proto().mutable_graph()->add_initializer();
  w->set_name("w");
  w->set_data_type(::onnx::TensorProto::FLOAT);
  for (int d : {1, 1, 2, 2}) w->add_dims(d);
  w->set_data_location(::onnx::TensorProto::EXTERNAL);
  for (const auto& [key, value] : external) {
    auto* entry = w->add_external_data();
    entry->set_key(key);
    entry->set_value(value);
  }
  b.node("Mul", {"x", "w"}, {"m"});
  b.node("GlobalAveragePool", {"m"}, {"p"});
  b.node("Flatten", {"p"}, {"y"});
  return b;
}

const std::string kFourFloats(16, '\0');

std::string malformed_image(const std::string& name) {
  const auto path = fs::path(LUMOS_FIXTURES) / "malformed_images" / name;
  if (!fs::exists(path)) {
    ADD_FAILURE() << "missing " << path << ": run /usr/bin/python3 tests/fixtures/make_malformed_images.py "
                  << LUMOS_FIXTURES;
  }
  return path.string();
}

}  // namespace

TEST_F(Robustness, SpecialFilesAreRefusedWithoutWaiting) {
  const auto pipe = fifo("model.onnx");
  for (const auto& [kind, load] : std::vector<std::pair<std::string, std::function<void(const std::string&)>>>{
           {"model file", [](const std::string& p) { lumos::Model::load(p); }},
           {"image", [](const std::string& p) { lumos::Image::load(p); }},
           {".npy file", [](const std::string& p) { lumos::read_npy(p); }}}) {
    for (const auto& [file, what] : {std::pair{pipe, "is a FIFO (named pipe)"}, std::pair{std::string("/dev/zero"), "is a device"},
                                     std::pair{dir_.string(), "is a folder"}}) {
      std::string message;
      try {
        load(file);
      } catch (const lumos::Error& e) {
        message = e.what();
      }
      EXPECT_TRUE(contains(message, kind + " '" + file + "' " + what)) << message;
    }
  }
}

TEST_F(Robustness, MissingLoopingAndUnreadableFilesAreNamed) {
  fs::create_symlink(path("loop_b"), path("loop_a"));
  fs::create_symlink(path("loop_a"), path("loop_b"));
  EXPECT_TRUE(contains(error_of<lumos::FileError>([&] { lumos::read_file(path("loop_a"), "labels file", 100); }),
                       "too many symbolic links"));
  EXPECT_TRUE(contains(error_of<lumos::FileError>([&] { lumos::read_file(path("absent"), "labels file", 100); }),
                       "labels file '" + path("absent") + "' does not exist"));
  const auto big = written("big.txt", std::string(101, 'x'));
  EXPECT_TRUE(contains(error_of<lumos::FileError>([&] { lumos::read_file(big, "labels file", 100); }),
                       "is 101 bytes, more than lumos reads (100)"));
  EXPECT_TRUE(contains(error_of<lumos::FileError>([&] { lumos::read_file("", "labels file", 100); }), "empty"));
  if (::geteuid() != 0) {  // root reads anything
    const auto secret = written("secret.txt", "x");
    fs::permissions(secret, fs::perms::none);
    EXPECT_TRUE(contains(error_of<lumos::FileError>([&] { lumos::read_file(secret, "labels file", 100); }),
                         "permission denied"));
  }
}

TEST_F(Robustness, ExternalDataInsideTheModelsFolderIsRead) {
  fs::create_directories(path("weights"));
  written("weights/w.bin", std::string(4, '\0') + std::string("\0\0\x80\x3f", 4) + kFourFloats);  // 1.0f at 4
  with_external_weight({{"location", "weights/w.bin"}, {"offset", "4"}, {"length", "16"}}).save(path("model.onnx"));
  const auto model = lumos::Model::load(path("model.onnx"));
  const auto scores = model->scores(at::ones({1, 1, 2, 2}));
  EXPECT_FLOAT_EQ(scores.item<float>(), 0.25f);  // weights 1, 0, 0, 0 averaged
}

TEST_F(Robustness, ExternalDataCannotEscapeTheModelsFolder) {
  fs::create_directories(path("model"));
  written("outside.bin", kFourFloats);
  fs::create_symlink(path("outside.bin"), path("model/link.bin"));
  fs::create_symlink("/dev/zero", path("model/zero.bin"));
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"/etc/passwd", "is an absolute path"},
      {"../outside.bin", "leaves the folder (..)"},
      {"sub/../../outside.bin", "leaves the folder (..)"},
      {"link.bin", "is a symbolic link to a file outside the folder"},
      {"zero.bin", "is a symbolic link to a file outside the folder"},
      {"", "without a location"},
      {"absent.bin", "cannot find its external data file 'absent.bin'"},
  };
  for (const auto& [location, why] : cases) {
    with_external_weight({{"location", location}}).save(path("model/model.onnx"));
    const auto message = error_of<lumos::ModelError>([&] { lumos::Model::load(path("model/model.onnx")); });
    EXPECT_TRUE(contains(message, why)) << location << ": " << message;
    // Nothing about the other file leaks, not even its size.
    EXPECT_FALSE(contains(message, "bytes")) << message;
  }
}

TEST_F(Robustness, ExternalDataOffsetsAndLengthsAreValidated) {
  written("w.bin", kFourFloats);
  const std::vector<std::pair<std::vector<std::pair<std::string, std::string>>, std::string>> cases = {
      {{{"offset", "abc"}}, "offset 'abc' is not a whole number"},
      {{{"offset", "-4"}}, "offset '-4' is not a whole number"},
      {{{"offset", "1e3"}}, "offset '1e3' is not a whole number"},
      {{{"length", "99999999999999999999"}}, "length '99999999999999999999' is not a whole number"},
      {{{"offset", "9223372036854775807"}, {"length", "16"}}, "shorter than the offset and length"},
      {{{"offset", "8"}, {"length", "16"}}, "shorter than the offset and length"},
      {{{"length", "8"}}, "has 8 bytes of external data but its shape needs 16"},
      {{{"offset", "4"}}, "has 12 bytes of external data but its shape needs 16"},
  };
  for (const auto& [entries, why] : cases) {
    auto external = entries;
    external.emplace_back("location", "w.bin");
    with_external_weight(external).save(path("model.onnx"));
    const auto message = error_of<lumos::ModelError>([&] { lumos::Model::load(path("model.onnx")); });
    EXPECT_TRUE(contains(message, why)) << message;
  }
  // A FIFO or a folder as the data file is refused at once.
  fifo("pipe.bin");
  fs::create_directories(path("weights.bin"));
  for (const auto& [location, what] : {std::pair{"pipe.bin", "is a FIFO"}, std::pair{"weights.bin", "is a folder"},
                                       std::pair{".", "is a folder"}}) {
    with_external_weight({{"location", location}}).save(path("model.onnx"));
    const auto message = error_of<lumos::ModelError>([&] { lumos::Model::load(path("model.onnx")); });
    EXPECT_TRUE(contains(message, "external data file '")) << message;
    EXPECT_TRUE(contains(message, what)) << location << ": " << message;
  }
}

// A model that did not come from a file has no folder to read external data from.
TEST_F(Robustness, ExternalDataNeedsAModelFile) {
  const auto message = error_of<lumos::ModelError>([&] { lumos::onnx::Graph(with_external_weight({{"location", "w.bin"}}).proto(), ""); });
  EXPECT_TRUE(contains(message, "only a model loaded from a file")) << message;
}

TEST_F(Robustness, TensorShapesThatOverflowOrGoNegativeAreModelErrors) {
  for (const auto& dims : std::vector<std::vector<int64_t>>{{-1, 4}, {int64_t{1} << 40, int64_t{1} << 40}, {INT64_MAX, 2}}) {
    OnnxBuilder b;
    b.input("x", {-1, 1, 2, 2}).output("y", {-1, 1, 2, 2});
    auto* w = b.proto().mutable_graph()->add_initializer();
    w->set_name("w");
    w->set_data_type(::onnx::TensorProto::FLOAT);
    for (auto d : dims) w->add_dims(d);
    w->set_raw_data(std::string(16, '\0'));
    b.node("Mul", {"x", "w"}, {"y"});
    b.save(path("model.onnx"));
    const auto message = error_of<lumos::ModelError>([&] { lumos::Model::load(path("model.onnx")); });
    EXPECT_TRUE(contains(message, "tensor 'w'")) << message;
  }
}

TEST_F(Robustness, InputShapesNoImageHasAreModelErrors) {
  for (const auto& dims : std::vector<std::vector<int64_t>>{{1, 3, 0, 8}, {1, 3, 100000, 8}, {100000, 3, 8, 8}}) {
    OnnxBuilder b;
    b.input("x", dims).output("y", {-1, 3});
    b.node("GlobalAveragePool", {"x"}, {"p"});
    b.node("Flatten", {"p"}, {"y"});
    b.save(path("model.onnx"));
    const auto message = error_of<lumos::ModelError>([&] { lumos::Model::load(path("model.onnx")); });
    EXPECT_TRUE(contains(message, "which no image batch has")) << message;
  }
}

// An output declared without a shape is checked when it runs: a feature map or an integer
// output is not class scores (once flattened into "classes" without a word); [N, classes, 1, 1] is.
TEST_F(Robustness, OutputsThatAreNotClassScoresAreCaughtWhenTheyRun) {
  const auto batch = at::rand({2, 3, 4, 4});
  const auto load = [&](const std::string& op) {
    OnnxBuilder b;
    b.input("x", {-1, 3, 4, 4}).output("y", {});
    b.node(op, {"x"}, {"y"});
    b.save(path(op + ".onnx"));
    return lumos::Model::load(path(op + ".onnx"));
  };
  auto message = error_of<lumos::ModelError>([&] { load("Relu")->scores(batch); });
  EXPECT_TRUE(contains(message, "returns scores of shape [2,3,4,4]; an image classifier returns [N, classes]"))
      << message;
  message = error_of<lumos::ModelError>([&] { load("ArgMax")->scores(batch); });
  EXPECT_TRUE(contains(message, "returns Long values of shape [1,3,4,4]")) << message;
  const auto pooled = load("GlobalAveragePool")->scores(batch);
  EXPECT_EQ(pooled.sizes(), (std::vector<int64_t>{2, 3}));
  EXPECT_TRUE(at::allclose(pooled, batch.mean({2, 3})));
}

TEST_F(Robustness, GraphsThatAreNotSsaAreModelErrors) {
  OnnxBuilder b;
  b.input("x", {-1, 3, 2, 2}).output("y", {-1, 3, 2, 2});
  b.node("Relu", {"x"}, {"y"});
  b.node("Sigmoid", {"x"}, {"y"});
  b.save(path("model.onnx"));
  EXPECT_TRUE(contains(error_of<lumos::ModelError>([&] { lumos::Model::load(path("model.onnx")); }),
                       "value 'y' is made by more than one node"));
}

TEST_F(Robustness, LyingImageHeadersAreRefusedBeforeDecoding) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"huge.jpg", "is 19000x19000 pixels, more than lumos's limit of 178 megapixels"},
      {"huge.bmp", "is 100000x100000 pixels"},
      {"huge.tif", "is 100000x100000 pixels"},
      {"huge.webp", "is 16383x16383 pixels"},
      {"huge_canvas.webp", "is 20000x20000 pixels"},
      {"huge.ppm", "is 100000x100000 pixels"},
      {"bomb.jpg", "cannot hold 12000x12000 pixels"},
      {"bomb.png", "cannot hold 12000x12000 pixels"},
      {"zero_size.png", "its size is 0"},
      {"text.ppm", "no width and height"},
  };
  for (const auto& [name, why] : cases) {
    const auto message = error_of<lumos::ImageError>([&] { lumos::Image::load(malformed_image(name)); });
    EXPECT_TRUE(contains(message, why)) << name << ": " << message;
  }
}

// What libpng and libjpeg print about a broken file becomes part of lumos's message.
TEST_F(Robustness, DecoderMessagesAreCapturedIntoTheError) {
  auto message = error_of<lumos::ImageError>([&] { lumos::Image::load(malformed_image("corrupt_scan.jpg")); });
  EXPECT_TRUE(contains(message, "not a valid JPEG file (Corrupt JPEG data")) << message;
  message = error_of<lumos::ImageError>([&] { lumos::Image::load(malformed_image("bad_crc.png")); });
  EXPECT_TRUE(contains(message, "(libpng error: IDAT: CRC error)")) << message;
  for (const auto* name : {"tiny.jpg", "tiny.png", "tiny.bmp", "tiny.tif", "tiny.webp", "tiny.ppm"}) {
    EXPECT_EQ(lumos::Image::load(malformed_image(name)).size(), cv::Size(4, 3)) << name;
  }
}

TEST_F(Robustness, NpySizesAreCheckedBeforeAllocating) {
  const auto npy = [](const std::string& dict, const std::string& data) {
    std::string header = dict;
    header.resize(118, ' ');
    header += '\n';
    return std::string("\x93NUMPY\x01\x00", 8) + std::string(1, static_cast<char>(header.size())) + '\0' + header + data;
  };
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (1099511627776, 1099511627776), }", "needs more than fit"},
      {"{'descr': '<f8', 'fortran_order': False, 'shape': (4611686018427387904, 4), }", "needs more than fit"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (100000000000,), }", "needs 400000000000"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,), }", "expected an integer"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (-3,), }", "negative dimension"},
  };
  for (const auto& [dict, why] : cases) {
    const auto message = error_of<lumos::InputError>([&] { lumos::parse_npy(npy(dict, std::string(8, '\0')), "x.npy"); });
    EXPECT_TRUE(contains(message, why)) << message;
  }
  // A header length beyond the file, or a header far beyond what numpy writes.
  auto message = error_of<lumos::InputError>(
      [&] { lumos::parse_npy(std::string("\x93NUMPY\x02\x00\xff\xff\xff\x7f{}", 14), "x.npy"); });
  EXPECT_TRUE(contains(message, "truncated inside its .npy header")) << message;
  message = error_of<lumos::InputError>([&] {
    lumos::parse_npy(std::string("\x93NUMPY\x02\x00\x00\x00\x20\x00", 12) + std::string(1 << 21, ' '), "x.npy");
  });
  EXPECT_TRUE(contains(message, "has a .npy header of 2097152 bytes")) << message;
}

namespace {

// One `op` node whose inputs are initializers holding `inputs` (float32 or int64).
::onnx::ModelProto op_on(const std::string& op, const std::vector<at::Tensor>& inputs, int opset = 13) {
  ::onnx::ModelProto model;
  model.set_ir_version(8);
  model.add_opset_import()->set_version(opset);
  auto* graph = model.mutable_graph();
  auto* node = graph->add_node();
  node->set_op_type(op);
  node->set_name("probe");
  for (size_t i = 0; i < inputs.size(); ++i) {
    const auto t = inputs[i].contiguous();
    auto* init = graph->add_initializer();
    init->set_name("in" + std::to_string(i));
    init->set_data_type(t.scalar_type() == at::kLong ? ::onnx::TensorProto::INT64 : ::onnx::TensorProto::FLOAT);
    for (auto d : t.sizes()) init->add_dims(d);
    init->set_raw_data(std::string(static_cast<const char*>(t.data_ptr()), t.numel() * t.element_size()));
    node->add_input(init->name());
  }
  node->add_output("y");
  graph->add_output()->set_name("y");
  return model;
}

std::string run_error(const ::onnx::ModelProto& model) {
  return error_of<lumos::ModelError>([&] {
    const lumos::onnx::Graph graph(model, "");
    graph.run({}, {graph.slot("y")});
  });
}

at::Tensor longs(std::vector<int64_t> values) { return at::tensor(values, at::kLong); }

}  // namespace

// Sizes that are numbers in the file (not tensors that exist) are checked before anything
// is allocated or converted; each case once overflowed, converted NaN to an integer, or
// asked for terabytes.
TEST_F(Robustness, SizesGivenAsDataAreCheckedFirst) {
  const auto x = at::rand({1, 3, 4, 4});
  const int64_t huge = int64_t{1} << 40;
  const std::vector<std::pair<::onnx::ModelProto, std::string>> cases = {
      {op_on("ConstantOfShape", {longs({huge, huge})}), "ConstantOfShape would make a tensor of shape"},
      {op_on("ConstantOfShape", {longs({-1, 4})}), "not a valid size"},
      {op_on("Expand", {x, longs({huge, 3, 4, 4})}), "Expand would make"},
      {op_on("Tile", {x, longs({1, huge, huge, 1})}), "Tile would make"},
      {op_on("Tile", {x, longs({1, INT64_MAX, 1, 1})}), "not a count of copies"},
      {op_on("Tile", {x, longs({1, 1, 1 << 20, 1 << 20})}), "Tile would make"},
      {op_on("Range", {at::scalar_tensor(0.f), at::scalar_tensor(1.f), at::scalar_tensor(0.f)}), "values (at most"},
      {op_on("Range", {at::scalar_tensor(0.f), at::scalar_tensor(1e30f), at::scalar_tensor(1.f)}), "values (at most"},
      {op_on("Pad", {x, longs({0, 0, INT64_MAX, 0, 0, 0, INT64_MAX, 0})}), "are not sizes"},
      {op_on("Pad", {x, longs({0, 0, huge, 0, 0, 0, huge, 0})}), "Pad would make"},
      {op_on("Resize", {x, at::zeros({0}), at::zeros({0}), longs({1, 3, 1 << 23, 1 << 23})}), "Resize would make"},
      // Axes are resampled one at a time: the tensor made on the way counts, not only the
      // output (a campaign's slowest input resized a short axis to a long one first).
      {op_on("Resize", {at::rand({1, 3, 64, 64}), at::zeros({0}), at::zeros({0}), longs({1, 3, 1, 1 << 24})}),
       "Resize would make a tensor of shape [1,3,64,16777216]"},
      {op_on("Resize", {x, at::zeros({0}), at::tensor({1.f, 1.f, INFINITY, 1.f})}), "scales must be positive"},
      {op_on("Resize", {x, at::zeros({0}), at::tensor({1.f, 1.f, NAN, 1.f})}), "scales must be positive"},
      {op_on("Resize", {x, at::zeros({0}), at::tensor({1.f, 1.f, 1e30f, 1.f})}), "entries per axis"},
  };
  for (const auto& [model, why] : cases) {
    const auto message = run_error(model);
    EXPECT_TRUE(contains(message, why)) << model.graph().node(0).op_type() << ": " << message;
  }
  // The most negative step once overflowed when negated; it now takes every entry backwards.
  const auto model = op_on("Slice", {x, longs({3}), longs({INT64_MIN}), longs({3}), longs({INT64_MIN})});
  const lumos::onnx::Graph graph(model, "");
  EXPECT_EQ(graph.run({}, {graph.slot("y")}).front().size(3), 1);
}
