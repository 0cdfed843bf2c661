// What the benchmarks share: wall-clock timing and reading their flags.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace bench {

inline double elapsed_ms(const std::function<void()>& f) {
  const auto start = std::chrono::steady_clock::now();
  f();
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
}

inline double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  return values[values.size() / 2];
}

// argv read in order: next() moves to the following argument, value() takes the one after a
// flag (calling `usage`, which must not return, when there is none).
class Arguments {
 public:
  Arguments(int argc, char** argv, void (*usage)()) : argc_(argc), argv_(argv), usage_(usage) {}

  bool next() { return ++index_ < argc_; }
  std::string current() const { return argv_[index_]; }
  std::string value() {
    if (index_ + 1 >= argc_) usage_();
    return argv_[++index_];
  }
  int64_t integer() { return std::stoll(value()); }

 private:
  int argc_;
  char** argv_;
  void (*usage_)();
  int index_ = 0;
};

}  // namespace bench
