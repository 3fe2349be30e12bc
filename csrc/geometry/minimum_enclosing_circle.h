// Per-object convex hull and minimum enclosing circle, bit-identical to
// CellProfiler's centrosome (cpmorphology.convex_hull / minimum_enclosing_circle).
//
// The algorithms are re-implemented from their description (specs/reference.md 2.2):
//  * hull: Andrew's monotone chain over the per-column extremes of an object
//    (topmost / bottommost pixel centre of every occupied column), lower
//    envelope left to right, then upper envelope right to left, collinear
//    points pruned with a "U-turn" rule that keeps the two ends of degenerate
//    (one-line) hulls. The first vertex is the one with the smallest j (ties:
//    smallest i).
//  * circle: Chrystal's side/angle iteration with the angles computed as
//    |acos(cos)| of the same floating-point expressions the reference uses,
//    circumcentre from exact-integer numerator and denominator, radius measured
//    from the FIRST end of the final side.
//
// Two details of the reference's runtime decide the last bits for objects with
// co-circular hull vertices, and both are pluggable here:
//  * the arc cosine: the reference uses numpy's arccos ufunc, whose float64 loop
//    is SIMD (SVML) code on AVX-512 machines and differs from libm's acos in the
//    last bit for ~10% of arguments (AcosKernel can call numpy's own loop);
//  * ties: when several vertices subtend exactly the same smallest angle, the
//    reference (scipy.ndimage.minimum_position) takes the first of them in the
//    order produced by an unstable argsort of ONE array holding the angles of
//    all objects still iterating, so the choice depends on the other objects
//    and on the order of `index`. The objects are therefore iterated in
//    lockstep rounds that rebuild that array, and a round in which such a tie
//    can change a result asks SortHook for the argsort permutation.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <vector>

namespace pyhcs {
namespace geometry {

// Signature of a numpy ufunc inner loop (PyUFuncGenericFunction):
// (char **args, npy_intp const *dimensions, npy_intp const *steps, void *data).
using UfuncLoop = void (*)(char**, const std::ptrdiff_t*, const std::ptrdiff_t*, void*);

// Element-wise arc cosine of a contiguous float64 buffer. Thread-safe.
struct AcosKernel {
    UfuncLoop loop = nullptr;  // nullptr: std::acos
    void* data = nullptr;      // the loop's `data` argument
    // out must not alias in.
    void operator()(const double* in, double* out, std::size_t n) const;
};

// Fills `order` with the permutation that sorts `values` (argsort). Called on
// the calling thread, between parallel regions. An empty hook means "first
// tied vertex in hull order".
using SortHook = std::function<void(const std::vector<double>& values, std::vector<std::int64_t>& order)>;

struct Point {
    std::int64_t i;
    std::int64_t j;
};

struct Circle {
    double ci;
    double cj;
    double radius;
};

// Convex hull of one object given, for each column j0 + k (k = 0..width-1),
// its topmost row lower[k] and bottommost row upper[k]; columns without
// pixels hold lower[k] = kAbsentLower, upper[k] = kAbsentUpper. The first
// column (k = 0) must be occupied. Writes the vertices to `out` (cleared
// first) in centrosome's order.
constexpr std::int32_t kAbsentLower = INT32_MAX;
constexpr std::int32_t kAbsentUpper = -1;
void hull_from_columns(const std::int32_t* lower, const std::int32_t* upper,
                       std::int64_t j0, std::int64_t width, std::vector<Point>& out);

// The hulls of the objects of a label image.
struct HullSet {
    std::vector<std::int64_t> index;   // the labels reported, one entry per output row
    std::vector<std::int64_t> slot;    // object of each entry; -1 for labels <= 0
    std::vector<Point> points;         // hull vertices, object by object
    std::vector<std::size_t> offset;   // object s: points[offset[s], offset[s + 1])
    std::size_t n_objects() const { return offset.empty() ? 0 : offset.size() - 1; }
};

// Per-object column extremes, the compact form of a label image that decides
// every hull: object s covers the columns first[s] + k, k = 0..width - 1 with
// width = offset[s + 1] - offset[s], and lower[offset[s] + k] / upper[offset[s] + k]
// are its topmost / bottommost row in that column (kAbsentLower / kAbsentUpper
// where the column has no pixel of s). A non-empty object's first column must
// be occupied; width 0 means the object has no pixels.
struct ColumnExtremes {
    const std::int64_t* first = nullptr;   // n_objects
    const std::int64_t* offset = nullptr;  // n_objects + 1, offset[0] = 0, non-decreasing
    const std::int32_t* lower = nullptr;   // offset[n_objects]
    const std::int32_t* upper = nullptr;   // offset[n_objects]
    std::size_t n_objects = 0;
};

// Throws std::invalid_argument (naming the problem) unless `columns` is well formed:
// offsets non-decreasing from 0, every column either absent in both tables or
// 0 <= lower <= upper < 2**31 - 1, the first column of every non-empty object occupied.
void check_column_extremes(const ColumnExtremes& columns);

// Hulls of objects given by their column extremes (objects in the given order,
// which is the order the reference lays them out in); `index` and `slot` as in
// HullSet (slot values in [-1, n_objects)).
HullSet hulls_from_column_extremes(const ColumnExtremes& columns, std::vector<std::int64_t> index,
                                   std::vector<std::int64_t> slot, int n_threads);

// Hulls of the labels in `index` (any order, duplicates allowed; labels <= 0
// or absent from the image have empty hulls), or, when index is null, of
// every label > 0 present, ascending. `labels` is a C-contiguous rows x cols
// int32 or int64 array. Objects are numbered in order of first appearance in
// the index (the order in which the reference lays them out).
template <typename LabelT>
HullSet object_hulls(const LabelT* labels, std::int64_t rows, std::int64_t cols,
                     const std::int64_t* index, std::size_t n_index, int n_threads);

// Minimum enclosing circle of every entry of hulls.index, as
// centrosome.cpmorphology.minimum_enclosing_circle(labels, index) computes it.
// centers: n x 2 (i, j), radii: n. Labels without pixels give NaN centre and
// NaN radius. The result does not depend on n_threads.
void minimum_enclosing_circles(const HullSet& hulls, const AcosKernel& acos_kernel,
                               const SortHook& sort_hook, int n_threads,
                               double* centers, double* radii);

}  // namespace geometry
}  // namespace pyhcs
