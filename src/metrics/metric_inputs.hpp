// What the model-based metrics share: input checks, layout conversion, batched scoring.
#pragma once

#include "lumos/metrics.hpp"

#include <ATen/ATen.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace lumos::metrics_detail {

// The batch as float [N,C,H,W] and the maps as float [N,H,W], after checking that batch,
// maps and targets agree. Throws InputError naming `metric` and the mismatch.
struct CheckedInputs {
  at::Tensor images;
  at::Tensor maps;
};
CheckedInputs check_inputs(const Model& model, const at::Tensor& batch, const at::Tensor& maps,
                           const std::vector<int64_t>& targets, const MetricOptions& options,
                           const std::string& metric);

// [N,C,H,W] to the layout the model takes, and back.
at::Tensor to_layout(const at::Tensor& nchw, Layout layout);
at::Tensor from_layout(const at::Tensor& batch, Layout layout);

// Throws InputError unless `map` is a finite float tensor with values in [0, 1].
void check_map_values(const at::Tensor& map, const std::string& what);

// Makes inputs [start, end) of `count` as [end - start, C, H, W].
using InputMaker = std::function<at::Tensor(int64_t start, int64_t end)>;

// The probability of class target_of(i) for each input i < count, scoring the inputs in
// model calls of options.batch_size and reporting progress under `metric`.
std::vector<double> target_probabilities(Model& model, int64_t count, const InputMaker& make,
                                         const std::function<int64_t(int64_t)>& target_of,
                                         const MetricOptions& options, const std::string& metric);

}  // namespace lumos::metrics_detail
