// Geodesic Voronoi propagation, bit-identical to centrosome.propagate.propagate
// (specs/reference.md section 4).
//
// Edge cost between 8-neighbours p1 and p2: D = sum over the 3x3 window of
// |I(p1 + delta) - I(p2 + delta)| (edge-replicated reads, row-major window order, one term at a
// time), m = |di| + |dj|, cost = sqrt(D * D + m * w * w). A pixel's distance is the cheapest path
// from a seed; it takes the label of the seed its cheapest path starts at.
//
// The queue reproduces centrosome's array heap exactly: the initial array holds the seeds in
// raster order and is NOT heapified, push = append + sift up while strictly smaller than the
// parent, pop = take the root, move the last entry to the root, sift down while the smaller child
// is strictly smaller. Keys compare lexicographically as (bits of d with the lowest mantissa bit
// cleared, label, row, col). The order in which equal-distance fronts meet decides the labels at
// ties, so any other queue (or a heapified start) gives different labels there.
#include "propagate/propagate.h"

#include <cmath>
#include <cstring>
#include <vector>

namespace pyhcs {
namespace propagate {
namespace {

struct Entry {
    std::uint64_t key;  // bits of the distance, lowest mantissa bit cleared
    std::uint64_t tie;  // label << 32 | linear pixel index: (label, row, col) order
};

inline bool less(const Entry& a, const Entry& b) {
    return a.key < b.key || (a.key == b.key && a.tie < b.tie);
}

inline std::uint64_t distance_key(double d) {
    std::uint64_t bits;
    std::memcpy(&bits, &d, sizeof bits);
    return bits & ~std::uint64_t{1};
}

class ArrayHeap {
public:
    explicit ArrayHeap(std::vector<Entry> initial) : a_(std::move(initial)) {}

    bool empty() const { return a_.empty(); }

    void push(const Entry& e) {
        a_.push_back(e);
        std::size_t i = a_.size() - 1;
        while (i > 0) {
            const std::size_t parent = (i - 1) / 2;
            if (!less(a_[i], a_[parent])) break;
            std::swap(a_[i], a_[parent]);
            i = parent;
        }
    }

    Entry pop() {
        const Entry top = a_[0];
        a_[0] = a_.back();
        a_.pop_back();
        const std::size_t n = a_.size();
        std::size_t i = 0;
        for (;;) {
            const std::size_t left = 2 * i + 1;
            if (left >= n) break;
            std::size_t child = left;
            if (left + 1 < n && less(a_[left + 1], a_[left])) child = left + 1;
            if (!less(a_[child], a_[i])) break;
            std::swap(a_[i], a_[child]);
            i = child;
        }
        return top;
    }

private:
    std::vector<Entry> a_;
};

inline std::int64_t clamp(std::int64_t v, std::int64_t hi) { return v < 0 ? 0 : (v > hi ? hi : v); }

// D of the edge (r1, c1) -> (r2, c2), summed in centrosome's order.
inline double window_difference(const double* image, std::int64_t rows, std::int64_t cols,
                                std::int64_t r1, std::int64_t c1, std::int64_t r2,
                                std::int64_t c2) {
    double total = 0.0;
    for (std::int64_t di = -1; di <= 1; ++di) {
        const double* row1 = image + clamp(r1 + di, rows - 1) * cols;
        const double* row2 = image + clamp(r2 + di, rows - 1) * cols;
        for (std::int64_t dj = -1; dj <= 1; ++dj) {
            total += std::fabs(row1[clamp(c1 + dj, cols - 1)] - row2[clamp(c2 + dj, cols - 1)]);
        }
    }
    return total;
}

}  // namespace

Stats propagate(const double* image, const std::int32_t* labels, const std::uint8_t* mask,
                std::int64_t rows, std::int64_t cols, double weight, std::int32_t* labels_out,
                double* distances) {
    const std::int64_t n = rows * cols;
    Stats stats;
    std::vector<Entry> seeds;
    for (std::int64_t p = 0; p < n; ++p) {
        labels_out[p] = 0;
        distances[p] = labels[p] > 0 ? 0.0 : -1.0;
        if (labels[p] > 0 && mask[p]) {
            const std::uint64_t tie =
                (static_cast<std::uint64_t>(labels[p]) << 32) | static_cast<std::uint64_t>(p);
            seeds.push_back(Entry{distance_key(0.0), tie});
        }
    }
    static const int kDi[8] = {-1, -1, -1, 0, 0, 1, 1, 1};
    static const int kDj[8] = {-1, 0, 1, -1, 1, -1, 0, 1};

    ArrayHeap heap(std::move(seeds));
    while (!heap.empty()) {
        const Entry e = heap.pop();
        ++stats.pops;
        const std::int64_t p = static_cast<std::int64_t>(e.tie & 0xffffffffu);
        // A pixel is settled by its first pop. Later (stale) pops would relax its neighbours
        // with the same stored distance again, which can never be strictly better: skip them.
        if (labels_out[p] != 0) continue;
        const std::int32_t label = static_cast<std::int32_t>(e.tie >> 32);
        labels_out[p] = label;
        const double d0 = distances[p];
        const std::int64_t r = p / cols;
        const std::int64_t c = p - r * cols;
        for (int k = 0; k < 8; ++k) {
            const std::int64_t rq = r + kDi[k];
            const std::int64_t cq = c + kDj[k];
            if (rq < 0 || rq >= rows || cq < 0 || cq >= cols) continue;
            const std::int64_t q = rq * cols + cq;
            if (!mask[q] || labels_out[q] != 0) continue;
            // Computed only for in-mask, unsettled neighbours: about 4 per pixel in all,
            // fewer than precomputing every edge (and no 4 x H x W cost table).
            const double D = window_difference(image, rows, cols, r, c, rq, cq);
            const double m = static_cast<double>((kDi[k] != 0) + (kDj[k] != 0));
            const double d = d0 + std::sqrt(D * D + m * weight * weight);
            if (distances[q] == -1.0 || distances[q] > d) {
                distances[q] = d;
                ++stats.pushes;
                heap.push(Entry{distance_key(d),
                                (static_cast<std::uint64_t>(label) << 32) |
                                    static_cast<std::uint64_t>(q)});
            }
        }
    }
    return stats;
}

}  // namespace propagate
}  // namespace pyhcs
