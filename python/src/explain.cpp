// The explain pipeline (lumos/explain.hpp): a request, images in, per-image results out as
// Python objects whose maps are numpy arrays over lumos's memory. Every registered method
// family (method_family.hpp) is reachable by name, with its options.
#include "common.hpp"

#include "lumos/error.hpp"
#include "lumos/explain.hpp"
#include "lumos/explanation_files.hpp"
#include "lumos/method_family.hpp"

#include <opencv2/imgproc.hpp>
#include <pybind11/stl.h>

namespace lumos::python {
namespace {

py::object optional_numpy(const at::Tensor& tensor) {
  return tensor.defined() ? py::object(to_numpy(tensor)) : py::object(py::none());
}

py::dict named_values(const std::vector<NamedValue>& values) {
  py::dict out;
  for (const auto& v : values) out[py::str(v.name)] = v.value;
  return out;
}

// One input as Python gives it: a file's path, or a uint8 RGB picture [H, W, 3] (copied: results
// keep the picture, and the array may change or go after the call).
ImageInput input_from(const py::handle& item, size_t index) {
  if (py::isinstance<py::str>(item)) return ImageInput::file(item.cast<std::string>());
  if (py::hasattr(item, "__fspath__")) return ImageInput::file(text_of(item.attr("__fspath__")()));
  const auto array = py::array::ensure(item);
  const std::string name = "image " + std::to_string(index);
  if (!array || array.dtype().kind() != 'u' || array.itemsize() != 1) {
    throw InputError(name + ": give a file path or a uint8 RGB picture [H, W, 3]");
  }
  const auto contiguous = py::array::ensure(array, py::array::c_style);
  cv::Mat pixels = mat_view(contiguous, name).clone();
  if (pixels.channels() == 1) cv::cvtColor(pixels, pixels, cv::COLOR_GRAY2RGB);
  return ImageInput::decoded(Image(pixels, name), name);
}

// The pipeline with the model it explains (the Python model object is kept alive beside it).
struct Pipeline {
  ModelHandle& model;
  std::unique_ptr<ExplainPipeline> pipeline;

  Pipeline(ModelHandle& handle, ExplainRequest request) : model(handle) {
    if (!request.preprocess) request.preprocess = handle.preprocess;
    if (!request.labels && !handle.labels.empty()) request.labels = handle.labels;
    if (!request.input_size) request.input_size = handle.requested_size;
    with_model(handle, [&](Model& m) { pipeline = std::make_unique<ExplainPipeline>(m, std::move(request)); });
  }

  RunSummary summary() const {
    RunSummary run = pipeline->summary();
    run.model = model.path;
    return run;
  }
};

std::vector<ImageResult> run_pipeline(Pipeline& p, const py::list& images, const py::object& targets,
                                      const py::object& on_result, const py::object& progress,
                                      const py::object& cancel) {
  std::vector<ImageInput> inputs;
  for (size_t i = 0; i < images.size(); ++i) inputs.push_back(input_from(images[i], i));
  if (!targets.is_none()) {
    // One list of targets per image (None: the request's).
    if (py::len(targets) != inputs.size()) {
      throw InputError("targets has " + std::to_string(py::len(targets)) + " entries for " +
                       std::to_string(inputs.size()) + " images; give one list per image");
    }
    for (size_t i = 0; i < inputs.size(); ++i) {
      const py::object own = targets[py::int_(i)];
      if (own.is_none()) continue;
      for (const auto& t : own) inputs[i].targets.push_back(Target::parse(text_of(t)));
    }
  }
  Interrupts interrupts;
  ExplainControl control;
  // Python callbacks are held through shared_ptrs: copies of the control never touch reference
  // counts without the GIL.
  auto held_progress = std::make_shared<py::object>(progress);
  auto held_cancel = std::make_shared<py::object>(cancel);
  if (!progress.is_none()) {
    control.progress = [held_progress](const ExplainProgress& p) {
      py::gil_scoped_acquire gil;
      (*held_progress)(p.image, p.images, p.method, p.done, p.total);
    };
  }
  control.cancel = [&interrupts, held_cancel] {
    if (interrupts.poll()) return true;
    if (held_cancel->is_none()) return false;
    py::gil_scoped_acquire gil;
    return (*held_cancel)().cast<bool>();
  };
  std::vector<ImageResult> results(inputs.size());
  auto held_on_result = std::make_shared<py::object>(on_result);
  try {
    with_model(p.model, [&](Model&) {
      p.pipeline->run(inputs, [&](ImageResult&& result) {
        if (held_on_result->is_none()) {
          const size_t index = result.index;
          results[index] = std::move(result);
          return;
        }
        py::gil_scoped_acquire gil;
        (*held_on_result)(py::cast(std::move(result)));
      }, control);
    });
  } catch (const CancelledError&) {
    interrupts.rethrow();
    throw;
  }
  if (!on_result.is_none()) results.clear();
  return results;
}

}  // namespace

void bind_explain(py::module_& m) {
  m.def("method_names", [] { return MethodRegistry::instance().method_names(); },
        "Every method the registered method families provide, canonical names.");
  m.def("method_options", [] {
    py::dict out;
    for (const auto* family : MethodRegistry::instance().families()) {
      for (const auto& option : family->options) out[py::str(option.key)] = option.help;
    }
    return out;
  }, "The options method families take (ExplainRequest options), with their help.");

  py::class_<ExplainRequest>(m, "ExplainRequest")
      .def(py::init<>())
      .def_readwrite("methods", &ExplainRequest::methods)
      .def_property("targets",
                    [](const ExplainRequest& r) {
                      std::vector<std::string> texts;
                      for (const auto& t : r.targets) texts.push_back(t.text());
                      return texts;
                    },
                    [](ExplainRequest& r, const py::handle& targets) {
                      r.targets.clear();
                      // One target ("top1", 281, "tabby", "top1,281") or a list of them.
                      const py::object items = py::isinstance<py::str>(targets) || py::isinstance<py::int_>(targets)
                                                   ? py::object(py::make_tuple(targets))
                                                   : py::reinterpret_borrow<py::object>(targets);
                      for (const auto& t : items) {
                        for (auto& target : parse_target_list(text_of(t))) {
                          r.targets.push_back(std::move(target));
                        }
                      }
                    })
      .def_readwrite("layers", &ExplainRequest::layers)
      .def_property("preprocess", [](const ExplainRequest& r) { return r.preprocess ? r.preprocess->name : ""; },
                    [](ExplainRequest& r, const py::handle& spec) {
                      r.preprocess = spec.is_none() ? std::nullopt : std::optional<Preprocess>(preprocess_from(spec));
                    })
      .def_property("input_size",
                    [](const ExplainRequest& r) -> py::object {
                      if (!r.input_size) return py::none();
                      return py::make_tuple(r.input_size->height, r.input_size->width);
                    },
                    [](ExplainRequest& r, const py::handle& size) {
                      if (size.is_none()) {
                        r.input_size.reset();
                        return;
                      }
                      const auto hw = size.cast<std::pair<int, int>>();
                      r.input_size = cv::Size(hw.second, hw.first);
                    })
      .def_property("labels", [](const ExplainRequest& r) { return r.labels ? r.labels->names : std::vector<std::string>{}; },
                    [](ExplainRequest& r, const py::handle& labels) {
                      if (labels.is_none()) {
                        r.labels.reset();
                      } else if (py::isinstance<py::str>(labels)) {
                        r.labels = ClassLabels::read(labels.cast<std::string>());
                      } else {
                        r.labels = ClassLabels{labels.cast<std::vector<std::string>>(), "the labels given"};
                      }
                    })
      .def_readwrite("top_k", &ExplainRequest::top_k)
      .def_readwrite("batch_size", &ExplainRequest::batch_size)
      .def_readwrite("perturbation_batch", &ExplainRequest::perturbation_batch)
      .def_readwrite("bf16", &ExplainRequest::bf16)
      .def_readwrite("seed", &ExplainRequest::seed)
      .def_property("aug_smooth", [](const ExplainRequest& r) { return r.cam.aug_smooth; },
                    [](ExplainRequest& r, bool v) { r.cam.aug_smooth = v; })
      .def_property("eigen_smooth", [](const ExplainRequest& r) { return r.cam.eigen_smooth; },
                    [](ExplainRequest& r, bool v) { r.cam.eigen_smooth = v; })
      .def_property("lime_samples", [](const ExplainRequest& r) { return r.lime.samples; },
                    [](ExplainRequest& r, int64_t v) { r.lime.samples = v; })
      .def_property("lime_min_side", [](const ExplainRequest& r) { return r.lime.min_side; },
                    [](ExplainRequest& r, int v) { r.lime.min_side = v; })
      .def_property("hide_color",
                    [](const ExplainRequest& r) -> py::object {
                      switch (r.lime.hide.kind) {
                        case HideColor::Kind::segment_mean:
                          return py::none();
                        case HideColor::Kind::blur:
                          return py::str("blur");
                        default:
                          return py::float_(r.lime.hide.value[0]);
                      }
                    },
                    [](ExplainRequest& r, const py::handle& hide) {
                      // lime's hide_color: None is each segment's mean; a grey level 0-255; or 'blur'.
                      r.lime.hide = hide.is_none() ? HideColor::segment_mean()
                                                   : HideColor::parse(text_of(hide));
                    })
      .def_readwrite("options", &ExplainRequest::options);

  py::class_<Prediction>(m, "Prediction")
      .def_readonly("class_index", &Prediction::class_index)
      .def_readonly("label", &Prediction::label)
      .def_readonly("score", &Prediction::score)
      .def_readonly("probability", &Prediction::probability)
      .def("__repr__", [](const Prediction& p) {
        return "Prediction(class_index=" + std::to_string(p.class_index) + ", label='" + p.label +
               "', probability=" + std::to_string(p.probability) + ")";
      });

  py::class_<SegmentAttribution>(m, "SegmentAttribution", "An explanation by image segments (LIME): a weight per segment.")
      .def_property_readonly("segments", [](const SegmentAttribution& s) { return to_numpy(s.segments.labels); })
      .def_property_readonly("count", [](const SegmentAttribution& s) { return s.segments.count; })
      .def_property_readonly("weights", [](const SegmentAttribution& s) { return weight_list(s.linear); },
                             "(segment, weight) by |weight|, largest first")
      .def_property_readonly("intercept", [](const SegmentAttribution& s) { return s.linear.intercept; })
      .def_property_readonly("score", [](const SegmentAttribution& s) { return s.linear.score; }, "weighted R²")
      .def_property_readonly("local_prediction", [](const SegmentAttribution& s) { return s.linear.local_prediction; })
      .def_readonly("samples", &SegmentAttribution::samples);

  py::class_<MethodResult>(m, "MethodResult", "One method's explanation of one target class of one image.")
      .def_readonly("method", &MethodResult::method)
      .def_property_readonly("map", [](const MethodResult& r) { return optional_numpy(r.map); },
                             "[h, w] float32 in [0, 1]")
      .def_property_readonly("raw", [](const MethodResult& r) { return optional_numpy(r.raw); })
      .def_readonly("empty", &MethodResult::empty)
      .def_readonly("warnings", &MethodResult::warnings)
      .def_property_readonly("numbers", [](const MethodResult& r) { return named_values(r.numbers); })
      .def_readonly("time_ms", &MethodResult::time_ms)
      .def_property_readonly("time_split_ms", [](const MethodResult& r) { return named_values(r.time_split_ms); })
      .def_property_readonly("segments", [](const MethodResult& r) -> py::object {
        return r.segments ? py::cast(*r.segments) : py::none();
      })
      .def_property_readonly("pictures", [](const MethodResult& r) {
        py::dict out;
        for (const auto& p : r.pictures) out[py::str(p.role)] = to_numpy(p.pixels);
        return out;
      })
      .def("__repr__", [](const MethodResult& r) { return "MethodResult(method='" + r.method + "')"; });

  py::class_<TargetResult>(m, "TargetResult", "One target class of one image, with each method's result.")
      .def_readonly("class_index", &TargetResult::class_index)
      .def_readonly("label", &TargetResult::label)
      .def_readonly("score", &TargetResult::score)
      .def_readonly("probability", &TargetResult::probability)
      .def_readonly("methods", &TargetResult::methods)
      .def("__getitem__", [](const TargetResult& t, const std::string& method) -> const MethodResult& {
        const std::string name = MethodRegistry::instance().canonical(method);
        for (const auto& r : t.methods) {
          if (r.method == name) return r;
        }
        throw py::key_error("'" + name + "' was not asked for");
      }, py::return_value_policy::reference_internal)
      .def("__repr__", [](const TargetResult& t) {
        return "TargetResult(class_index=" + std::to_string(t.class_index) + ", label='" + t.label + "', methods=" +
               std::to_string(t.methods.size()) + ")";
      });

  py::class_<ImageResult>(m, "ImageResult", "One image: its predictions and each target's explanations.")
      .def_readonly("index", &ImageResult::index)
      .def_readonly("name", &ImageResult::name)
      .def_property_readonly("image", [](const ImageResult& r) -> py::object {
        return r.image ? py::object(to_numpy(r.image->pixels())) : py::object(py::none());
      })
      .def_property_readonly("size", [](const ImageResult& r) { return std::make_pair(r.size.height, r.size.width); },
                             "(height, width) of the picture as loaded")
      .def_property_readonly("scores", [](const ImageResult& r) { return optional_numpy(r.scores); })
      .def_property_readonly("probabilities", [](const ImageResult& r) { return optional_numpy(r.probabilities); })
      .def_readonly("predictions", &ImageResult::predictions)
      .def_readonly("targets", &ImageResult::targets)
      .def_readonly("error", &ImageResult::error)
      .def_readonly("cancelled", &ImageResult::cancelled)
      .def_property_readonly("ok", &ImageResult::ok)
      .def("__repr__", [](const ImageResult& r) {
        return "ImageResult(name='" + r.name + "', " + (r.ok() ? "targets=" + std::to_string(r.targets.size()) : "error='" + r.error + "'") + ")";
      });

  py::class_<Pipeline>(m, "ExplainPipeline")
      .def(py::init<ModelHandle&, ExplainRequest>(), py::arg("model"), py::arg("request"), py::keep_alive<1, 2>())
      .def_property_readonly("methods", [](const Pipeline& p) { return p.pipeline->methods(); })
      .def_property_readonly("preprocess", [](const Pipeline& p) { return p.pipeline->preprocess().name; })
      .def_property_readonly("input_size", [](const Pipeline& p) {
        return std::make_pair(p.pipeline->input_size().height, p.pipeline->input_size().width);
      })
      .def_property_readonly("labels", [](const Pipeline& p) { return p.pipeline->labels().names; })
      .def_property_readonly("settings", [](const Pipeline& p) {
        const RunSummary run = p.summary();
        std::vector<std::pair<std::string, std::string>> out{
            {"model", run.model}, {"scores", run.scores}, {"methods", run.methods}, {"targets", run.targets},
            {"preprocess", run.preprocess}};
        out.insert(out.end(), run.method_settings.begin(), run.method_settings.end());
        return out;
      })
      .def("run", &run_pipeline, py::arg("images"), py::arg("targets") = py::none(), py::arg("on_result") = py::none(),
           py::arg("progress") = py::none(), py::arg("cancel") = py::none())
      .def("explanation_json", [](const Pipeline& p, const ImageResult& result, bool npy) {
        FolderOptions options;
        options.npy = npy;
        return explanation_json(result, p.summary(), options);
      }, py::arg("result"), py::arg("npy") = false)
      .def("write_folder", [](const Pipeline& p, const ImageResult& result, const std::string& parent,
                              const std::string& folder, bool json, bool npy) {
        FolderOptions options;
        options.json = json;
        options.npy = npy;
        const RunSummary run = p.summary();
        return without_gil([&] { return write_image_folder(parent, folder, result, run, options); });
      }, py::arg("result"), py::arg("parent"), py::arg("folder"), py::arg("json") = true, py::arg("npy") = false);

  m.def("render_pictures", [](const MethodResult& method, const ImageResult& image, const std::string& colormap,
                              double image_weight, int segments_shown) {
    if (!image.image) throw InputError("'" + image.name + "' has no picture: it was not explained");
    RenderOptions options;
    options.colormap = colormap_named(colormap);
    options.image_weight = image_weight;
    options.segments_shown = segments_shown;
    py::dict out;
    for (const auto& p : render_pictures(method, *image.image, options)) out[py::str(p.role)] = to_numpy(p.pixels);
    return out;
  }, py::arg("method"), py::arg("image"), py::arg("colormap") = "jet", py::arg("image_weight") = 0.5,
     py::arg("segments_shown") = 5);
}

}  // namespace lumos::python
