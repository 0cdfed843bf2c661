#include "lumos/target.hpp"

#include "lumos/error.hpp"

#include <ATen/ATen.h>

#include <algorithm>
#include <cctype>
#include <exception>
#include <sstream>

namespace lumos {

Target Target::class_index(int64_t index) {
  if (index < 0) throw InputError("target class " + std::to_string(index) + " is negative; class indices start at 0");
  return {Kind::index, index, ""};
}

Target Target::label(std::string name) {
  if (name.empty()) throw InputError("empty target label; give a class index, a label or topK");
  return {Kind::label, 0, std::move(name)};
}

Target Target::top(int64_t rank) {
  if (rank < 1) throw InputError("target rank " + std::to_string(rank) + " is invalid; the top prediction is top1");
  return {Kind::rank, rank, ""};
}

Target Target::parse(const std::string& text) {
  auto all_digits = [](const std::string& s) {
    return !s.empty() && std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isdigit(c); });
  };
  if (text.empty()) throw InputError("empty target; give a class index, a label or topK (e.g. top1)");
  if (text.size() > 3 && text.compare(0, 3, "top") == 0 && all_digits(text.substr(3))) {
    return top(std::stoll(text.substr(3)));
  }
  if (all_digits(text) && text.size() < 18) return class_index(std::stoll(text));
  return label(text);
}

int64_t Target::resolve(const at::Tensor& image_scores, const std::vector<std::string>& labels) const {
  const int64_t classes = image_scores.numel();
  switch (kind_) {
    case Kind::index:
      if (number_ >= classes) {
        throw InputError("target class " + std::to_string(number_) + " is out of range: the model has " +
                         std::to_string(classes) + " classes (0.." + std::to_string(classes - 1) + ")");
      }
      return number_;
    case Kind::rank: {
      if (number_ > classes) {
        throw InputError("target top" + std::to_string(number_) + " is out of range: the model has " +
                         std::to_string(classes) + " classes");
      }
      const auto order = std::get<1>(image_scores.reshape({-1}).topk(number_));
      return order[number_ - 1].item<int64_t>();
    }
    case Kind::label: {
      if (labels.empty()) {
        throw InputError("target label '" + name_ + "' needs a label list (one class name per line, in class order)");
      }
      const auto it = std::find(labels.begin(), labels.end(), name_);
      if (it == labels.end()) {
        throw InputError("target label '" + name_ + "' is not in the label list (" + std::to_string(labels.size()) +
                         " labels); check the spelling or give a class index");
      }
      const int64_t index = it - labels.begin();
      if (index >= classes) {
        throw InputError("target label '" + name_ + "' is class " + std::to_string(index) + " in the label list, but "
                         "the model has only " + std::to_string(classes) + " classes; the label list does not fit it");
      }
      return index;
    }
  }
  return -1;
}

std::string Target::describe() const {
  switch (kind_) {
    case Kind::index: return "class " + std::to_string(number_);
    case Kind::label: return "label '" + name_ + "'";
    case Kind::rank: return "top-" + std::to_string(number_);
  }
  return "";
}

namespace {
constexpr long long kMaxTopRanks = 100000;
}  // namespace

std::string Target::text() const {
  switch (kind_) {
    case Kind::index: return std::to_string(number_);
    case Kind::label: return name_;
    case Kind::rank: return "top" + std::to_string(number_);
  }
  return "";
}

std::vector<Target> parse_target_list(const std::string& text) {
  std::vector<Target> targets;
  std::istringstream in(text);
  for (std::string part; std::getline(in, part, ',');) {
    if (part.size() > 3 && part.compare(0, 3, "top") == 0) {
      size_t used = 0;
      long long k = 0;
      try {
        k = std::stoll(part.substr(3), &used);
      } catch (const std::exception&) {
      }
      if (used != part.size() - 3 || k < 1) throw InputError("'" + part + "' is not a rank — give top1, top2, …");
      // Checked against the model's classes later; bounded here so that the list stays small.
      if (k > kMaxTopRanks) {
        throw InputError("'" + part + "' asks for more than " + std::to_string(kMaxTopRanks) + " classes — give a smaller K");
      }
      for (int64_t rank = 1; rank <= k; ++rank) targets.push_back(Target::top(rank));
      continue;
    }
    targets.push_back(Target::parse(part));
  }
  if (targets.empty()) throw InputError("no target given — give top1, topK, a class index or a label");
  return targets;
}

std::vector<int64_t> resolve_targets(const std::vector<Target>& targets, const at::Tensor& scores,
                                     const std::vector<std::string>& labels) {
  const int64_t n = scores.size(0);
  if (targets.size() != 1 && static_cast<int64_t>(targets.size()) != n) {
    throw InputError(std::to_string(targets.size()) + " targets for a batch of " + std::to_string(n) +
                     " images; give one target per image, or one for all");
  }
  std::vector<int64_t> classes(n);
  const auto host = scores.detach().to(at::kFloat);
  for (int64_t i = 0; i < n; ++i) classes[i] = targets[targets.size() == 1 ? 0 : i].resolve(host[i], labels);
  return classes;
}

}  // namespace lumos
