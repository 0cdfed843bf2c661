// One pass per k-th class of every image, shared by the families that explain a class at a time.
#include "lumos/method_family.hpp"
#include "util/stopwatch.hpp"

#include <algorithm>

namespace lumos {

BatchResults explain_class_by_class(const MethodBatch& batch, const RowExplainer& explain_rows) {
  const size_t n = batch.size();
  size_t slots = 0;
  for (const auto& classes : batch.classes) slots = std::max(slots, classes.size());
  BatchResults results(n);
  for (size_t k = 0; k < slots; ++k) {
    // Padding rows hold image 0 (MethodBatch::input), so they take its classes.
    std::vector<Target> targets;
    for (int64_t row = 0; row < batch.input.size(0); ++row) {
      const auto& classes = batch.classes[static_cast<size_t>(row) < n ? static_cast<size_t>(row) : 0];
      targets.push_back(Target::class_index(classes[std::min(k, classes.size() - 1)]));
    }
    const Stopwatch pass;
    auto rows = explain_rows(targets);
    const double ms = pass.ms() / static_cast<double>(n);
    for (size_t i = 0; i < n; ++i) {
      if (k >= batch.classes[i].size()) continue;
      for (auto& result : rows[i]) {
        if (result.time_ms == 0) result.time_ms = ms;
      }
      results[i].push_back(std::move(rows[i]));
    }
  }
  return results;
}

}  // namespace lumos
