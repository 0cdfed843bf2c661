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

// Prints `lumos: <message>` as one line on stderr.
void print_error(const std::string& message);

// Maps the exception being handled to its exit code, printing its one-line message.
// Call only inside a catch block.
int report_current_exception();

// -m/--model and --score, and the model they load.
struct ModelOptions {
  std::string path;
  std::string score = "logits";

  void add_to(CLI::App& command, bool with_score);
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
  std::string size;        // HxW or N, for models without a fixed input size
  bool crop = false;

  void add_to(CLI::App& command);
  Preprocess preprocess_for(const Model& model) const;
  // Throws InputError (naming --size) when the model's size is not fixed and none is given.
  cv::Size size_for(const Model& model) const;
  // From --labels, else the model's "labels" metadata, else none.
  ClassLabels labels_for(const Model& model) const;
};

}  // namespace lumos::cli
