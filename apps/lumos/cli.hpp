// What the lumos subcommands share: exit codes, error lines, model and label options.
#pragma once

#include "lumos/image.hpp"
#include "lumos/labels.hpp"
#include "lumos/model.hpp"

#include <CLI/CLI.hpp>

#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace lumos::cli {

// Documented in docs/cli.md.
enum ExitCode : int {
  kOk = 0,
  kSomeInputsFailed = 1,  // some images failed, the others were processed
  kUsageError = 2,        // a flag or argument is missing or malformed
  kModelError = 3,        // the model cannot be read, uses an unsupported op, or fails to run
  kInputError = 4,        // an image, label file or setting does not fit; nothing was processed
  kInterrupted = 130,     // Ctrl-C: finished images are kept, nothing half-written is left
};

// A flag's value that parses but makes no sense (CLI11 reports the ones that do not parse).
class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Accepts whole numbers >= 1, with a short message otherwise.
extern const CLI::Validator kPositiveInteger;
// Accepts whole numbers >= 0 (seeds; CLI11 alone would wrap "-1" around).
extern const CLI::Validator kNonNegativeInteger;
// Whole numbers in [low, high]; the message names the bounds (and `why`, if given).
CLI::Validator integer_in(int64_t low, int64_t high, const std::string& why = "");
// Numbers in [low, high].
CLI::Validator number_in(double low, double high);
// One of `choices`.
CLI::Validator one_of(const std::vector<std::string>& choices);

// Bounds of the counts a user may ask for: each beyond them runs for hours or exhausts
// memory without making a better explanation.
constexpr int64_t kMaxSamples = 100000;          // LIME samples per image
constexpr int64_t kMaxBatch = 4096;              // images per forward pass
constexpr int64_t kMaxSteps = 10000;             // deletion/insertion steps
// At most 4 threads per core: more only adds switching (and --threads 100000 took minutes to start).
int64_t max_threads();

// The one-line message for a command-line parse error of `app` (CLI11's own texts
// rewritten), ending with where to find the options.
std::string usage_message(const CLI::ParseError& error, const CLI::App& app);

// Creates the output folder (and its parents); UsageError for an empty path, InputError
// naming the path and the reason (a file in the way, no permission, a symlink loop).
void prepare_output_folder(const std::string& path);

// Prints `lumos: <message>` as one line on stderr.
void print_error(const std::string& message);

// Maps the exception being handled to its exit code, printing its one-line message.
// Call only inside a catch block.
int report_current_exception();

// -m/--model, --score, --size and --output, and the model they load.
struct ModelOptions {
  std::string path;
  std::string score = "logits";
  std::string size;    // HxW or N, for models without a fixed input size
  std::string output;  // the output holding the class scores, for models with several

  // Adds -m (required, described as `model_help`), --size, --output and, if with_score, --score.
  void add_to(CLI::App& command, bool with_score, const std::string& model_help = "Model file: .onnx, .keras, .h5, or a TF.js model.json");
  // Adds --score, --size and --output only, for a command that adds -m itself.
  void add_load_options(CLI::App& command, bool with_score);
  // Throws UsageError for a malformed --size, else what Model::load throws.
  std::unique_ptr<Model> load() const;
};

// The normalisation the flags ask for: --mean/--std (both, [0,1] units), else
// --preprocess NAME, else the model's "preprocess" metadata, else imagenet. Bad flag
// values throw UsageError; a bad metadata value throws ModelError.
Preprocess choose_preprocess(const std::string& name, const std::vector<float>& mean, const std::vector<float>& stdev,
                             const Model& model);

std::vector<std::string> split_commas(const std::string& text);

// --method's names, canonical, in the order given; throws UsageError naming an unknown or repeated one.
std::vector<std::string> parse_methods(const std::vector<std::string>& names);

// --option's KEY=VALUE pairs as ExplainRequest::options; throws UsageError for a pair without
// '=' or a key no method family takes.
std::map<std::string, std::string> parse_method_options(const std::vector<std::string>& pairs);
// --option's help line, listing the keys of the registered method families.
std::string method_options_help();

// How images become model inputs and how classes are named: the flags predict and
// explain share.
struct InputOptions {
  std::string labels;      // file, one label per line
  std::string preprocess;  // preset name
  std::vector<float> mean, std;
  bool crop = false;

  void add_to(CLI::App& command);
  Preprocess preprocess_for(const Model& model) const;
  // The model's input size (fixed by --size when the file leaves it open); throws
  // InputError naming --size when it is still open.
  cv::Size size_for(const Model& model) const;
  // From --labels, else the model's "labels" metadata, else none.
  ClassLabels labels_for(const Model& model) const;
};

}  // namespace lumos::cli
