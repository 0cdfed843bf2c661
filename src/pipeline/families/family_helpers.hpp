// What the method families' adapters share.
#pragma once

#include "lumos/attribution.hpp"
#include "lumos/explain.hpp"
#include "lumos/method_family.hpp"

#include <string>
#include <utility>
#include <vector>

namespace lumos {

// A family's methods as its own enum, in the order FamilySetup::methods names them.
template <typename Parse>
auto parsed_methods(const FamilySetup& setup, const Parse& parse) {
  std::vector<decltype(parse(std::string()))> methods;
  for (const auto& name : setup.methods) methods.push_back(parse(name));
  return methods;
}

// Reports an attribution explainer's progress to, and asks about cancelling, the batch under
// way: `batch` is the family's pointer to it (null between batches), which outlives `options`.
template <typename AttributionOptions>
void follow_batch(AttributionOptions& options, const MethodBatch* const& batch) {
  options.progress = [&batch](const AttributionProgress& p) {
    if (batch && batch->progress) batch->progress(p.image < 0 ? 0 : static_cast<size_t>(p.image), p.method, p.done, p.total);
  };
  options.cancel = [&batch] { return batch && batch->run_cancelled(); };
}

// Per row of a pass, the results of its maps as `result_of(map, row)` makes them.
template <typename Explanation, typename ResultOf>
std::vector<std::vector<MethodResult>> rows_of(std::vector<Explanation>&& explanations, const ResultOf& result_of) {
  std::vector<std::vector<MethodResult>> rows;
  for (size_t row = 0; row < explanations.size(); ++row) {
    std::vector<MethodResult> methods;
    for (auto& map : explanations[row].maps) methods.push_back(result_of(map, row));
    rows.push_back(std::move(methods));
  }
  return rows;
}

// An input attribution (attribution.hpp) as the pipeline's MethodResult.
inline MethodResult method_result(AttributionMap&& map) {
  MethodResult result;
  result.method = std::move(map.method);
  result.map = std::move(map.map);
  result.raw = std::move(map.values);
  result.empty = map.empty;
  result.time_ms = map.time_ms;
  if (!map.warning.empty()) result.warnings.push_back(std::move(map.warning));
  if (map.convergence_delta) result.numbers.push_back({"convergence_delta", *map.convergence_delta});
  return result;
}

}  // namespace lumos
