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
//    priority queue pops the same entries in the same order. Phase 2 is a band queue (BandQueue
//    below; the keys popped never decrease: Dijkstra with non-negative costs), which knows its
//    next pops and prefetches their pixels. If the array is not a valid heap (possible only
//    for w == 0, where pushed keys can be 0), phase 1 simply continues to the end.
//
// Phase 2 runs over the 8-connected components of the unlabelled in-mask pixels, in parallel
// (labelled from the inputs, on a second thread while phase 1 runs): a pop relaxes only
// unsettled in-mask neighbours, so entries of different components never interact, and each
// component's pops in key order are exactly its share of the global sequence. (The pixels left
// unsettled after phase 1 are a subset of these; its connected pieces lie within them, and
// pieces sharing one queue do not interact either.) The components go to the threads largest
// first; every pixel is written by the one thread that owns its component.
//
// Memory: the fronts of all cells advance together, so each pop reads pixels at scattered
// places. Per-pixel state is one struct on a grid padded by one pixel (no bounds checks), the
// image is read from a float32 copy when float32 holds it exactly (the arithmetic stays double),
// and the large arrays ask for transparent huge pages. The fronts' pixels do not fit in the
// cache on a large field, so phase 2 fetches the pixels of the pops a few ahead (about a third
// faster on a 2048 x 2048 field).
#include "propagate/propagate.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <vector>

#include "common/page_array.h"

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

// A prefetch the compiler keeps.
inline void fetch(const void* address) {
#if defined(__x86_64__) || defined(__i386__)
    asm volatile("prefetcht0 %0" : : "m"(*static_cast<const char*>(address)));
#else
    __builtin_prefetch(address);
#endif
}

// A monotone priority queue (every key pushed is >= the key of the last entry popped) that pops
// in exact (key, tie) order and knows its next pops ahead of time, so that their pixels can be
// fetched into the cache while the current one is settled. The keys are cut into bands of a
// fixed width on their distance, band(key) = floor(distance * inv_width), which never decreases
// as the key grows. The current band is a sorted array read in order plus a small binary heap
// for the entries pushed into it after it was sorted; the pop is the smaller of their fronts.
// Later bands wait in a radix heap on the band number (bucket i holds the entries whose band's
// highest bit differing from the current band is bit i - 1). An entry of a later band has a
// larger key than every entry of the current band, so the pops are in (key, tie) order.
template <typename Prefetch>
class BandQueue {
public:
    BandQueue(const std::vector<Entry>& entries, double inv_width, Prefetch prefetch)
        : inv_width_(inv_width), prefetch_(prefetch) {
        std::uint64_t lowest = ~std::uint64_t{0};
        for (const Entry& e : entries) lowest = std::min(lowest, band(e.key));
        band_ = lowest;
        for (const Entry& e : entries) {
            const std::uint64_t b = band(e.key);
            if (b == band_) {
                sorted_.push_back(e);
            } else {
                buckets_[64 - __builtin_clzll(b ^ band_)].push_back(e);
            }
        }
        size_ = entries.size();
        std::sort(sorted_.begin(), sorted_.end(), less);
        for (std::size_t k = 0; k < kAhead && k < sorted_.size(); ++k) prefetch_(sorted_[k]);
    }

    bool empty() const { return size_ == 0; }

    void push(const Entry& e) {
        ++size_;
        const std::uint64_t b = band(e.key);
        if (b == band_) {
            late_.push_back(e);
            std::push_heap(late_.begin(), late_.end(), larger);
        } else {
            buckets_[64 - __builtin_clzll(b ^ band_)].push_back(e);
        }
    }

    Entry pop() {
        if (pos_ == sorted_.size() && late_.empty()) refill();
        --size_;
        if (pos_ < sorted_.size() && (late_.empty() || less(sorted_[pos_], late_.front()))) {
            if (pos_ + kAhead < sorted_.size()) prefetch_(sorted_[pos_ + kAhead]);
            return sorted_[pos_++];
        }
        std::pop_heap(late_.begin(), late_.end(), larger);
        const Entry top = late_.back();
        late_.pop_back();
        return top;
    }

private:
    static constexpr std::size_t kAhead = 8;  // pops between a prefetch and its use

    static bool larger(const Entry& a, const Entry& b) { return less(b, a); }

    std::uint64_t band(std::uint64_t key) const {
        double d;
        std::memcpy(&d, &key, sizeof d);
        const double b = d * inv_width_;  // monotone in d; the clamp keeps it so
        return b < 4.0e18 ? static_cast<std::uint64_t>(b) : std::uint64_t{4000000000000000000};
    }

    void refill() {
        int i = 1;
        while (buckets_[i].empty()) ++i;
        std::vector<Entry>& from = buckets_[i];
        std::uint64_t lowest = band(from[0].key);
        for (const Entry& e : from) lowest = std::min(lowest, band(e.key));
        band_ = lowest;
        sorted_.clear();
        pos_ = 0;
        for (const Entry& e : from) {
            const std::uint64_t b = band(e.key);
            if (b == band_) {
                sorted_.push_back(e);
            } else {
                buckets_[64 - __builtin_clzll(b ^ band_)].push_back(e);  // a lower bucket
            }
        }
        from.clear();
        std::sort(sorted_.begin(), sorted_.end(), less);
        for (std::size_t k = 0; k < kAhead && k < sorted_.size(); ++k) prefetch_(sorted_[k]);
    }

    double inv_width_;
    Prefetch prefetch_;
    std::uint64_t band_ = 0;
    std::size_t size_ = 0;
    std::vector<Entry> sorted_;
    std::size_t pos_ = 0;
    std::vector<Entry> late_;
    std::vector<Entry> buckets_[65];
};

// Every per-pixel array is laid out on the image grid with one extra pixel on each side:
// padded index P = (r + 1) * width + c + 1, width = cols + 2. The padded index orders pixels
// as (row, col) does, so it serves as the tie key in place of r * cols + c.
struct Grid {
    std::int64_t rows, cols, width;
    std::int64_t offset[8];  // padded-index steps to the 8 neighbours, in centrosome's order
    int steps[8];            // |di| + |dj| of each
    std::int64_t window[9];  // the 3x3 window around a padded index, in centrosome's order

    Grid(std::int64_t rows_, std::int64_t cols_) : rows(rows_), cols(cols_), width(cols_ + 2) {
        static const int kDi[8] = {-1, -1, -1, 0, 0, 1, 1, 1};
        static const int kDj[8] = {-1, 0, 1, -1, 1, -1, 0, 1};
        for (int k = 0; k < 8; ++k) {
            offset[k] = kDi[k] * width + kDj[k];
            steps[k] = (kDi[k] != 0) + (kDj[k] != 0);
        }
        for (int t = 0; t < 9; ++t) window[t] = (t / 3 - 1) * width + (t % 3 - 1);
    }
    std::int64_t size() const { return (rows + 2) * width; }
    std::int64_t index(std::int64_t r, std::int64_t c) const { return (r + 1) * width + c + 1; }
};

inline std::int64_t clamp(std::int64_t v, std::int64_t hi) { return v < 0 ? 0 : (v > hi ? hi : v); }

// The image with its edge pixels replicated onto the padding (centrosome's edge-replicated
// windows), as Value.
template <typename Value>
void pad_edges(const double* image, const Grid& grid, Value* padded) {
    for (std::int64_t r = -1; r <= grid.rows; ++r) {
        const double* source = image + clamp(r, grid.rows - 1) * grid.cols;
        Value* target = padded + (r + 1) * grid.width;
        target[0] = static_cast<Value>(source[0]);
        for (std::int64_t c = 0; c < grid.cols; ++c) target[c + 1] = static_cast<Value>(source[c]);
        target[grid.cols + 1] = static_cast<Value>(source[grid.cols - 1]);
    }
}

constexpr double kUnreached = std::numeric_limits<double>::infinity();

// What the propagation reads and writes of one pixel, together: the neighbour tests touch one
// cache line per row instead of several arrays.
struct Pixel {
    double distance;     // 0 at labelled pixels, kUnreached until reached, else the best so far
    std::int32_t label;  // -1 outside the mask and on the padding, 0 until settled, then its label
    std::uint8_t seed;   // labelled and in the mask
};

// Settles pixel P with `label` and relaxes its unsettled in-mask 8-neighbours.
template <typename Heap, typename Value>
inline void settle(Heap& heap, const Value* padded, Pixel* pixels, const Grid& grid,
                   const double spatial[3], std::int64_t P, std::int32_t label, Stats& stats) {
    pixels[P].label = label;
    const double d0 = pixels[P].distance;
    // The neighbours that can improve, as a bit set (one branch per candidate instead of an
    // unpredictable one per neighbour). d = d0 + a non-negative term >= d0, so a neighbour
    // already at <= d0 cannot improve.
    unsigned candidates = 0;
    for (int k = 0; k < 8; ++k) {
        const Pixel& q = pixels[P + grid.offset[k]];
        candidates |= static_cast<unsigned>((q.label == 0) & (q.distance > d0)) << k;
    }
    const Value* here = padded + P;
    while (candidates != 0) {  // in increasing k: centrosome's push order
        const int k = __builtin_ctz(candidates);
        candidates &= candidates - 1;
        const std::int64_t Q = P + grid.offset[k];
        const Value* there = here + grid.offset[k];
        double D = 0.0;
        for (int t = 0; t < 9; ++t) {
            D += std::fabs(static_cast<double>(here[grid.window[t]]) -
                           static_cast<double>(there[grid.window[t]]));
        }
        const double d = d0 + std::sqrt(D * D + spatial[grid.steps[k]]);
        if (pixels[Q].distance > d) {
            pixels[Q].distance = d;
            ++stats.pushes;
            heap.push(Entry{distance_key(d), (static_cast<std::uint64_t>(label) << 32) |
                                                 static_cast<std::uint64_t>(Q)});
        }
    }
}

// Pops entries from `heap` until it is empty or, if `seeds_left` is given, until the last seed
// has been settled (seeds are never pushed again, so their one pop settles them). Returns
// whether it stopped at the last seed.
template <typename Heap, typename Value>
bool run(Heap& heap, const Value* padded, Pixel* pixels, const Grid& grid, double weight,
         Stats& stats, std::int64_t* seeds_left) {
    // m * w * w for m = |di| + |dj|, evaluated as centrosome does ((m * w) * w).
    const double spatial[3] = {0.0, (1.0 * weight) * weight, (2.0 * weight) * weight};
    while (!heap.empty()) {
        const Entry e = heap.pop();
        ++stats.pops;
        const std::int64_t P = static_cast<std::int64_t>(e.tie & 0xffffffffu);
        // A pixel is settled by its first pop. Later (stale) pops would relax its neighbours
        // with the same stored distance again, which can never be strictly better: skip them.
        if (pixels[P].label != 0) continue;
        settle(heap, padded, pixels, grid, spatial, P, static_cast<std::int32_t>(e.tie >> 32),
               stats);
        if (seeds_left != nullptr && pixels[P].seed && --*seeds_left == 0) return true;
    }
    return false;
}

inline std::int32_t find_root(std::vector<std::int32_t>& parent, std::int32_t x) {
    while (parent[x] != x) {
        parent[x] = parent[parent[x]];  // path halving
        x = parent[x];
    }
    return x;
}

inline std::int32_t unite(std::vector<std::int32_t>& parent, std::int32_t a, std::int32_t b) {
    a = find_root(parent, a);
    b = find_root(parent, b);
    if (a == b) return a;
    if (a > b) std::swap(a, b);
    parent[b] = a;
    return a;
}

// The 8-connected components of the unlabelled in-mask pixels, read from the inputs (so that
// it can run while phase 1 writes the pixels): component[P] = 0..n-1, -1 elsewhere; sizes[i]
// their pixel counts. Every component of the pixels left unsettled after phase 1 lies within
// one of these (a subset's connected pieces lie in the superset's), and entries of different
// pieces in one queue never interact, so these serve phase 2 as well.
void label_components(const std::int32_t* labels, const std::uint8_t* mask, const Grid& grid,
                      std::int32_t* component, std::vector<std::int64_t>& sizes) {
    std::vector<std::int32_t> parent;
    const std::int64_t width = grid.width;
    for (std::int64_t P = 0; P < grid.size(); ++P) component[P] = -1;
    for (std::int64_t r = 0; r < grid.rows; ++r) {
        for (std::int64_t c = 0; c < grid.cols; ++c) {
            const std::int64_t p = r * grid.cols + c;
            if (!mask[p] || labels[p] > 0) continue;
            const std::int64_t P = grid.index(r, c);
            // The four neighbours seen before P: NW, N, NE, W. If N is in a component, NW, NE
            // and W are too (each touches N or NW), so only N's label is needed; otherwise W
            // (or NW: they touch) and NE may join two components.
            std::int32_t id = component[P - width];
            if (id < 0) {
                const std::int32_t west =
                    component[P - 1] >= 0 ? component[P - 1] : component[P - width - 1];
                const std::int32_t north_east = component[P - width + 1];
                if (west >= 0 && north_east >= 0) {
                    id = unite(parent, west, north_east);
                } else if (west >= 0) {
                    id = west;
                } else if (north_east >= 0) {
                    id = north_east;
                } else {
                    id = static_cast<std::int32_t>(parent.size());
                    parent.push_back(id);
                }
            }
            component[P] = id;
        }
    }
    // Provisional ids -> consecutive component numbers.
    std::vector<std::int32_t> number(parent.size(), -1);
    std::int32_t n = 0;
    for (std::size_t i = 0; i < parent.size(); ++i) {
        const std::int32_t root = find_root(parent, static_cast<std::int32_t>(i));
        if (number[root] < 0) number[root] = n++;
        number[i] = number[root];
    }
    sizes.assign(static_cast<std::size_t>(n), 0);
    for (std::int64_t P = 0; P < grid.size(); ++P) {
        if (component[P] >= 0) {
            component[P] = number[component[P]];
            ++sizes[component[P]];
        }
    }
}

// The BandQueue's 1 / width: a band a 32nd of the median cost of the edges east of a sample
// of in-mask pixels (so that a band holds a thin slice of the fronts). Any width gives the
// same pops; this one only sets how many entries a band holds.
template <typename Value>
double inverse_band_width(const Value* padded, const Pixel* pixels, const Grid& grid,
                          double weight) {
    std::vector<double> costs;
    const double spatial = (1.0 * weight) * weight;
    const std::int64_t n = grid.rows * grid.cols;
    const std::int64_t step = std::max<std::int64_t>(1, n / 4096);
    for (std::int64_t p = 0; p < n; p += step) {
        const std::int64_t P = grid.index(p / grid.cols, p % grid.cols);
        if (pixels[P].label < 0 || pixels[P + 1].label < 0) continue;
        double D = 0.0;
        for (int t = 0; t < 9; ++t) {
            D += std::fabs(static_cast<double>(padded[P + grid.window[t]]) -
                           static_cast<double>(padded[P + 1 + grid.window[t]]));
        }
        const double cost = std::sqrt(D * D + spatial);
        if (cost > 0.0 && std::isfinite(cost)) costs.push_back(cost);
    }
    if (costs.empty()) return 1.0;
    std::nth_element(costs.begin(), costs.begin() + costs.size() / 2, costs.end());
    const double inverse = 32.0 / costs[costs.size() / 2];
    return std::isfinite(inverse) ? inverse : 1.0;
}

// Phase 2 (see the top of the file): one band queue per component, the components spread over
// `n_threads` threads, largest first. Every pixel is written only by the thread that owns its
// component. One thread runs them one after the other, which is also faster than one queue for
// all: each component's queue and pixels stay small and close together.
template <typename Value>
void run_phase2(std::vector<Entry> entries, const Value* padded, Pixel* pixels,
                const Grid& grid, double weight, double inv_band_width, int n_threads,
                const std::int32_t* component,
                const std::vector<std::int64_t>& sizes, Stats& stats) {
    std::vector<std::vector<Entry>> groups(sizes.size());
    for (const Entry& e : entries) {
        const std::int64_t P = static_cast<std::int64_t>(e.tie & 0xffffffffu);
        if (pixels[P].label != 0) {
            ++stats.pops;  // stale: it would be popped and skipped
            continue;
        }
        groups[component[P]].push_back(e);
    }
    entries = std::vector<Entry>();
    std::vector<std::size_t> order;
    for (std::size_t g = 0; g < groups.size(); ++g) {
        if (!groups[g].empty()) order.push_back(g);
    }
    std::stable_sort(order.begin(), order.end(),
                     [&](std::size_t a, std::size_t b) { return sizes[a] > sizes[b]; });
    const std::int64_t n_groups = static_cast<std::int64_t>(order.size());
    stats.phase2 = 1;
    stats.components = n_groups;
    std::int64_t pushes = 0, pops = 0;
#ifdef PYHCS_HAVE_OPENMP
#pragma omp parallel for schedule(dynamic, 1) num_threads(n_threads) reduction(+ : pushes, pops)
#endif
    for (std::int64_t i = 0; i < n_groups; ++i) {
        std::vector<Entry>& group = groups[order[i]];
        std::uint64_t last = group[0].key;
        for (const Entry& e : group) last = std::min(last, e.key);
        const std::int64_t width = grid.width;
        auto prefetch = [=](const Entry& e) {
            const std::int64_t P = static_cast<std::int64_t>(e.tie & 0xffffffffu);
            fetch(pixels + P - width);
            fetch(pixels + P);
            fetch(pixels + P + width);
            for (std::int64_t dr = -2; dr <= 2; ++dr) fetch(padded + P + dr * width);
        };
        BandQueue<decltype(prefetch)> heap(group, inv_band_width, prefetch);
        group = std::vector<Entry>();
        Stats local;
        run(heap, padded, pixels, grid, weight, local, nullptr);
        pushes += local.pushes;
        pops += local.pops;
    }
    stats.pushes += pushes;
    stats.pops += pops;
}

// Both phases (see the top of the file), the image read as Value. With more than one thread,
// the components for phase 2 are labelled on a second thread while phase 1 runs; with one,
// after it.
template <typename Value>
void propagate_seeds(const double* image, const std::int32_t* labels, const std::uint8_t* mask,
                     const Grid& grid, double weight, int n_threads, std::vector<Entry> seeds,
                     Pixel* pixels, Stats& stats) {
    PageArray<Value> padded(static_cast<std::size_t>(grid.size()));
    pad_edges(image, grid, padded.data());
    std::int64_t seeds_left = static_cast<std::int64_t>(seeds.size());
    ArrayHeap heap(std::move(seeds));
    bool handed_over = false;
    std::vector<std::int64_t> sizes;
    std::unique_ptr<PageArray<std::int32_t>> component;
    if (n_threads > 1) {
        component = std::make_unique<PageArray<std::int32_t>>(static_cast<std::size_t>(grid.size()));
#ifdef PYHCS_HAVE_OPENMP
#pragma omp parallel sections num_threads(2)
#endif
        {
#ifdef PYHCS_HAVE_OPENMP
#pragma omp section
#endif
            handed_over = run(heap, padded.data(), pixels, grid, weight, stats, &seeds_left);
#ifdef PYHCS_HAVE_OPENMP
#pragma omp section
#endif
            label_components(labels, mask, grid, component->data(), sizes);
        }
    } else {
        handed_over = run(heap, padded.data(), pixels, grid, weight, stats, &seeds_left);
    }
    if (!handed_over || heap.empty()) return;
    if (heap.is_heap()) {
        if (!component) {
            component =
                std::make_unique<PageArray<std::int32_t>>(static_cast<std::size_t>(grid.size()));
            label_components(labels, mask, grid, component->data(), sizes);
        }
        run_phase2(heap.release(), padded.data(), pixels, grid, weight,
                   inverse_band_width(padded.data(), pixels, grid, weight), n_threads,
                   component->data(), sizes, stats);
    } else {
        stats.phase2 = 2;
        run(heap, padded.data(), pixels, grid, weight, stats, nullptr);
    }
}

}  // namespace

Stats propagate(const double* image, const std::int32_t* labels, const std::uint8_t* mask,
                std::int64_t rows, std::int64_t cols, double weight, std::int32_t* labels_out,
                double* distances, int n_threads) {
    Stats stats;
    if (rows <= 0 || cols <= 0) return stats;
#ifdef PYHCS_HAVE_OPENMP
    if (n_threads <= 0) n_threads = omp_get_max_threads();
#else
    n_threads = 1;
#endif
    const Grid grid(rows, cols);
    PageArray<Pixel> pixels(static_cast<std::size_t>(grid.size()));
    const Pixel padding{kUnreached, -1, 0};
    for (std::int64_t C = 0; C < grid.width; ++C) {
        pixels[C] = padding;
        pixels[grid.size() - grid.width + C] = padding;
    }
    for (std::int64_t r = 0; r < rows; ++r) {
        pixels[grid.index(r, -1)] = padding;
        pixels[grid.index(r, cols)] = padding;
    }
    std::vector<Entry> seeds;
    bool exact_in_float = true;
    for (std::int64_t r = 0; r < rows; ++r) {
        for (std::int64_t c = 0; c < cols; ++c) {
            const std::int64_t p = r * cols + c;
            const std::int64_t P = grid.index(r, c);
            const bool labelled = labels[p] > 0;
            const bool seed = labelled && mask[p];
            pixels[P] = Pixel{labelled ? 0.0 : kUnreached, mask[p] ? 0 : -1,
                              static_cast<std::uint8_t>(seed)};
            if (seed) {
                seeds.push_back(Entry{distance_key(0.0),
                                      (static_cast<std::uint64_t>(labels[p]) << 32) |
                                          static_cast<std::uint64_t>(P)});
            }
            exact_in_float &= static_cast<double>(static_cast<float>(image[p])) == image[p];
        }
    }
    if (!seeds.empty()) {
        // An image that float32 holds exactly (CellProfiler's float32 images) is read from a
        // float32 copy: the same double arithmetic on half the memory.
        stats.float_image = exact_in_float;
        if (exact_in_float) {
            propagate_seeds<float>(image, labels, mask, grid, weight, n_threads,
                                   std::move(seeds), pixels.data(), stats);
        } else {
            propagate_seeds<double>(image, labels, mask, grid, weight, n_threads,
                                    std::move(seeds), pixels.data(), stats);
        }
    }
    for (std::int64_t r = 0; r < rows; ++r) {
        for (std::int64_t c = 0; c < cols; ++c) {
            const Pixel& pixel = pixels[grid.index(r, c)];
            labels_out[r * cols + c] = pixel.label > 0 ? pixel.label : 0;
            distances[r * cols + c] = pixel.distance == kUnreached ? -1.0 : pixel.distance;
        }
    }
    return stats;
}

}  // namespace propagate
}  // namespace pyhcs
