// Size arithmetic on numbers that come from files (tensor dims, image sizes, offsets):
// products and sums that report overflow instead of wrapping (undefined for int64_t).
#pragma once

#include <cstdint>
#include <optional>

namespace lumos {

// a * b, or nothing if it does not fit in int64_t.
inline std::optional<int64_t> checked_multiply(int64_t a, int64_t b) {
  int64_t product = 0;
  if (__builtin_mul_overflow(a, b, &product)) return std::nullopt;
  return product;
}

// The number of elements of a tensor with these sizes (each >= 0), or nothing if one is
// negative or the sizes do not fit in int64_t. `Sizes` is any range of integers (a
// vector, at::IntArrayRef, ...). The product of the sizes other than 0 must fit too,
// because ATen computes strides from it even for a tensor with no elements.
template <typename Sizes>
std::optional<int64_t> checked_product(const Sizes& sizes) {
  int64_t span = 1;
  bool empty = false;
  for (const auto size : sizes) {
    if (size < 0) return std::nullopt;
    empty = empty || size == 0;
    const auto next = checked_multiply(span, size == 0 ? 1 : static_cast<int64_t>(size));
    if (!next) return std::nullopt;
    span = *next;
  }
  return empty ? 0 : span;
}

}  // namespace lumos
