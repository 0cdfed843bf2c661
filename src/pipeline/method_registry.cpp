// The registry of method families, and the helpers families read their options with.
#include "lumos/error.hpp"
#include "lumos/method_family.hpp"
#include "util/join.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <exception>
#include <stdexcept>

namespace lumos {
namespace {

// Case, '-', '_' and spaces never matter in a method's name.
std::string key_of(const std::string& spelling) {
  std::string key;
  for (char c : spelling) {
    if (c != '-' && c != '_' && c != ' ') key += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return key;
}

const std::string* option_value(const ExplainRequest& request, const std::string& key) {
  const auto it = request.options.find(key);
  return it == request.options.end() ? nullptr : &it->second;
}

[[noreturn]] void bad_option(const std::string& key, const std::string& value, const std::string& wanted) {
  throw InputError("option " + key + "='" + value + "' — give " + wanted);
}

}  // namespace

MethodRegistry& MethodRegistry::instance() {
  static MethodRegistry registry;
  return registry;
}

bool MethodRegistry::add(MethodFamilyInfo family) {
  for (const auto& method : family.methods) {
    std::vector<std::string> spellings = method.aliases;
    spellings.push_back(method.name);
    for (const auto& spelling : spellings) {
      for (const auto& other : families_) {
        for (const auto& taken : other.methods) {
          if (key_of(taken.name) == key_of(spelling) ||
              std::any_of(taken.aliases.begin(), taken.aliases.end(),
                          [&](const std::string& alias) { return key_of(alias) == key_of(spelling); })) {
            throw std::logic_error("method family " + family.name + ": '" + spelling + "' is taken by family " +
                                   other.name);
          }
        }
      }
    }
  }
  for (const auto& option : family.options) {
    for (const auto& other : families_) {
      for (const auto& taken : other.options) {
        if (taken.key == option.key) throw std::logic_error("method family " + family.name + ": option " + option.key + " is taken");
      }
    }
  }
  families_.push_back(std::move(family));
  return true;
}

std::string MethodRegistry::canonical(const std::string& spelling) const {
  const std::string key = key_of(spelling);
  for (const auto* family : families()) {
    for (const auto& method : family->methods) {
      if (key_of(method.name) == key) return method.name;
      for (const auto& alias : method.aliases) {
        if (key_of(alias) == key) return method.name;
      }
    }
  }
  throw InputError("unknown method '" + spelling + "'; choose from " + join(method_names(), ", "));
}

const MethodFamilyInfo* MethodRegistry::family_of(const std::string& method) const {
  for (const auto& family : families_) {
    for (const auto& spec : family.methods) {
      if (spec.name == method) return &family;
    }
  }
  return nullptr;
}

const MethodSpec* MethodRegistry::method(const std::string& name) const {
  for (const auto& family : families_) {
    for (const auto& spec : family.methods) {
      if (spec.name == name) return &spec;
    }
  }
  return nullptr;
}

std::vector<const MethodFamilyInfo*> MethodRegistry::families() const {
  // Registration order follows the order static initialisers happen to run in; names do not.
  std::vector<const MethodFamilyInfo*> sorted;
  for (const auto& family : families_) sorted.push_back(&family);
  std::sort(sorted.begin(), sorted.end(), [](const auto* a, const auto* b) { return a->name < b->name; });
  return sorted;
}

std::vector<std::string> MethodRegistry::method_names() const {
  std::vector<std::string> names;
  for (const auto* family : families()) {
    for (const auto& method : family->methods) names.push_back(method.name);
  }
  return names;
}

std::vector<std::string> resolve_methods(const std::vector<std::string>& spellings) {
  std::vector<std::string> methods;
  for (const auto& spelling : spellings) {
    const std::string name = MethodRegistry::instance().canonical(spelling);
    if (std::find(methods.begin(), methods.end(), name) != methods.end()) {
      throw InputError("'" + join(spellings, ",") + "' lists " + name + " twice; give each method once");
    }
    methods.push_back(name);
  }
  return methods;
}

std::string method_title(const std::string& method) {
  const auto* spec = MethodRegistry::instance().method(method);
  return spec ? spec->title : method;
}

void check_option_keys(const std::map<std::string, std::string>& options) {
  std::vector<std::string> known;
  for (const auto* family : MethodRegistry::instance().families()) {
    for (const auto& option : family->options) known.push_back(option.key);
  }
  for (const auto& [key, value] : options) {
    if (std::find(known.begin(), known.end(), key) == known.end()) {
      throw InputError("unknown option '" + key + "'; " +
                       (known.empty() ? std::string("no method takes options of its own")
                                      : "the methods take " + join(known, ", ")));
    }
  }
}

int64_t option_integer(const ExplainRequest& request, const std::string& key, int64_t fallback, int64_t low,
                       int64_t high) {
  const std::string* value = option_value(request, key);
  if (!value) return fallback;
  const std::string range = "a whole number from " + std::to_string(low) + " to " + std::to_string(high);
  size_t used = 0;
  long long number = 0;
  try {
    number = std::stoll(*value, &used);
  } catch (const std::exception&) {
    bad_option(key, *value, range);
  }
  if (used != value->size() || number < low || number > high) bad_option(key, *value, range);
  return number;
}

double option_number(const ExplainRequest& request, const std::string& key, double fallback, double low, double high) {
  const std::string* value = option_value(request, key);
  if (!value) return fallback;
  const std::string range = "a number from " + std::to_string(low) + " to " + std::to_string(high);
  size_t used = 0;
  double number = 0;
  try {
    number = std::stod(*value, &used);
  } catch (const std::exception&) {
    bad_option(key, *value, range);
  }
  if (used != value->size() || !std::isfinite(number) || number < low || number > high) bad_option(key, *value, range);
  return number;
}

std::string option_choice(const ExplainRequest& request, const std::string& key, const std::string& fallback,
                          const std::vector<std::string>& choices) {
  const std::string* value = option_value(request, key);
  if (!value) return fallback;
  if (!choices.empty() && std::find(choices.begin(), choices.end(), *value) == choices.end()) {
    bad_option(key, *value, "one of " + join(choices, ", "));
  }
  return *value;
}

}  // namespace lumos
