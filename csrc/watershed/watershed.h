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

}  // namespace watershed
}  // namespace pyhcs
