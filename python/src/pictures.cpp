// Pictures in and out: loading, PNG, colour maps, resizing maps, superpixels and their boundaries.
#include "common.hpp"

#include "lumos/error.hpp"
#include "lumos/lime.hpp"
#include "lumos/render.hpp"
#include "lumos/segmentation.hpp"

#include <opencv2/imgproc.hpp>
#include <pybind11/stl.h>

namespace lumos::python {
namespace {

BoundaryMode boundary_mode(const std::string& mode) {
  if (mode == "thick") return BoundaryMode::thick;
  if (mode == "inner") return BoundaryMode::inner;
  if (mode == "outer") return BoundaryMode::outer;
  throw InputError("boundary mode '" + mode + "' is not one lumos draws; use 'thick', 'inner' or 'outer'");
}

// Segment labels of any integer dtype as CV_32S (a copy only when they are not int32 already).
cv::Mat labels_view(const py::array& labels, const std::string& what) {
  if (labels.ndim() != 2) {
    throw InputError(what + " must be a 2-D array of segment labels, got " + std::to_string(labels.ndim()) + " dimensions");
  }
  if (labels.dtype().kind() != 'i' && labels.dtype().kind() != 'u') {
    throw InputError(what + " must hold integer labels, not " + text_of(labels.dtype()));
  }
  const auto as_int32 = py::array_t<int32_t, py::array::c_style | py::array::forcecast>::ensure(labels);
  if (!as_int32) throw py::error_already_set();
  const cv::Mat view(static_cast<int>(labels.shape(0)), static_cast<int>(labels.shape(1)), CV_32SC1,
                     const_cast<int32_t*>(as_int32.data()));
  return as_int32.ptr() == labels.ptr() ? view : view.clone();  // a converted array dies with this function
}

}  // namespace

void bind_pictures(py::module_& m) {
  m.def("load_image", [](const std::string& path) {
    return to_numpy(Image::load(path).pixels());
  }, py::arg("path"), "An image file as uint8 RGB [H, W, 3] (EXIF orientation applied, alpha dropped).");

  m.def("save_png", [](const py::array& pixels, const std::string& path) {
    const cv::Mat image = mat_view(py::array::ensure(pixels), "the picture");
    py::gil_scoped_release release;
    save_png(image, path);
  }, py::arg("pixels"), py::arg("path"), "Writes uint8 RGB [H, W, 3] or grey [H, W] as PNG, atomically.");

  m.def("colorize", [](const py::array& map, const std::string& colormap) {
    const cv::Mat values = mat_view(map, "the map");
    return to_numpy(colorize(values, colormap_named(colormap)));
  }, py::arg("map"), py::arg("colormap") = "jet",
     "A map [H, W] with values in [0, 1] as uint8 RGB colours, as cv2.applyColorMap(np.uint8(255 * map)).");

  m.def("resize_map", [](const py::array& map, int height, int width) {
    if (height < 1 || width < 1) throw InputError("a map's size must be at least 1x1");
    cv::Mat values;
    mat_view(map, "the map").convertTo(values, CV_32F);
    cv::Mat resized;
    cv::resize(values, resized, cv::Size(width, height), 0, 0, cv::INTER_LINEAR);
    return to_numpy(resized);
  }, py::arg("map"), py::arg("height"), py::arg("width"), "Bilinear resize (cv2.resize INTER_LINEAR), as float32.");

  m.def("find_boundaries", [](const py::array& labels, const std::string& mode, int background) {
    return to_numpy(find_boundaries(labels_view(labels, "label_img"), boundary_mode(mode), background));
  }, py::arg("label_img"), py::arg("mode") = "thick", py::arg("background") = 0);

  m.def("mark_boundaries", [](const py::array& image, const py::array& labels, std::vector<double> color,
                              const std::string& mode, int background) {
    const cv::Mat pixels = mat_view(image, "image");
    const cv::Mat segments = labels_view(labels, "label_img");
    if (color.size() != 3) throw InputError("color must be an (r, g, b) triple in [0, 1]");
    return to_numpy(
        mark_boundaries(pixels, segments, cv::Scalar(color[0], color[1], color[2]), boundary_mode(mode), background));
  }, py::arg("image"), py::arg("label_img"), py::arg("color"), py::arg("mode"), py::arg("background"));

  m.def("quickshift", [](const py::array& image, double kernel_size, double max_dist, double ratio, double sigma,
                         bool convert2lab, uint64_t seed) {
    const cv::Mat pixels = mat_view(image, "image");
    const QuickshiftOptions options{kernel_size, max_dist, ratio, sigma, convert2lab, seed};
    return to_numpy(without_gil([&] { return quickshift(pixels, options).labels; }));
  }, py::arg("image"), py::arg("kernel_size"), py::arg("max_dist"), py::arg("ratio"), py::arg("sigma"),
     py::arg("convert2lab"), py::arg("seed"));

  m.def("slic", [](const py::array& image, const std::string& variant, int region_size, float ruler, int iterations,
                   int min_element_percent) {
    const cv::Mat pixels = mat_view(image, "image");
    SlicOptions options;
    if (variant == "slic") {
      options.variant = SlicOptions::Variant::slic;
    } else if (variant == "slico") {
      options.variant = SlicOptions::Variant::slico;
    } else if (variant == "mslic") {
      options.variant = SlicOptions::Variant::mslic;
    } else {
      throw InputError("SLIC variant '" + variant + "' is unknown; use 'slic', 'slico' or 'mslic'");
    }
    options.region_size = region_size;
    options.ruler = ruler;
    options.iterations = iterations;
    options.min_element_percent = min_element_percent;
    return to_numpy(without_gil([&] { return slic(pixels, options).labels; }));
  }, py::arg("image"), py::arg("variant"), py::arg("region_size"), py::arg("ruler"), py::arg("iterations"),
     py::arg("min_element_percent"));

  m.def("felzenszwalb", [](const py::array& image, double scale, double sigma, int min_size) {
    const cv::Mat pixels = mat_view(image, "image");
    return to_numpy(without_gil([&] { return felzenszwalb(pixels, FelzenszwalbOptions{scale, sigma, min_size}).labels; }));
  }, py::arg("image"), py::arg("scale"), py::arg("sigma"), py::arg("min_size"));
}

}  // namespace lumos::python
