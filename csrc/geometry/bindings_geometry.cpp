// pybind11 bindings of the geometry kernels (minimum enclosing circle, convex hull).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <algorithm>
#include <cstdint>
#include <functional>
#include <limits>
#include <utility>
#include <vector>

#include "geometry/minimum_enclosing_circle.h"

namespace py = pybind11;

namespace pyhcs {
namespace {

using geometry::AcosKernel;
using geometry::HullSet;
using geometry::Point;

using Index = py::array_t<std::int64_t, py::array::c_style | py::array::forcecast>;

template <typename T>
using CArray = py::array_t<T, py::array::c_style>;

AcosKernel make_acos(std::uintptr_t loop, std::uintptr_t data) {
    AcosKernel k;
    k.loop = reinterpret_cast<geometry::UfuncLoop>(loop);
    k.data = reinterpret_cast<void*>(data);
    return k;
}

// Hulls of an int32 or int64 label image; index None means every label > 0 present.
HullSet hulls_of(const py::array& labels, const py::object& index, int n_threads) {
    if (labels.ndim() != 2) throw py::value_error("labels must be a 2-D array");
    const auto limit = static_cast<py::ssize_t>(std::numeric_limits<std::int32_t>::max() - 1);
    if (labels.shape(0) > limit || labels.shape(1) > limit) {
        throw py::value_error("labels has more than 2**31 - 2 rows or columns");
    }
    Index idx;
    const std::int64_t* idx_data = nullptr;
    std::size_t n_idx = 0;
    if (!index.is_none()) {
        idx = py::cast<Index>(index);
        if (idx.ndim() != 1) throw py::value_error("index must be a 1-D array");
        idx_data = idx.data();
        n_idx = static_cast<std::size_t>(idx.shape(0));
        if (idx_data == nullptr) {
            static const std::int64_t empty = 0;
            idx_data = &empty;  // an empty index is not "None"
        }
    }
    HullSet result;
    auto run = [&](const auto& a) {
        const std::int64_t rows = static_cast<std::int64_t>(a.shape(0));
        const std::int64_t cols = static_cast<std::int64_t>(a.shape(1));
        const auto* data = a.data();
        py::gil_scoped_release release;
        result = geometry::object_hulls(data, rows, cols, idx_data, n_idx, n_threads);
    };
    if (py::isinstance<py::array_t<std::int32_t>>(labels)) {
        run(py::cast<CArray<std::int32_t>>(labels));  // copies only if not C-contiguous
    } else if (py::isinstance<py::array_t<std::int64_t>>(labels)) {
        run(py::cast<CArray<std::int64_t>>(labels));
    } else {
        throw py::type_error("labels must be an int32 or int64 array");
    }
    return result;
}

py::array_t<std::int64_t> to_array(const std::vector<std::int64_t>& v) {
    py::array_t<std::int64_t> out(static_cast<py::ssize_t>(v.size()));
    std::copy(v.begin(), v.end(), out.mutable_data());
    return out;
}

// Hulls of objects given by their column extremes (see geometry::ColumnExtremes);
// slot None means one output row per object, in object order.
HullSet hulls_from_extremes(const Index& first, const Index& offset, const CArray<std::int32_t>& lower,
                            const CArray<std::int32_t>& upper, const py::object& slot, int n_threads) {
    if (first.ndim() != 1 || offset.ndim() != 1 || lower.ndim() != 1 || upper.ndim() != 1) {
        throw py::value_error("first, offset, lower and upper must be 1-D arrays");
    }
    const std::size_t n_obj = static_cast<std::size_t>(first.shape(0));
    if (static_cast<std::size_t>(offset.shape(0)) != n_obj + 1) {
        throw py::value_error("offset must have one more entry than first");
    }
    if (lower.shape(0) != upper.shape(0) || offset.data()[n_obj] != static_cast<std::int64_t>(lower.shape(0))) {
        throw py::value_error("lower and upper must both have offset[-1] entries");
    }
    std::vector<std::int64_t> slots;
    if (slot.is_none()) {
        slots.resize(n_obj);
        for (std::size_t s = 0; s < n_obj; ++s) slots[s] = static_cast<std::int64_t>(s);
    } else {
        const Index sl = py::cast<Index>(slot);
        if (sl.ndim() != 1) throw py::value_error("slot must be a 1-D array");
        slots.assign(sl.data(), sl.data() + sl.size());
    }
    geometry::ColumnExtremes columns;
    columns.first = first.data();
    columns.offset = offset.data();
    columns.lower = lower.data();
    columns.upper = upper.data();
    columns.n_objects = n_obj;
    std::vector<std::int64_t> index(slots);  // the "labels" reported: the slots themselves
    py::gil_scoped_release release;  // std::invalid_argument reaches Python as ValueError
    return geometry::hulls_from_column_extremes(columns, std::move(index), std::move(slots), n_threads);
}

// Circles of a HullSet: (centers (n, 2), radii (n,)), one row per hulls.index entry.
std::pair<py::array_t<double>, py::array_t<double>> circles_of(const HullSet& hulls, std::uintptr_t acos_loop,
                                                                std::uintptr_t acos_data,
                                                                const py::object& argsort, int n_threads) {
    const std::size_t n = hulls.index.size();
    py::array_t<double> centers({static_cast<py::ssize_t>(n), py::ssize_t(2)});
    py::array_t<double> radii(static_cast<py::ssize_t>(n));
    const AcosKernel kernel = make_acos(acos_loop, acos_data);
    geometry::SortHook hook;
    if (!argsort.is_none()) {
        // Called between parallel regions on this thread, with the GIL released.
        hook = [&argsort](const std::vector<double>& values, std::vector<std::int64_t>& order) {
            py::gil_scoped_acquire gil;
            py::array_t<double> arr(static_cast<py::ssize_t>(values.size()));
            std::copy(values.begin(), values.end(), arr.mutable_data());
            py::object result = argsort(arr);
            auto perm = py::array_t<std::int64_t, py::array::c_style | py::array::forcecast>::ensure(result);
            if (!perm || perm.ndim() != 1) throw py::type_error("argsort must return a 1-D integer array");
            order.assign(perm.data(), perm.data() + perm.size());
        };
    }
    double* c = centers.mutable_data();
    double* r = radii.mutable_data();
    {
        py::gil_scoped_release release;
        geometry::minimum_enclosing_circles(hulls, kernel, hook, n_threads, c, r);
    }
    return {centers, radii};
}

py::tuple mec_binding(const py::array& labels, const py::object& index, std::uintptr_t acos_loop,
                      std::uintptr_t acos_data, const py::object& argsort, int n_threads) {
    const HullSet hulls = hulls_of(labels, index, n_threads);
    auto circles = circles_of(hulls, acos_loop, acos_data, argsort, n_threads);
    return py::make_tuple(to_array(hulls.index), circles.first, circles.second);
}

py::tuple mec_from_extremes_binding(const Index& first, const Index& offset, const CArray<std::int32_t>& lower,
                                    const CArray<std::int32_t>& upper, const py::object& slot,
                                    std::uintptr_t acos_loop, std::uintptr_t acos_data,
                                    const py::object& argsort, int n_threads) {
    const HullSet hulls = hulls_from_extremes(first, offset, lower, upper, slot, n_threads);
    auto circles = circles_of(hulls, acos_loop, acos_data, argsort, n_threads);
    return py::make_tuple(circles.first, circles.second);
}

py::tuple hull_binding(const py::array& labels, const py::object& index, int n_threads) {
    const HullSet hulls = hulls_of(labels, index, n_threads);
    const std::size_t n = hulls.index.size();
    py::ssize_t total = 0;
    for (std::size_t k = 0; k < n; ++k) {
        const std::int64_t s = hulls.slot[k];
        if (s >= 0) total += static_cast<py::ssize_t>(hulls.offset[s + 1] - hulls.offset[s]);
    }
    py::array_t<std::int64_t> points({total, py::ssize_t(3)});
    py::array_t<std::int64_t> counts(static_cast<py::ssize_t>(n));
    std::int64_t* p = points.mutable_data();
    std::int64_t* cnt = counts.mutable_data();
    for (std::size_t k = 0; k < n; ++k) {
        const std::int64_t s = hulls.slot[k];
        cnt[k] = 0;
        if (s < 0) continue;
        const std::size_t begin = hulls.offset[static_cast<std::size_t>(s)];
        const std::size_t end = hulls.offset[static_cast<std::size_t>(s) + 1];
        cnt[k] = static_cast<std::int64_t>(end - begin);
        for (std::size_t q = begin; q < end; ++q) {
            *p++ = hulls.index[k];
            *p++ = hulls.points[q].i;
            *p++ = hulls.points[q].j;
        }
    }
    return py::make_tuple(to_array(hulls.index), points, counts);
}

py::array_t<double> acos_binding(const py::array_t<double, py::array::c_style | py::array::forcecast>& x,
                                 std::uintptr_t acos_loop, std::uintptr_t acos_data) {
    py::array_t<double> out(x.size());
    const AcosKernel kernel = make_acos(acos_loop, acos_data);
    kernel(x.data(), out.mutable_data(), static_cast<std::size_t>(x.size()));
    return out;
}

}  // namespace

void bind_geometry(py::module_& m) {
    m.def("minimum_enclosing_circle", &mec_binding, py::arg("labels"), py::arg("index") = py::none(),
          py::arg("acos_loop") = 0, py::arg("acos_data") = 0, py::arg("argsort") = py::none(),
          py::arg("n_threads") = 0,
          R"doc(Per-object minimum enclosing circle, bit-identical to centrosome's.

labels: 2-D int32 or int64 label image (0 = background). index: 1-D int64 labels to
report, or None for every label > 0 present, ascending. acos_loop / acos_data:
address of a float64 numpy ufunc inner loop for the arc cosine and its data
pointer (0: std::acos). argsort: callable returning the sorting permutation of a
float64 array, used to break exact ties between co-circular vertices as
scipy.ndimage.minimum_position does (None: first tied vertex in hull order).
n_threads: 0 = OpenMP default.
Returns (index (n,) int64, centers (n, 2) float64 (i, j), radii (n,) float64);
labels without pixels (or <= 0) give NaN rows.)doc");
    m.def("minimum_enclosing_circle_from_extremes", &mec_from_extremes_binding, py::arg("first"),
          py::arg("offset"), py::arg("lower"), py::arg("upper"), py::arg("slot") = py::none(),
          py::arg("acos_loop") = 0, py::arg("acos_data") = 0, py::arg("argsort") = py::none(),
          py::arg("n_threads") = 0,
          R"doc(minimum_enclosing_circle from per-object column extremes instead of a label image.

Object s (s = 0..n-1, numbered as minimum_enclosing_circle numbers the labels of its
index: in order of first appearance) covers the columns first[s] + k, k < width =
offset[s + 1] - offset[s]; lower / upper (int32, offset[n] entries) hold the topmost
and bottommost row of the object in each of those columns (2**31 - 1 and -1 where a
column holds none of its pixels; the first column of a non-empty object must hold
some); width 0: the object has no pixels (NaN row). first, offset: int64 (n,), (n + 1,).
slot: int64 (m,) object of each output row, -1 for NaN rows (None: one row per object).
The other arguments and the circles (bit-identical to the label-image entry) are those
of minimum_enclosing_circle. Returns (centers (m, 2) float64, radii (m,) float64).)doc");
    m.def("convex_hull", &hull_binding, py::arg("labels"), py::arg("index") = py::none(),
          py::arg("n_threads") = 0,
          R"doc(Per-object convex hull of pixel centres, vertices ordered as centrosome's convex_hull.

Returns (index (n,) int64, points (N, 3) int64 rows (label, i, j), counts (n,) int64).)doc");
    m.def("_acos_with_loop", &acos_binding, py::arg("x"), py::arg("acos_loop"), py::arg("acos_data"),
          "Arc cosine of a float64 vector through the given ufunc loop (0: std::acos); for self-checks.");
}

}  // namespace pyhcs
