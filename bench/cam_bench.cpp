// CAM cost per image as a multiple of one forward pass of the same model, in the same run:
// Grad-CAM, Grad-CAM++, the five gradient CAMs together (one forward + one truncated
// backward), Ablation-CAM (one pass of the model's head per channel), and Score-CAM in fp32
// and in the opt-in bf16 mode.
// Usage: cam_bench [--threads N] [--runs N] [--batch N] [--perturbation-batch N] [--no-scorecam]
//                  [--bf16 | --no-bf16] [--input FILE.npy] [--time METHOD] MODEL.onnx
// --time METHOD times that one method alone (e.g. scorecam, ablationcam: what
// bench/run_methods_bench.sh sets beside pytorch-grad-cam): one warm-up forward of a
// perturbation batch, then one timed run; prints "METHOD SECONDS_PER_IMAGE".
// Score-CAM in bf16 is measured by default only where the CPU has native bf16 (AMX or
// AVX512-BF16): elsewhere it is emulated, several times slower, and takes many minutes.
// Prints a Markdown table row: medians over --runs rounds after one warm-up (Score-CAM: one run).
#include "lumos/cam.hpp"
#include "lumos/npy.hpp"
#include "lumos/runtime.hpp"

#include "bench_common.hpp"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <iostream>
#include <string>
#include <vector>

namespace {


struct Options {
  int threads = 2;
  int runs = 5;
  int64_t batch = 1;
  int64_t perturbation_batch = 64;
  bool scorecam = true;
  bool bf16 = lumos::cpu_has_native_bf16();
  std::string input;
  std::string timed_method;
  std::string model;
};

[[noreturn]] void usage() {
  std::cerr << "usage: cam_bench [--threads N] [--runs N] [--batch N] [--perturbation-batch N] [--no-scorecam] "
               "[--bf16 | --no-bf16] [--input FILE.npy] [--time METHOD] MODEL.onnx\n";
  std::exit(2);
}

Options parse(int argc, char** argv) {
  Options o;
  bench::Arguments args(argc, argv, usage);
  while (args.next()) {
    const auto arg = args.current();
    if (arg == "--threads") o.threads = static_cast<int>(args.integer());
    else if (arg == "--runs") o.runs = static_cast<int>(args.integer());
    else if (arg == "--batch") o.batch = args.integer();
    else if (arg == "--perturbation-batch") o.perturbation_batch = args.integer();
    else if (arg == "--no-scorecam") o.scorecam = false;
    else if (arg == "--bf16") o.bf16 = true;
    else if (arg == "--no-bf16") o.bf16 = false;
    else if (arg == "--input") o.input = args.value();
    else if (arg == "--time") o.timed_method = args.value();
    else if (!arg.empty() && arg[0] != '-' && o.model.empty()) o.model = arg;
    else usage();
  }
  if (o.model.empty() || o.runs < 1 || o.batch < 1 || o.perturbation_batch < 1) usage();
  return o;
}

// The forward's median ms per image, and each job's median cost as a multiple of it. Every
// round times the forward and each job once, back to back, and takes the ratios within the
// round: this VM has slow phases lasting seconds, which would skew medians taken apart.
struct Costs {
  double forward_ms;
  std::vector<double> ratios;
};
Costs relative_costs(const std::function<void()>& forward, const std::vector<std::function<void()>>& jobs, int runs,
                     int64_t images) {
  forward();
  for (const auto& job : jobs) job();  // warm-up
  std::vector<double> forward_ms;
  std::vector<std::vector<double>> ratios(jobs.size());
  for (int r = 0; r < runs; ++r) {
    const double base = bench::elapsed_ms(forward);
    forward_ms.push_back(base / images);
    for (size_t j = 0; j < jobs.size(); ++j) ratios[j].push_back(bench::elapsed_ms(jobs[j]) / base);
  }
  Costs costs{bench::median(forward_ms), {}};
  for (const auto& r : ratios) costs.ratios.push_back(bench::median(r));
  return costs;
}


}  // namespace

int main(int argc, char** argv) {
  const auto o = parse(argc, argv);
  lumos::keep_freed_memory();
  at::set_num_threads(o.threads);
  auto model = lumos::Model::load(o.model);
  const auto& spec = model->input();
  at::Tensor images;
  if (!o.input.empty()) {
    images = lumos::read_npy(o.input);
    images = images.repeat({(o.batch + images.size(0) - 1) / images.size(0), 1, 1, 1}).slice(0, 0, o.batch);
  } else {
    at::manual_seed(0);
    images = spec.layout == lumos::Layout::NCHW ? at::randn({o.batch, spec.channels, spec.height, spec.width})
                                                : at::randn({o.batch, spec.height, spec.width, spec.channels});
  }
  const std::vector<lumos::Target> top1 = {lumos::Target::top(1)};
  using M = lumos::CamMethod;
  auto cam = [&](std::vector<M> methods, lumos::CamOptions options = {}) {
    return lumos::CamExplainer(*model, std::move(methods), std::move(options)).explain(images, top1);
  };
  if (!o.timed_method.empty()) {
    const auto method = lumos::parse_cam_method(o.timed_method);
    lumos::CamOptions options;
    options.perturbation_batch = o.perturbation_batch;
    // Warm-up: kernels and the packed weights for the perturbation batch's size.
    model->scores(images.slice(0, 0, 1).expand({o.perturbation_batch, -1, -1, -1}).contiguous());
    const double ms = bench::elapsed_ms([&] { cam({method}, options); });
    std::printf("%s %.3f\n", lumos::to_string(method).c_str(), ms / 1000 / o.batch);
    return 0;
  }

  lumos::CamOptions ablation_options;
  ablation_options.perturbation_batch = o.perturbation_batch;
  const auto costs = relative_costs(
      [&] { model->scores(images); },
      {[&] { cam({M::gradcam}); }, [&] { cam({M::gradcam_plus_plus}); },
       [&] { cam({M::gradcam, M::gradcam_plus_plus, M::hirescam, M::xgradcam, M::layercam}); },
       [&] { cam({M::ablationcam}, ablation_options); }},
      o.runs, o.batch);
  const double forward = costs.forward_ms;

  const auto name = std::filesystem::path(o.model).stem().string();
  std::printf("| model | threads | batch | forward ms/img | Grad-CAM | Grad-CAM++ | 5 gradient CAMs | Ablation-CAM |");
  if (o.scorecam) std::printf(" Score-CAM fp32 | Score-CAM bf16 | bf16 speed-up | bf16 max map diff |");
  std::printf("\n|---|---|---|---|---|---|---|---|%s\n", o.scorecam ? "---|---|---|---|" : "");
  std::printf("| %s | %d | %lld | %.1f | %.2fx | %.2fx | %.2fx | %.1fx |", name.c_str(), o.threads,
              static_cast<long long>(o.batch), forward, costs.ratios[0], costs.ratios[1], costs.ratios[2],
              costs.ratios[3]);
  if (o.scorecam) {
    lumos::CamOptions fp32, bf16;
    fp32.perturbation_batch = bf16.perturbation_batch = o.perturbation_batch;
    bf16.bf16 = true;
    // Masked inputs scored: one per distinct mask (channels with identical masks share one).
    int64_t scored = 0;
    fp32.progress = [&](const lumos::CamProgress& p) { scored += p.done == p.total ? p.total : 0; };
    std::vector<lumos::CamExplanation> exact, fast;
    const double score_fp32 = bench::elapsed_ms([&] { exact = cam({M::scorecam}, fp32); }) / o.batch;
    const auto layer = model->default_layer();
    const auto& layers = model->layers();
    const auto info = std::find_if(layers.begin(), layers.end(), [&](const auto& l) { return l.name == layer; });
    const int64_t channels = info->shape[info->layout == lumos::Layout::NHWC ? 3 : 1] * o.batch;
    std::printf(" %.0fx (%.1f s; %lld of %lld channels scored) |", score_fp32 / forward, score_fp32 / 1000,
                static_cast<long long>(scored), static_cast<long long>(channels));
    if (o.bf16) {
      cam({M::scorecam}, bf16);  // warm-up: oneDNN builds its bf16 kernels on first use
      const double score_bf16 = bench::elapsed_ms([&] { fast = cam({M::scorecam}, bf16); }) / o.batch;
      double diff = 0;
      for (size_t i = 0; i < exact.size(); ++i) {
        diff = std::max(diff, (exact[i].maps[0].map - fast[i].maps[0].map).abs().max().item<double>());
      }
      std::printf(" %.0fx (%.1f s) | %.2fx | %.4f |", score_bf16 / forward, score_bf16 / 1000, score_fp32 / score_bf16,
                  diff);
    } else {
      std::printf(" not run%s | | |", lumos::cpu_has_native_bf16() ? "" : " (no native bf16 on this CPU)");
    }
  }
  std::printf("\n");
}
