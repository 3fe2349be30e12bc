// pybind11 bindings of the seeded watershed.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>

#include "watershed/watershed.h"

namespace py = pybind11;

namespace pyhcs {
namespace {

template <typename T>
using CArray = py::array_t<T, py::array::c_style>;

void check_inputs(const CArray<double>& image, const CArray<std::int32_t>& markers,
                  const CArray<std::uint8_t>& mask, int connectivity) {
    if (image.ndim() != 2 || markers.ndim() != 2 || mask.ndim() != 2) {
        throw py::value_error("image, markers and mask must be 2-D");
    }
    const std::int64_t rows = image.shape(0);
    const std::int64_t cols = image.shape(1);
    if (markers.shape(0) != rows || markers.shape(1) != cols || mask.shape(0) != rows ||
        mask.shape(1) != cols) {
        throw py::value_error("image, markers and mask must have the same shape");
    }
    if (connectivity != 1 && connectivity != 2) {
        throw py::value_error("connectivity must be 1 or 2");
    }
}

CArray<std::int32_t> watershed_py(const CArray<double>& image,
                                  const CArray<std::int32_t>& markers,
                                  const CArray<std::uint8_t>& mask, int connectivity,
                                  bool rising) {
    check_inputs(image, markers, mask, connectivity);
    const std::int64_t rows = image.shape(0);
    const std::int64_t cols = image.shape(1);
    CArray<std::int32_t> output({rows, cols});
    {
        py::gil_scoped_release release;
        watershed::watershed(image.data(), markers.data(), mask.data(), rows, cols,
                             connectivity, rising, output.mutable_data());
    }
    return output;
}

py::tuple watershed_components_py(const CArray<double>& image,
                                  const CArray<std::int32_t>& markers,
                                  const CArray<std::uint8_t>& mask, int connectivity,
                                  bool rising, const CArray<std::int32_t>& components,
                                  std::int64_t n_components, int n_threads) {
    check_inputs(image, markers, mask, connectivity);
    const std::int64_t rows = image.shape(0);
    const std::int64_t cols = image.shape(1);
    if (components.ndim() != 2 || components.shape(0) != rows || components.shape(1) != cols) {
        throw py::value_error("components must have the image's shape");
    }
    if (n_components < 0) throw py::value_error("n_components must be >= 0");
    CArray<std::int32_t> output({rows, cols});
    watershed::ComponentsResult result;
    {
        py::gil_scoped_release release;
        result = watershed::watershed_components(
            image.data(), markers.data(), mask.data(), rows, cols, connectivity, rising,
            components.data(), n_components, n_threads, output.mutable_data());
    }
    py::dict info;
    info["pushes"] = result.pushes;
    info["components"] = result.components;
    info["per_component"] = result.per_component;
    return py::make_tuple(output, info);
}

}  // namespace

void bind_watershed(py::module_& m) {
    m.def("watershed", &watershed_py, py::arg("image"), py::arg("markers"), py::arg("mask"),
          py::arg("connectivity"), py::arg("rising"),
          "Seeded watershed, identical to skimage.segmentation.watershed(image, markers,\n"
          "connectivity, mask=mask) without compactness or watershed lines.\n\n"
          "image float64 (H, W), markers int32 (H, W), mask uint8 (H, W), connectivity 1 or 2;\n"
          "rising: scikit-image >= 0.25.2's rule (a pushed value is raised to its parent's),\n"
          "else the rule of scikit-image <= 0.25.1 (CellProfiler 5's 0.24.0).\n"
          "Returns the labels, int32 (H, W).");
    m.def("watershed_components", &watershed_components_py, py::arg("image"),
          py::arg("markers"), py::arg("mask"), py::arg("connectivity"), py::arg("rising"),
          py::arg("components"), py::arg("n_components"), py::arg("n_threads") = 0,
          "watershed(), each connected component of the mask flooded on its own, in parallel,\n"
          "where that is exact: no component holds two markers of equal value and no masked\n"
          "value is NaN; otherwise the global flooding. components int32 (H, W): the\n"
          "component 1 .. n_components of every mask pixel in `connectivity`\n"
          "(scipy.ndimage.label's numbering).\n"
          "Returns (labels int32 (H, W), {pushes, components, per_component}).");
}

}  // namespace pyhcs
