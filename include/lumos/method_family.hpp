// Method families: how the explain pipeline reaches the explainers. A family (the CAM
// methods, LIME, …) is one adapter file in src/pipeline/families/ that registers itself by
// name, as ONNX ops do; the pipeline, the CLI's --method, the writers and the report then
// know its methods without further changes.
//
//   class RiseFamily : public lumos::MethodFamily {
//    public:
//     explicit RiseFamily(const lumos::FamilySetup& setup);
//     lumos::BatchResults explain(const lumos::MethodBatch& batch) override;  // a map per image and class
//   };
//   LUMOS_METHOD_FAMILY(rise) {
//     return {"rise", {{"rise", "RISE", {}}}, {{"rise.masks", "RISE: random masks (default 4000)"}},
//             [](const lumos::FamilySetup& s) -> std::unique_ptr<lumos::MethodFamily> {
//               return std::make_unique<RiseFamily>(s);
//             }};
//   }
//
// docs/architecture.md describes the extension point.
#pragma once

#include "lumos/explain.hpp"

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace lumos {

struct MethodSpec {
  std::string name;                  // canonical, as results and file names show it: "gradcam++"
  std::string title;                 // as a report heads its pictures: "gradcam++", "LIME"
  std::vector<std::string> aliases;  // other spellings; case, '-', '_' and spaces never matter
};

struct OptionSpec {
  std::string key;   // "family.option", the key of ExplainRequest::options
  std::string help;  // one line, with the default
};

// What a family is built from, once per pipeline.
struct FamilySetup {
  Model& model;
  const ExplainRequest& request;
  const Preprocess& preprocess;
  cv::Size input_size;
  const ClassLabels& labels;
  std::vector<std::string> methods;  // the family's methods the request asks for, canonical, in its order
};

// One batch of images, as the pipeline hands it to every family.
struct MethodBatch {
  // The model's input [rows, …]. A model with a fixed batch size gets all its rows; rows past
  // the images repeat image 0 and their results are dropped.
  const at::Tensor& input;
  const std::vector<Image>& originals;  // the pictures as loaded
  const std::vector<Image>& resized;    // at the model's input size
  const at::Tensor& scores;             // [images, classes]
  // classes[i]: image i's classes to explain, each once, in the order its targets name them.
  const std::vector<std::vector<int64_t>>& classes;
  std::function<void(size_t image, const std::string& method, int64_t done, int64_t total)> progress;
  // Whether the run was cancelled, or (given an image) whether that image is no longer wanted.
  std::function<bool()> run_cancelled;
  std::function<bool(size_t image)> image_cancelled;

  size_t size() const { return originals.size(); }
};

// [image][target][method]: for each image of the batch, for each of its classes (in
// MethodBatch::classes order), one result per method the family was set up with.
using BatchResults = std::vector<std::vector<std::vector<MethodResult>>>;

// For families that explain one class of every image per pass (CAMs, gradients, perturbations):
// calls `explain_rows` once for each k with one target per row of the model input, each image's
// k-th class (an image with fewer classes repeats its last one; padding rows take image 0's), and
// expects, per row, the results of the family's methods. Gathers them as BatchResults. A result
// the family did not time itself (time_ms 0) gets the pass's time per image: the share of
// methods that are computed together (one trace for all gradient CAMs).
using RowExplainer = std::function<std::vector<std::vector<MethodResult>>(const std::vector<Target>& row_targets)>;
BatchResults explain_class_by_class(const MethodBatch& batch, const RowExplainer& explain_rows);

class MethodFamily {
 public:
  virtual ~MethodFamily() = default;
  // Explains the batch. An image whose image_cancelled() is true may be left with no results.
  // Throws CancelledError when run_cancelled() turns true, InputError for what does not fit.
  virtual BatchResults explain(const MethodBatch& batch) = 0;
  // Settings a report shows, e.g. ("CAM layer", "layer4").
  virtual std::vector<std::pair<std::string, std::string>> settings() const { return {}; }
};

using FamilyFactory = std::function<std::unique_ptr<MethodFamily>(const FamilySetup& setup)>;

struct MethodFamilyInfo {
  std::string name;  // "cam", "lime"
  std::vector<MethodSpec> methods;
  std::vector<OptionSpec> options;
  FamilyFactory make;
};

class MethodRegistry {
 public:
  static MethodRegistry& instance();

  // Throws std::logic_error when a method name or option key is taken (a programming error).
  bool add(MethodFamilyInfo family);

  // The canonical name of a spelling ("Grad-CAM++" → "gradcam++"); throws InputError listing
  // the methods there are.
  std::string canonical(const std::string& spelling) const;
  // The family providing a canonical method name, or nullptr.
  const MethodFamilyInfo* family_of(const std::string& method) const;
  const MethodSpec* method(const std::string& name) const;
  // Families sorted by name, their methods in their own order.
  std::vector<const MethodFamilyInfo*> families() const;
  std::vector<std::string> method_names() const;

 private:
  std::vector<MethodFamilyInfo> families_;
};

// The canonical names of `spellings`, in their order. Throws InputError for an unknown name or
// one listed twice.
std::vector<std::string> resolve_methods(const std::vector<std::string>& spellings);
// How reports head a method's pictures ("LIME"); the name itself for an unknown one.
std::string method_title(const std::string& method);

// Throws InputError for a key of ExplainRequest::options no registered family takes.
void check_option_keys(const std::map<std::string, std::string>& options);

// A family's option, read from request.options[key] or `fallback` when absent. Throws
// InputError naming the key when the value does not parse or lies outside [low, high].
int64_t option_integer(const ExplainRequest& request, const std::string& key, int64_t fallback, int64_t low,
                       int64_t high);
double option_number(const ExplainRequest& request, const std::string& key, double fallback, double low, double high);
// One of `choices` (any value when it is empty).
std::string option_choice(const ExplainRequest& request, const std::string& key, const std::string& fallback,
                          const std::vector<std::string>& choices);

#define LUMOS_METHOD_FAMILY_CONCAT_INNER(a, b) a##b
#define LUMOS_METHOD_FAMILY_CONCAT(a, b) LUMOS_METHOD_FAMILY_CONCAT_INNER(a, b)

// Defines `describe_<id>()` returning the family's MethodFamilyInfo and registers it when the
// library (or the program that defines it) is loaded. `id` must be unique.
#define LUMOS_METHOD_FAMILY(id)                                                               \
  static ::lumos::MethodFamilyInfo describe_##id();                                          \
  [[maybe_unused]] static const bool LUMOS_METHOD_FAMILY_CONCAT(lumos_family_registered_, id) = \
      ::lumos::MethodRegistry::instance().add(describe_##id());                              \
  static ::lumos::MethodFamilyInfo describe_##id()

}  // namespace lumos
