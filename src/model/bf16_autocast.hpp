// Opt-in bfloat16 inference for perturbation methods (Score-CAM, LIME): they rank scores,
// which bf16 keeps, and CPUs with bf16 units (AMX, AVX512-BF16) run it several times faster.
#pragma once

#include <c10/core/ScalarType.h>

namespace lumos {

// CPU autocast to bfloat16 for the guard's lifetime when `on`; restores the previous state.
// The ONNX executor's Conv calls aten::convolution, which LibTorch 1.13's autocast does not
// cast; bf16_autocast.cpp registers the missing autocast kernel for it.
class Bf16Autocast {
 public:
  explicit Bf16Autocast(bool on);
  ~Bf16Autocast();
  Bf16Autocast(const Bf16Autocast&) = delete;
  Bf16Autocast& operator=(const Bf16Autocast&) = delete;

 private:
  bool on_;
  bool was_enabled_;
  c10::ScalarType old_dtype_;
};

}  // namespace lumos
