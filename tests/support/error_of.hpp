// The message of the exception of type E that f throws, or "" if it throws none.
#pragma once

#include <functional>
#include <string>

namespace lumos::testing {

template <typename E>
std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const E& e) {
    return e.what();
  }
  return "";
}

}  // namespace lumos::testing
