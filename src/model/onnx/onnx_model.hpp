// Model backed by an ONNX file run on the ATen executor.
#pragma once

#include "lumos/model.hpp"
#include "model/onnx/graph.hpp"

#include <optional>

namespace lumos::onnx {

class OnnxModel final : public Model {
 public:
  OnnxModel(const std::string& path, const LoadOptions& options);

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
  void check_batch(const at::Tensor& batch) const;
  at::Tensor finish_scores(at::Tensor raw) const;

  std::string path_;
  Graph graph_;
  InputSpec input_;
  int score_slot_ = -1;
  bool apply_softmax_ = false;  // probability wanted from a model without a Softmax
  std::string score_description_;
  Score score_kind_ = Score::logits;
  std::optional<std::vector<LayerInfo>> layers_;
};

}  // namespace lumos::onnx
