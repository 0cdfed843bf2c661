// A Keras model runs on the same engine as ONNX: load, forward and Grad-CAM of a .keras
// file beside the same network as an .onnx file (written from the graph the Keras front
// end builds, weights as initializers), in one run.
// Usage: keras_bench [--threads N] [--rounds N] MODEL.keras...
// Each round times, with each file back to back: a load in a fresh process (as the CLI
// loads a model once; in one process, later loads reuse the memory earlier ones freed),
// a batch-1 forward and a Grad-CAM; it takes the .keras/.onnx ratio within the round (the
// shared machine has slow phases) and prints a Markdown table of medians over the rounds
// after one warm-up round.
#include "lumos/cam.hpp"
#include "lumos/model.hpp"
#include "lumos/runtime.hpp"
#include "bench_common.hpp"
#include "model/keras/load.hpp"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <iostream>
#include <string>
#include <vector>

namespace {

using bench::elapsed_ms;
using bench::median;

struct Options {
  int threads = 2;
  int rounds = 7;
  std::string load_once;  // internal: load this file, print the milliseconds, exit
  std::vector<std::string> models;
};

[[noreturn]] void usage() {
  std::cerr << "usage: keras_bench [--threads N] [--rounds N] MODEL.keras...\n";
  std::exit(2);
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if ((arg == "--threads" || arg == "--rounds") && i + 1 < argc) {
      (arg == "--threads" ? o.threads : o.rounds) = std::stoi(argv[++i]);
    } else if (arg == "--load-once" && i + 1 < argc) {
      o.load_once = argv[++i];
    } else if (!arg.empty() && arg[0] != '-') {
      o.models.push_back(arg);
    } else {
      usage();
    }
  }
  if ((o.models.empty() && o.load_once.empty()) || o.rounds < 1) usage();
  return o;
}

// Milliseconds to load `path` in a new process of this program (--load-once).
double load_in_fresh_process(const std::string& self, const std::string& path, int threads) {
  const auto command = "'" + self + "' --threads " + std::to_string(threads) + " --load-once '" + path + "'";
  FILE* pipe = popen(command.c_str(), "r");
  double ms = -1;
  if (!pipe || std::fscanf(pipe, "%lf", &ms) != 1 || pclose(pipe) != 0 || ms < 0) {
    std::cerr << "keras_bench: loading " << path << " in a new process failed\n";
    std::exit(1);
  }
  return ms;
}

// One model file's times in one round: load, forward, Grad-CAM (ms).
std::array<double, 3> measure(const std::string& self, int threads, const std::string& path, const at::Tensor& input) {
  const double load = load_in_fresh_process(self, path, threads);
  auto model = lumos::Model::load(path);
  model->scores(input);  // first forward: allocations, oneDNN primitives
  const double forward = elapsed_ms([&] { model->scores(input); });
  lumos::CamExplainer cam(*model, {lumos::CamMethod::gradcam});
  cam.explain(input, {lumos::Target::top(1)});
  const double gradcam = elapsed_ms([&] { cam.explain(input, {lumos::Target::top(1)}); });
  return {load, forward, gradcam};
}

}  // namespace

int main(int argc, char** argv) {
  const auto options = parse(argc, argv);
  lumos::keep_freed_memory();  // as the CLI does
  at::set_num_threads(options.threads);
  if (!options.load_once.empty()) {
    std::printf("%f\n", elapsed_ms([&] { lumos::Model::load(options.load_once); }));
    return 0;
  }
  const auto self = std::filesystem::read_symlink("/proc/self/exe").string();
  std::printf("| model | load .keras | load .onnx | ratio | forward .keras | forward .onnx | ratio | Grad-CAM .keras | "
              "Grad-CAM .onnx | ratio |\n|---|---|---|---|---|---|---|---|---|---|\n");
  for (const auto& keras : options.models) {
    const auto onnx = std::filesystem::path(keras).replace_extension(".onnx").string();
    lumos::keras::write_onnx(keras, onnx);
    const auto spec = lumos::Model::load(keras)->input();
    const auto input = at::rand({1, spec.height, spec.width, spec.channels}) * 255;
    std::array<std::vector<double>, 3> keras_ms, onnx_ms, ratios;
    for (int round = 0; round <= options.rounds; ++round) {
      const auto k = measure(self, options.threads, keras, input);
      const auto o = measure(self, options.threads, onnx, input);
      if (round == 0) continue;  // warm-up: page cache, allocator
      for (size_t i = 0; i < 3; ++i) {
        keras_ms[i].push_back(k[i]);
        onnx_ms[i].push_back(o[i]);
        ratios[i].push_back(k[i] / o[i]);
      }
    }
    std::printf("| %s |", std::filesystem::path(keras).parent_path().filename().c_str());
    for (size_t i = 0; i < 3; ++i) {
      std::printf(" %.1f ms | %.1f ms | %.2fx |", median(keras_ms[i]), median(onnx_ms[i]), median(ratios[i]));
    }
    std::printf("\n");
  }
}
