// The native part of the lumos Python package (lumos._lumos). The Python modules next to it
// give it the shapes Python users know (pytorch-grad-cam's CAM classes, lime's explainer).
#include "common.hpp"

#include "lumos/error.hpp"
#include "lumos/runtime.hpp"

#include <ATen/Parallel.h>
#include <c10/util/Exception.h>

namespace lumos::python {

void bind_errors(py::module_& m) {
  // The classes live in lumos/errors.py (InputError is also a ValueError); held for the
  // process's lifetime, as the translator may run until the interpreter ends.
  const auto errors = py::module_::import("lumos.errors");
  static const auto* classes = new std::map<std::string, py::object>{
      {"Error", errors.attr("Error")},
      {"ModelError", errors.attr("ModelError")},
      {"UnsupportedOpError", errors.attr("UnsupportedOpError")},
      {"InputError", errors.attr("InputError")},
      {"ImageError", errors.attr("ImageError")},
      {"LayerNotFoundError", errors.attr("LayerNotFoundError")},
      {"CancelledError", errors.attr("CancelledError")}};
  py::register_exception_translator([](std::exception_ptr thrown) {
    auto raise = [](const char* name, const char* message) { PyErr_SetString(classes->at(name).ptr(), message); };
    try {
      if (thrown) std::rethrow_exception(thrown);
    } catch (const UnsupportedOpError& e) {
      raise("UnsupportedOpError", e.what());
    } catch (const ModelError& e) {
      raise("ModelError", e.what());
    } catch (const ImageError& e) {
      raise("ImageError", e.what());
    } catch (const LayerNotFoundError& e) {
      raise("LayerNotFoundError", e.what());
    } catch (const InputError& e) {
      raise("InputError", e.what());
    } catch (const CancelledError& e) {
      raise("CancelledError", e.what());
    } catch (const Error& e) {
      raise("Error", e.what());
    } catch (const c10::Error& e) {
      // An ATen check inside lumos (a kernel given what it cannot take): its message, no C++ backtrace.
      raise("Error", e.what_without_backtrace());
    }
  });
}

}  // namespace lumos::python

PYBIND11_MODULE(_lumos, m) {
  namespace lp = lumos::python;
  namespace py = pybind11;
  m.doc() = "lumos's C++ library, as the lumos package uses it";
  lp::bind_errors(m);
  lp::bind_model(m);
  lp::bind_pictures(m);
  lp::bind_cam(m);
  lp::bind_lime(m);
  lp::bind_explain(m);

  m.def("keep_freed_memory", &lumos::keep_freed_memory,
        "Keep freed memory for reuse (process-wide): forward passes then skip the page faults of fresh\n"
        "activation buffers (up to 3x faster); the process keeps its peak memory until it exits.");
  m.def("cpu_has_native_bf16", &lumos::cpu_has_native_bf16, "Whether the CPU computes in bfloat16 natively.");
  m.def("set_num_threads", [](int threads) {
    if (threads < 1) throw lumos::InputError("the number of threads must be at least 1, got " + std::to_string(threads));
    at::set_num_threads(threads);
  }, py::arg("threads"), "Threads LibTorch computes with (intra-op).");
  m.def("get_num_threads", [] { return at::get_num_threads(); }, "Threads LibTorch computes with.");
}
