// The test binary's entry point: like the CLI, it keeps freed memory for reuse
// (lumos/runtime.hpp); without that the model-heavy tests spend most of their time in
// page faults.
#include "lumos/runtime.hpp"

#include <gtest/gtest.h>

int main(int argc, char** argv) {
  lumos::keep_freed_memory();
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
