// Seeded watershed, identical to skimage.segmentation.watershed(image, markers,
// connectivity=1 or 2, mask=mask) with no compactness and no watershed line, in either of its
// two flooding rules (before and since scikit-image 0.25.2). See watershed.cpp.
#pragma once

#include <cstdint>

namespace pyhcs {
namespace watershed {

// The flooding.
//   image        rows x cols, float64
//   markers      rows x cols, int32 (0 = unlabelled); markers outside the mask are dropped
//   mask         rows x cols, uint8 (0 or 1)
//   connectivity 1 (4 neighbours) or 2 (8 neighbours)
//   rising       scikit-image >= 0.25.2's rule (a pushed value is at least its parent's)
//   output       rows x cols, int32, written
// Returns the number of queue pushes.
std::int64_t watershed(const double* image, const std::int32_t* markers, const std::uint8_t* mask,
                       std::int64_t rows, std::int64_t cols, int connectivity, bool rising,
                       std::int32_t* output);

struct ComponentsResult {
    std::int64_t pushes = 0;
    std::int64_t components = 0;  // components flooded (those holding a marker)
    bool per_component = false;   // false: not certified, the global flooding ran
};

// The same flooding, each connected component of the mask on its own (in parallel), where that
// is exact (see watershed.cpp); otherwise the global one.
//   component    rows x cols, int32: the component (1 .. n_components, as scipy.ndimage.label
//                numbers them) of every mask pixel, in `connectivity` (other pixels not read)
//   n_threads    0: OpenMP's default
ComponentsResult watershed_components(const double* image, const std::int32_t* markers,
                                      const std::uint8_t* mask, std::int64_t rows,
                                      std::int64_t cols, int connectivity, bool rising,
                                      const std::int32_t* component, std::int64_t n_components,
                                      int n_threads, std::int32_t* output);

}  // namespace watershed
}  // namespace pyhcs
