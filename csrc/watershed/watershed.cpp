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
#include "watershed/watershed.h"

#include <utility>
#include <vector>

namespace pyhcs {
namespace watershed {
namespace {

struct Item {
    double value;
    std::int32_t age;  // skimage keeps the age in an int32
    std::int64_t index;
};

inline bool smaller(const Item& a, const Item& b) {
    if (a.value != b.value) return a.value < b.value;
    return a.age < b.age;
}

class Heap {
public:
    bool empty() const { return items_.empty(); }

    void push(const Item& item) {
        items_.push_back(item);
        std::size_t child = items_.size() - 1;
        while (child > 0) {
            const std::size_t parent = (child + 1) / 2 - 1;
            if (!smaller(items_[child], items_[parent])) break;
            std::swap(items_[child], items_[parent]);
            child = parent;
        }
    }

    Item pop() {
        const Item top = items_[0];
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
    std::vector<Item> items_;
};

}  // namespace

std::int64_t watershed(const double* image, const std::int32_t* markers, const std::uint8_t* mask,
                       std::int64_t rows, std::int64_t cols, int connectivity, bool rising,
                       std::int32_t* output) {
    static const int kDi[8] = {-1, 0, 0, 1, -1, -1, 1, 1};
    static const int kDj[8] = {0, -1, 1, 0, -1, 1, -1, 1};
    const int n_neighbours = connectivity >= 2 ? 8 : 4;
    const std::int64_t n = rows * cols;
    Heap heap;
    for (std::int64_t p = 0; p < n; ++p) {
        output[p] = mask[p] ? markers[p] : 0;
        if (output[p] != 0) heap.push(Item{image[p], 0, p});
    }
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

}  // namespace watershed
}  // namespace pyhcs
