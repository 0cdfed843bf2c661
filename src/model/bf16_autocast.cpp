#include "model/bf16_autocast.hpp"

#include <ATen/ATen.h>
#include <ATen/autocast_mode.h>
#include <c10/core/impl/LocalDispatchKeySet.h>
#include <torch/library.h>

namespace lumos {
namespace {

// LibTorch 1.13's CPU autocast casts conv1d/2d/3d but not aten::convolution: this kernel
// gives it the same treatment (float32 operands to bfloat16). It runs only while autocast
// is on, i.e. inside a Bf16Autocast.
at::Tensor convolution_in_bf16(const at::Tensor& input, const at::Tensor& weight, const c10::optional<at::Tensor>& bias,
                               at::IntArrayRef stride, at::IntArrayRef padding, at::IntArrayRef dilation,
                               bool transposed, at::IntArrayRef output_padding, int64_t groups) {
  c10::impl::ExcludeDispatchKeyGuard no_autocast(c10::DispatchKey::AutocastCPU);
  auto bf16 = [](const at::Tensor& t) { return t.scalar_type() == at::kFloat ? t.to(at::kBFloat16) : t; };
  const c10::optional<at::Tensor> cast_bias = bias && bias->defined() ? c10::optional<at::Tensor>(bf16(*bias)) : bias;
  return at::convolution(bf16(input), bf16(weight), cast_bias, stride, padding, dilation, transposed, output_padding,
                         groups);
}

TORCH_LIBRARY_IMPL(aten, AutocastCPU, m) { m.impl("convolution", TORCH_FN(convolution_in_bf16)); }

}  // namespace

Bf16Autocast::Bf16Autocast(bool on)
    : on_(on), was_enabled_(at::autocast::is_cpu_enabled()), old_dtype_(at::autocast::get_autocast_cpu_dtype()) {
  if (!on_) return;
  at::autocast::set_cpu_enabled(true);
  at::autocast::set_autocast_cpu_dtype(at::kBFloat16);
  at::autocast::increment_nesting();
}

Bf16Autocast::~Bf16Autocast() {
  if (!on_) return;
  if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
  at::autocast::set_cpu_enabled(was_enabled_);
  at::autocast::set_autocast_cpu_dtype(old_dtype_);
}

}  // namespace lumos
