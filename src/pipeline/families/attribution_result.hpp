// An input attribution (attribution.hpp) as the pipeline's MethodResult: the shared part of the
// gradient and perturbation families' adapters.
#pragma once

#include "lumos/attribution.hpp"
#include "lumos/explain.hpp"

#include <utility>

namespace lumos {

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
