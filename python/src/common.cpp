#include "common.hpp"

#include "lumos/error.hpp"

#include <ATen/ATen.h>

#include <algorithm>

namespace lumos::python {
namespace {

at::ScalarType scalar_type_of(const py::dtype& dtype, const std::string& what) {
  switch (dtype.kind()) {
    case 'b':
      return at::kBool;
    case 'u':
      if (dtype.itemsize() == 1) return at::kByte;
      break;
    case 'i':
      if (dtype.itemsize() == 4) return at::kInt;
      if (dtype.itemsize() == 8) return at::kLong;
      break;
    case 'f':
      if (dtype.itemsize() == 4) return at::kFloat;
      if (dtype.itemsize() == 8) return at::kDouble;
      break;
    default:
      break;
  }
  throw InputError(what + " has dtype " + text_of(dtype) +
                   "; lumos takes uint8, float32, float64, int32, int64 or bool arrays");
}

py::dtype dtype_of(at::ScalarType type) {
  switch (type) {
    case at::kBool:
      return py::dtype::of<bool>();
    case at::kByte:
      return py::dtype::of<uint8_t>();
    case at::kInt:
      return py::dtype::of<int32_t>();
    case at::kLong:
      return py::dtype::of<int64_t>();
    case at::kFloat:
      return py::dtype::of<float>();
    case at::kDouble:
      return py::dtype::of<double>();
    default:
      throw std::logic_error(std::string("no numpy dtype for ") + at::toString(type));
  }
}

std::string shape_of(const py::array& array) {
  std::vector<int64_t> shape(array.shape(), array.shape() + array.ndim());
  return shape_string(shape);
}

// What the model takes, for messages: "[N,3,224,224] (NCHW)".
std::string expected_input(const InputSpec& in) {
  const bool nchw = in.layout == Layout::NCHW;
  const std::vector<int64_t> shape = nchw ? std::vector<int64_t>{-1, in.channels, in.height, in.width}
                                          : std::vector<int64_t>{-1, in.height, in.width, in.channels};
  std::string text = shape_string(shape);
  text.replace(1, 1, "N");
  return text + " (" + to_string(in.layout) + ")";
}

}  // namespace

at::Tensor tensor_view(const py::array& array, const std::string& what) {
  const auto type = scalar_type_of(array.dtype(), what);
  std::vector<int64_t> sizes(array.shape(), array.shape() + array.ndim());
  std::vector<int64_t> strides(static_cast<size_t>(array.ndim()));
  for (py::ssize_t d = 0; d < array.ndim(); ++d) {
    if (array.strides(d) % array.itemsize() != 0) {
      throw InputError(what + " has strides that are not whole elements; pass np.ascontiguousarray(...)");
    }
    strides[static_cast<size_t>(d)] = array.strides(d) / array.itemsize();
  }
  return at::from_blob(const_cast<void*>(array.data()), sizes, strides, at::TensorOptions().dtype(type));
}

py::array to_numpy(const at::Tensor& tensor) {
  auto* owner = new at::Tensor(tensor.cpu());
  py::capsule keep(owner, [](void* p) { delete static_cast<at::Tensor*>(p); });
  const auto element = static_cast<py::ssize_t>(owner->element_size());
  std::vector<py::ssize_t> shape(owner->sizes().begin(), owner->sizes().end());
  std::vector<py::ssize_t> strides;
  for (const int64_t s : owner->strides()) strides.push_back(s * element);
  return py::array(dtype_of(owner->scalar_type()), shape, strides, owner->data_ptr(), keep);
}

cv::Mat mat_view(const py::array& array, const std::string& what) {
  const int dims = static_cast<int>(array.ndim());
  const int channels = dims == 3 ? static_cast<int>(array.shape(2)) : 1;
  if (dims != 2 && !(dims == 3 && (channels == 1 || channels == 3))) {
    throw InputError(what + " is " + shape_of(array) + "; give an image [H, W, 3] (RGB) or [H, W] (grey)");
  }
  int depth;
  switch (scalar_type_of(array.dtype(), what)) {
    case at::kByte:
      depth = CV_8U;
      break;
    case at::kFloat:
      depth = CV_32F;
      break;
    case at::kDouble:
      depth = CV_64F;
      break;
    default:
      throw InputError(what + " has dtype " + text_of(array.dtype()) +
                       "; give uint8 pixels (0-255) or floating-point ones");
  }
  if (!(array.flags() & py::array::c_style)) {
    throw InputError(what + " is not C-contiguous; pass np.ascontiguousarray(...)");
  }
  if (array.shape(0) == 0 || array.shape(1) == 0) throw InputError(what + " is empty (" + shape_of(array) + ")");
  return cv::Mat(static_cast<int>(array.shape(0)), static_cast<int>(array.shape(1)), CV_MAKETYPE(depth, channels),
                 const_cast<void*>(array.data()));
}

py::array to_numpy(const cv::Mat& mat) {
  static const std::map<int, py::dtype (*)()> kDtypes = {
      {CV_8U, [] { return py::dtype::of<uint8_t>(); }}, {CV_8S, [] { return py::dtype::of<int8_t>(); }},
      {CV_16U, [] { return py::dtype::of<uint16_t>(); }}, {CV_16S, [] { return py::dtype::of<int16_t>(); }},
      {CV_32S, [] { return py::dtype::of<int32_t>(); }}, {CV_32F, [] { return py::dtype::of<float>(); }},
      {CV_64F, [] { return py::dtype::of<double>(); }}};
  auto* owner = new cv::Mat(mat);
  py::capsule keep(owner, [](void* p) { delete static_cast<cv::Mat*>(p); });
  const auto element = static_cast<py::ssize_t>(mat.elemSize1());
  std::vector<py::ssize_t> shape{mat.rows, mat.cols};
  std::vector<py::ssize_t> strides{static_cast<py::ssize_t>(mat.step[0]), static_cast<py::ssize_t>(mat.elemSize())};
  if (mat.channels() > 1) {
    shape.push_back(mat.channels());
    strides.push_back(element);
  }
  return py::array(kDtypes.at(mat.depth())(), shape, strides, owner->data, keep);
}

// ---- the model ----

cv::Size ModelHandle::picture_size() const { return model_input_size(model->input(), requested_size); }

at::Tensor ModelHandle::input_for(const at::Tensor& batch, const Preprocess* given) const {
  const InputSpec& in = model->input();
  if (batch.scalar_type() == at::kByte) {
    if (batch.dim() != 4 || batch.size(3) != 3) {
      throw InputError("pictures are " + shape_string(batch.sizes()) + "; give uint8 RGB pictures [N, H, W, 3]");
    }
    const at::Tensor pixels = batch.contiguous();
    std::vector<Image> pictures;
    for (int64_t i = 0; i < pixels.size(0); ++i) {
      pictures.emplace_back(cv::Mat(static_cast<int>(pixels.size(1)), static_cast<int>(pixels.size(2)), CV_8UC3,
                                    pixels[i].data_ptr()));
    }
    return make_batch(pictures, in, given ? *given : preprocess, picture_size());
  }
  if (batch.scalar_type() != at::kFloat && batch.scalar_type() != at::kDouble) {
    throw InputError("the input is " + std::string(at::toString(batch.scalar_type())) +
                     "; give uint8 pictures or a float32 input " + expected_input(in));
  }
  if (batch.dim() != 4) {
    throw InputError("the input is " + shape_string(batch.sizes()) + "; the model takes " + expected_input(in));
  }
  const bool nchw = in.layout == Layout::NCHW;
  const int64_t own_channel_axis = nchw ? 1 : 3, other_channel_axis = nchw ? 3 : 1;
  at::Tensor input = batch;
  if (batch.size(own_channel_axis) != in.channels && batch.size(other_channel_axis) == in.channels) {
    input = nchw ? batch.permute({0, 3, 1, 2}) : batch.permute({0, 2, 3, 1});  // the other layout
  }
  const int64_t h = input.size(nchw ? 2 : 1), w = input.size(nchw ? 3 : 2);
  if (input.size(own_channel_axis) != in.channels || (in.height > 0 && h != in.height) ||
      (in.width > 0 && w != in.width)) {  // any batch: a model with a fixed one runs it in pieces
    throw InputError("the input is " + shape_string(batch.sizes()) + "; the model takes " + expected_input(in));
  }
  return input.to(at::kFloat).contiguous();
}

at::Tensor ModelHandle::probabilities(const at::Tensor& input) {
  at::NoGradGuard no_grad;
  const at::Tensor scores = model->scores(input);
  return model->probabilities(scores).to(at::kFloat);
}

Preprocess preprocess_from(const py::handle& spec) {
  if (py::isinstance<py::str>(spec)) return Preprocess::named(spec.cast<std::string>());
  if (py::isinstance<py::dict>(spec)) {
    const auto dict = spec.cast<py::dict>();
    for (const auto& [key, value] : dict) {
      const auto name = text_of(key);
      if (name != "mean" && name != "std") {
        throw InputError("preprocessing takes the keys 'mean' and 'std', not '" + name + "'");
      }
    }
    if (!dict.contains("mean") || !dict.contains("std")) {
      throw InputError("preprocessing as a dict needs both 'mean' and 'std', e.g. {'mean': [0.5] * 3, 'std': [0.5] * 3}");
    }
    auto values = [&](const char* key) {
      const py::object v = dict[key];
      return py::isinstance<py::float_>(v) || py::isinstance<py::int_>(v) ? std::vector<float>{v.cast<float>()}
                                                                          : v.cast<std::vector<float>>();
    };
    return Preprocess::mean_std(values("mean"), values("std"));
  }
  throw InputError("preprocess must be a preset name (" + [] {
    std::string names;
    for (const auto& n : Preprocess::names()) names += (names.empty() ? "" : ", ") + n;
    return names;
  }() + ") or a dict with 'mean' and 'std'");
}

at::Tensor model_input(const ModelHandle& model, const py::handle& images, const py::handle& preprocess,
                       const std::string& what) {
  std::optional<Preprocess> chosen;
  if (!preprocess.is_none()) chosen = preprocess_from(preprocess);
  const Preprocess* given = chosen ? &*chosen : nullptr;
  if (py::isinstance<py::list>(images) || py::isinstance<py::tuple>(images)) {
    // Pictures of any sizes, each resized to the model's.
    std::vector<py::array> arrays;  // alive until the batch is made (some are C-contiguous copies)
    std::vector<Image> pictures;
    for (const auto& item : images) {
      arrays.push_back(py::array::ensure(item, py::array::c_style));
      const auto& array = arrays.back();
      if (!array || array.dtype().kind() != 'u' || array.itemsize() != 1) {
        throw InputError(what + ": a list holds pictures, each a uint8 array [H, W, 3]; for float input pass one "
                                "array [N, ...]");
      }
      const cv::Mat pixels = mat_view(array, what);
      if (pixels.channels() != 3) throw InputError(what + ": give RGB pictures [H, W, 3]");
      pictures.emplace_back(pixels);
    }
    return make_batch(pictures, model.model->input(), given ? *given : model.preprocess, model.picture_size());
  }
  auto array = py::array::ensure(images);
  if (!array) throw InputError(what + " must be a numpy array or a list of pictures");
  // ATen takes no negative strides (x[:, ::-1]): such an array is copied first.
  for (py::ssize_t d = 0; d < array.ndim(); ++d) {
    if (array.strides(d) < 0) array = py::array::ensure(array, py::array::c_style);
  }
  at::Tensor batch = tensor_view(array, what);
  if (batch.dim() == 3) batch = batch.unsqueeze(0);  // one picture, or one input without its batch axis
  at::Tensor input = model.input_for(batch, given);
  // The input may be the array's own memory (float32, C-contiguous): fine while the caller holds
  // the array; an array made here dies with this function, so its memory is copied.
  if (array.ptr() != images.ptr() && input.data_ptr() == array.data()) input = input.clone();
  return input;
}

// ---- Ctrl-C ----

bool Interrupts::poll() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (error_) return true;
  py::gil_scoped_acquire gil;
  if (PyErr_CheckSignals() != 0) error_ = std::make_shared<py::error_already_set>();
  return error_ != nullptr;
}

void Interrupts::rethrow() {
  std::shared_ptr<py::error_already_set> error;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    error.swap(error_);
  }
  if (error) throw *error;
}

}  // namespace lumos::python
