// Seeded watershed (Beucher / Soille flooding by a priority queue), bit-identical to
// skimage.segmentation.watershed without compactness or watershed lines:
//
// - markers outside the mask are dropped; every remaining marker pixel enters the queue with
//   age 0, in raster order;
// - a popped pixel visits its neighbours in skimage's order (by distance from the centre, then
//   by raveled offset: up, left, right, down, then the four diagonals for connectivity 2); an
//   unlabelled neighbour in the mask takes the popped pixel's label at once and enters the
//   queue with its image value and the next age (1, 2, ... after the first push: ages start
//   at 2);
// - the queue pops the smallest (value, age): value first unless the values are equal (or
//   either is NaN, where skimage's `a.value != b.value` then compares `a.value < b.value`),
//   then age;
// - `rising` (scikit-image >= 0.25.2): a pushed pixel's value is raised to the popped pixel's
//   (pushed) value when it is lower, so that a basin reached over a saddle is shared by age
//   between the markers spilling into it. Without it (scikit-image <= 0.25.1, which
//   CellProfiler 5 pins as 0.24.0) the pushed value is the pixel's own.
//
// All markers share age 0, so markers of equal value are popped in an order that only the heap
// itself decides; the queue is therefore skimage's binary heap, operation for operation (sift
// up while strictly smaller than the parent; pop: the last entry to the root, then sift down to
// the smallest of the node and its two children, the right child compared with the smaller of
// the other two). It holds the entries themselves instead of skimage's pointers to them, which
// changes nothing in the order.
//
// watershed_components floods each connected component of the mask (given, in the same
// connectivity) on its own, in parallel. A pop relaxes only neighbours in its own component,
// so components never interact; ages count pushes per component instead of globally, which
// keeps their order within a component. The global heap always pops a smallest key, so the pops
// of one component follow that component's own (value, age) order, unless two of its entries
// have equal keys: only markers can (all have age 0). So the split is exact when no component
// holds two markers of equal value and no masked value is NaN (checked: else the global
// flooding runs instead). Each component floods in a framed copy of its bounding box (local
// 32-bit indices, no bounds checks, its heap and pixels small and close together), so even one
// thread floods faster than the global heap does.
#include "watershed/watershed.h"

#include <algorithm>
#include <limits>
#include <utility>
#include <vector>

#ifdef PYHCS_HAVE_OPENMP
#include <omp.h>
#endif

namespace pyhcs {
namespace watershed {
namespace {

template <typename Index>
struct ItemOf {
    double value;
    std::int32_t age;  // skimage keeps the age in an int32
    Index index;
};
using Item = ItemOf<std::int64_t>;       // a pixel of the image
using BoxItem = ItemOf<std::int32_t>;    // a pixel of a component's bounding box (16 bytes)

template <typename T>
inline bool smaller(const T& a, const T& b) {
    if (a.value != b.value) return a.value < b.value;
    return a.age < b.age;
}

template <typename T>
class HeapOf {
public:
    bool empty() const { return items_.empty(); }

    void push(const T& item) {
        items_.push_back(item);
        std::size_t child = items_.size() - 1;
        while (child > 0) {
            const std::size_t parent = (child + 1) / 2 - 1;
            if (!smaller(items_[child], items_[parent])) break;
            std::swap(items_[child], items_[parent]);
            child = parent;
        }
    }

    T pop() {
        const T top = items_[0];
        items_[0] = items_.back();
        items_.pop_back();
        const std::size_t n = items_.size();
        std::size_t i = 0;
        for (;;) {
            const std::size_t left = 2 * i + 1;
            const std::size_t right = left + 1;
            if (left >= n) break;
            std::size_t smallest = i;
            if (smaller(items_[left], items_[i])) smallest = left;
            if (right < n && smaller(items_[right], items_[smallest])) smallest = right;
            if (smallest == i) break;
            std::swap(items_[i], items_[smallest]);
            i = smallest;
        }
        return top;
    }

private:
    std::vector<T> items_;
};
using Heap = HeapOf<Item>;

// Floods from the entries already in `heap` (ages after `age`), writing `output`. Returns the
// number of pushes.
std::int64_t flood(Heap& heap, const double* image, const std::uint8_t* mask, std::int64_t rows,
                   std::int64_t cols, int connectivity, bool rising, std::int32_t* output) {
    static const int kDi[8] = {-1, 0, 0, 1, -1, -1, 1, 1};
    static const int kDj[8] = {0, -1, 1, 0, -1, 1, -1, 1};
    const int n_neighbours = connectivity >= 2 ? 8 : 4;
    std::int64_t age = 1;
    std::int64_t pushes = 0;
    while (!heap.empty()) {
        const Item item = heap.pop();
        const std::int64_t r = item.index / cols;
        const std::int64_t c = item.index - r * cols;
        const std::int32_t label = output[item.index];
        for (int k = 0; k < n_neighbours; ++k) {
            const std::int64_t rq = r + kDi[k];
            const std::int64_t cq = c + kDj[k];
            if (rq < 0 || rq >= rows || cq < 0 || cq >= cols) continue;
            const std::int64_t q = rq * cols + cq;
            if (!mask[q] || output[q] != 0) continue;
            ++age;
            output[q] = label;
            double value = image[q];
            if (rising && value < item.value) value = item.value;
            heap.push(Item{value, static_cast<std::int32_t>(age), q});
            ++pushes;
        }
    }
    return pushes;
}

// A component's bounding box, inclusive.
struct Box {
    std::int64_t r0 = std::numeric_limits<std::int64_t>::max(), r1 = -1;
    std::int64_t c0 = std::numeric_limits<std::int64_t>::max(), c1 = -1;
};

// flood() for the one component `id` (1-based) inside its bounding box, on copies of its image
// values and labels framed by one blocked pixel: local 32-bit indices, no bounds checks, and a
// component's pixels next to each other in memory. Pixels of other components inside the box
// are never reached (they are not connected to this one), so they need not be told apart from
// the frame. The pops and pushes are flood()'s for this component, one for one.
std::int64_t flood_box(const double* image, const std::uint8_t* mask,
                       const std::int32_t* component, std::int32_t id, const Box& box,
                       const std::vector<std::int64_t>& seeds, std::int64_t cols,
                       int connectivity, bool rising, std::int32_t* output) {
    const std::int64_t h = box.r1 - box.r0 + 1;
    const std::int64_t w = box.c1 - box.c0 + 1;
    const std::int64_t width = w + 2;
    constexpr std::int32_t kBlocked = -1;  // any nonzero value: never a neighbour to flood
    std::vector<double> value(static_cast<std::size_t>((h + 2) * width));
    std::vector<std::int32_t> state(static_cast<std::size_t>((h + 2) * width), kBlocked);
    for (std::int64_t r = 0; r < h; ++r) {
        const std::int64_t row = (box.r0 + r) * cols + box.c0;
        const std::int64_t local = (r + 1) * width + 1;
        for (std::int64_t c = 0; c < w; ++c) {
            const std::int64_t p = row + c;
            if (mask[p] && component[p] == id) {
                state[local + c] = output[p];  // its marker or 0
                value[local + c] = image[p];
            }
        }
    }
    auto to_local = [&](std::int64_t p) {
        const std::int64_t r = p / cols - box.r0;
        const std::int64_t c = p - (p / cols) * cols - box.c0;
        return static_cast<std::int32_t>((r + 1) * width + c + 1);
    };
    // flood()'s neighbour order: up, left, right, down, then the diagonals.
    const std::int32_t offset[8] = {static_cast<std::int32_t>(-width), -1, 1,
                                    static_cast<std::int32_t>(width),
                                    static_cast<std::int32_t>(-width - 1),
                                    static_cast<std::int32_t>(-width + 1),
                                    static_cast<std::int32_t>(width - 1),
                                    static_cast<std::int32_t>(width + 1)};
    const int n_neighbours = connectivity >= 2 ? 8 : 4;
    HeapOf<BoxItem> heap;
    for (std::int64_t p : seeds) heap.push(BoxItem{image[p], 0, to_local(p)});
    std::int64_t age = 1;
    std::int64_t pushes = 0;
    std::int32_t* labels = state.data();
    while (!heap.empty()) {
        const BoxItem item = heap.pop();
        const std::int32_t label = labels[item.index];
        // The neighbours to flood, as a bit set (one predictable loop instead of one
        // unpredictable branch per neighbour; pushes below do not change the others' state).
        unsigned candidates = 0;
        for (int k = 0; k < n_neighbours; ++k) {
            candidates |= static_cast<unsigned>(labels[item.index + offset[k]] == 0) << k;
        }
        while (candidates != 0) {  // in increasing k: flood()'s order
            const int k = __builtin_ctz(candidates);
            candidates &= candidates - 1;
            const std::int32_t q = item.index + offset[k];
            ++age;
            labels[q] = label;
            double v = value[static_cast<std::size_t>(q)];
            if (rising && v < item.value) v = item.value;
            heap.push(BoxItem{v, static_cast<std::int32_t>(age), q});
            ++pushes;
        }
    }
    for (std::int64_t r = 0; r < h; ++r) {
        const std::int64_t row = (box.r0 + r) * cols + box.c0;
        const std::int64_t local = (r + 1) * width + 1;
        for (std::int64_t c = 0; c < w; ++c) {
            const std::int64_t p = row + c;
            if (mask[p] && component[p] == id) output[p] = labels[local + c];
        }
    }
    return pushes;
}

}  // namespace

std::int64_t watershed(const double* image, const std::int32_t* markers, const std::uint8_t* mask,
                       std::int64_t rows, std::int64_t cols, int connectivity, bool rising,
                       std::int32_t* output) {
    const std::int64_t n = rows * cols;
    Heap heap;
    for (std::int64_t p = 0; p < n; ++p) {
        output[p] = mask[p] ? markers[p] : 0;
        if (output[p] != 0) heap.push(Item{image[p], 0, p});
    }
    return flood(heap, image, mask, rows, cols, connectivity, rising, output);
}

ComponentsResult watershed_components(const double* image, const std::int32_t* markers,
                                      const std::uint8_t* mask, std::int64_t rows,
                                      std::int64_t cols, int connectivity, bool rising,
                                      const std::int32_t* component, std::int64_t n_components,
                                      int n_threads, std::int32_t* output) {
    ComponentsResult result;
    const std::int64_t n = rows * cols;
    // Pushes are at most n, so per-component ages never wrap where the global ones would not.
    bool certified = n < (std::int64_t{1} << 31);
    std::vector<std::vector<std::int64_t>> seeds(static_cast<std::size_t>(n_components));
    std::vector<Box> boxes(static_cast<std::size_t>(n_components));
    for (std::int64_t p = 0; p < n && certified; ++p) {
        output[p] = mask[p] ? markers[p] : 0;
        if (!mask[p]) continue;
        const std::int64_t id = static_cast<std::int64_t>(component[p]) - 1;
        if (id < 0 || id >= n_components || image[p] != image[p]) {
            certified = false;  // not a component of this mask, or NaN (no strict order)
            break;
        }
        Box& box = boxes[static_cast<std::size_t>(id)];
        const std::int64_t r = p / cols, c = p - (p / cols) * cols;
        box.r0 = std::min(box.r0, r);
        box.r1 = std::max(box.r1, r);
        box.c0 = std::min(box.c0, c);
        box.c1 = std::max(box.c1, c);
        if (output[p] != 0) seeds[id].push_back(p);
    }
    // Within a component, the only equal keys are markers of equal value (all age 0), whose
    // order the global heap's shape decides: certify that there are none.
    std::vector<double> values;
    for (std::size_t i = 0; i < seeds.size() && certified; ++i) {
        values.clear();
        for (std::int64_t p : seeds[i]) values.push_back(image[p]);
        std::sort(values.begin(), values.end());
        for (std::size_t k = 1; k < values.size(); ++k) {
            if (values[k] == values[k - 1]) {
                certified = false;
                break;
            }
        }
    }
    if (!certified) {
        result.pushes = watershed(image, markers, mask, rows, cols, connectivity, rising, output);
        return result;
    }
    std::vector<std::int64_t> order;
    for (std::int64_t i = 0; i < n_components; ++i) {
        if (!seeds[i].empty()) order.push_back(i);
    }
    // In raster order of the components' first pixels: neighbouring boxes share cache lines.
    const std::int64_t n_runs = static_cast<std::int64_t>(order.size());
    std::int64_t pushes = 0;
#ifdef PYHCS_HAVE_OPENMP
    if (n_threads <= 0) n_threads = omp_get_max_threads();
#pragma omp parallel for schedule(dynamic, 8) num_threads(n_threads) reduction(+ : pushes) \
    if (n_threads > 1 && n_runs > 1)
#endif
    for (std::int64_t i = 0; i < n_runs; ++i) {
        const std::int64_t id = order[i];
        const Box& box = boxes[static_cast<std::size_t>(id)];
        if ((box.r1 - box.r0 + 3) * (box.c1 - box.c0 + 3) < (std::int64_t{1} << 31)) {
            pushes += flood_box(image, mask, component, static_cast<std::int32_t>(id + 1), box,
                                seeds[id], cols, connectivity, rising, output);
        } else {
            Heap heap;
            for (std::int64_t p : seeds[id]) heap.push(Item{image[p], 0, p});
            pushes += flood(heap, image, mask, rows, cols, connectivity, rising, output);
        }
    }
    result.pushes = pushes;
    result.components = n_runs;
    result.per_component = true;
    return result;
}

}  // namespace watershed
}  // namespace pyhcs
