// Forward time per image of an ONNX classifier on lumos, timed runs after warm-up.
// Usage: forward_bench [--threads N] [--runs N] [--warmup N] MODEL.onnx BATCH...
// Prints one line per batch size: "<batch> <ms per image of each timed run...>".
#include "lumos/model.hpp"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <chrono>
#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

namespace {

struct Options {
  int threads = 2;
  int runs = 7;
  int warmup = 2;
  std::string model;
  std::vector<int64_t> batches;
};

[[noreturn]] void usage() {
  std::cerr << "usage: forward_bench [--threads N] [--runs N] [--warmup N] MODEL.onnx BATCH...\n";
  std::exit(2);
}

Options parse(int argc, char** argv) {
  Options options;
  std::vector<std::string> positional;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&] {
      if (i + 1 >= argc) usage();
      return std::stoi(argv[++i]);
    };
    if (arg == "--threads") {
      options.threads = value();
    } else if (arg == "--runs") {
      options.runs = value();
    } else if (arg == "--warmup") {
      options.warmup = value();
    } else {
      positional.push_back(arg);
    }
  }
  if (positional.size() < 2 || options.runs < 1) usage();
  options.model = positional[0];
  for (size_t i = 1; i < positional.size(); ++i) options.batches.push_back(std::stoll(positional[i]));
  return options;
}

}  // namespace

int main(int argc, char** argv) {
  const auto options = parse(argc, argv);
  at::set_num_threads(options.threads);
  const auto model = lumos::Model::load(options.model);
  const auto& spec = model->input();
  for (const auto batch : options.batches) {
    const auto shape = spec.layout == lumos::Layout::NCHW
                           ? std::vector<int64_t>{batch, spec.channels, spec.height, spec.width}
                           : std::vector<int64_t>{batch, spec.height, spec.width, spec.channels};
    at::manual_seed(0);
    const auto input = at::randn(shape);
    std::vector<double> ms_per_image;
    for (int run = 0; run < options.warmup + options.runs; ++run) {
      const auto start = std::chrono::steady_clock::now();
      const auto scores = model->scores(input);
      const std::chrono::duration<double, std::milli> elapsed = std::chrono::steady_clock::now() - start;
      if (run >= options.warmup) ms_per_image.push_back(elapsed.count() / batch);
    }
    std::printf("%lld", static_cast<long long>(batch));
    for (const double ms : ms_per_image) std::printf(" %.3f", ms);
    std::printf("\n");
    std::fflush(stdout);
  }
}
