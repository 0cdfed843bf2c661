#include "cli.hpp"

#include "lumos/error.hpp"
#include "lumos/file.hpp"
#include "lumos/image.hpp"
#include "lumos/method_family.hpp"

#include <c10/util/Exception.h>
#include <opencv2/core.hpp>

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <new>
#include <optional>
#include <sstream>
#include <thread>

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

// A whole decimal number, nothing else (std::stoll would accept "12abc" and " 12").
bool parse_integer(const std::string& text, int64_t& value) {
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  return !text.empty() && error == std::errc() && end == text.data() + text.size();
}

}  // namespace

const CLI::Validator kPositiveInteger(
    [](std::string& text) {
      int64_t value = 0;
      return parse_integer(text, value) && value >= 1 ? std::string() : "'" + text + "' is not a whole number >= 1";
    },
    "INT>=1");

const CLI::Validator kNonNegativeInteger(
    [](std::string& text) {
      const bool digits = !text.empty() && std::all_of(text.begin(), text.end(), [](unsigned char c) {
        return std::isdigit(c);
      });
      uint64_t value = 0;
      const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
      return digits && error == std::errc() && end == text.data() + text.size()
                 ? std::string()
                 : "'" + text + "' is not a whole number >= 0";
    },
    "INT>=0");

CLI::Validator integer_in(int64_t low, int64_t high, const std::string& why) {
  return CLI::Validator(
      [=](std::string& text) {
        int64_t value = 0;
        if (parse_integer(text, value) && value >= low && value <= high) return std::string();
        return "'" + text + "' is not a whole number from " + std::to_string(low) + " to " + std::to_string(high) +
               (why.empty() ? "" : " (" + why + ")");
      },
      "INT in [" + std::to_string(low) + ", " + std::to_string(high) + "]");
}

CLI::Validator number_in(double low, double high) {
  const auto shown = [](double v) {
    std::ostringstream out;
    out << v;
    return out.str();
  };
  return CLI::Validator(
      [=](std::string& text) {
        char* end = nullptr;
        const double value = std::strtod(text.c_str(), &end);
        const bool whole = !text.empty() && end == text.c_str() + text.size();
        if (whole && std::isfinite(value) && value >= low && value <= high) return std::string();
        return "'" + text + "' is not a number from " + shown(low) + " to " + shown(high);
      },
      "NUMBER in [" + shown(low) + ", " + shown(high) + "]");
}

CLI::Validator one_of(const std::vector<std::string>& choices) {
  std::string listed;
  for (const auto& c : choices) listed += (listed.empty() ? "" : ", ") + c;
  return CLI::Validator(
      [=](std::string& text) {
        if (std::find(choices.begin(), choices.end(), text) != choices.end()) return std::string();
        return "'" + text + "' is not one of " + listed;
      },
      "one of " + listed);
}

int64_t max_threads() { return 4 * static_cast<int64_t>(std::max(1u, std::thread::hardware_concurrency())); }

namespace {

// The message for the error alone.
std::string parse_error_text(const CLI::ParseError& error, const std::string& commands) {
  const std::string text = error.what();
  const auto after = [&](const std::string& marker) {
    const auto at = text.find(marker);
    return at == std::string::npos ? std::string() : text.substr(at + marker.size());
  };
  const auto before = [&](const std::string& marker) { return text.substr(0, text.find(marker)); };
  if (dynamic_cast<const CLI::ExtrasError*>(&error)) {
    const auto extra = after("expected: ");
    return (extra.rfind('-', 0) == 0 ? "unknown option " : "unexpected argument ") + extra;
  }
  if (dynamic_cast<const CLI::ArgumentMismatch*>(&error)) {
    if (text.find(" required but received ") != std::string::npos && text.find("At Most 1") != std::string::npos) {
      return before(":") + " is given more than once; give it once";
    }
    if (text.find(" missing") != std::string::npos) return before(":") + " needs a value";
    return before(":") + " has the wrong number of values";
  }
  if (dynamic_cast<const CLI::ConversionError*>(&error)) {
    if (text.rfind("Could not convert: ", 0) == 0) {
      const auto rest = after("Could not convert: ");
      const auto equals = rest.find(" = ");
      return rest.substr(0, equals) + ": '" + rest.substr(equals == std::string::npos ? 0 : equals + 3) +
             "' is not a valid value";
    }
    if (text.find("true/false") != std::string::npos || text.find("for a flag") != std::string::npos) {
      return before(":") + " is a flag; give it without a value";
    }
  }
  if (dynamic_cast<const CLI::RequiredError*>(&error) && text.rfind("A subcommand", 0) == 0) {
    return "no command given; give one of " + commands;
  }
  if (dynamic_cast<const CLI::ExcludesError*>(&error)) return before(" excludes ") + " and " + after(" excludes ") + " cannot be used together";
  if (dynamic_cast<const CLI::RequiresError*>(&error)) return before(" requires ") + " needs " + after(" requires ") + " as well";
  // RequiredError ("--model is required"), ValidationError ("--top: '0' is not ..."): already lumos's words.
  std::string message = text;
  if (!message.empty() && std::isupper(static_cast<unsigned char>(message[0])) &&
      !(message.size() > 1 && std::isupper(static_cast<unsigned char>(message[1])))) {
    message[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(message[0])));
  }
  return message;
}

}  // namespace

std::string usage_message(const CLI::ParseError& error, const CLI::App& app) {
  std::string commands;
  for (const auto* sub : app.get_subcommands([](const CLI::App*) { return true; })) {
    commands += (commands.empty() ? "" : ", ") + sub->get_name();
  }
  std::string command = "lumos";
  for (const auto* sub : app.get_subcommands()) command += " " + sub->get_name();
  // "lumos bogus": CLI11 says only that a subcommand is required.
  const auto rest = app.remaining();
  const bool unknown_command = command == "lumos" && !rest.empty() && rest.front().rfind('-', 0) != 0;
  return (unknown_command ? "unknown command '" + rest.front() + "'; give one of " + commands
                          : parse_error_text(error, commands)) +
         " — run '" + command + " --help' for the options";
}

void prepare_output_folder(const std::string& path) {
  namespace fs = std::filesystem;
  if (path.empty()) throw UsageError("-o/--out is empty — give the output folder");
  std::error_code error;
  const auto status = fs::status(path, error);
  if (!error && fs::exists(status) && !fs::is_directory(status)) {
    throw InputError("output folder '" + path + "' is a file — give a folder (it is made if missing)");
  }
  if (error && error != std::errc::no_such_file_or_directory) {
    throw InputError("cannot use output folder '" + path + "': " + error.message() + " — check the path");
  }
  fs::create_directories(path, error);
  if (error) {
    throw InputError("cannot make output folder '" + path + "': " + error.message() + " — check the path and permissions");
  }
  if (::access(path.c_str(), W_OK | X_OK) != 0) {
    throw InputError("cannot write into output folder '" + path + "': " + std::strerror(errno) +
                     " — check its permissions");
  }
}

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
  } catch (const std::filesystem::filesystem_error& e) {
    print_error("cannot use '" + e.path1().string() + "'" + (e.path2().empty() ? "" : " or '" + e.path2().string() + "'") +
                ": " + e.code().message() + " — check the path, its permissions and free space");
    return kInputError;
  } catch (const std::exception& e) {
    print_error(std::string("unexpected failure: ") + first_line(e.what()) +
                " — please report it with the command that caused it");
    return kModelError;
  }
}

void ModelOptions::add_to(CLI::App& command, bool with_score, const std::string& model_help) {
  command.add_option("-m,--model", path, model_help)->required();
  add_load_options(command, with_score);
}

void ModelOptions::add_load_options(CLI::App& command, bool with_score) {
  if (with_score) {
    command.add_option("--score", score, "Which scores to use: logits (default; a final Softmax or Sigmoid is "
                                         "skipped) or probability")
        ->check(one_of({"logits", "probability"}));
  }
  command.add_option("--size", size, "HEIGHTxWIDTH to run the model at, for models without a fixed input size");
  command.add_option("--output", output, "The model output that holds the class scores (default: the first)");
}

std::unique_ptr<Model> ModelOptions::load() const {
  LoadOptions options;
  options.score = score == "probability" ? Score::probability : Score::logits;
  options.output = output;
  if (!size.empty()) {
    std::istringstream in(size);
    int64_t height = 0, width = 0;
    char x = 0;
    in >> height;
    if (in.peek() == EOF) width = height;
    else in >> x >> width;
    if (!in || (x != 0 && x != 'x') || height <= 0 || width <= 0 || in.peek() != EOF) {
      throw UsageError("--size '" + size + "' is not a size — give HEIGHTxWIDTH (e.g. 224x224) or one number");
    }
    options.height = height;
    options.width = width;
  }
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
  command.add_flag("--crop", crop, "Keep the aspect ratio: scale, then cut the centre (default: stretch)");
}

Preprocess InputOptions::preprocess_for(const Model& model) const {
  auto chosen = choose_preprocess(preprocess, mean, std, model);
  chosen.fit = crop ? Fit::center_crop : Fit::stretch;
  return chosen;
}

cv::Size InputOptions::size_for(const Model& model) const {
  try {
    return model_input_size(model.input());
  } catch (const InputError& e) {
    throw InputError(std::string(e.what()) + " (--size HEIGHTxWIDTH)");
  }
}

ClassLabels InputOptions::labels_for(const Model& model) const {
  return labels.empty() ? ClassLabels::of_model(model) : ClassLabels::read(labels);
}

}  // namespace lumos::cli
