// LIME (lumos/lime.hpp) for lumos.lime's lime-shaped explainer: the classifier is a lumos model
// (run without the GIL) or any Python callable (called with the GIL, a batch at a time).
#include "common.hpp"

#include "lumos/error.hpp"
#include "lumos/lime.hpp"

#include <ATen/ATen.h>
#include <pybind11/stl.h>

#include <chrono>

namespace lumos::python {

py::list weight_list(const LinearExplanation& linear) {
  py::list weights;
  for (const auto& w : linear.weights) weights.append(py::make_tuple(w.segment, w.weight));
  return weights;
}

namespace {

struct LimeResult {
  LimeExplanation explanation;
  py::object image;  // the picture explained: explanation.image may share its memory
  double native_ms = 0;  // time inside lumos's explain_lime (classifier calls included)
};

HideColor hide_from(const py::handle& hide) {
  if (hide.is_none()) return HideColor::segment_mean();  // lime's hide_color=None
  if (py::isinstance<py::str>(hide)) return HideColor::parse(hide.cast<std::string>());
  if (py::isinstance<py::float_>(hide) || py::isinstance<py::int_>(hide) || py::hasattr(hide, "__float__")) {
    return HideColor::constant(py::float_(py::reinterpret_borrow<py::object>(hide)).cast<double>());
  }
  const auto rgb = hide.cast<std::vector<double>>();
  if (rgb.size() != 3) throw InputError("hide_color is a value, an (r, g, b) triple, 'mean', 'blur' or None");
  HideColor colour = HideColor::constant(0);
  colour.value = cv::Scalar(rgb[0], rgb[1], rgb[2]);
  return colour;
}

// A Python callable as a classifier: numpy images in (a view of lumos's batch), probabilities out.
Classifier python_classifier(const py::object& function) {
  // Held through a shared_ptr so that copies of the classifier never touch Python's reference
  // counts without the GIL; the last copy dies in lime_explain, with the GIL held.
  auto held = std::make_shared<py::object>(function);
  return [held](const at::Tensor& images) {
    py::gil_scoped_acquire gil;
    const py::object out = (*held)(to_numpy(images));
    if (out.is_none()) throw InputError("classifier_fn returned None; it must return probabilities [batch, classes]");
    const auto scores = py::array_t<double, py::array::c_style | py::array::forcecast>::ensure(out);
    if (!scores) {
      PyErr_Clear();
      throw InputError("classifier_fn must return probabilities [batch, classes] as an array; it returned " +
                       text_of(py::type::of(out)));
    }
    std::vector<int64_t> shape(scores.shape(), scores.shape() + scores.ndim());
    return at::from_blob(const_cast<double*>(scores.data()), shape, at::kDouble).clone();
  };
}

LimeResult explain(const py::array& image, const py::object& classifier, const py::object& segments,
                   const LimeOptions& options) {
  LimeResult result;
  result.image = image;
  const cv::Mat pixels = mat_view(image, "image");
  std::optional<Segmentation> given;
  if (!segments.is_none()) {
    const auto labels = py::array_t<int32_t, py::array::c_style | py::array::forcecast>::ensure(segments);
    if (!labels || labels.ndim() != 2) throw InputError("the segments must be a 2-D array of integer labels");
    given.emplace();
    given->labels = cv::Mat(static_cast<int>(labels.shape(0)), static_cast<int>(labels.shape(1)), CV_32SC1,
                            const_cast<int32_t*>(labels.data()))
                        .clone();
    double high = 0;
    cv::minMaxLoc(given->labels, nullptr, &high);
    given->count = static_cast<int>(high) + 1;
  }
  auto run = [&](const Classifier& classify) {
    const auto start = std::chrono::steady_clock::now();
    result.explanation = given ? explain_lime(pixels, *given, classify, options) : explain_lime(pixels, classify, options);
    result.native_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  };
  if (py::isinstance<ModelHandle>(classifier)) {
    auto& handle = classifier.cast<ModelHandle&>();
    with_model(handle, [&](Model&) {
      run([&](const at::Tensor& images) { return handle.probabilities(handle.input_for(images)); });
    });
  } else {
    if (!PyCallable_Check(classifier.ptr())) {
      throw InputError("classifier_fn must be a lumos.Model or a callable (numpy images -> probabilities)");
    }
    Classifier classify = python_classifier(classifier);
    without_gil([&] { run(classify); });
  }
  return result;
}

py::dict linear_dict(const LinearExplanation& linear) {
  py::dict out;
  out["intercept"] = linear.intercept;
  out["weights"] = weight_list(linear);
  out["score"] = linear.score;
  out["local_prediction"] = linear.local_prediction;
  return out;
}

}  // namespace

void bind_lime(py::module_& m) {
  py::class_<LimeResult>(m, "LimeResult")
      .def_property_readonly("image", [](const LimeResult& r) { return r.image; })
      .def_property_readonly("segments", [](const LimeResult& r) { return to_numpy(r.explanation.segments.labels); })
      .def_property_readonly("top_labels", [](const LimeResult& r) { return r.explanation.top_labels; })
      .def_property_readonly("samples", [](const LimeResult& r) { return to_numpy(r.explanation.samples); })
      .def_property_readonly("predictions", [](const LimeResult& r) { return to_numpy(r.explanation.scores); })
      .def_property_readonly("explanations", [](const LimeResult& r) {
        py::dict out;
        for (const auto& [label, linear] : r.explanation.explanations) out[py::int_(label)] = linear_dict(linear);
        return out;
      })
      .def_property_readonly("timings", [](const LimeResult& r) {
        const auto& t = r.explanation.timings;
        py::dict out;
        out["segmentation_ms"] = t.segmentation_ms;
        out["images_ms"] = t.images_ms;
        out["model_ms"] = t.model_ms;
        out["regression_ms"] = t.regression_ms;
        out["native_ms"] = r.native_ms;
        return out;
      })
      .def("image_and_mask", [](const LimeResult& r, int64_t label, bool positive_only, bool negative_only,
                                bool hide_rest, int num_features, double min_weight) {
        const MaskOptions options{positive_only, negative_only, hide_rest, num_features, min_weight};
        const auto shown = image_and_mask(r.explanation, label, options);
        return py::make_tuple(to_numpy(shown.image), to_numpy(shown.mask));
      }, py::arg("label"), py::arg("positive_only"), py::arg("negative_only"), py::arg("hide_rest"),
         py::arg("num_features"), py::arg("min_weight"))
      .def("weight_heatmap", [](const LimeResult& r, int64_t label) {
        return to_numpy(weight_heatmap(r.explanation.segments, r.explanation.of(label)));
      }, py::arg("label"));

  m.def("lime", [](const py::array& image, const py::object& classifier, const py::object& segments,
                   const py::object& hide, int num_samples, int batch_size, int top_labels,
                   const std::vector<int64_t>& labels, int num_features, const std::string& feature_selection,
                   double kernel_width, uint64_t seed, const py::object& progress) {
    LimeOptions options;
    options.num_samples = num_samples;
    options.batch_size = batch_size;
    options.top_labels = top_labels;
    options.labels = labels;
    options.regression.num_features = num_features;
    options.regression.feature_selection = parse_feature_selection(feature_selection);
    options.regression.kernel_width = kernel_width;
    options.hide = hide_from(hide);
    options.seed = seed;
    auto held_progress = std::make_shared<py::object>(progress);
    if (!progress.is_none()) {
      options.progress = [held_progress](int64_t done, int64_t total) {
        py::gil_scoped_acquire gil;
        (*held_progress)(done, total);
      };
    }
    Interrupts interrupts;
    options.cancel = [&] { return interrupts.poll(); };
    try {
      return explain(image, classifier, segments, options);
    } catch (const CancelledError&) {
      interrupts.rethrow();
      throw;
    }
  }, py::arg("image"), py::arg("classifier"), py::arg("segments"), py::arg("hide"), py::arg("num_samples"),
     py::arg("batch_size"), py::arg("top_labels"), py::arg("labels"), py::arg("num_features"),
     py::arg("feature_selection"), py::arg("kernel_width"), py::arg("seed"), py::arg("progress"));
}

}  // namespace lumos::python
