// Geodesic Voronoi propagation of seed labels (CellProfiler IdentifySecondaryObjects
// "Propagation"), bit-identical to centrosome.propagate.propagate. See propagate.cpp.
#pragma once

#include <cstdint>

namespace pyhcs {
namespace propagate {

struct Stats {
    std::int64_t pushes = 0;
    std::int64_t pops = 0;
};

// The sequential priority-queue propagation.
//   image      rows x cols, float64
//   labels     rows x cols, int32 >= 0 (the seeds: labelled pixels inside the mask)
//   mask       rows x cols, uint8 (0 or 1)
//   labels_out rows x cols, int32, written
//   distances  rows x cols, float64, written
Stats propagate(const double* image, const std::int32_t* labels, const std::uint8_t* mask,
                std::int64_t rows, std::int64_t cols, double weight, std::int32_t* labels_out,
                double* distances);

}  // namespace propagate
}  // namespace pyhcs
