// lumos.Model: a loaded classifier, its input, layers and predictions.
#include "common.hpp"

#include "lumos/error.hpp"

#include <ATen/ATen.h>
#include <pybind11/stl.h>

namespace lumos::python {
namespace {

std::unique_ptr<ModelHandle> open_model(const std::string& path, const py::object& preprocess, const py::object& labels,
                                        const std::string& score, const py::object& input_size,
                                        const std::string& output) {
  if (score != "logits" && score != "probability") {
    throw InputError("score must be 'logits' or 'probability', not '" + score + "'");
  }
  auto handle = std::make_unique<ModelHandle>();
  handle->path = path;
  handle->scores_are_probabilities = score == "probability";
  LoadOptions options;
  options.score = handle->scores_are_probabilities ? Score::probability : Score::logits;
  options.output = output;
  if (!input_size.is_none()) {
    const auto hw = input_size.cast<std::pair<int, int>>();
    if (hw.first < 1 || hw.second < 1) throw InputError("input_size must be (height, width) in pixels, both >= 1");
    // The model runs at this size (layers, default layer, batches); a fixed size it contradicts fails to load.
    options.height = hw.first;
    options.width = hw.second;
    handle->requested_size = cv::Size(hw.second, hw.first);
  }
  {
    py::gil_scoped_release release;
    handle->model = Model::load(path, options);
  }
  handle->preprocess = preprocess.is_none() ? default_preprocess(*handle->model) : preprocess_from(preprocess);
  if (labels.is_none()) {
    handle->labels = ClassLabels::of_model(*handle->model);
  } else if (py::isinstance<py::str>(labels)) {
    handle->labels = ClassLabels::read(labels.cast<std::string>());
  } else {
    handle->labels.names = labels.cast<std::vector<std::string>>();
    handle->labels.source = "the labels given";
  }
  return handle;
}

}  // namespace

void bind_model(py::module_& m) {
  py::class_<InputSpec>(m, "InputSpec", "What the model takes: one image tensor; -1 where the file leaves a size open.")
      .def_readonly("name", &InputSpec::name)
      .def_property_readonly("layout", [](const InputSpec& s) { return to_string(s.layout); })
      .def_readonly("batch", &InputSpec::batch)
      .def_readonly("channels", &InputSpec::channels)
      .def_readonly("height", &InputSpec::height)
      .def_readonly("width", &InputSpec::width)
      .def("__repr__", [](const InputSpec& s) {
        return "InputSpec(name='" + s.name + "', layout='" + to_string(s.layout) + "', batch=" + std::to_string(s.batch) +
               ", channels=" + std::to_string(s.channels) + ", height=" + std::to_string(s.height) +
               ", width=" + std::to_string(s.width) + ")";
      });

  py::class_<LayerInfo>(m, "Layer", "A value inside the model that can be a target layer.")
      .def_readonly("name", &LayerInfo::name, "its name in the graph: what target_layers take")
      .def_readonly("op", &LayerInfo::op, "the operator that produces it")
      .def_readonly("shape", &LayerInfo::shape, "at batch 1, for the model's input size")
      .def_property_readonly("layout", [](const LayerInfo& l) { return to_string(l.layout); })
      .def_property_readonly("spatial", &LayerInfo::is_spatial, "4-D with more than one position: a CAM layer")
      .def("__repr__", [](const LayerInfo& l) {
        return "Layer(name='" + l.name + "', op='" + l.op + "', shape=" + shape_string(l.shape) + ")";
      });

  py::class_<ModelHandle>(m, "Model")
      .def(py::init(&open_model), py::arg("path"), py::arg("preprocess") = py::none(), py::arg("labels") = py::none(),
           py::arg("score") = "logits", py::arg("input_size") = py::none(), py::arg("output") = "")
      .def_readonly("path", &ModelHandle::path)
      .def_property_readonly("input", [](const ModelHandle& h) { return h.model->input(); })
      .def_property_readonly("input_size",
                             [](const ModelHandle& h) {
                               const auto size = h.picture_size();
                               return std::make_pair(size.height, size.width);
                             })
      .def_property_readonly("preprocess", [](const ModelHandle& h) { return h.preprocess.name; })
      .def_property_readonly("labels", [](const ModelHandle& h) { return h.labels.names; })
      .def_property_readonly("score_description", [](const ModelHandle& h) { return h.model->score_description(); })
      .def_property_readonly("metadata", [](const ModelHandle& h) { return h.model->metadata(); })
      .def("layers", [](ModelHandle& h) { return with_model(h, [](Model& model) { return model.layers(); }); })
      .def_property_readonly("default_layer",
                             [](ModelHandle& h) { return with_model(h, [](Model& model) { return model.default_layer(); }); })
      .def("resolve_layer", [](ModelHandle& h, const std::string& name) {
        return with_model(h, [&](Model& model) { return model.resolve_layer(name); });
      })
      .def("_scores", [](ModelHandle& h, const py::handle& images, const py::handle& preprocess) {
        const at::Tensor input = model_input(h, images, preprocess, "images");
        return to_numpy(with_model(h, [&](Model& model) {
          at::NoGradGuard no_grad;
          return model.scores(input).to(at::kFloat);
        }));
      })
      .def("_probabilities", [](ModelHandle& h, const py::handle& images, const py::handle& preprocess) {
        const at::Tensor input = model_input(h, images, preprocess, "images");
        return to_numpy(with_model(h, [&](Model&) { return h.probabilities(input); }));
      });
}

}  // namespace lumos::python
