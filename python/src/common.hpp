// What the parts of the lumos Python module share: numpy <-> ATen/OpenCV without copies, the
// model object Python holds, and Ctrl-C while lumos computes without the GIL.
#pragma once

#include "lumos/image.hpp"
#include "lumos/labels.hpp"
#include "lumos/lime.hpp"
#include "lumos/model.hpp"

#include <ATen/core/Tensor.h>
#include <opencv2/core.hpp>
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace lumos::python {

namespace py = pybind11;

// str(object), for messages.
inline std::string text_of(const py::handle& object) { return py::str(object).cast<std::string>(); }

// ---- numpy ----

// A tensor over the array's memory (any strides); the array must outlive it. Throws InputError
// naming `what` for dtypes lumos does not take (bool, uint8, int32, int64, float32, float64 do).
at::Tensor tensor_view(const py::array& array, const std::string& what);
// The tensor's memory as an array (kept alive by the array; no copy).
py::array to_numpy(const at::Tensor& tensor);

// An image array [H, W], [H, W, 1] or [H, W, 3] (uint8, float32 or float64) as a cv::Mat over the
// same memory; C-contiguous arrays only (callers pass np.ascontiguousarray). Throws InputError.
cv::Mat mat_view(const py::array& array, const std::string& what);
// The matrix's memory as an array [rows, cols] or [rows, cols, channels] (no copy).
py::array to_numpy(const cv::Mat& mat);

// ---- the model ----

// A loaded model with what Python gave it once (preprocessing, labels, size). Calls from several
// Python threads take turns: `mutex` is held while the model runs, always with the GIL released.
struct ModelHandle {
  std::string path;
  std::unique_ptr<Model> model;
  Preprocess preprocess;
  ClassLabels labels;
  std::optional<cv::Size> requested_size;
  bool scores_are_probabilities = false;
  std::recursive_mutex mutex;

  // The size pictures are resized to (the model's own, or the one asked for).
  cv::Size picture_size() const;
  // The model input for a batch: uint8 pictures [N, H, W, 3] are resized and preprocessed
  // (`preprocess`, else the model's); floating-point input laid out as the model takes it, or
  // channels-last for an NCHW model (as lime hands images to its classifier), is used as it
  // is (as float32). Throws InputError naming the shapes.
  at::Tensor input_for(const at::Tensor& batch, const Preprocess* preprocess = nullptr) const;
  // Class probabilities [N, classes] (Model::probabilities: a softmax of the scores, a sigmoid
  // per class for a Sigmoid head, or the scores when they are probabilities already). Run
  // with the GIL released and `mutex` held.
  at::Tensor probabilities(const at::Tensor& input);
};

// Runs `work()` with the GIL released.
template <typename Work>
auto without_gil(Work work) {
  py::gil_scoped_release release;
  return work();
}

// Runs `work(model)` with the GIL released and the model's turn taken.
template <typename Work>
auto with_model(ModelHandle& handle, Work work) {
  py::gil_scoped_release release;
  std::lock_guard<std::recursive_mutex> turn(handle.mutex);
  return work(*handle.model);
}

// Preprocessing as Python names it: a preset name ("imagenet", "tf", …) or a dict with "mean"
// and "std" (three values or one, in [0, 1] units, RGB order). Throws InputError.
Preprocess preprocess_from(const py::handle& spec);

// The model input for what Python passed: an array (see ModelHandle::input_for; one picture
// [H, W, 3] or one input without its batch axis is a batch of one) or a list of pictures of
// any sizes. `preprocess` (None: the model's) applies to pictures.
at::Tensor model_input(const ModelHandle& model, const py::handle& images, const py::handle& preprocess,
                       const std::string& what);

// ---- Ctrl-C ----

// Lets a long computation that runs without the GIL notice Ctrl-C: `poll` (from any thread)
// takes the GIL briefly and runs Python's signal handlers; once one raised, it answers true
// and keeps the exception, which `rethrow` raises in Python.
class Interrupts {
 public:
  bool poll();
  // With the GIL held: raises the kept exception, if any.
  void rethrow();

 private:
  std::mutex mutex_;
  std::shared_ptr<py::error_already_set> error_;
};

// A surrogate's weights as lime's local_exp: [(segment, weight), ...] by |weight|, largest first.
py::list weight_list(const LinearExplanation& linear);

// ---- module parts ----

void bind_errors(py::module_& m);
void bind_model(py::module_& m);
void bind_pictures(py::module_& m);
void bind_cam(py::module_& m);
void bind_lime(py::module_& m);
void bind_explain(py::module_& m);

}  // namespace lumos::python
