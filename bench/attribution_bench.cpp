// Time per image of the gradient and perturbation attributions, and of the plain work they are
// made of, for one image of a model: bench/run_attribution_bench.sh runs it beside captum
// (bench/captum_attribution.py) and makes the table of docs/attribution.md.
//
// Usage: attribution_bench [--threads N] [--batch N] [--steps N] [--samples N] [--shap-samples N]
//                          [--window N] [--stride N] [--methods LIST] [--segments-out FILE.npy]
//                          --input FILE.npy MODEL.onnx
// LIST (comma-separated, default all): forward, passes-ig, passes-smoothgrad, saliency, ig,
// smoothgrad, occlusion, kernelshap.
//   forward     one forward pass of the image (batch 1), the unit of the multiples
//   passes-ig   `steps` inputs through forward + backward to the input in batches of `batch`:
//               what Integrated Gradients costs without its own work (passes-smoothgrad: `samples`)
//   ig          Integrated Gradients, `steps` Gauss-Legendre steps, zero baseline, batches of `batch`
//   smoothgrad  saliency in a noise tunnel of `samples`, batches of `batch`
//   occlusion   `window` x `window` windows every `stride` pixels, `batch` per forward
//   kernelshap  `shap-samples` coalitions of the image's quickshift segments, `batch` per forward
// Prints "<name> <milliseconds>" per line; --segments-out writes the segments (int32 [H, W]) so
// captum explains the same feature mask.
#include "lumos/gradient.hpp"
#include "lumos/npy.hpp"
#include "lumos/perturbation.hpp"
#include "lumos/runtime.hpp"
#include "lumos/segmentation.hpp"

#include "bench_common.hpp"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/csrc/autograd/autograd.h>

#include <algorithm>
#include <cstdio>
#include <functional>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

namespace {

struct Options {
  int threads = 2;
  int64_t batch = 10;
  int64_t steps = 50;
  int64_t samples = 50;
  int64_t shap_samples = 1000;
  int64_t window = 16;
  int64_t stride = 8;
  std::vector<std::string> methods = {"forward",    "passes-ig", "passes-smoothgrad", "saliency",
                                      "ig",         "smoothgrad", "occlusion",         "kernelshap"};
  std::string segments_out;
  std::string input;
  std::string model;
};

[[noreturn]] void usage() {
  std::cerr << "usage: attribution_bench [--threads N] [--batch N] [--steps N] [--samples N] [--shap-samples N] "
               "[--window N] [--stride N] [--methods LIST] [--segments-out FILE.npy] --input FILE.npy MODEL.onnx\n";
  std::exit(2);
}

std::vector<std::string> split(const std::string& text) {
  std::vector<std::string> parts;
  std::stringstream in(text);
  for (std::string part; std::getline(in, part, ',');) parts.push_back(part);
  return parts;
}

Options parse(int argc, char** argv) {
  Options o;
  bench::Arguments args(argc, argv, usage);
  while (args.next()) {
    const auto arg = args.current();
    if (arg == "--threads") o.threads = static_cast<int>(args.integer());
    else if (arg == "--batch") o.batch = args.integer();
    else if (arg == "--steps") o.steps = args.integer();
    else if (arg == "--samples") o.samples = args.integer();
    else if (arg == "--shap-samples") o.shap_samples = args.integer();
    else if (arg == "--window") o.window = args.integer();
    else if (arg == "--stride") o.stride = args.integer();
    else if (arg == "--methods") o.methods = split(args.value());
    else if (arg == "--segments-out") o.segments_out = args.value();
    else if (arg == "--input") o.input = args.value();
    else if (!arg.empty() && arg[0] != '-' && o.model.empty()) o.model = arg;
    else usage();
  }
  if (o.model.empty() || o.input.empty() || o.batch < 1) usage();
  return o;
}

// The image back to 8-bit RGB from its imagenet-normalised tensor [3, H, W], for quickshift.
cv::Mat to_rgb(const at::Tensor& image) {
  const auto mean = at::tensor({0.485f, 0.456f, 0.406f}).view({3, 1, 1});
  const auto stdev = at::tensor({0.229f, 0.224f, 0.225f}).view({3, 1, 1});
  const auto pixels = ((image * stdev + mean) * 255).round().clamp(0, 255).to(at::kByte).permute({1, 2, 0}).contiguous();
  return cv::Mat(static_cast<int>(pixels.size(0)), static_cast<int>(pixels.size(1)), CV_8UC3, pixels.data_ptr()).clone();
}

}  // namespace

int main(int argc, char** argv) {
  const auto o = parse(argc, argv);
  lumos::keep_freed_memory();
  at::set_num_threads(o.threads);
  auto model = lumos::Model::load(o.model);
  const auto image = lumos::read_npy(o.input).slice(0, 0, 1).contiguous();
  const std::vector<lumos::Target> top1 = {lumos::Target::top(1)};
  const int64_t target = model->scores(image).argmax(1).item<int64_t>();

  // `count` inputs through forward + backward to the input, `batch` at a time.
  auto passes = [&](int64_t count) {
    for (int64_t begin = 0; begin < count; begin += o.batch) {
      const int64_t size = std::min(o.batch, count - begin);
      const auto inputs = image.expand({size, -1, -1, -1}).clone().requires_grad_(true);
      const auto trace = model->trace(inputs, {}, true);
      const auto chosen = trace.scores.select(1, target).sum();
      torch::autograd::grad({chosen}, {inputs});
    }
  };
  passes(o.batch);  // warm-up: kernels for the batch size, allocator
  model->scores(image);

  lumos::GradientOptions gradient;
  gradient.batch_size = o.batch;
  gradient.steps = o.steps;
  gradient.samples = o.samples;
  lumos::PerturbationOptions perturbation;
  perturbation.batch_size = o.batch;
  perturbation.window_height = perturbation.window_width = o.window;
  perturbation.stride_height = perturbation.stride_width = o.stride;
  perturbation.shap_samples = o.shap_samples;
  const auto segments = lumos::quickshift(to_rgb(image[0]));
  if (!o.segments_out.empty()) lumos::write_npy(o.segments_out, at::from_blob(segments.labels.data, {segments.labels.rows, segments.labels.cols}, at::kInt));

  auto gradients = [&](const std::string& name) {
    lumos::GradientExplainer(*model, {lumos::parse_gradient_method(name)}, gradient).explain(image, top1);
  };
  auto perturb = [&](lumos::PerturbationMethod method) {
    lumos::PerturbationExplainer(*model, {method}, perturbation).explain(image, top1, {segments});
  };
  for (const auto& method : o.methods) {
    double ms = 0;
    if (method == "forward") {
      std::vector<double> runs;
      for (int r = 0; r < 5; ++r) runs.push_back(bench::elapsed_ms([&] { model->scores(image); }));
      std::sort(runs.begin(), runs.end());
      ms = runs[runs.size() / 2];
    } else if (method == "passes-ig" || method == "passes-smoothgrad") {
      ms = bench::elapsed_ms([&] { passes(method == "passes-ig" ? o.steps : o.samples); });
    } else if (method == "saliency" || method == "smoothgrad") {
      ms = bench::elapsed_ms([&] { gradients(method); });
    } else if (method == "ig") {
      ms = bench::elapsed_ms([&] { gradients("integrated-gradients"); });
    } else if (method == "occlusion") {
      ms = bench::elapsed_ms([&] { perturb(lumos::PerturbationMethod::occlusion); });
    } else if (method == "kernelshap") {
      ms = bench::elapsed_ms([&] { perturb(lumos::PerturbationMethod::kernel_shap); });
    } else {
      usage();
    }
    std::printf("%s %.3f\n", method.c_str(), ms);
    std::fflush(stdout);
  }
}
