// Element-wise combination of tensors, shared by the merge layers and the operations
// Keras records on tensors (x + y, x * 3.0).
#pragma once

#include "model/keras/layer.hpp"

namespace lumos::keras {

// The numpy broadcast of the operands' Keras shapes; throws naming the layer if they clash.
std::vector<int64_t> broadcast_shape(const LayerCall& call, const std::vector<Value>& values);

// `op` over `operands` stored alike: one variadic node (Max, Min, Mean) or a pairwise
// chain (Add, Mul, Sub), the last node named `output`.
Value elementwise(LayerCall& call, const std::string& op, const std::vector<Value>& operands, bool variadic,
                  const std::string& output);

}  // namespace lumos::keras
