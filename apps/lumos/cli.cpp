#include "cli.hpp"

#include "lumos/error.hpp"
#include "lumos/image.hpp"
#include "lumos/method_family.hpp"

#include <c10/util/Exception.h>
#include <opencv2/core.hpp>

#include <iostream>
#include <new>
#include <optional>
#include <sstream>

namespace lumos::cli {
namespace {

// Library messages can carry newlines (from ATen or OpenCV); an error is one line.
std::string one_line(std::string text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  for (auto& c : text) {
    if (c == '\n' || c == '\r' || c == '\t') c = ' ';
  }
  return text;
}

std::string first_line(const std::string& text) { return text.substr(0, text.find('\n')); }

}  // namespace

const CLI::Validator kPositiveInteger(
    [](std::string& text) {
      size_t used = 0;
      long long value = 0;
      try {
        value = std::stoll(text, &used);
      } catch (const std::exception&) {
      }
      return used == text.size() && value >= 1 ? std::string() : "'" + text + "' is not a whole number >= 1";
    },
    "INT>=1");

void print_error(const std::string& message) { std::cerr << "lumos: " << one_line(message) << std::endl; }

int report_current_exception() {
  try {
    throw;
  } catch (const UsageError& e) {
    print_error(e.what());
    return kUsageError;
  } catch (const ModelError& e) {
    print_error(e.what());
    return kModelError;
  } catch (const CancelledError& e) {
    print_error(e.what());
    return kInterrupted;
  } catch (const Error& e) {
    print_error(e.what());
    return kInputError;
  } catch (const c10::Error& e) {
    print_error("the model failed to run: " + first_line(e.what_without_backtrace()) +
                " — check that the model, the input size and --preprocess fit together");
    return kModelError;
  } catch (const cv::Exception& e) {
    print_error("image processing failed: " + e.err + " — check the image files");
    return kInputError;
  } catch (const std::bad_alloc&) {
    print_error("out of memory — give fewer or smaller images, or a smaller --batch");
    return kInputError;
  } catch (const std::exception& e) {
    print_error(std::string("unexpected failure: ") + first_line(e.what()) +
                " — please report it with the command that caused it");
    return kModelError;
  }
}

void ModelOptions::add_to(CLI::App& command, bool with_score) {
  command.add_option("-m,--model", path, "Model file (.onnx)")->required();
  if (with_score) {
    command.add_option("--score", score, "Which scores to report: logits (default; a final Softmax is skipped) "
                                         "or probability")
        ->check(CLI::IsMember({"logits", "probability"}));
  }
}

std::unique_ptr<Model> ModelOptions::load() const {
  LoadOptions options;
  options.score = score == "probability" ? Score::probability : Score::logits;
  return Model::load(path, options);
}

Preprocess choose_preprocess(const std::string& name, const std::vector<float>& mean, const std::vector<float>& stdev,
                              const Model& model) {
  if (!mean.empty() || !stdev.empty()) {
    if (mean.empty() || stdev.empty()) {
      throw UsageError("--mean and --std go together — give both, in [0,1] units, "
                       "e.g. --mean 0.5,0.5,0.5 --std 0.5,0.5,0.5");
    }
    if (!name.empty()) {
      throw UsageError("--preprocess and --mean/--std were both given — give one of them");
    }
    try {
      return Preprocess::mean_std(mean, stdev);
    } catch (const InputError& e) {
      throw UsageError(std::string("--mean/--std: ") + e.what());
    }
  }
  if (!name.empty()) {
    try {
      return Preprocess::named(name);
    } catch (const InputError& e) {
      throw UsageError(std::string("--preprocess: ") + e.what());
    }
  }
  try {
    return default_preprocess(model);
  } catch (const ModelError& e) {
    throw ModelError(std::string(e.what()) + "; give --preprocess");
  }
}

std::vector<std::string> split_commas(const std::string& text) {
  std::vector<std::string> parts;
  std::istringstream in(text);
  for (std::string part; std::getline(in, part, ',');) parts.push_back(part);
  return parts;
}

std::vector<std::string> parse_methods(const std::vector<std::string>& names) {
  try {
    return resolve_methods(names);
  } catch (const InputError& e) {
    throw UsageError(std::string("--method: ") + e.what());
  }
}

std::map<std::string, std::string> parse_method_options(const std::vector<std::string>& pairs) {
  std::map<std::string, std::string> options;
  for (const auto& pair : pairs) {
    const size_t equals = pair.find('=');
    if (equals == std::string::npos || equals == 0) throw UsageError("--option '" + pair + "' — give KEY=VALUE");
    options[pair.substr(0, equals)] = pair.substr(equals + 1);
  }
  try {
    check_option_keys(options);
  } catch (const InputError& e) {
    throw UsageError(std::string("--option: ") + e.what());
  }
  return options;
}

std::string method_options_help() {
  std::string keys;
  for (const auto* family : MethodRegistry::instance().families()) {
    for (const auto& option : family->options) keys += (keys.empty() ? "" : ", ") + option.key;
  }
  return "KEY=VALUE for a method's own setting; repeat for several" + (keys.empty() ? "" : " (" + keys + ")");
}

void InputOptions::add_to(CLI::App& command) {
  command.add_option("--labels", labels, "Class names, one per line (default: the model's metadata, if any)");
  command.add_option("--preprocess", preprocess,
                     "Normalisation: imagenet, tf ([-1,1]), caffe (BGR minus mean), unit ([0,1]), raw ([0,255]) "
                     "(default: the model's metadata, else imagenet)");
  command.add_option("--mean", mean, "Explicit per-channel mean in [0,1] units, R,G,B (with --std)")->delimiter(',');
  command.add_option("--std", std, "Explicit per-channel std in [0,1] units, R,G,B (with --mean)")->delimiter(',');
  command.add_option("--size", size, "HEIGHTxWIDTH to resize to, for models without a fixed input size");
  command.add_flag("--crop", crop, "Keep the aspect ratio: scale, then cut the centre (default: stretch)");
}

Preprocess InputOptions::preprocess_for(const Model& model) const {
  auto chosen = choose_preprocess(preprocess, mean, std, model);
  chosen.fit = crop ? Fit::center_crop : Fit::stretch;
  return chosen;
}

cv::Size InputOptions::size_for(const Model& model) const {
  std::optional<cv::Size> requested;
  if (!size.empty()) {
    std::istringstream in(size);
    int height = 0, width = 0;
    char x = 0;
    in >> height;
    if (in.peek() == EOF) width = height;
    else in >> x >> width;
    if (!in || (x != 0 && x != 'x') || height <= 0 || width <= 0 || in.peek() != EOF) {
      throw UsageError("--size '" + size + "' is not a size — give HEIGHTxWIDTH (e.g. 224x224) or one number");
    }
    requested = cv::Size(width, height);
  }
  try {
    return model_input_size(model.input(), requested);
  } catch (const InputError& e) {
    throw InputError(std::string(e.what()) + " (--size HEIGHTxWIDTH)");
  }
}

ClassLabels InputOptions::labels_for(const Model& model) const {
  return labels.empty() ? ClassLabels::of_model(model) : ClassLabels::read(labels);
}

}  // namespace lumos::cli
