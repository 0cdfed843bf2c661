// Which class an explanation is about. A target is named before the model has run
// (a class index, a label, or a rank among the scores) and resolved per image.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>
#include <vector>

namespace lumos {

class Target {
 public:
  // The class with this index.
  static Target class_index(int64_t index);
  // The class with this name in the label list the explainer is given.
  static Target label(std::string name);
  // The class with the rank-th highest score of each image (1 = the top prediction).
  static Target top(int64_t rank = 1);
  // "top1", "top3", a class index ("281") or a label ("tabby"). Throws InputError on "" or "top0".
  static Target parse(const std::string& text);

  // The class index for one image, given its scores [classes] and the label list (may be
  // empty). Throws InputError if the index or rank is out of range (saying how many classes
  // the model has) or the label is unknown.
  int64_t resolve(const at::Tensor& image_scores, const std::vector<std::string>& labels) const;

  // "class 281", "label 'tabby'", "top-1".
  std::string describe() const;
  // What Target::parse reads back: "281", "tabby", "top1".
  std::string text() const;

 private:
  enum class Kind { index, label, rank };
  Target(Kind kind, int64_t number, std::string name) : kind_(kind), number_(number), name_(std::move(name)) {}

  Kind kind_;
  int64_t number_;
  std::string name_;
};

// A comma-separated list as users write it: "topK" stands for each of the K best classes
// (top1, …, topK), other entries are parsed by Target::parse ("top3,281,tabby"). Throws
// InputError for an empty list or entry, or a "top" entry that is not top1, top2, ….
std::vector<Target> parse_target_list(const std::string& text);

// One target per image of a batch of n: either n targets, or one target used for every image.
// Throws InputError for any other count.
std::vector<int64_t> resolve_targets(const std::vector<Target>& targets, const at::Tensor& scores,
                                     const std::vector<std::string>& labels);

}  // namespace lumos
