// Comparing a tensor with a reference computed elsewhere (PyTorch, an independent interpreter).
#pragma once

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <iostream>
#include <string>

namespace lumos::testing {

// max |actual - expected| / max |expected|, within `tolerance`. Prints the difference, so that
// test logs show how close each comparison is, not only that it passed.
inline ::testing::AssertionResult close_to(const std::string& what, const at::Tensor& actual,
                                           const at::Tensor& expected, double tolerance) {
  if (actual.sizes() != expected.sizes()) {
    return ::testing::AssertionFailure() << what << " has shape " << actual.sizes() << ", the reference "
                                         << expected.sizes();
  }
  const auto reference = expected.to(at::kDouble);
  const double rel = (actual.detach().to(at::kDouble) - reference).abs().max().item<double>() /
                     reference.abs().max().item<double>();
  std::cout << "    " << what << ": max rel diff " << rel << "\n";
  if (rel <= tolerance) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << what << " differs from the reference: max rel diff " << rel << " > "
                                       << tolerance;
}

}  // namespace lumos::testing
