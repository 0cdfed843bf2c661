// Whole-run LIME timings: quickshift alone (one thread), then LIME with 1000 samples on
// torchvision classifiers at 224², split into segmentation / building images / model /
// regression, in fp32 and in the opt-in bf16 mode, with the top-5 segments of each; then, per
// model, what making one batch of perturbed inputs costs beside scoring it (issue 15, item 4).
//
//   ./build/bench/lime_bench [--modes fp32,bf16] [--no-quickshift] [--no-batch-split]
//                            [FIXTURES_DIR=build/fixtures] [SAMPLES=1000] [THREADS=2] [MODELS=mobilenet_v2,resnet18]
//
// bench/run_methods_bench.sh runs it with --modes fp32 --no-quickshift --no-batch-split beside lime.
// Needs build/fixtures/quickshift (tests/fixtures/make_quickshift_reference.py) and
// build/fixtures/torchvision (tests/fixtures/make_torchvision_models.py).
#include "lumos/image.hpp"
#include "lumos/lime.hpp"
#include "lumos/model.hpp"
#include "lumos/segmentation.hpp"
#include "lumos/runtime.hpp"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <cstdio>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

namespace {

double now_ms() {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// CPU time of this thread: on a shared, loaded machine it is steadier than wall time.
double thread_cpu_ms() {
  timespec t{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

cv::Mat read_rgb(const std::string& path) {
  cv::Mat bgr = cv::imread(path, cv::IMREAD_COLOR);
  if (bgr.empty()) {
    std::fprintf(stderr, "cannot read %s; run tests/fixtures/make_quickshift_reference.py build/fixtures\n", path.c_str());
    std::exit(2);
  }
  cv::Mat rgb;
  cv::cvtColor(bgr, rgb, cv::COLOR_BGR2RGB);
  return rgb;
}

std::vector<std::string> split(const std::string& text) {
  std::vector<std::string> parts;
  std::stringstream in(text);
  for (std::string part; std::getline(in, part, ',');) parts.push_back(part);
  return parts;
}

std::vector<int> top_segments(const lumos::LinearExplanation& e, size_t k) {
  std::vector<int> out;
  for (const auto& w : e.weights) {
    if (out.size() == k) break;
    out.push_back(w.segment);
  }
  return out;
}

std::string join(const std::vector<int>& v) {
  std::string s;
  for (int x : v) s += (s.empty() ? "" : " ") + std::to_string(x);
  return s;
}

// How bf16's top segments compare with fp32's.
const char* agreement(std::vector<int> a, std::vector<int> b) {
  if (a == b) return " (same order)";
  std::sort(a.begin(), a.end());
  std::sort(b.begin(), b.end());
  return a == b ? " (same set)" : " (differs)";
}

// quickshift alone on the four photos, one thread, best of 5.
void quickshift_times(const std::string& fixtures) {
  std::printf("quickshift 224x224, one thread (best of 5):\n");
  at::set_num_threads(1);
  for (const char* photo : {"chelsea", "astronaut", "coffee", "rocket"}) {
    const cv::Mat rgb = read_rgb(fixtures + "/quickshift/" + photo + ".png");
    double wall = 1e30, cpu = 1e30;
    int count = 0;
    for (int i = 0; i < 5; ++i) {
      const double start = now_ms(), start_cpu = thread_cpu_ms();
      count = lumos::quickshift(rgb).count;
      cpu = std::min(cpu, thread_cpu_ms() - start_cpu);
      wall = std::min(wall, now_ms() - start);
    }
    std::printf("  %-10s %6.1f ms wall, %6.1f ms CPU  (%d segments)\n", photo, wall, cpu, count);
  }
}

double best_of_3_ms(const std::function<void()>& f) {
  double best = 1e30;
  for (int i = 0; i < 3; ++i) {
    const double start = now_ms();
    f();
    best = std::min(best, now_ms() - start);
  }
  return best;
}

// One LIME batch (LimeOptions' default size) made and scored by its steps, each the best of 3:
// the perturbed images (perturbed_images), the classifier's preprocessing (make_batch: resize,
// normalise, NCHW floats) and the forward pass. The first two are what a producer thread could
// make while the previous batch is scored.
void batch_split(const std::string& fixtures, const cv::Mat& image, const std::vector<std::string>& models) {
  const int batch = lumos::LimeOptions{}.batch_size;
  const auto segments = lumos::quickshift(image);
  const cv::Mat fill = lumos::hidden_fill(image, segments, lumos::HideColor::constant(0));
  const at::Tensor rows = lumos::sample_matrix(batch, segments.count, 0);
  const auto preprocess = lumos::Preprocess::named("imagenet");
  std::printf("\nOne LIME batch of %d at 224x224, best of 3, ms:\n", batch);
  std::printf("| model | perturbed images | preprocessing | forward | making / (making + forward) |\n");
  std::printf("| --- | ---: | ---: | ---: | ---: |\n");
  for (const auto& name : models) {
    auto model = lumos::Model::load(fixtures + "/torchvision/" + name + ".onnx");
    at::Tensor images, input;
    const double perturb = best_of_3_ms([&] { images = lumos::perturbed_images(image, fill, segments, rows); });
    std::vector<lumos::Image> pictures;
    for (int64_t i = 0; i < batch; ++i) {
      pictures.emplace_back(cv::Mat(image.rows, image.cols, CV_8UC3, images[i].data_ptr()));
    }
    const double prepare =
        best_of_3_ms([&] { input = lumos::make_batch(pictures, model->input(), preprocess, cv::Size(224, 224)); });
    at::NoGradGuard no_grad;
    model->scores(input);  // warm-up
    const double forward = best_of_3_ms([&] { model->scores(input); });
    std::printf("| %s | %.1f | %.1f | %.1f | %.1f %% |\n", name.c_str(), perturb, prepare, forward,
                100 * (perturb + prepare) / (perturb + prepare + forward));
    std::fflush(stdout);
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> positional, modes = {"fp32", "bf16"};
  bool quickshift_table = true, split_table = true;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--modes" && i + 1 < argc) modes = split(argv[++i]);
    else if (arg == "--no-quickshift") quickshift_table = false;
    else if (arg == "--no-batch-split") split_table = false;
    else if (arg.rfind("--", 0) == 0) {
      std::fprintf(stderr, "usage: lime_bench [--modes fp32,bf16] [--no-quickshift] [--no-batch-split] "
                           "[FIXTURES_DIR] [SAMPLES] [THREADS] [MODELS]\n");
      return 2;
    } else positional.push_back(arg);
  }
  const std::string fixtures = positional.size() > 0 ? positional[0] : "build/fixtures";
  const int samples = positional.size() > 1 ? std::stoi(positional[1]) : 1000;
  const int threads = positional.size() > 2 ? std::stoi(positional[2]) : 2;
  const auto models = split(positional.size() > 3 ? positional[3] : "mobilenet_v2,resnet18");

  lumos::keep_freed_memory();
  if (quickshift_table) quickshift_times(fixtures);

  at::set_num_threads(threads);
  const cv::Mat image = read_rgb(fixtures + "/quickshift/chelsea.png");
  std::printf("\nLIME on chelsea 224x224, %d samples, batch %d, %d threads, hide_color 0:\n", samples, lumos::LimeOptions{}.batch_size, threads);
  std::printf("| model | mode | segmentation ms | images ms | model ms | regression ms | total ms | forward ms (1 image) | top-5 segments |\n");
  std::printf("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |\n");
  for (const auto& name : models) {
    auto model = lumos::Model::load(fixtures + "/torchvision/" + name + ".onnx");
    const auto preprocess = lumos::Preprocess::named("imagenet");
    std::vector<int> fp32_top;
    for (const auto& mode : modes) {
      const bool bf16 = mode == "bf16";
      const auto classifier = lumos::model_classifier(*model, preprocess, cv::Size(224, 224), bf16);
      const at::Tensor one = at::from_blob(image.data, {1, image.rows, image.cols, 3}, at::kByte);
      classifier(one);  // warm-up
      const double forward = best_of_3_ms([&] { classifier(one); });
      lumos::LimeOptions options;
      options.num_samples = samples;
      options.hide = lumos::HideColor::constant(0);
      const double start = now_ms();
      const auto e = lumos::explain_lime(image, classifier, options);
      const double total = now_ms() - start;
      const auto top = top_segments(e.of(e.top_labels[0]), 5);
      if (!bf16) fp32_top = top;
      const auto& t = e.timings;
      std::printf("| %s | %s | %.1f | %.1f | %.1f | %.1f | %.1f | %.1f | %s%s |\n", name.c_str(), bf16 ? "bf16" : "fp32",
                  t.segmentation_ms, t.images_ms, t.model_ms, t.regression_ms, total, forward, join(top).c_str(),
                  bf16 ? agreement(top, fp32_top) : "");
      std::fflush(stdout);
    }
  }
  if (split_table) batch_split(fixtures, image, models);
  return 0;
}
