// The Keras and TF.js front end on arbitrary bytes: the input becomes a model file in a
// private folder, is loaded with Model::load (format told by content, config translated
// to a graph, weights matched) and, if it loads, scored, its layers listed, traced with
// gradients and run from its default layer with scores_given. Any lumos::Error (or an
// allocation that fails) is a clean refusal; a crash, a sanitizer report, another
// exception or a hang is a finding.
//
// Input format (docs/reliability.md, seeds by fuzz/make_seed_corpus.py):
//  - starts with "PK": a Keras 3 .keras archive, written as model.keras;
//  - starts (after white space) with '{': a TF.js layers model. The bytes up to the
//    first NUL are model.json; the bytes after it, if any, are its one weight shard,
//    written as group1-shard1of1.bin (the name tensorflowjs_converter gives it and the
//    seeds' manifests use);
//  - anything else: a Keras 2 .h5 file, written as model.h5.
#include "lumos/error.hpp"
#include "lumos/model.hpp"
#include "model/onnx/op_registry.hpp"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string_view>

namespace {

namespace fs = std::filesystem;

constexpr int64_t kMaxFeedElements = 4096;  // keeps each run fast
constexpr char kShardName[] = "group1-shard1of1.bin";

fs::path& folder() {
  static fs::path path;
  return path;
}

void write(const fs::path& path, std::string_view bytes) {
  std::ofstream file(path, std::ios::binary);
  file.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// Writes the model's files into a fresh folder and returns the model file's path.
fs::path write_model(std::string_view bytes) {
  fs::remove_all(folder());
  fs::create_directory(folder());
  const auto start = bytes.find_first_not_of(" \t\r\n");
  if (start != std::string_view::npos && bytes[start] == '{') {
    const auto end = bytes.find('\0');
    write(folder() / "model.json", bytes.substr(0, end));
    if (end != std::string_view::npos) write(folder() / kShardName, bytes.substr(end + 1));
    return folder() / "model.json";
  }
  const auto path = folder() / (bytes.substr(0, 2) == "PK" ? "model.keras" : "model.h5");
  write(path, bytes);
  return path;
}

void run_model(const fs::path& path) {
  lumos::LoadOptions options;
  options.height = options.width = 8;  // used only if the model leaves them open
  const auto model = lumos::Model::load(path.string(), options);
  const auto& in = model->input();
  if (in.channels < 1 || in.channels * in.height * in.width > kMaxFeedElements) return;
  const auto sizes = in.layout == lumos::Layout::NCHW ? std::vector<int64_t>{3, in.channels, in.height, in.width}
                                                      : std::vector<int64_t>{3, in.height, in.width, in.channels};
  const auto batch = at::rand(sizes);
  model->scores(batch);
  model->layers();
  const auto layer = model->default_layer();
  const auto trace = model->trace(batch, {layer}, true);
  trace.scores.select(1, 0).sum().backward();
  model->scores_given(batch, layer, trace.activations.at(layer).detach() * 0.5);
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  at::set_num_threads(1);
  // As in the ONNX harness: sizes given as data make at most 16M elements per value.
  lumos::onnx::set_max_created_elements(int64_t{1} << 24);
  std::string pattern = (fs::temp_directory_path() / "lumos-keras-fuzz-XXXXXX").string();
  if (!mkdtemp(pattern.data())) std::abort();
  folder() = pattern;
  std::atexit([] { fs::remove_all(folder()); });
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto path = write_model(std::string_view(reinterpret_cast<const char*>(data), size));
  try {
    run_model(path);
  } catch (const lumos::Error&) {
  } catch (const std::bad_alloc&) {
  }
  return 0;
}
