// pyhcs._core: the compiled core. Each algorithm lives in its own folder under csrc/ and
// exposes a bind_* function that registers it here.
#include <pybind11/pybind11.h>

namespace py = pybind11;

namespace pyhcs {
void bind_geometry(py::module_& m);
void bind_propagate(py::module_& m);
void bind_watershed(py::module_& m);
}

PYBIND11_MODULE(_core, m) {
    m.doc() = "pyhcs compiled core (C++17, pybind11)";

    py::dict info;
#ifdef PYHCS_HAVE_OPENMP
    info["openmp"] = true;
#else
    info["openmp"] = false;
#endif
#ifdef PYHCS_WITH_CUDA
    info["cuda_sources"] = true;
#else
    info["cuda_sources"] = false;
#endif
    info["cxx_standard"] = __cplusplus;
    m.attr("build_info") = info;

    pyhcs::bind_geometry(m);
    pyhcs::bind_propagate(m);
    pyhcs::bind_watershed(m);
}
