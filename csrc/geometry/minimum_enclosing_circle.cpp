// Per-object convex hull and minimum enclosing circle (see minimum_enclosing_circle.h).
//
// Floating-point rules: everything that decides the result is evaluated with the
// same IEEE operations, in the same order, as the reference; the build uses
// -ffp-contract=off so no multiply-add is fused. Coordinates are integers, so
// all sums of products before a sqrt or a division are exact.
#include "geometry/minimum_enclosing_circle.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <utility>

#ifdef PYHCS_HAVE_OPENMP
#include <omp.h>
#endif

namespace pyhcs {
namespace geometry {

namespace {

// numpy's np.pi and np.pi / 2 (the halving is exact).
constexpr double kPi = 3.141592653589793;
constexpr double kHalfPi = kPi / 2.0;

int resolve_threads(int n_threads) {
#ifdef PYHCS_HAVE_OPENMP
    return n_threads > 0 ? n_threads : omp_get_max_threads();
#else
    (void)n_threads;
    return 1;
#endif
}

// ---------------------------------------------------------------- label image scan

// A maximal horizontal run of one label: row i, columns [j0, j1).
struct Run {
    std::int64_t label;
    std::int32_t i, j0, j1;
};

// Calls f(value, j_begin, j_end) for every maximal run of equal non-zero
// values in row[c0, c1). Background is crossed 16 values at a time.
template <typename LabelT, typename F>
inline void for_each_run(const LabelT* row, std::int64_t c0, std::int64_t c1, F&& f) {
    constexpr std::int64_t kStep = 16;
    std::int64_t j = c0;
    while (j < c1) {
        while (j + kStep <= c1) {
            LabelT any = 0;
            for (std::int64_t u = 0; u < kStep; ++u) any |= row[j + u];
            if (any != 0) break;
            j += kStep;
        }
        while (j < c1 && row[j] == 0) ++j;
        if (j >= c1) break;
        const LabelT v = row[j];
        std::int64_t k = j + 1;
        while (k < c1 && row[k] == v) ++k;
        f(v, j, k);
        j = k;
    }
}

// The runs of the labels accepted by keep(label), in row-major order. Row
// bands are scanned in parallel and concatenated in order.
template <typename LabelT, typename Keep>
std::vector<Run> scan_runs(const LabelT* labels, std::int64_t rows, std::int64_t cols, int n_threads,
                           const Keep& keep) {
    int nt = resolve_threads(n_threads);
    if (rows < 16 * static_cast<std::int64_t>(nt)) nt = 1;
    std::vector<std::vector<Run>> parts(static_cast<std::size_t>(nt));
#ifdef PYHCS_HAVE_OPENMP
#pragma omp parallel for schedule(static, 1) num_threads(nt) if (nt > 1)
#endif
    for (int p = 0; p < nt; ++p) {
        std::vector<Run>& out = parts[static_cast<std::size_t>(p)];
        const std::int64_t r0 = rows * p / nt;
        const std::int64_t r1 = rows * (p + 1) / nt;
        for (std::int64_t i = r0; i < r1; ++i) {
            for_each_run(labels + i * cols, 0, cols, [&](LabelT v, std::int64_t j, std::int64_t k) {
                const std::int64_t label = static_cast<std::int64_t>(v);
                if (keep(label)) {
                    out.push_back(Run{label, static_cast<std::int32_t>(i), static_cast<std::int32_t>(j),
                                      static_cast<std::int32_t>(k)});
                }
            });
        }
    }
    if (nt == 1) return std::move(parts[0]);
    std::size_t total = 0;
    for (const auto& part : parts) total += part.size();
    std::vector<Run> runs;
    runs.reserve(total);
    for (const auto& part : parts) runs.insert(runs.end(), part.begin(), part.end());
    return runs;
}

// Label value -> object number. Objects are numbered in order of first
// appearance in `index`; labels <= 0 and labels not in `index` map to -1.
class LabelIndex {
public:
    LabelIndex(const std::int64_t* index, std::size_t n_index, std::int64_t n_pixels) {
        for (std::size_t k = 0; k < n_index; ++k) max_label_ = std::max(max_label_, index[k]);
        dense_ = max_label_ <= std::max<std::int64_t>(std::int64_t(1) << 22, n_pixels);
        if (dense_) {
            table_.assign(static_cast<std::size_t>(max_label_) + 1, -1);
            for (std::size_t k = 0; k < n_index; ++k) {
                const std::int64_t v = index[k];
                if (v > 0 && table_[static_cast<std::size_t>(v)] < 0) {
                    table_[static_cast<std::size_t>(v)] = static_cast<std::int32_t>(n_objects_++);
                }
            }
            return;
        }
        std::vector<std::pair<std::int64_t, std::int64_t>> first;  // (label, position in index)
        for (std::size_t k = 0; k < n_index; ++k) {
            if (index[k] > 0) first.emplace_back(index[k], static_cast<std::int64_t>(k));
        }
        std::sort(first.begin(), first.end());
        first.erase(std::unique(first.begin(), first.end(),
                                [](const auto& x, const auto& y) { return x.first == y.first; }),
                    first.end());
        std::vector<std::pair<std::int64_t, std::int64_t>> by_position;  // (position, label)
        for (const auto& f : first) by_position.emplace_back(f.second, f.first);
        std::sort(by_position.begin(), by_position.end());
        for (const auto& f : by_position) sorted_.emplace_back(f.second, static_cast<std::int64_t>(n_objects_++));
        std::sort(sorted_.begin(), sorted_.end());
    }
    std::size_t size() const { return n_objects_; }
    std::int64_t operator()(std::int64_t v) const {
        if (v <= 0 || v > max_label_) return -1;
        if (dense_) return table_[static_cast<std::size_t>(v)];
        auto it = std::lower_bound(sorted_.begin(), sorted_.end(),
                                   std::make_pair(v, std::numeric_limits<std::int64_t>::min()));
        return (it != sorted_.end() && it->first == v) ? it->second : -1;
    }

private:
    std::vector<std::int32_t> table_;
    std::vector<std::pair<std::int64_t, std::int64_t>> sorted_;  // (label, object), sparse labels
    std::int64_t max_label_ = 0;
    std::size_t n_objects_ = 0;
    bool dense_ = true;
};

// Sorted distinct labels of the runs.
std::vector<std::int64_t> distinct_labels(const std::vector<Run>& runs) {
    std::int64_t max_label = 0;
    for (const Run& r : runs) max_label = std::max(max_label, r.label);
    std::vector<std::int64_t> out;
    if (max_label <= std::max<std::int64_t>(std::int64_t(1) << 22, 4 * static_cast<std::int64_t>(runs.size()))) {
        std::vector<unsigned char> seen(static_cast<std::size_t>(max_label) + 1, 0);
        for (const Run& r : runs) seen[static_cast<std::size_t>(r.label)] = 1;
        for (std::int64_t v = 1; v <= max_label; ++v) {
            if (seen[static_cast<std::size_t>(v)]) out.push_back(v);
        }
        return out;
    }
    out.reserve(runs.size());
    for (const Run& r : runs) out.push_back(r.label);
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
    return out;
}

// ---------------------------------------------------------------- convex hull

// Does the path a -> b -> c turn left (x = j, y = i)? Collinear triples count
// as convex only for a U-turn at the rightmost point (b right of both a and c),
// which is what keeps the two ends of a degenerate (one-line) hull.
inline bool turns_convex(const Point& a, const Point& b, const Point& c) {
    const std::int64_t ab_i = b.i - a.i;
    const std::int64_t ab_j = b.j - a.j;
    const std::int64_t bc_i = c.i - b.i;
    const std::int64_t bc_j = c.j - b.j;
    const std::int64_t cross = ab_j * bc_i - bc_j * ab_i;
    if (cross > 0) return true;
    if (cross < 0) return false;
    return b.j > a.j && b.j > c.j;
}

inline void push_vertex(std::vector<Point>& chain, const Point& p) {
    while (chain.size() >= 2 && !turns_convex(chain[chain.size() - 2], chain.back(), p)) {
        chain.pop_back();
    }
    chain.push_back(p);
}

// ---------------------------------------------------------------- circle

// Circumcircle of S0, S1, V with x = j, y = i; radius measured from S0. Every
// term before the divisions is an exact integer in double precision.
inline Circle circumcircle(const Point& p0, const Point& p1, const Point& pv) {
    const double x0 = static_cast<double>(p0.j), y0 = static_cast<double>(p0.i);
    const double x1 = static_cast<double>(p1.j), y1 = static_cast<double>(p1.i);
    const double xv = static_cast<double>(pv.j), yv = static_cast<double>(pv.i);
    const double q0 = y0 * y0 + x0 * x0;
    const double q1 = y1 * y1 + x1 * x1;
    const double qv = yv * yv + xv * xv;
    const double den = 2.0 * (x0 * (y1 - yv) + x1 * (yv - y0) + xv * (y0 - y1));
    const double cx = (q0 * (y1 - yv) + q1 * (yv - y0) + qv * (y0 - y1)) / den;
    const double cy = (q0 * (xv - x1) + q1 * (x0 - xv) + qv * (x1 - x0)) / den;
    const double d_i = y0 - cy, d_j = x0 - cx;
    return Circle{cy, cx, std::sqrt(d_i * d_i + d_j * d_j)};
}

// The side/angle iteration of all objects, advanced in lockstep rounds. Round r
// evaluates iteration r of every object still iterating; the candidate angles
// of one round form a single array in the reference's order (objects in slot
// order, each object's vertices in hull order without the two ends of S).
class CircleRounds {
public:
    CircleRounds(const HullSet& hulls, const AcosKernel& acos_kernel, int n_threads)
        : pts_(hulls.points), off_(hulls.offset), acos_(acos_kernel), n_threads_(resolve_threads(n_threads)) {
        n_.resize(hulls.n_objects());
        for (std::size_t s = 0; s < n_.size(); ++s) n_[s] = off_[s + 1] - off_[s];
        const std::size_t n_obj = n_.size();
        s0_.assign(n_obj, 0);
        s1_.assign(n_obj, 1);
        circle_.resize(n_obj);
        const double nan = std::numeric_limits<double>::quiet_NaN();
        std::size_t max_n = 0;
        for (std::size_t s = 0; s < n_obj; ++s) {
            const Point* h = pts_.data() + off_[s];
            max_n = std::max(max_n, n_[s]);
            if (n_[s] == 0) {
                circle_[s] = Circle{nan, nan, nan};
            } else if (n_[s] == 1) {
                circle_[s] = Circle{static_cast<double>(h[0].i), static_cast<double>(h[0].j), 0.0};
            } else if (n_[s] == 2) {
                // Midpoint of the integer sum; radius measured from the first vertex.
                const double ci = static_cast<double>(h[0].i + h[1].i) / 2.0;
                const double cj = static_cast<double>(h[0].j + h[1].j) / 2.0;
                const double di = ci - static_cast<double>(h[0].i);
                const double dj = cj - static_cast<double>(h[0].j);
                circle_[s] = Circle{ci, cj, std::sqrt(di * di + dj * dj)};
            } else {
                active_.push_back(static_cast<std::int64_t>(s));
            }
        }
        max_rounds_ = 4 * max_n * max_n + 64;  // the iteration ends long before
    }

    bool done() const { return active_.empty(); }
    const std::vector<double>& angles() const { return angle_v_; }
    const std::vector<Circle>& circles() const { return circle_; }

    // Evaluates the candidate angles of the current round and picks, for every
    // object, the first vertex at its smallest angle. Returns true when some
    // object has several vertices at exactly that angle and the choice among
    // them can change its result (the reference's argsort must then decide).
    bool evaluate() {
        const std::size_t n_act = active_.size();
        elem_off_.assign(n_act + 1, 0);
        for (std::size_t a = 0; a < n_act; ++a) elem_off_[a + 1] = elem_off_[a] + (n_[active_[a]] - 2);
        const std::size_t total = elem_off_[n_act];
        angle_v_.resize(total);
        angle_s0_.resize(total);
        angle_s1_.resize(total);
        cand_.resize(total);
        owner_.resize(total);
        best_.assign(n_act, 0);
        best_angle_.assign(n_act, 0.0);
        std::vector<unsigned char> tie(n_act, 0);
        const std::int64_t na = static_cast<std::int64_t>(n_act);
#ifdef PYHCS_HAVE_OPENMP
#pragma omp parallel for schedule(dynamic, 16) num_threads(n_threads_) if (n_act > 64)
#endif
        for (std::int64_t a = 0; a < na; ++a) {
            tie[static_cast<std::size_t>(a)] = evaluate_object(static_cast<std::size_t>(a)) ? 1 : 0;
        }
        return std::any_of(tie.begin(), tie.end(), [](unsigned char t) { return t != 0; });
    }

    // Picks, for every object, the first of its elements in `order` (an argsort
    // permutation of angles()), as scipy.ndimage.minimum_position does.
    void choose_by_order(const std::vector<std::int64_t>& order) {
        const std::size_t total = angle_v_.size();
        if (order.size() != total) throw std::runtime_error("argsort hook returned a wrong-sized permutation");
        std::vector<std::int64_t> chosen(active_.size(), -1);
        for (const std::int64_t e : order) {
            if (e < 0 || static_cast<std::size_t>(e) >= total) {
                throw std::runtime_error("argsort hook returned an index out of range");
            }
            const std::size_t a = owner_[static_cast<std::size_t>(e)];
            if (chosen[a] < 0) chosen[a] = e;
        }
        for (std::size_t a = 0; a < active_.size(); ++a) {
            const std::size_t e = static_cast<std::size_t>(chosen[a]);
            if (chosen[a] < 0 || angle_v_[e] != best_angle_[a]) {
                throw std::runtime_error("argsort hook did not return a sorting permutation");
            }
            best_[a] = e - elem_off_[a];
        }
    }

    // Applies the round: finishes the objects whose circle is found, moves
    // the side of the others.
    void apply() {
        const std::size_t n_act = active_.size();
        std::vector<unsigned char> finished(n_act, 0);
        const bool last_round = ++rounds_ >= max_rounds_;
        const std::int64_t na = static_cast<std::int64_t>(n_act);
#ifdef PYHCS_HAVE_OPENMP
#pragma omp parallel for schedule(static) num_threads(n_threads_) if (n_act > 256)
#endif
        for (std::int64_t a = 0; a < na; ++a) {
            finished[static_cast<std::size_t>(a)] = apply_object(static_cast<std::size_t>(a), last_round) ? 1 : 0;
        }
        std::size_t w = 0;
        for (std::size_t a = 0; a < n_act; ++a) {
            if (!finished[a]) active_[w++] = active_[a];
        }
        active_.resize(w);
    }

private:
    bool evaluate_object(std::size_t a) {
        const std::size_t s = static_cast<std::size_t>(active_[a]);
        const Point* h = pts_.data() + off_[s];
        const std::size_t n = n_[s];
        const std::size_t base = elem_off_[a];
        const std::size_t m = n - 2;
        const Point& p0 = h[s0_[s]];
        const Point& p1 = h[s1_[s]];
        const double s01_i = static_cast<double>(p0.i - p1.i);
        const double s01_j = static_cast<double>(p0.j - p1.j);
        const double s10_i = -s01_i;
        const double s10_j = -s01_j;
        const double len01 = s01_i * s01_i + s01_j * s01_j;
        double* v = angle_v_.data() + base;  // scratch for the cosines
        double* a0 = angle_s0_.data() + base;
        double* a1 = angle_s1_.data() + base;
        std::size_t q = 0;
        for (std::size_t k = 0; k < n; ++k) {
            if (k == s0_[s] || k == s1_[s]) continue;
            cand_[base + q] = static_cast<std::int32_t>(k);
            owner_[base + q] = static_cast<std::int32_t>(a);
            const double vs1_i = static_cast<double>(h[k].i - p1.i);
            const double vs1_j = static_cast<double>(h[k].j - p1.j);
            // cosine of the angle at S1, between S1->S0 and S1->V
            v[q] = (s01_i * vs1_i + s01_j * vs1_j) / std::sqrt(len01 * (vs1_i * vs1_i + vs1_j * vs1_j));
            ++q;
        }
        acos_(v, a1, m);
        q = 0;
        for (std::size_t k = 0; k < n; ++k) {
            if (k == s0_[s] || k == s1_[s]) continue;
            const double vs0_i = static_cast<double>(h[k].i - p0.i);
            const double vs0_j = static_cast<double>(h[k].j - p0.j);
            // cosine of the angle at S0, between S0->S1 and S0->V
            v[q] = (s10_i * vs0_i + s10_j * vs0_j) / std::sqrt(len01 * (vs0_i * vs0_i + vs0_j * vs0_j));
            ++q;
        }
        acos_(v, a0, m);
        double best = std::numeric_limits<double>::infinity();
        std::size_t best_q = 0;
        std::size_t n_best = 0;
        for (q = 0; q < m; ++q) {
            a1[q] = std::fabs(a1[q]);
            a0[q] = std::fabs(a0[q]);
            v[q] = (kPi - a1[q]) - a0[q];  // angle at V
            if (v[q] < best) {
                best = v[q];
                best_q = q;
                n_best = 1;
            } else if (v[q] == best) {
                ++n_best;
            }
        }
        best_[a] = best_q;
        best_angle_[a] = best;
        if (n_best < 2 || best >= kHalfPi) return false;  // unique, or S is a diameter whichever V
        // Several vertices share the smallest angle: the choice matters unless
        // each of them closes the iteration with bit-identical circles.
        Circle first{};
        bool have_first = false;
        for (q = 0; q < m; ++q) {
            if (v[q] != best) continue;
            if (!(a1[q] <= kHalfPi && a0[q] <= kHalfPi && v[q] <= kHalfPi)) return true;
            const Circle c = circumcircle(p0, p1, h[cand_[base + q]]);
            if (!have_first) {
                first = c;
                have_first = true;
            } else if (!same_bits(c, first)) {
                return true;
            }
        }
        return false;
    }

    static bool same_bits(const Circle& x, const Circle& y) {
        return std::memcmp(&x, &y, sizeof(Circle)) == 0;
    }

    bool apply_object(std::size_t a, bool last_round) {
        const std::size_t s = static_cast<std::size_t>(active_[a]);
        const Point* h = pts_.data() + off_[s];
        const Point& p0 = h[s0_[s]];
        const Point& p1 = h[s1_[s]];
        const std::size_t e = elem_off_[a] + best_[a];
        const double angle_v = angle_v_[e];
        const double angle_s0 = angle_s0_[e];
        const double angle_s1 = angle_s1_[e];
        if (best_angle_[a] >= kHalfPi || last_round) {
            // S is a diameter.
            const double y0 = static_cast<double>(p0.i), x0 = static_cast<double>(p0.j);
            const double y1 = static_cast<double>(p1.i), x1 = static_cast<double>(p1.j);
            const double d_i = y0 - y1, d_j = x0 - x1;
            circle_[s] = Circle{(y0 + y1) / 2.0, (x0 + x1) / 2.0, std::sqrt(d_i * d_i + d_j * d_j) / 2.0};
            return true;
        }
        const std::size_t vk = static_cast<std::size_t>(cand_[e]);
        if (angle_s1 <= kHalfPi && angle_s0 <= kHalfPi && angle_v <= kHalfPi) {
            circle_[s] = circumcircle(p0, p1, h[vk]);
            return true;
        }
        // The end of S with the obtuse angle lies inside the circle: V takes its place.
        if (angle_s0 > kHalfPi) {
            s0_[s] = vk;
        } else {
            s1_[s] = vk;
        }
        return false;
    }

    const std::vector<Point>& pts_;
    const std::vector<std::size_t>& off_;
    std::vector<std::size_t> n_;
    AcosKernel acos_;
    int n_threads_;
    std::vector<std::size_t> s0_, s1_;
    std::vector<Circle> circle_;
    std::vector<std::int64_t> active_;
    std::size_t rounds_ = 0, max_rounds_ = 0;
    // per round
    std::vector<std::size_t> elem_off_, best_;
    std::vector<double> angle_v_, angle_s0_, angle_s1_, best_angle_;
    std::vector<std::int32_t> cand_, owner_;
};

}  // namespace

void AcosKernel::operator()(const double* in, double* out, std::size_t n) const {
    if (n == 0) return;
    if (loop != nullptr) {
        char* args[2] = {reinterpret_cast<char*>(const_cast<double*>(in)), reinterpret_cast<char*>(out)};
        const std::ptrdiff_t dims[1] = {static_cast<std::ptrdiff_t>(n)};
        const std::ptrdiff_t steps[2] = {static_cast<std::ptrdiff_t>(sizeof(double)),
                                         static_cast<std::ptrdiff_t>(sizeof(double))};
        loop(args, dims, steps, data);
        return;
    }
    for (std::size_t k = 0; k < n; ++k) out[k] = std::acos(in[k]);
}

void hull_from_columns(const std::int32_t* lower, const std::int32_t* upper, std::int64_t j0,
                       std::int64_t width, std::vector<Point>& out) {
    out.clear();
    if (width <= 0) return;
    // Lower envelope (topmost pixels, smallest i), left to right.
    for (std::int64_t k = 0; k < width; ++k) {
        if (lower[k] != kAbsentLower) push_vertex(out, Point{lower[k], j0 + k});
    }
    // Upper envelope (bottommost pixels), right to left, first column excluded.
    for (std::int64_t k = width - 1; k >= 1; --k) {
        if (upper[k] != kAbsentUpper) push_vertex(out, Point{upper[k], j0 + k});
    }
    // Close at the bottom of the first column: prune against it, and add it
    // unless it is the starting vertex itself.
    const Point last{upper[0], j0};
    while (out.size() >= 2 && !turns_convex(out[out.size() - 2], out.back(), last)) out.pop_back();
    if (lower[0] != upper[0]) out.push_back(last);
}

namespace {

// One object's column extremes (see ColumnExtremes); width 0: no pixels.
struct ColumnView {
    const std::int32_t* lower = nullptr;
    const std::int32_t* upper = nullptr;
    std::int64_t first = 0;
    std::int64_t width = 0;
};

// Fills result.points / result.offset with the hulls of objects 0..n_obj-1, in
// parallel. columns(s, scratch_lower, scratch_upper) returns object s's column
// extremes, either pointing into the scratch vectors (which it may fill) or
// elsewhere. The one hull path of every entry point.
template <typename Columns>
void assemble_hulls(std::size_t n_obj, int n_threads, HullSet& result, const Columns& columns) {
    std::vector<std::vector<Point>> hulls(n_obj);
    const std::int64_t no = static_cast<std::int64_t>(n_obj);
#ifdef PYHCS_HAVE_OPENMP
#pragma omp parallel num_threads(resolve_threads(n_threads)) if (n_obj > 32)
#endif
    {
        std::vector<std::int32_t> lower, upper;
#ifdef PYHCS_HAVE_OPENMP
#pragma omp for schedule(dynamic, 16)
#endif
        for (std::int64_t s = 0; s < no; ++s) {
            const ColumnView view = columns(static_cast<std::size_t>(s), lower, upper);
            if (view.width <= 0) continue;
            hull_from_columns(view.lower, view.upper, view.first, view.width, hulls[static_cast<std::size_t>(s)]);
        }
    }
    result.offset.assign(n_obj + 1, 0);
    for (std::size_t s = 0; s < n_obj; ++s) result.offset[s + 1] = result.offset[s] + hulls[s].size();
    result.points.clear();
    result.points.reserve(result.offset[n_obj]);
    for (const auto& h : hulls) result.points.insert(result.points.end(), h.begin(), h.end());
}

}  // namespace

void check_column_extremes(const ColumnExtremes& c) {
    if (c.n_objects == 0) return;
    if (c.offset[0] != 0) throw std::invalid_argument("offset must start at 0");
    for (std::size_t s = 0; s < c.n_objects; ++s) {
        const std::int64_t begin = c.offset[s], end = c.offset[s + 1];
        if (end < begin) throw std::invalid_argument("offset must be non-decreasing");
        if (end == begin) continue;
        if (c.first[s] < 0 || c.first[s] > std::numeric_limits<std::int32_t>::max() - 1 - (end - begin)) {
            throw std::invalid_argument("first column out of range");
        }
        if (c.lower[begin] == kAbsentLower) {
            throw std::invalid_argument("the first column of every non-empty object must be occupied");
        }
        for (std::int64_t q = begin; q < end; ++q) {
            const std::int32_t lo = c.lower[q], hi = c.upper[q];
            const bool absent = lo == kAbsentLower;
            if (absent != (hi == kAbsentUpper) || (!absent && (lo < 0 || hi < lo || hi == kAbsentLower))) {
                throw std::invalid_argument("lower and upper must be absent together or satisfy 0 <= lower <= upper");
            }
        }
    }
}

HullSet hulls_from_column_extremes(const ColumnExtremes& c, std::vector<std::int64_t> index,
                                   std::vector<std::int64_t> slot, int n_threads) {
    check_column_extremes(c);
    if (index.size() != slot.size()) throw std::invalid_argument("index and slot differ in length");
    for (const std::int64_t s : slot) {
        if (s < -1 || s >= static_cast<std::int64_t>(c.n_objects)) throw std::invalid_argument("slot out of range");
    }
    HullSet result;
    result.index = std::move(index);
    result.slot = std::move(slot);
    assemble_hulls(c.n_objects, n_threads, result,
                   [&c](std::size_t s, std::vector<std::int32_t>&, std::vector<std::int32_t>&) {
                       const std::int64_t begin = c.offset[s];
                       return ColumnView{c.lower + begin, c.upper + begin, c.first[s], c.offset[s + 1] - begin};
                   });
    return result;
}

template <typename LabelT>
HullSet object_hulls(const LabelT* labels, std::int64_t rows, std::int64_t cols,
                     const std::int64_t* index, std::size_t n_index, int n_threads) {
    HullSet result;
    std::vector<Run> runs;
    const std::int64_t n_pixels = rows * cols;
    if (index == nullptr) {
        runs = scan_runs(labels, rows, cols, n_threads, [](std::int64_t v) { return v > 0; });
        result.index = distinct_labels(runs);
    } else {
        result.index.assign(index, index + n_index);
    }
    const LabelIndex objects(result.index.data(), result.index.size(), n_pixels);
    if (index != nullptr) {
        runs = scan_runs(labels, rows, cols, n_threads, [&objects](std::int64_t v) { return objects(v) >= 0; });
    }
    result.slot.resize(result.index.size());
    for (std::size_t k = 0; k < result.index.size(); ++k) result.slot[k] = objects(result.index[k]);

    // Bucket the runs by object, keeping their row-major order.
    const std::size_t n_obj = objects.size();
    std::vector<std::size_t> run_start(n_obj + 1, 0);
    std::vector<std::int32_t> run_object(runs.size());
    for (std::size_t r = 0; r < runs.size(); ++r) {
        run_object[r] = static_cast<std::int32_t>(objects(runs[r].label));
        ++run_start[static_cast<std::size_t>(run_object[r]) + 1];
    }
    for (std::size_t s = 0; s < n_obj; ++s) run_start[s + 1] += run_start[s];
    struct Span {
        std::int32_t i, j0, j1;
    };
    std::vector<std::size_t> fill(run_start.begin(), run_start.end() - 1);
    std::vector<Span> bucketed(runs.size());
    for (std::size_t r = 0; r < runs.size(); ++r) {
        bucketed[fill[static_cast<std::size_t>(run_object[r])]++] = Span{runs[r].i, runs[r].j0, runs[r].j1};
    }
    std::vector<Run>().swap(runs);
    std::vector<std::int32_t>().swap(run_object);

    // Column extremes and hull of every object.
    assemble_hulls(n_obj, n_threads, result,
                   [&](std::size_t s, std::vector<std::int32_t>& lower, std::vector<std::int32_t>& upper) {
                       const Span* begin = bucketed.data() + run_start[s];
                       const Span* end = bucketed.data() + run_start[s + 1];
                       if (begin == end) return ColumnView{};
                       std::int32_t jmin = std::numeric_limits<std::int32_t>::max(), jmax = -1;
                       for (const Span* r = begin; r != end; ++r) {
                           jmin = std::min(jmin, r->j0);
                           jmax = std::max(jmax, r->j1 - 1);
                       }
                       const std::size_t width = static_cast<std::size_t>(jmax - jmin + 1);
                       lower.assign(width, kAbsentLower);
                       upper.assign(width, kAbsentUpper);
                       for (const Span* r = begin; r != end; ++r) {  // rows in increasing order
                           for (std::int32_t c = r->j0 - jmin; c < r->j1 - jmin; ++c) {
                               if (lower[static_cast<std::size_t>(c)] == kAbsentLower) {
                                   lower[static_cast<std::size_t>(c)] = r->i;
                               }
                               upper[static_cast<std::size_t>(c)] = r->i;
                           }
                       }
                       return ColumnView{lower.data(), upper.data(), jmin, static_cast<std::int64_t>(width)};
                   });
    return result;
}

void minimum_enclosing_circles(const HullSet& hulls, const AcosKernel& acos_kernel,
                               const SortHook& sort_hook, int n_threads,
                               double* centers, double* radii) {
    CircleRounds rounds(hulls, acos_kernel, n_threads);
    std::vector<std::int64_t> order;
    while (!rounds.done()) {
        const bool tie = rounds.evaluate();
        if (tie && sort_hook) {
            sort_hook(rounds.angles(), order);
            rounds.choose_by_order(order);
        }
        rounds.apply();
    }
    const double nan = std::numeric_limits<double>::quiet_NaN();
    const std::vector<Circle>& circles = rounds.circles();
    for (std::size_t k = 0; k < hulls.index.size(); ++k) {
        const std::int64_t s = hulls.slot[k];
        const Circle c = s >= 0 ? circles[static_cast<std::size_t>(s)] : Circle{nan, nan, nan};
        centers[2 * k] = c.ci;
        centers[2 * k + 1] = c.cj;
        radii[k] = c.radius;
    }
}

template HullSet object_hulls<std::int32_t>(const std::int32_t*, std::int64_t, std::int64_t,
                                            const std::int64_t*, std::size_t, int);
template HullSet object_hulls<std::int64_t>(const std::int64_t*, std::int64_t, std::int64_t,
                                            const std::int64_t*, std::size_t, int);

}  // namespace geometry
}  // namespace pyhcs
