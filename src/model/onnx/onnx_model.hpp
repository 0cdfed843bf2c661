// Model backed by a graph of ONNX operators run on the ATen executor: an .onnx file, or
// the graph a front end built from another format (Keras).
#pragma once

#include "lumos/model.hpp"
#include "model/onnx/graph.hpp"

#include <optional>
#include <set>

namespace lumos::onnx {

// What a front end that builds the graph itself knows beyond the nodes.
struct FrontEnd {
  InputSpec input;
  std::set<std::string> layers;               // the values layers() lists (e.g. Keras layer outputs)
  std::map<std::string, Layout> layouts;      // the layout of 4-D values among them
  std::map<std::string, std::string> makers;  // what makes each of them (the Keras layer class)
  std::map<std::string, std::string> metadata;
};

class OnnxModel final : public Model {
 public:
  OnnxModel(const std::string& path, const LoadOptions& options);
  // A graph already parsed (from memory, or built by a front end from another format,
  // which then says what it knows beyond the nodes); `name` stands for the file in messages.
  OnnxModel(Graph graph, const std::string& name, const LoadOptions& options,
            std::optional<FrontEnd> front_end = std::nullopt);

  const InputSpec& input() const override { return input_; }
  const std::vector<LayerInfo>& layers() override;
  std::string default_layer() override;
  std::string resolve_layer(const std::string& name) override;
  at::Tensor scores(const at::Tensor& batch) override;
  Trace trace(const at::Tensor& batch, const std::vector<std::string>& capture, bool grad) override;
  at::Tensor scores_given(const at::Tensor& batch, const std::string& layer, const at::Tensor& value) override;
  std::string score_description() const override { return score_description_; }
  Score score_kind() const override { return score_kind_; }
  at::Tensor probabilities(const at::Tensor& scores) const override;
  const std::map<std::string, std::string>& metadata() const override { return metadata_; }
  const Graph& graph() const { return graph_; }

 private:
  enum class Finish { none, probabilities };
  using Run = std::function<at::Tensor(const Tensors& pieces)>;

  void check_batch(const at::Tensor& batch) const;
  at::Tensor finish_scores(at::Tensor raw, int64_t rows) const;
  at::Tensor probabilities_of_logits(const at::Tensor& logits) const;
  // `run` on `inputs` (tensors with the batch first), in pieces of the model's fixed batch
  // size when it has one; returns the results' rows for the real images, concatenated.
  at::Tensor in_model_batches(const Tensors& inputs, const Run& run) const;
  bool needs_pieces(int64_t rows) const { return input_.batch > 0 && rows != input_.batch; }
  Trace trace_in_pieces(const at::Tensor& batch, const std::vector<std::string>& layers, bool grad);

  std::string path_;
  Graph graph_;
  std::optional<FrontEnd> front_end_;
  std::map<std::string, std::string> metadata_;
  InputSpec input_;
  int score_slot_ = -1;
  Finish finish_ = Finish::none;
  std::string score_description_;
  Score score_kind_ = Score::logits;
  bool multi_label_ = false;  // a Sigmoid head: each class is its own yes/no
  std::string output_note_;  // how to choose another output, for models with several
  std::optional<std::vector<LayerInfo>> layers_;
};

}  // namespace lumos::onnx
