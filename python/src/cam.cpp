// The CAM family (lumos/cam.hpp) for lumos.cam's pytorch-grad-cam-shaped classes.
#include "common.hpp"

#include "lumos/cam.hpp"
#include "lumos/error.hpp"

#include <ATen/ATen.h>
#include <pybind11/stl.h>

#include <chrono>

namespace lumos::python {
namespace {

// None: the image's top class; an int: that class; a str: the class with that label.
std::vector<Target> targets_from(const py::handle& targets) {
  std::vector<Target> out;
  if (targets.is_none()) return {Target::top(1)};
  for (const auto& t : targets) {
    if (t.is_none()) {
      out.push_back(Target::top(1));
    } else if (py::isinstance<py::str>(t)) {
      out.push_back(Target::label(t.cast<std::string>()));
    } else if (py::isinstance<py::int_>(t) || py::hasattr(t, "__index__")) {
      out.push_back(Target::class_index(py::int_(py::reinterpret_borrow<py::object>(t)).cast<int64_t>()));
    } else {
      throw InputError("a target is a class index, a label or None (the top class), not " +
                       text_of(py::type::of(t)));
    }
  }
  if (out.empty()) throw InputError("targets is empty; give one target per image, one for all, or None");
  return out;
}

struct CamRun {
  std::vector<at::Tensor> maps;  // per method: [N, H, W] float32
  std::vector<int64_t> classes;  // per image: the class explained
  std::vector<double> scores;    // per image: its score
  std::vector<std::string> warnings;
  double native_ms = 0;          // the C++ call alone (CamExplainer built and run), without the binding's work
};

CamRun run_cam(ModelHandle& handle, const std::vector<std::string>& method_names, const std::vector<std::string>& layers,
               const py::handle& images, const py::handle& targets, bool aug_smooth, bool eigen_smooth,
               int64_t batch_size, const py::handle& preprocess) {
  std::vector<CamMethod> methods;
  for (const auto& name : method_names) methods.push_back(parse_cam_method(name));
  const at::Tensor input = model_input(handle, images, preprocess, "input_tensor");
  const std::vector<Target> wanted = targets_from(targets);
  Interrupts interrupts;
  CamRun run;
  try {
    with_model(handle, [&](Model& model) {
      const auto start = std::chrono::steady_clock::now();
      CamOptions options;
      options.layers = layers;
      options.labels = handle.labels.names;
      options.aug_smooth = aug_smooth;
      options.eigen_smooth = eigen_smooth;
      options.perturbation_batch = batch_size;
      options.cancel = [&] { return interrupts.poll(); };
      auto explanations = CamExplainer(model, methods, options).explain(input, wanted);
      run.native_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
      for (size_t m = 0; m < methods.size(); ++m) {
        std::vector<at::Tensor> maps;
        for (auto& e : explanations) maps.push_back(std::move(e.maps[m].map));
        run.maps.push_back(at::stack(maps));
      }
      for (const auto& e : explanations) {
        run.classes.push_back(e.target);
        run.scores.push_back(e.score);
        for (const auto& map : e.maps) {
          if (!map.warning.empty()) run.warnings.push_back(map.warning);
        }
      }
    });
  } catch (const CancelledError&) {
    interrupts.rethrow();  // Ctrl-C: the KeyboardInterrupt it raised
    throw;
  }
  return run;
}

}  // namespace

void bind_cam(py::module_& m) {
  m.def("cam_methods", [] {
    std::vector<std::string> names;
    for (auto method : all_cam_methods()) names.push_back(to_string(method));
    return names;
  }, "The CAM methods' names.");

  m.def("cam", [](ModelHandle& model, const std::vector<std::string>& methods, const std::vector<std::string>& layers,
                  const py::handle& images, const py::handle& targets, bool aug_smooth, bool eigen_smooth,
                  int64_t batch_size, const py::handle& preprocess) {
    CamRun run = run_cam(model, methods, layers, images, targets, aug_smooth, eigen_smooth, batch_size, preprocess);
    py::list maps;
    for (const auto& map : run.maps) maps.append(to_numpy(map));
    py::dict out;
    out["maps"] = maps;
    out["classes"] = run.classes;
    out["scores"] = run.scores;
    out["warnings"] = run.warnings;
    out["native_ms"] = run.native_ms;
    return out;
  }, py::arg("model"), py::arg("methods"), py::arg("layers"), py::arg("images"), py::arg("targets"),
     py::arg("aug_smooth"), py::arg("eigen_smooth"), py::arg("batch_size"), py::arg("preprocess"));
}

}  // namespace lumos::python
