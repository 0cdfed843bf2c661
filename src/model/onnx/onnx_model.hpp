// Model backed by an ONNX file run on the ATen executor.
#pragma once

#include "lumos/model.hpp"
#include "model/onnx/graph.hpp"

#include <optional>

namespace lumos::onnx {

class OnnxModel final : public Model {
 public:
  OnnxModel(const std::string& path, const LoadOptions& options);
  // A graph already parsed (e.g. from memory); `name` stands for the file in messages.
  OnnxModel(Graph graph, const std::string& name, const LoadOptions& options);

  const InputSpec& input() const override { return input_; }
  const std::vector<LayerInfo>& layers() override;
  std::string default_layer() override;
  std::string resolve_layer(const std::string& name) override;
  at::Tensor scores(const at::Tensor& batch) override;
  Trace trace(const at::Tensor& batch, const std::vector<std::string>& capture, bool grad) override;
  at::Tensor scores_given(const at::Tensor& batch, const std::string& layer, const at::Tensor& value) override;
  std::string score_description() const override { return score_description_; }
  Score score_kind() const override { return score_kind_; }
  const std::map<std::string, std::string>& metadata() const override { return graph_.metadata(); }

 private:
  enum class Finish { none, softmax, sigmoid };
  using Run = std::function<at::Tensor(const Tensors& pieces)>;

  void check_batch(const at::Tensor& batch) const;
  at::Tensor finish_scores(at::Tensor raw, int64_t rows) const;
  // `run` on `inputs` (tensors with the batch first), in pieces of the model's fixed batch
  // size when it has one; returns the results' rows for the real images, concatenated.
  at::Tensor in_model_batches(const Tensors& inputs, const Run& run) const;
  bool needs_pieces(int64_t rows) const { return input_.batch > 0 && rows != input_.batch; }
  Trace trace_in_pieces(const at::Tensor& batch, const std::vector<std::string>& layers, bool grad);

  std::string path_;
  Graph graph_;
  InputSpec input_;
  int score_slot_ = -1;
  Finish finish_ = Finish::none;
  std::string score_description_;
  Score score_kind_ = Score::logits;
  std::string output_note_;  // how to choose another output, for models with several
  std::optional<std::vector<LayerInfo>> layers_;
};

}  // namespace lumos::onnx
