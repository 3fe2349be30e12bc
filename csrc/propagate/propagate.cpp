// Geodesic Voronoi propagation, bit-identical to centrosome.propagate.propagate
// (specs/reference.md section 4).
//
// Edge cost between 8-neighbours p1 and p2: D = sum over the 3x3 window of
// |I(p1 + delta) - I(p2 + delta)| (edge-replicated reads, row-major window order, one term at a
// time), m = |di| + |dj|, cost = sqrt(D * D + m * w * w). A pixel's distance is the cheapest path
// from a seed; it takes the label of the seed its cheapest path starts at.
//
// Queue order. Keys compare lexicographically as (bits of d with the lowest mantissa bit
// cleared, label, row, col): a total order on distinct entries, so any exact priority queue
// pops the same sequence, except for one thing. centrosome's array heap starts from the seeds
// in raster order and does NOT heapify them: push = append + sift up while strictly smaller
// than the parent, pop = take the root, move the last entry to the root, sift down while the
// smaller child is strictly smaller. That starting array is not a heap, so while seeds remain
// the pops are not in key order, and the order in which equal-distance fronts meet decides the
// labels at ties. The propagation therefore runs in two phases:
//
// 1. centrosome's array heap, reproduced operation by operation, until every seed has been
//    popped;
// 2. once no seed is left, if the array is then a valid heap (always so for w > 0: an entry
//    pushed with d > 0 never sifts above a seed, so the pushed entries form heap-ordered
//    subtrees below the seeds), its root is the unique minimum from there on and any exact
//    priority queue pops the same entries in the same order. Phase 2 is a radix heap (the keys
//    popped never decrease: Dijkstra with non-negative costs), about twice as fast as the
//    array heap. If the array is not a valid heap (possible only for w == 0, where pushed keys
//    can be 0), phase 1 simply continues to the end.
//
// Phase 2 runs in parallel over the 8-connected components of the unsettled in-mask pixels: a
// pop relaxes only unsettled in-mask neighbours, so the entries of different components never
// interact, and each component's pops in key order are exactly its share of the global
// sequence. The components go to the threads largest first; every pixel is written by the one
// thread that owns its component.
#include "propagate/propagate.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#ifdef PYHCS_HAVE_OPENMP
#include <omp.h>
#endif

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

// centrosome's heap, exactly (see the top of the file).
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

    // Whether no entry is smaller than its parent (then the root is the minimum).
    bool is_heap() const {
        for (std::size_t i = 1; i < a_.size(); ++i) {
            if (less(a_[i], a_[(i - 1) / 2])) return false;
        }
        return true;
    }

    std::vector<Entry> release() { return std::move(a_); }

private:
    std::vector<Entry> a_;
};

// A monotone priority queue: every key pushed is >= the key of the last entry popped. Bucket b
// (1..64) holds the entries whose highest bit differing from `last_` is bit b - 1; the entries
// whose key equals `last_` form a binary heap on `tie` (equal keys pop in (label, row, col)
// order). Popping refills that heap from the lowest non-empty bucket, whose smallest key becomes
// `last_`; every other entry of that bucket moves to a lower bucket. Each entry moves at most 64
// times, in practice a few.
class RadixHeap {
public:
    RadixHeap(const std::vector<Entry>& entries, std::uint64_t last) : last_(last) {
        for (const Entry& e : entries) push(e);
    }

    bool empty() const { return size_ == 0; }

    void push(const Entry& e) {
        ++size_;
        if (e.key == last_) {
            equal_.push_back(e);
            std::push_heap(equal_.begin(), equal_.end(), larger_tie);
        } else {
            buckets_[bucket(e.key)].push_back(e);
        }
    }

    Entry pop() {
        if (equal_.empty()) refill();
        std::pop_heap(equal_.begin(), equal_.end(), larger_tie);
        const Entry top = equal_.back();
        equal_.pop_back();
        --size_;
        return top;
    }

private:
    static bool larger_tie(const Entry& a, const Entry& b) { return a.tie > b.tie; }

    int bucket(std::uint64_t key) const { return 64 - __builtin_clzll(key ^ last_); }

    void refill() {
        int b = 1;
        while (buckets_[b].empty()) ++b;
        std::vector<Entry>& from = buckets_[b];
        std::uint64_t smallest = from[0].key;
        for (const Entry& e : from) smallest = std::min(smallest, e.key);
        last_ = smallest;
        for (const Entry& e : from) {
            if (e.key == last_) {
                equal_.push_back(e);
            } else {
                buckets_[bucket(e.key)].push_back(e);  // always a bucket below b
            }
        }
        from.clear();
        std::make_heap(equal_.begin(), equal_.end(), larger_tie);
    }

    std::uint64_t last_;
    std::size_t size_ = 0;
    std::vector<Entry> equal_;
    std::vector<Entry> buckets_[65];
};

inline std::int64_t clamp(std::int64_t v, std::int64_t hi) { return v < 0 ? 0 : (v > hi ? hi : v); }

// The image with one replicated pixel on every side, so that the 3x3 windows of the edge costs
// need no bounds checks: padded[(r + 1) * (cols + 2) + c + 1] = image[r * cols + c].
std::vector<double> pad_edges(const double* image, std::int64_t rows, std::int64_t cols) {
    const std::int64_t width = cols + 2;
    std::vector<double> padded(static_cast<std::size_t>((rows + 2) * width));
    for (std::int64_t r = -1; r <= rows; ++r) {
        const double* source = image + clamp(r, rows - 1) * cols;
        double* target = padded.data() + (r + 1) * width;
        target[0] = source[0];
        std::memcpy(target + 1, source, static_cast<std::size_t>(cols) * sizeof(double));
        target[cols + 1] = source[cols - 1];
    }
    return padded;
}

// What the propagation reads and writes of one pixel, together: the neighbour tests touch one
// cache line instead of three arrays.
struct Pixel {
    double distance;     // 0 at seeds, -1 until reached, else the best path cost so far
    std::int32_t label;  // 0 until settled
    std::uint8_t in_mask;
    std::uint8_t seed;   // labelled and in the mask
};

// Settles pixel p with `label` and relaxes its unsettled in-mask 8-neighbours.
template <typename Heap>
inline void settle(Heap& heap, const double* padded, Pixel* pixels, std::int64_t rows,
                   std::int64_t cols, const double spatial[3], std::int64_t p,
                   std::int32_t label, Stats& stats) {
    static const int kDi[8] = {-1, -1, -1, 0, 0, 1, 1, 1};
    static const int kDj[8] = {-1, 0, 1, -1, 1, -1, 0, 1};
    const std::int64_t width = cols + 2;
    // The 3x3 window around a padded index, in centrosome's summation order.
    const std::int64_t window[9] = {-width - 1, -width, -width + 1, -1, 0, 1,
                                    width - 1,  width,  width + 1};
    pixels[p].label = label;
    const double d0 = pixels[p].distance;
    const std::int64_t r = p / cols;
    const std::int64_t c = p - r * cols;
    const double* here = padded + (r + 1) * width + (c + 1);
    for (int k = 0; k < 8; ++k) {
        const std::int64_t rq = r + kDi[k];
        const std::int64_t cq = c + kDj[k];
        if (rq < 0 || rq >= rows || cq < 0 || cq >= cols) continue;
        Pixel& neighbour = pixels[rq * cols + cq];
        if (!neighbour.in_mask || neighbour.label != 0) continue;
        // Computed only for in-mask, unsettled neighbours: about 4 per pixel in all, fewer
        // than precomputing every edge (and no 4 x H x W cost table).
        const double* there = here + kDi[k] * width + kDj[k];
        double D = 0.0;
        for (int t = 0; t < 9; ++t) D += std::fabs(here[window[t]] - there[window[t]]);
        const double d = d0 + std::sqrt(D * D + spatial[(kDi[k] != 0) + (kDj[k] != 0)]);
        if (neighbour.distance == -1.0 || neighbour.distance > d) {
            neighbour.distance = d;
            ++stats.pushes;
            heap.push(Entry{distance_key(d), (static_cast<std::uint64_t>(label) << 32) |
                                                 static_cast<std::uint64_t>(rq * cols + cq)});
        }
    }
}

// Pops entries from `heap` until it is empty or, if `seeds_left` is given, until the last seed
// has been settled (seeds are never pushed again, so their one pop settles them). Returns
// whether it stopped at the last seed.
template <typename Heap>
bool run(Heap& heap, const double* padded, Pixel* pixels, std::int64_t rows, std::int64_t cols,
         double weight, Stats& stats, std::int64_t* seeds_left) {
    // m * w * w for m = |di| + |dj|, evaluated as centrosome does ((m * w) * w).
    const double spatial[3] = {0.0, (1.0 * weight) * weight, (2.0 * weight) * weight};
    while (!heap.empty()) {
        const Entry e = heap.pop();
        ++stats.pops;
        const std::int64_t p = static_cast<std::int64_t>(e.tie & 0xffffffffu);
        // A pixel is settled by its first pop. Later (stale) pops would relax its neighbours
        // with the same stored distance again, which can never be strictly better: skip them.
        if (pixels[p].label != 0) continue;
        settle(heap, padded, pixels, rows, cols, spatial, p,
               static_cast<std::int32_t>(e.tie >> 32), stats);
        if (seeds_left != nullptr && pixels[p].seed && --*seeds_left == 0) return true;
    }
    return false;
}

// The phase-2 entries grouped by 8-connected component of the unsettled in-mask pixels, largest
// component first. Entries of settled pixels (stale: they would be popped and skipped) are
// dropped; returns how many, for the pop count.
std::int64_t group_by_component(const std::vector<Entry>& entries, const Pixel* pixels,
                                std::int64_t rows, std::int64_t cols,
                                std::vector<std::vector<Entry>>& groups) {
    std::vector<std::int32_t> component(static_cast<std::size_t>(rows * cols), -1);
    std::vector<std::int64_t> sizes;
    std::vector<std::int64_t> stack;
    std::int64_t stale = 0;
    for (const Entry& e : entries) {
        const std::int64_t start = static_cast<std::int64_t>(e.tie & 0xffffffffu);
        if (pixels[start].label != 0) {
            ++stale;
            continue;
        }
        if (component[start] < 0) {
            const std::int32_t id = static_cast<std::int32_t>(sizes.size());
            std::int64_t size = 0;
            component[start] = id;
            stack.push_back(start);
            while (!stack.empty()) {
                const std::int64_t p = stack.back();
                stack.pop_back();
                ++size;
                const std::int64_t r = p / cols;
                const std::int64_t c = p - r * cols;
                for (std::int64_t rq = std::max<std::int64_t>(r - 1, 0);
                     rq <= std::min(r + 1, rows - 1); ++rq) {
                    for (std::int64_t cq = std::max<std::int64_t>(c - 1, 0);
                         cq <= std::min(c + 1, cols - 1); ++cq) {
                        const std::int64_t q = rq * cols + cq;
                        if (component[q] < 0 && pixels[q].in_mask && pixels[q].label == 0) {
                            component[q] = id;
                            stack.push_back(q);
                        }
                    }
                }
            }
            sizes.push_back(size);
            groups.emplace_back();
        }
        groups[component[start]].push_back(e);
    }
    std::vector<std::size_t> order(groups.size());
    for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::stable_sort(order.begin(), order.end(),
                     [&](std::size_t a, std::size_t b) { return sizes[a] > sizes[b]; });
    std::vector<std::vector<Entry>> sorted(groups.size());
    for (std::size_t i = 0; i < order.size(); ++i) sorted[i] = std::move(groups[order[i]]);
    groups = std::move(sorted);
    return stale;
}

// Phase 2 (see the top of the file) on `n_threads` threads (<= 0: OpenMP's default).
void run_components(std::vector<Entry> entries, const double* padded, Pixel* pixels,
                    std::int64_t rows, std::int64_t cols, double weight, int n_threads,
                    Stats& stats) {
#ifdef PYHCS_HAVE_OPENMP
    if (n_threads <= 0) n_threads = omp_get_max_threads();
#else
    n_threads = 1;
#endif
    if (n_threads <= 1) {
        stats.phase2 = 1;
        const std::uint64_t last = entries[0].key;  // the root of a valid heap: the minimum
        RadixHeap heap(entries, last);
        entries = std::vector<Entry>();
        run(heap, padded, pixels, rows, cols, weight, stats, nullptr);
        return;
    }
    std::vector<std::vector<Entry>> groups;
    stats.pops += group_by_component(entries, pixels, rows, cols, groups);
    entries = std::vector<Entry>();
    const std::int64_t n_groups = static_cast<std::int64_t>(groups.size());
    stats.phase2 = 2;
    stats.components = n_groups;
    std::int64_t pushes = 0, pops = 0;
#ifdef PYHCS_HAVE_OPENMP
#pragma omp parallel for schedule(dynamic, 1) num_threads(n_threads) reduction(+ : pushes, pops)
#endif
    for (std::int64_t g = 0; g < n_groups; ++g) {
        std::vector<Entry>& group = groups[g];
        std::uint64_t last = group[0].key;
        for (const Entry& e : group) last = std::min(last, e.key);
        RadixHeap heap(group, last);
        group = std::vector<Entry>();
        Stats local;
        run(heap, padded, pixels, rows, cols, weight, local, nullptr);
        pushes += local.pushes;
        pops += local.pops;
    }
    stats.pushes += pushes;
    stats.pops += pops;
}

}  // namespace

Stats propagate(const double* image, const std::int32_t* labels, const std::uint8_t* mask,
                std::int64_t rows, std::int64_t cols, double weight, std::int32_t* labels_out,
                double* distances, int n_threads) {
    const std::int64_t n = rows * cols;
    Stats stats;
    std::vector<Entry> seeds;
    std::vector<Pixel> pixels(static_cast<std::size_t>(n));
    for (std::int64_t p = 0; p < n; ++p) {
        const bool seed = labels[p] > 0 && mask[p];
        pixels[p] = Pixel{labels[p] > 0 ? 0.0 : -1.0, 0, static_cast<std::uint8_t>(mask[p] != 0),
                          static_cast<std::uint8_t>(seed)};
        if (seed) {
            const std::uint64_t tie =
                (static_cast<std::uint64_t>(labels[p]) << 32) | static_cast<std::uint64_t>(p);
            seeds.push_back(Entry{distance_key(0.0), tie});
        }
    }
    if (!seeds.empty()) {
        const std::vector<double> padded = pad_edges(image, rows, cols);
        std::int64_t seeds_left = static_cast<std::int64_t>(seeds.size());
        ArrayHeap heap(std::move(seeds));
        const bool handed_over =
            run(heap, padded.data(), pixels.data(), rows, cols, weight, stats, &seeds_left);
        if (handed_over && !heap.empty()) {
            if (heap.is_heap()) {
                run_components(heap.release(), padded.data(), pixels.data(), rows, cols, weight,
                               n_threads, stats);
            } else {
                stats.phase2 = 3;
                run(heap, padded.data(), pixels.data(), rows, cols, weight, stats, nullptr);
            }
        }
    }
    for (std::int64_t p = 0; p < n; ++p) {
        labels_out[p] = pixels[p].label;
        distances[p] = pixels[p].distance;
    }
    return stats;
}

}  // namespace propagate
}  // namespace pyhcs
