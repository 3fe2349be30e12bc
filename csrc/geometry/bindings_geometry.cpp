#include <pybind11/pybind11.h>

namespace py = pybind11;

namespace pyhcs {
void bind_geometry(py::module_& m) {
    // Filled by the minimum enclosing circle (csrc/geometry/minimum_enclosing_circle.*).
    (void)m;
}
}  // namespace pyhcs
