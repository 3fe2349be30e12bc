// pybind11 bindings of the propagation kernel.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <limits>

#include "propagate/propagate.h"

namespace py = pybind11;

namespace pyhcs {
namespace {

template <typename T>
using CArray = py::array_t<T, py::array::c_style>;

py::tuple propagate_py(const CArray<double>& image, const CArray<std::int32_t>& labels,
                       const CArray<std::uint8_t>& mask, double weight, int n_threads) {
    if (image.ndim() != 2 || labels.ndim() != 2 || mask.ndim() != 2) {
        throw py::value_error("image, labels and mask must be 2-D");
    }
    const std::int64_t rows = image.shape(0);
    const std::int64_t cols = image.shape(1);
    if (labels.shape(0) != rows || labels.shape(1) != cols || mask.shape(0) != rows ||
        mask.shape(1) != cols) {
        throw py::value_error("image, labels and mask must have the same shape");
    }
    // The kernel numbers pixels on the grid padded by one pixel on each side, in 32 bits.
    if ((rows + 2) * (cols + 2) > static_cast<std::int64_t>(std::numeric_limits<std::uint32_t>::max())) {
        throw py::value_error("image too large: (rows + 2) * (cols + 2) must be below 2**32");
    }
    CArray<std::int32_t> labels_out({rows, cols});
    CArray<double> distances({rows, cols});
    propagate::Stats stats;
    {
        py::gil_scoped_release release;
        stats = propagate::propagate(image.data(), labels.data(), mask.data(), rows, cols, weight,
                                     labels_out.mutable_data(), distances.mutable_data(), n_threads);
    }
    py::dict info;
    info["pushes"] = stats.pushes;
    info["pops"] = stats.pops;
    static const char* const kPhase2[3] = {"none", "band_components", "array"};
    info["phase2"] = kPhase2[stats.phase2];
    info["components"] = stats.components;
    info["image_reads"] = stats.float_image ? "float32" : "float64";
    return py::make_tuple(labels_out, distances, info);
}

}  // namespace

void bind_propagate(py::module_& m) {
    m.def("propagate", &propagate_py, py::arg("image"), py::arg("labels"), py::arg("mask"),
          py::arg("weight"), py::arg("n_threads") = 0,
          "Sequential geodesic propagation, bit-identical to centrosome.propagate.\n\n"
          "image float64 (H, W), labels int32 (H, W) >= 0, mask uint8 (H, W), weight >= 0,\n"
          "n_threads: threads (<= 0: OpenMP's default); the result does not depend on it.\n"
          "Returns (labels_out int32, distances float64, stats dict). Labelled pixels outside\n"
          "the mask are NOT copied into labels_out (the Python wrapper does that).");
}

}  // namespace pyhcs
