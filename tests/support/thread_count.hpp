// Sets ATen's thread count for a scope. Reference fixtures are made with 2 threads, and the
// thread count decides whether ATen runs a 1x1 convolution on oneDNN or its own kernel, whose
// results differ by rounding: bit-level comparisons must use the fixtures' count.
#pragma once

#include <ATen/Parallel.h>

namespace lumos::testing {

class ThreadCount {
 public:
  explicit ThreadCount(int threads) : previous_(at::get_num_threads()) { at::set_num_threads(threads); }
  ~ThreadCount() { at::set_num_threads(previous_); }
  ThreadCount(const ThreadCount&) = delete;
  ThreadCount& operator=(const ThreadCount&) = delete;

 private:
  int previous_;
};

}  // namespace lumos::testing
