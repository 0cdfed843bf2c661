// Forward time per image of an ONNX classifier on lumos, timed runs after warm-up.
// Usage: forward_bench [--threads N] [--runs N] [--warmup N] [--profile] [--as-written] [--plan LEVEL] MODEL.onnx
//                      BATCH...
// Prints one line per batch size: "<batch> <ms per image of each timed run...>".
// --as-written times the graph as the file has it (a trace without gradients) instead of
// Model::scores, which runs the inference plan (BatchNormalization folded into convolutions).
// --plan limits the inference plan Model::scores runs (default: all it does for the model):
// folded (BatchNormalization folded, NCHW memory), channels-last (and the batch in
// channels-last memory, which ATen's convolutions keep through the network), packed (and
// the convolutions on oneDNN with weights packed once, ReLU fused) or blocked (and runs of
// regular convolutions on oneDNN's blocked tensors where the model has them: the default).
// Several levels, comma-separated (--plan packed,blocked), alternate run by run in one
// process (one warm-up each first), so a shared machine's load falls on each alike; each
// batch size then prints one line per level: "<batch> <level> <ms per image...>".
// --profile prints instead, per batch size, the time spent in each top-level ATen op over the
// timed runs (pytorch_forward.py --profile prints the same for PyTorch).
#include "lumos/model.hpp"
#include "lumos/runtime.hpp"
#include "model/onnx/onnx_model.hpp"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <ATen/record_function.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

namespace {

struct Options {
  int threads = 2;
  int runs = 7;
  int warmup = 2;
  bool profile = false;
  bool as_written = false;
  std::vector<std::pair<std::string, lumos::onnx::InferencePlan>> plans;  // empty: the model's whole plan
  std::string model;
  std::vector<int64_t> batches;
};

[[noreturn]] void usage() {
  std::cerr << "usage: forward_bench [--threads N] [--runs N] [--warmup N] [--profile] [--as-written] "
               "[--plan folded|channels-last|packed|blocked[,...]] MODEL.onnx BATCH...\n";
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
    } else if (arg == "--profile") {
      options.profile = true;
    } else if (arg == "--as-written") {
      options.as_written = true;
    } else if (arg == "--plan") {
      if (i + 1 >= argc) usage();
      const std::map<std::string, lumos::onnx::InferencePlan> levels = {
          {"folded", lumos::onnx::InferencePlan::folded},
          {"channels-last", lumos::onnx::InferencePlan::channels_last},
          {"packed", lumos::onnx::InferencePlan::packed},
          {"blocked", lumos::onnx::InferencePlan::blocked}};
      std::stringstream list(argv[++i]);
      for (std::string level; std::getline(list, level, ',');) {
        const auto found = levels.find(level);
        if (found == levels.end()) usage();
        options.plans.emplace_back(*found);
      }
    } else {
      positional.push_back(arg);
    }
  }
  if (positional.size() < 2 || options.runs < 1) usage();
  options.model = positional[0];
  for (size_t i = 1; i < positional.size(); ++i) options.batches.push_back(std::stoll(positional[i]));
  return options;
}

// Wall time per top-level ATen op (ops called from inside other ops are part of their caller).
class OpProfile {
 public:
  OpProfile() {
    handle_ = at::addGlobalCallback(at::RecordFunctionCallback(&OpProfile::enter, &OpProfile::leave)
                                        .scopes({at::RecordScope::FUNCTION})
                                        .needsInputs(false));
  }
  ~OpProfile() { at::removeCallback(handle_); }
  OpProfile(const OpProfile&) = delete;
  OpProfile& operator=(const OpProfile&) = delete;

  static void start() { totals().clear(); }
  static void print(int64_t batch, int runs) {
    std::vector<std::pair<double, std::string>> rows;
    double sum = 0;
    for (const auto& [name, entry] : totals()) {
      rows.emplace_back(entry.first, name);
      sum += entry.first;
    }
    std::sort(rows.rbegin(), rows.rend());
    std::printf("batch %lld: top-level ATen ops, ms per image (calls per run)\n", static_cast<long long>(batch));
    for (const auto& [ms, name] : rows) {
      std::printf("  %-40s %9.3f  (%lld)\n", name.c_str(), ms / runs / batch,
                  static_cast<long long>(totals()[name].second / runs));
    }
    std::printf("  %-40s %9.3f\n", "total", sum / runs / batch);
  }

 private:
  using Clock = std::chrono::steady_clock;
  static std::map<std::string, std::pair<double, int64_t>>& totals() {
    static std::map<std::string, std::pair<double, int64_t>> table;
    return table;
  }
  static thread_local int depth_;
  static thread_local Clock::time_point started_;

  static std::unique_ptr<at::ObserverContext> enter(const at::RecordFunction&) {
    if (depth_++ == 0) started_ = Clock::now();
    return nullptr;
  }
  static void leave(const at::RecordFunction& fn, at::ObserverContext*) {
    if (--depth_ != 0) return;
    const std::chrono::duration<double, std::milli> elapsed = Clock::now() - started_;
    auto& entry = totals()[fn.name()];
    entry.first += elapsed.count();
    ++entry.second;
  }

  at::CallbackHandle handle_;
};
thread_local int OpProfile::depth_ = 0;
thread_local OpProfile::Clock::time_point OpProfile::started_;

}  // namespace

int main(int argc, char** argv) {
  const auto options = parse(argc, argv);
  lumos::keep_freed_memory();
  at::set_num_threads(options.threads);
  const auto model = lumos::Model::load(options.model);
  // The plans timed in turn; none given: the model's own.
  std::vector<std::pair<std::string, std::optional<lumos::onnx::InferencePlan>>> plans(options.plans.begin(),
                                                                                       options.plans.end());
  if (plans.empty()) plans.emplace_back("", std::nullopt);
  if (plans.size() > 1 && options.profile) usage();
  const auto& spec = model->input();
  for (const auto batch : options.batches) {
    const auto shape = spec.layout == lumos::Layout::NCHW
                           ? std::vector<int64_t>{batch, spec.channels, spec.height, spec.width}
                           : std::vector<int64_t>{batch, spec.height, spec.width, spec.channels};
    at::manual_seed(0);
    auto input = at::randn(shape);
    std::vector<std::vector<double>> ms_per_image(plans.size());
    std::unique_ptr<OpProfile> profile;
    for (int run = 0; run < options.warmup + options.runs; ++run) {
      if (options.profile && run == options.warmup) {
        profile = std::make_unique<OpProfile>();
        OpProfile::start();
      }
      for (size_t p = 0; p < plans.size(); ++p) {
        if (plans[p].second) dynamic_cast<lumos::onnx::OnnxModel&>(*model).limit_inference_plan(*plans[p].second);
        const auto start = std::chrono::steady_clock::now();
        const auto scores = options.as_written ? model->trace(input, {}, false).scores : model->scores(input);
        const std::chrono::duration<double, std::milli> elapsed = std::chrono::steady_clock::now() - start;
        if (run >= options.warmup) ms_per_image[p].push_back(elapsed.count() / batch);
      }
    }
    if (profile) {
      OpProfile::print(batch, options.runs);
      continue;
    }
    for (size_t p = 0; p < plans.size(); ++p) {
      std::printf("%lld", static_cast<long long>(batch));
      if (plans.size() > 1) std::printf(" %s", plans[p].first.c_str());
      for (const double ms : ms_per_image[p]) std::printf(" %.3f", ms);
      std::printf("\n");
    }
    std::fflush(stdout);
  }
}
