// Keras and TF.js models opened as they are: every keras.applications shape and the
// loader's own test models, in all four formats, against TF.js's numbers
// (tests/fixtures/make_keras_models.py, keras_models.js).
#include "lumos/cam.hpp"
#include "lumos/error.hpp"
#include "lumos/image.hpp"
#include "lumos/lime.hpp"
#include "lumos/model.hpp"
#include "lumos/npy.hpp"
#include "model/keras/translate.hpp"
#include "model/onnx/onnx_model.hpp"
#include "support/close_to.hpp"
#include "support/error_of.hpp"
#include "support/fixture_json.hpp"

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <tuple>
#include <cstring>
#include <filesystem>
#include <fstream>

#include <sys/stat.h>

namespace fs = std::filesystem;
using lumos::testing::close_to;
using lumos::testing::error_of;

namespace {

const std::string kKeras = std::string(LUMOS_FIXTURES) + "/keras/";
const char* kScript = "make_keras_models.py";
const std::vector<std::string> kFormats = {"tfjs/model.json", "model_a.h5", "model_b.h5", "model.keras"};

struct Case {
  std::string model;
  std::string cam_layer;
  bool default_layer = true;
  bool input_gradient = true;  // false where tfjs cannot take it (keras_models.js says why)
};

std::vector<Case> parity_cases() {
  std::ifstream in(kKeras + "models.json");
  if (!in) return {{"missing-fixtures", "", true, true}};
  std::vector<Case> cases;
  for (const auto& entry : nlohmann::json::parse(in)) {
    cases.push_back({entry["name"], entry["cam_layer"], entry["default_layer"], entry["input_gradient"]});
  }
  return cases;
}

// The model's files: the four formats, and for a few models TF.js as tensorflowjs_converter
// writes Keras 3 files (Keras 3's config, weights named by their .keras path).
std::vector<std::string> files_of(const std::string& model) {
  auto files = kFormats;
  if (fs::exists(kKeras + model + "/tfjs_keras3")) files.push_back("tfjs_keras3/model.json");
  return files;
}

std::string alphanumeric(std::string name) {
  for (auto& c : name) c = std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
  return name;
}

// Captured values in the reference's layout: tfjs keeps Keras's (NHWC for channels_last).
at::Tensor as_keras_layout(lumos::Model& model, const std::string& layer, const at::Tensor& value) {
  for (const auto& info : model.layers()) {
    if (info.name == layer && info.layout == lumos::Layout::NCHW && model.input().layout == lumos::Layout::NHWC) {
      return value.permute({0, 2, 3, 1});
    }
  }
  return value;
}

// The gradient of the top scores with respect to the input.
at::Tensor input_gradient(lumos::Model& model, const at::Tensor& input, const at::Tensor& top) {
  const auto input_name = model.input().name;
  auto trace = model.trace(input, {input_name}, true);
  trace.scores.gather(1, top).sum().backward();
  return trace.activations.at(input_name).grad();
}

// How closely two float32 implementations can agree on this model's input gradient: the
// gradient's own change when the input moves by about one part in a million (0 to 1e-5
// relative for most models; 3e-3 for EfficientNetV2-B0 with random weights, and tfjs's gradient
// moves alike), twice that, at least the usual 1e-4 and at most 1e-2.
double input_gradient_tolerance(lumos::Model& model, const at::Tensor& input, const at::Tensor& top,
                                const at::Tensor& gradient) {
  const auto wobble = 1e-6 * at::sin(at::arange(input.numel(), input.options()).reshape(input.sizes()) * 0.7);
  const auto moved = input_gradient(model, input * (1 + wobble), top);
  const double change = ((moved - gradient).abs().max() / gradient.abs().max()).item<double>();
  const double tolerance = std::clamp(2 * change, 1e-4, 1e-2);
  std::cout << "    input gradient: moves by " << change << " when the input moves by 1e-6; tolerance " << tolerance << "\n";
  return tolerance;
}

fs::path temp_dir(const std::string& name) {
  auto dir = fs::temp_directory_path() / ("lumos_keras_" + name);
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

}  // namespace

class KerasParity : public ::testing::TestWithParam<Case> {};

TEST_P(KerasParity, LogitsAndCamGradientsMatchTfjsInEveryFormat) {
  const auto& param = GetParam();
  const auto dir = kKeras + param.model + "/";
  ASSERT_TRUE(fs::exists(dir + "cam_gradient.npy")) << dir << " is missing: run tests/fixtures/" << kScript;
  const auto input = lumos::read_npy(dir + "input.npy");
  for (const auto& file : files_of(param.model)) {
    SCOPED_TRACE(file);
    std::cout << "  " << file << "\n";
    auto model = lumos::Model::load(dir + file);
    EXPECT_TRUE(close_to("logits", model->scores(input), lumos::read_npy(dir + "logits.npy"), 1e-4));
    if (param.default_layer) EXPECT_EQ(model->default_layer(), param.cam_layer);

    auto trace = model->trace(input, {param.cam_layer}, true);
    const auto top = trace.scores.argmax(1, true);
    trace.scores.gather(1, top).sum().backward();
    const auto& activation = trace.activations.at(param.cam_layer);
    EXPECT_TRUE(close_to("CAM-layer activation", as_keras_layout(*model, param.cam_layer, activation),
                         lumos::read_npy(dir + "cam_activation.npy"), 1e-4));
    EXPECT_TRUE(close_to("CAM-layer gradient", as_keras_layout(*model, param.cam_layer, activation.grad()),
                         lumos::read_npy(dir + "cam_gradient.npy"), 1e-4));
    // Behind a global average pool the CAM-layer gradient is only the Dense's column; the
    // input's gradient goes back through every layer of the model.
    if (param.input_gradient) {
      const auto gradient = input_gradient(*model, input, top);
      EXPECT_TRUE(close_to("input gradient", gradient, lumos::read_npy(dir + "input_gradient.npy"),
                           input_gradient_tolerance(*model, input, top, gradient)));
    }

    auto probabilities = lumos::Model::load(dir + file, {lumos::Score::probability});
    EXPECT_NE(probabilities->score_description().find("Softmax"), std::string::npos);
    EXPECT_TRUE(close_to("probabilities", probabilities->scores(input), lumos::read_npy(dir + "probabilities.npy"), 1e-4));
  }
}

INSTANTIATE_TEST_SUITE_P(Applications, KerasParity, ::testing::ValuesIn(parity_cases()),
                         [](const auto& info) { return alphanumeric(info.param.model); });

class NsfwjsModel : public ::testing::TestWithParam<std::string> {};

// nsfwjs's real MobileNetV2 and InceptionV3 on skimage's photos, as the package ships them
// (uint8-quantised TF.js) and rewritten as Keras files: lumos's probabilities are tfjs's.
TEST_P(NsfwjsModel, ProbabilitiesEqualTfjsOnRealPhotos) {
  const auto dir = kKeras + "nsfw_" + GetParam() + "/";
  ASSERT_TRUE(fs::exists(dir + "probabilities.npy")) << dir << " is missing: run tests/fixtures/" << kScript;
  const auto expected = lumos::read_npy(dir + "probabilities.npy");
  const auto input = lumos::read_npy(dir + "input.npy");
  for (const auto& file : kFormats) {
    SCOPED_TRACE(file);
    auto model = lumos::Model::load(dir + file, {lumos::Score::probability});
    EXPECT_EQ(model->input().layout, lumos::Layout::NHWC);
    // No Rescaling layer and no keras.applications name: the documented default, [0, 1].
    EXPECT_EQ(model->metadata().at("preprocess"), "unit");
    const auto actual = model->scores(input);
    EXPECT_TRUE(close_to("probabilities (" + file + ")", actual, expected, 1e-4));
    EXPECT_TRUE(at::equal(actual.argmax(1), expected.argmax(1)));
  }
}

INSTANTIATE_TEST_SUITE_P(Nsfwjs, NsfwjsModel, ::testing::Values("mobilenet_v2", "inception_v3"));

TEST(KerasModel, LayersCarryKerasNamesNestedOnesUnderTheirModel) {
  auto model = lumos::Model::load(kKeras + "nested_sequential/model.keras");
  std::map<std::string, lumos::LayerInfo> by_name;
  for (const auto& info : model->layers()) by_name[info.name] = info;
  ASSERT_TRUE(by_name.count("mobilenetv2_0.35_64/out_relu"));
  EXPECT_EQ(by_name["mobilenetv2_0.35_64/out_relu"].op, "ReLU");
  EXPECT_EQ(by_name["mobilenetv2_0.35_64/out_relu"].layout, lumos::Layout::NCHW);
  EXPECT_EQ(by_name["mobilenetv2_0.35_64/block_1_expand"].op, "Conv2D");
  EXPECT_EQ(by_name["dense"].shape, (std::vector<int64_t>{1, 5}));
  // The nested model's own name is its output, as model.get_layer(name).output is in Keras.
  EXPECT_EQ(by_name["mobilenetv2_0.35_64"].shape, by_name["mobilenetv2_0.35_64/out_relu"].shape);
  // Only Keras layers are listed, not the operators a layer became.
  EXPECT_FALSE(by_name.count("dense/linear"));
  EXPECT_EQ(model->resolve_layer("mobilenetv2_0.35_64/block_16_project"), "mobilenetv2_0.35_64/block_16_project");
  const auto message = lumos::testing::error_of<lumos::LayerNotFoundError>([&] { model->resolve_layer("out_relu"); });
  EXPECT_NE(message.find("mobilenetv2_0.35_64/out_relu"), std::string::npos) << message;
}

TEST(KerasModel, NamesWithSlashesAndSharedLayersCalls) {
  auto densenet = lumos::Model::load(kKeras + "densenet121/model_b.h5");
  EXPECT_EQ(densenet->resolve_layer("conv1/conv"), "conv1/conv");
  auto mobilenet = lumos::Model::load(kKeras + "mobilenet_v3_small/model.keras");
  EXPECT_EQ(mobilenet->resolve_layer("expanded_conv/squeeze_excite/Mul"), "expanded_conv/squeeze_excite/Mul");
  // The zoo calls one convolution twice: its second call is "shared_conv:1".
  auto zoo = lumos::Model::load(kKeras + "zoo/model_a.h5");
  EXPECT_EQ(zoo->resolve_layer("shared_conv"), "shared_conv");
  EXPECT_EQ(zoo->resolve_layer("shared_conv:1"), "shared_conv:1");
}

TEST(KerasModel, PreprocessingFollowsTheFile) {
  const std::map<std::string, std::string> expected = {
      {"vgg16", "caffe"},        {"resnet50", "caffe"},         {"resnet50v2", "tf"},       {"inception_v3", "tf"},
      {"xception", "tf"},        {"mobilenet", "tf"},           {"mobilenet_v2", "tf"},     {"densenet121", "imagenet"},
      {"efficientnetb0", "raw"}, {"mobilenet_v3_small", "raw"}, {"convnext_tiny", "raw"},   {"zoo", "unit"},
      {"nested_sequential", "tf"}, {"nested_functional", "caffe"}};
  for (const auto& [name, preprocess] : expected) {
    EXPECT_EQ(lumos::Model::load(kKeras + name + "/model.keras")->metadata().at("preprocess"), preprocess) << name;
  }
}

TEST(KerasModel, UnzippedKerasFolderLoadsAsTheArchive) {
  const auto input = lumos::read_npy(kKeras + "zoo/input.npy");
  EXPECT_TRUE(close_to("logits", lumos::Model::load(kKeras + "zoo/unzipped.keras")->scores(input),
                       lumos::read_npy(kKeras + "zoo/logits.npy"), 1e-4));
}

TEST(KerasModel, ChannelsFirstModelTakesNchw) {
  auto model = lumos::Model::load(kKeras + "channels_first/model.keras");
  EXPECT_EQ(model->input().layout, lumos::Layout::NCHW);
  EXPECT_EQ(model->input().channels, 3);
  EXPECT_EQ(model->input().height, 20);
}

// The engine's features serve Keras models: Grad-CAM's map is the one tfjs's activations
// and gradients give; every CAM method, Ablation-CAM's head-only forwards and bf16 run.
TEST(KerasModel, GradCamMapEqualsTheOneFromTfjsGradients) {
  const auto dir = kKeras + "resnet50/";
  auto model = lumos::Model::load(dir + "model.keras");
  const auto input = lumos::read_npy(dir + "input.npy");
  lumos::CamExplainer cam(*model, {lumos::CamMethod::gradcam});
  const auto explanations = cam.explain(input, {lumos::Target::top(1)});
  const auto activation = lumos::read_npy(dir + "cam_activation.npy").to(at::kDouble);  // NHWC
  const auto gradient = lumos::read_npy(dir + "cam_gradient.npy").to(at::kDouble);
  for (int64_t i = 0; i < input.size(0); ++i) {
    const auto weights = gradient[i].mean(at::IntArrayRef{0, 1});
    auto map = at::relu((activation[i] * weights).sum(2));
    map = map - map.min();
    map = map / (1e-7 + map.max());
    EXPECT_TRUE(close_to("Grad-CAM layer map", explanations[i].maps[0].layers[0].map, map.to(at::kFloat), 1e-4));
  }
}

TEST(KerasModel, EveryCamMethodAblationAndBf16Run) {
  auto model = lumos::Model::load(kKeras + "mobilenet_v2/model_a.h5");
  const auto input = lumos::read_npy(kKeras + "mobilenet_v2/input.npy");
  lumos::CamOptions options;
  options.perturbation_batch = 64;
  lumos::CamExplainer cam(*model, lumos::all_cam_methods(), options);
  for (const auto& explanation : cam.explain(input, {lumos::Target::top(1)})) {
    for (const auto& map : explanation.maps) EXPECT_TRUE(at::isfinite(map.map).all().item<bool>()) << to_string(map.method);
  }
  // Ablation-CAM's forwards run only what follows the layer: given the layer's own value,
  // they reproduce the scores.
  const auto layer = model->default_layer();
  const auto trace = model->trace(input, {layer}, false);
  EXPECT_TRUE(close_to("scores given the layer", model->scores_given(input, layer, trace.activations.at(layer)),
                       trace.scores, 1e-6));
  lumos::CamOptions bf16;
  bf16.bf16 = true;
  lumos::CamExplainer scorecam(*model, {lumos::CamMethod::scorecam}, bf16);
  EXPECT_TRUE(at::isfinite(scorecam.explain(input, {lumos::Target::top(1)})[0].maps[0].map).all().item<bool>());
}

// Keras's BatchNormalization layers after convolutions are folded into them at load: scores()
// run the folded graph, within float rounding of the graph as written (which traces run).
TEST(KerasModel, BatchNormsAreFoldedIntoTheConvolutionsAtLoad) {
  auto model = lumos::Model::load(kKeras + "mobilenet_v2/model_a.h5");
  const auto input = lumos::read_npy(kKeras + "mobilenet_v2/input.npy");
  const auto* onnx_model = dynamic_cast<const lumos::onnx::OnnxModel*>(model.get());
  ASSERT_NE(onnx_model, nullptr);
  EXPECT_EQ(onnx_model->graph().folded_batch_norms(), 52);
  // Its convolutions run packed on oneDNN; the NHWC input's transposed view is channels-last already.
  EXPECT_EQ(onnx_model->graph().packed_convolutions(), 52);
  EXPECT_FALSE(onnx_model->graph().channels_last_inference());
  const auto folded = model->scores(input);
  const auto plain = model->trace(input, {}, false).scores;
  EXPECT_TRUE(close_to("folded scores", folded, plain, 1e-5));
  EXPECT_FALSE(at::equal(folded, plain)) << "the folded graph did not run";
}

// keras.applications' ResNets pad the image with zeros before their first convolution
// (conv1_pad; ResNetV2 also before each block's 3x3 one): they are image CNNs all the same,
// those Pads are folded into the convolutions, and scores() runs the packed plan (ResNet50's
// blocks on blocked tensors; ResNetV2's BatchNormalizations before its convolutions end the
// regions), within float rounding of the graph as written.
TEST(KerasModel, ZeroPaddedResNetsGetTheWholeInferencePlan) {
  for (const auto& [name, pads, blocked] : {std::tuple{"resnet50", 1, 52}, {"resnet50v2", 17, 0}}) {
    SCOPED_TRACE(name);
    auto model = lumos::Model::load(kKeras + name + "/model.keras");
    const auto input = lumos::read_npy(kKeras + name + "/input.npy");
    const auto& graph = dynamic_cast<const lumos::onnx::OnnxModel&>(*model).graph();
    EXPECT_EQ(graph.folded_pads(), pads);
    EXPECT_EQ(graph.packed_convolutions(), 53);
    EXPECT_EQ(graph.blocked_convolutions(), blocked);
    const auto planned = model->scores(input);
    const auto plain = model->trace(input, {}, false).scores;
    EXPECT_TRUE(close_to("planned scores", planned, plain, 1e-5));
    EXPECT_FALSE(at::equal(planned, plain)) << "the inference plan did not run";
  }
}

TEST(KerasModel, LimeExplainsAKerasModel) {
  auto model = lumos::Model::load(kKeras + "zoo/model.keras");
  const auto input = lumos::read_npy(kKeras + "zoo/input.npy")[0];
  cv::Mat rgb(17, 17, CV_8UC3);
  const auto pixels = (input * 255).clamp(0, 255).to(at::kByte).contiguous();
  std::memcpy(rgb.data, pixels.data_ptr(), pixels.numel());
  const auto classifier = lumos::model_classifier(*model, lumos::Preprocess::named("unit"), {17, 17});
  lumos::LimeOptions options;
  options.num_samples = 50;
  const auto explanation = lumos::explain_lime(rgb, classifier, options);
  EXPECT_EQ(explanation.scores.size(0), 50);
  EXPECT_EQ(explanation.scores.size(1), 7);
  EXPECT_FALSE(explanation.explanations.empty());
}

// ---------------------------------------------------------------- bad input: one line, never a crash
namespace {

// The zoo's TF.js model with `edit` applied to its model.json, in a directory of its own.
std::string edited_tfjs(const std::string& name, const std::function<void(nlohmann::json&)>& edit) {
  const auto dir = temp_dir(name);
  fs::copy(kKeras + "zoo/tfjs", dir, fs::copy_options::recursive);
  nlohmann::json model;
  std::ifstream(dir / "model.json") >> model;
  edit(model);
  std::ofstream(dir / "model.json") << model.dump();
  return (dir / "model.json").string();
}

nlohmann::json& zoo_layer(nlohmann::json& model, const std::string& name) {
  for (auto& layer : model["modelTopology"]["config"]["layers"]) {
    if (layer["name"] == name) return layer;
  }
  throw std::runtime_error("no layer " + name);
}

template <typename E = lumos::ModelError>
std::string load_error(const std::string& path) {
  const auto message = error_of<E>([&] { lumos::Model::load(path); });
  EXPECT_FALSE(message.empty()) << path << " loaded";
  EXPECT_EQ(message.find('\n'), std::string::npos) << message;
  return message;
}

std::string truncated_copy(const std::string& from, const std::string& name, double fraction) {
  const auto path = temp_dir(name) / fs::path(from).filename();
  std::ifstream in(from, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::ofstream(path, std::ios::binary) << bytes.substr(0, static_cast<size_t>(bytes.size() * fraction));
  return path.string();
}

}  // namespace

TEST(KerasBadInput, LambdaLayerIsNamedWithItsClass) {
  const auto path = edited_tfjs("lambda", [](auto& model) {
    auto& layer = zoo_layer(model, "elu");
    layer["class_name"] = "Lambda";
    layer["config"] = {{"name", "elu"}, {"function", "lambda x: x"}};
  });
  const auto message = load_error(path);
  EXPECT_NE(message.find("layer 'elu' (Lambda)"), std::string::npos) << message;
  EXPECT_NE(message.find("Python code is not in the file"), std::string::npos) << message;
}

TEST(KerasBadInput, CustomLayerClassIsUnsupportedNamingLayerAndClass) {
  const auto path = edited_tfjs("custom", [](auto& model) { zoo_layer(model, "elu")["class_name"] = "MyAttention"; });
  const auto message = load_error<lumos::UnsupportedOpError>(path);
  EXPECT_NE(message.find("layer 'elu' (MyAttention)"), std::string::npos) << message;
}

// Keras 3 records each class's module: a user's class named like a Keras layer is not it.
TEST(KerasBadInput, CustomClassIsToldByItsModuleWhateverItsName) {
  for (const std::string module : {"my_project.layers", "__main__", "keras_hub.src.layers"}) {
    const auto dir = temp_dir("custom_module");
    fs::copy(kKeras + "zoo/unzipped.keras", dir, fs::copy_options::recursive);
    nlohmann::json config;
    std::ifstream(dir / "config.json") >> config;
    for (auto& layer : config["config"]["layers"]) {
      if (layer["name"] == "logits") layer["module"] = module;
    }
    std::ofstream(dir / "config.json") << config.dump();
    const auto message = load_error<lumos::UnsupportedOpError>(dir.string());
    EXPECT_NE(message.find("layer 'logits' (Dense): a custom layer class from module '" + module + "'"),
              std::string::npos)
        << message;
  }
}

TEST(KerasBadInput, UnknownLayerOptionIsNamed) {
  const auto path = edited_tfjs("option", [](auto& model) { zoo_layer(model, "last_conv")["config"]["padding_mode"] = "reflect"; });
  const auto message = load_error(path);
  EXPECT_NE(message.find("layer 'last_conv' (Conv2D): unknown option 'padding_mode'"), std::string::npos) << message;
}

TEST(KerasBadInput, UnsupportedOptionValueIsNamed) {
  const auto path = edited_tfjs("causal", [](auto& model) { zoo_layer(model, "last_conv")["config"]["padding"] = "causal"; });
  const auto message = load_error(path);
  EXPECT_NE(message.find("option 'padding' = 'causal' is not supported"), std::string::npos) << message;
}

TEST(KerasBadInput, WeightOfTheWrongShapeIsNamed) {
  const auto path = edited_tfjs("shape", [](auto& model) { zoo_layer(model, "last_conv")["config"]["filters"] = 5; });
  const auto message = load_error(path);
  EXPECT_NE(message.find("layer 'last_conv' (Conv2D): weight 'kernel' has shape [3,3,16,6] but the layer needs "
                         "[3,3,16,5]"),
            std::string::npos)
      << message;
}

TEST(KerasBadInput, MissingShardIsNamed) {
  const auto path = edited_tfjs("shard", [](auto&) {});
  fs::remove(fs::path(path).parent_path() / "group1-shard1of1.bin");
  const auto message = load_error(path);
  EXPECT_NE(message.find("group1-shard1of1.bin"), std::string::npos) << message;
  EXPECT_NE(message.find("missing"), std::string::npos) << message;
}

// As ONNX external data: a shard must be a file in model.json's folder, so a model cannot
// make lumos read any other file on the machine.
TEST(KerasBadInput, ShardsOutsideTheModelsFolderAreRefused) {
  const auto outside = temp_dir("shard_outside") / "secret.bin";
  std::ofstream(outside) << std::string(1024, 'x');
  for (const auto& [location, why] : std::vector<std::pair<std::string, std::string>>{
           {outside.string(), "is an absolute path"},
           {"../shard_outside/secret.bin", "leaves the folder (..)"},
           {"link.bin", "is a symbolic link to a file outside the folder"}}) {
    const auto path = edited_tfjs("shard_escape", [&](auto& model) { model["weightsManifest"][0]["paths"][0] = location; });
    fs::create_symlink(outside, fs::path(path).parent_path() / "link.bin");
    const auto message = load_error(path);
    EXPECT_NE(message.find("weight shard '" + location + "', which " + why), std::string::npos) << message;
    EXPECT_EQ(message.find("1024"), std::string::npos) << message;
  }
}

// A FIFO named like a Keras model is refused, not waited on (it is never opened).
TEST(KerasBadInput, SpecialFilesAreRefusedWithoutWaiting) {
  const auto pipe = temp_dir("keras_fifo") / "model.keras";
  ASSERT_EQ(::mkfifo(pipe.c_str(), 0600), 0);
  std::string message;
  try {
    lumos::Model::load(pipe.string());
  } catch (const lumos::Error& e) {
    message = e.what();
  }
  EXPECT_NE(message.find("is a FIFO"), std::string::npos) << message;
}

TEST(KerasBadInput, ShortShardIsNamed) {
  const auto path = edited_tfjs("short_shard", [](auto&) {});
  const auto shard = fs::path(path).parent_path() / "group1-shard1of1.bin";
  fs::resize_file(shard, fs::file_size(shard) / 2);
  EXPECT_NE(load_error(path).find("a shard is truncated"), std::string::npos);
}

// A shard is read as a regular file like the model itself: one named "." (the folder)
// once made a std::length_error, and a FIFO would have been waited on.
TEST(KerasBadInput, ShardsThatAreNotRegularFilesAreRefused) {
  const auto with_shard = [](const std::string& name, const std::string& shard) {
    return edited_tfjs(name, [&](auto& model) { model["weightsManifest"][0]["paths"][0] = shard; });
  };
  for (const auto& name : {".", ""}) {
    EXPECT_NE(load_error<lumos::InputError>(with_shard("shard_folder", name)).find("is a folder"), std::string::npos);
  }
  const auto fifo = with_shard("shard_fifo", "fifo.bin");
  ASSERT_EQ(::mkfifo((fs::path(fifo).parent_path() / "fifo.bin").c_str(), 0600), 0);
  EXPECT_NE(load_error<lumos::InputError>(fifo).find("FIFO"), std::string::npos);
}

// Values of the wrong JSON type anywhere in a config are one ModelError, never a JSON
// library exception escaping.
TEST(KerasBadInput, ConfigValuesOfTheWrongTypeAreModelErrors) {
  for (const auto& [name, edit] : std::vector<std::pair<std::string, std::function<void(nlohmann::json&)>>>{
           {"format", [](auto& model) { model["format"] = 5; }},
           {"inbound", [](auto& model) { zoo_layer(model, "elu")["inbound_nodes"][0][0][0] = 7; }},
           {"history", [](auto& model) { zoo_layer(model, "elu")["inbound_nodes"][0][0][1] = "zero"; }},
           {"dtype", [](auto& model) { model["weightsManifest"][0]["weights"][0]["dtype"] = 4; }}}) {
    const auto message = load_error(edited_tfjs("wrong_type_" + name, edit));
    EXPECT_NE(message.find("malformed"), std::string::npos) << name << ": " << message;
  }
}

TEST(KerasBadInput, WeightsOnlyH5AsksForTheWholeModel) {
  const auto message = load_error(kKeras + "zoo/weights_only.h5");
  EXPECT_NE(message.find("holds weights only"), std::string::npos) << message;
  EXPECT_NE(message.find("model.save"), std::string::npos) << message;
}

TEST(KerasBadInput, TruncatedHdf5AndZipAreErrors) {
  for (double fraction : {0.5, 0.98}) {
    EXPECT_FALSE(load_error(truncated_copy(kKeras + "zoo/model_a.h5", "h5", fraction)).empty());
    EXPECT_FALSE(load_error(truncated_copy(kKeras + "zoo/model.keras", "zip", fraction)).empty());
  }
  EXPECT_NE(load_error(truncated_copy(kKeras + "zoo/model.keras", "zip_head", 0.01)).find("zip"), std::string::npos);
}

TEST(KerasBadInput, WeightsFromAnotherModelAreRefused) {
  const auto dir = temp_dir("mismatch");
  fs::copy(kKeras + "vgg16/tfjs/model.json", dir / "model.json");
  fs::copy(kKeras + "vgg19/tfjs/group1-shard1of1.bin", dir / "group1-shard1of1.bin");
  EXPECT_FALSE(load_error((dir / "model.json").string()).empty());
}

TEST(KerasBadInput, GraphModelAndPlainJsonAreExplained) {
  const auto dir = temp_dir("graph_model");
  std::ofstream(dir / "model.json") << R"({"format": "graph-model", "modelTopology": {"node": []}, "weightsManifest": []})";
  EXPECT_NE(load_error((dir / "model.json").string()).find("graph model"), std::string::npos);
  std::ofstream(dir / "other.json") << R"({"labels": ["cat"]})";
  EXPECT_NE(load_error((dir / "other.json").string()).find("not a TF.js layers model"), std::string::npos);
}

namespace {

// A TF.js layers model written here: an input "x" of shape [N, `shape`...], then `layers`
// ({"class_name", "config"}, each called on the one before) and a Flatten, saved by Keras
// `version`; `weights` named "<layer>/<variable>", in Keras's order, in one shard.
std::unique_ptr<lumos::Model> chained_model(const std::string& name, const std::vector<int64_t>& shape,
                                            std::vector<nlohmann::json> layers,
                                            const std::vector<std::pair<std::string, at::Tensor>>& weights = {},
                                            const std::string& version = "2.15.0") {
  const auto dir = temp_dir(name);
  nlohmann::json batch_shape = {nullptr};
  for (auto d : shape) batch_shape.push_back(d);
  auto entries = nlohmann::json::array({{{"class_name", "InputLayer"}, {"name", "x"},
                                         {"config", {{"name", "x"}, {"batch_input_shape", batch_shape}}},
                                         {"inbound_nodes", nlohmann::json::array()}}});
  layers.push_back({{"class_name", "Flatten"}, {"config", {{"name", "flatten"}}}});
  std::string previous = "x";
  for (auto& layer : layers) {
    const std::string layer_name = layer["config"]["name"];
    layer["name"] = layer_name;
    layer["inbound_nodes"] = {{{previous, 0, 0, nlohmann::json::object()}}};
    entries.push_back(layer);
    previous = layer_name;
  }
  auto specs = nlohmann::json::array();
  std::ofstream shard(dir / "weights.bin", std::ios::binary);
  for (const auto& [weight, value] : weights) {
    specs.push_back({{"name", weight}, {"shape", value.sizes().vec()}, {"dtype", "float32"}});
    const auto data = value.to(at::kFloat).contiguous();
    shard.write(static_cast<const char*>(data.data_ptr()), static_cast<std::streamsize>(data.nbytes()));
  }
  shard.close();
  const nlohmann::json model = {
      {"modelTopology",
       {{"keras_version", version},
        {"model_config",
         {{"class_name", "Functional"},
          {"config",
           {{"name", name}, {"layers", entries}, {"input_layers", {{"x", 0, 0}}}, {"output_layers", {{previous, 0, 0}}}}}}}}},
      {"weightsManifest", {{{"paths", {"weights.bin"}}, {"weights", specs}}}}};
  std::ofstream(dir / "model.json") << model.dump();
  return lumos::Model::load((dir / "model.json").string());
}

// One Activation layer on a [N, 2, 2, 1] input, saved by Keras `version`.
std::unique_ptr<lumos::Model> activation_model(const std::string& activation, const std::string& version) {
  return chained_model("activation_" + activation + "_" + version, {2, 2, 1},
                       {{{"class_name", "Activation"}, {"config", {{"name", "act"}, {"activation", activation}}}}}, {},
                       version);
}

}  // namespace

// Keras 3 changed hard_sigmoid from clip(0.2 x + 0.5) to relu6(x + 3) / 6: the file's
// Keras version decides.
TEST(KerasActivations, FollowTheKerasVersionThatSavedTheModel) {
  const auto x = at::linspace(-4, 4, 4).reshape({1, 2, 2, 1});
  EXPECT_TRUE(close_to("hard_sigmoid, Keras 2", activation_model("hard_sigmoid", "2.15.0")->scores(x),
                       at::clamp(0.2 * x + 0.5, 0, 1).flatten(1), 1e-6));
  EXPECT_TRUE(close_to("hard_sigmoid, Keras 3", activation_model("hard_sigmoid", "3.6.0")->scores(x),
                       at::clamp(x + 3, 0, 6).div(6).flatten(1), 1e-6));
  EXPECT_TRUE(close_to("hard_swish", activation_model("hard_swish", "3.6.0")->scores(x),
                       (x * at::clamp(x + 3, 0, 6) / 6).flatten(1), 1e-6));
  EXPECT_TRUE(close_to("gelu (exact)", activation_model("gelu", "3.6.0")->scores(x), at::gelu(x).flatten(1), 1e-6));
  EXPECT_TRUE(close_to("relu6", activation_model("relu6", "3.6.0")->scores(x), at::clamp(x, 0, 6).flatten(1), 1e-6));
  EXPECT_TRUE(close_to("mish", activation_model("mish", "3.6.0")->scores(x), (x * at::tanh(at::softplus(x))).flatten(1), 1e-6));
  const auto message = error_of<lumos::ModelError>([] { activation_model("sparsemax", "3.6.0"); });
  EXPECT_NE(message.find("activation 'sparsemax' is not supported"), std::string::npos) << message;
}

// TensorFlow's padding="same" puts an odd total's extra pixel after the image (bottom and
// right: ONNX's SAME_UPPER); max pooling ignores the padding and average pooling leaves it
// out of the count. The expected values are worked out by hand from that rule.
TEST(KerasLayers, SamePaddingPutsTheExtraPixelBottomRight) {
  const auto conv = [](int64_t kernel, int64_t stride) {
    return nlohmann::json{{"class_name", "Conv2D"},
                          {"config", {{"name", "conv"}, {"filters", 1}, {"kernel_size", {kernel, kernel}},
                                      {"strides", {stride, stride}}, {"padding", "same"}, {"use_bias", false}}}};
  };
  const auto pool = [](const std::string& cls) {
    return nlohmann::json{{"class_name", cls},
                          {"config", {{"name", "pool"}, {"pool_size", {2, 2}}, {"strides", {2, 2}}, {"padding", "same"}}}};
  };
  const auto expect = [](const std::string& what, lumos::Model& model, const at::Tensor& x, std::vector<float> values) {
    const auto expected = at::tensor(values).reshape({1, -1});
    EXPECT_TRUE(close_to(what, model.scores(x), expected, 1e-6));
  };
  const auto ramp = [](int64_t size, float first) {
    return at::arange(first, first + size * size, at::kFloat).reshape({1, size, size, 1});
  };
  // 2x2 ones on [[0 1 2] [3 4 5] [6 7 8]], stride 1: one padding row and column, after.
  expect("2x2 convolution", *chained_model("same_conv", {3, 3, 1}, {conv(2, 1)}, {{"conv/kernel", at::ones({2, 2, 1, 1})}}),
         ramp(3, 0), {8, 12, 7, 20, 24, 13, 13, 15, 8});
  // 3x3 ones on 0..15 (4x4), stride 2: output 2x2, one padding row and column, after.
  expect("3x3 stride-2 convolution",
         *chained_model("same_conv_strided", {4, 4, 1}, {conv(3, 2)}, {{"conv/kernel", at::ones({3, 3, 1, 1})}}),
         ramp(4, 0), {45, 39, 66, 50});
  // 2x2 stride-2 pools on 3x3: windows {1 2 4 5}, {3 6}, {7 8}, {9}.
  expect("max pooling", *chained_model("same_max_pool", {3, 3, 1}, {pool("MaxPooling2D")}), -ramp(3, 1), {-1, -3, -7, -9});
  expect("average pooling", *chained_model("same_average_pool", {3, 3, 1}, {pool("AveragePooling2D")}), ramp(3, 1),
         {3, 4.5, 7.5, 9});
}

// Keras 3 finds a layer's weights by its class name in snake case; these are Python's
// keras.src.utils.naming.to_snake_case results.
TEST(KerasNames, SnakeCaseIsKeras) {
  const std::vector<std::pair<std::string, std::string>> expected = {
      {"Conv2D", "conv2d"},
      {"BatchNormalization", "batch_normalization"},
      {"ReLU", "re_lu"},
      {"PReLU", "p_re_lu"},
      {"DepthwiseConv2D", "depthwise_conv2d"},
      {"ZeroPadding2D", "zero_padding2d"},
      {"LayerScale", "layer_scale"},
      {"GlobalAveragePooling2D", "global_average_pooling2d"},
      {"TFOpLambda", "tf_op_lambda"},
      {"Conv2DTranspose", "conv2d_transpose"},
      {"ABCDef", "abc_def"},
      {"aBcDeF", "a_bc_de_f"},
      {"ELU", "elu"},
      {"HardSwishXYZabc", "hard_swish_xy_zabc"},
  };
  for (const auto& [name, snake] : expected) EXPECT_EQ(lumos::keras::snake_case(name), snake) << name;
}

TEST(KerasBadInput, DeepNestingIsRefusedBeforeParsing) {
  const auto dir = temp_dir("deep");
  std::string nested;
  for (int i = 0; i < 100000; ++i) nested += "{\"a\":";
  std::ofstream(dir / "model.json") << nested << "1" << std::string(100000, '}');
  EXPECT_NE(load_error((dir / "model.json").string()).find("nests deeper"), std::string::npos);
}
