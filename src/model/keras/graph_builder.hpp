// Builds the executable graph of a Keras model: ONNX nodes (so every kernel of the op
// registry serves Keras models too) and weights handed over as tensors.
//
// Keras lays images out channels-last; the graph keeps them channels-first where that
// lets convolutions and pools run natively, and converts (one Transpose, made once per
// value) only where a layer depends on Keras's axis order: Flatten, Reshape, Permute.
#pragma once

#include "lumos/model.hpp"

#include <ATen/core/Tensor.h>

#include <map>
#include <memory>
#include <set>
#include <string>
#include <unordered_map>
#include <variant>
#include <vector>

namespace onnx {
class ModelProto;
}

namespace lumos::keras {

// The opset of the ONNX operators the front end emits.
constexpr int kGraphOpset = 17;

// A Keras tensor as the graph holds it.
struct Value {
  std::string name;            // the graph value
  std::vector<int64_t> shape;  // Keras's shape, batch first; -1 where unknown
  // Stored with Keras's last axis moved to position 1 (NHWC kept as NCHW). Only
  // tensors of rank 3 and more are ever stored so.
  bool channels_moved = false;
  // Keras's data format for the tensor: channels last (NHWC) unless a channels_first
  // layer made it.
  bool channels_last = true;

  int64_t rank() const { return static_cast<int64_t>(shape.size()); }
  // The shape as stored.
  std::vector<int64_t> stored_shape() const;
  // Where Keras's axis `axis` (negative counts from the end) is stored.
  int64_t stored_axis(int64_t axis) const;
};

struct Attribute {
  std::string name;
  std::variant<int64_t, float, std::string, std::vector<int64_t>, std::vector<float>> value;
};

class GraphBuilder {
 public:
  GraphBuilder();
  ~GraphBuilder();
  GraphBuilder(GraphBuilder&&) noexcept;

  // A value name not used yet: `base`, else `base_1`, `base_2`...
  std::string fresh(const std::string& base);

  // Returns the input's value name.
  std::string add_input(const std::string& name, const std::vector<int64_t>& stored_dims);
  void add_output(const std::string& name);

  // A node with one output named `output` (made fresh if taken); returns that name.
  std::string node(const std::string& op, const std::vector<std::string>& inputs, const std::string& output,
                   const std::vector<Attribute>& attributes = {});
  // A weight or constant; returns its (fresh) value name.
  std::string constant(const std::string& name, at::Tensor value);
  std::string int64s(const std::string& name, const std::vector<int64_t>& values);
  std::string scalar(const std::string& name, float value);

  // `value` stored with channels at position 1 (moved for channels-last data).
  Value channels_at_1(const Value& value, bool channels_last);
  // `value` stored in Keras's axis order.
  Value keras_order(const Value& value);
  // Several values stored alike, for element-wise merges: as the first one is.
  std::vector<Value> stored_alike(const std::vector<Value>& values);
  // A constant that broadcasts against Keras's trailing axes of `like` (as numpy
  // broadcasting does), reshaped for how `like` is stored.
  std::string broadcast_constant(const std::string& name, at::Tensor value, const Value& like);

  // Records a Keras layer's output, which `lumos layers` lists: its layout and the
  // layer class that makes it ("input" for the model's input).
  void expose(const Value& value, const std::string& maker);
  const std::map<std::string, std::string>& exposed() const { return exposed_; }
  const std::map<std::string, Layout>& layouts() const { return layouts_; }

  ::onnx::ModelProto& model();
  std::vector<std::pair<std::string, at::Tensor>> take_constants();

 private:
  Value transposed(const Value& value, bool to_moved);

  std::unique_ptr<::onnx::ModelProto> model_;
  std::set<std::string> taken_;
  std::unordered_map<std::string, int> next_suffix_;
  std::vector<std::pair<std::string, at::Tensor>> constants_;
  std::map<std::pair<std::string, bool>, std::string> converted_;
  std::map<std::string, std::string> exposed_;
  std::map<std::string, Layout> layouts_;
};

}  // namespace lumos::keras
