// Geodesic Voronoi propagation of seed labels (CellProfiler IdentifySecondaryObjects
// "Propagation"), bit-identical to centrosome.propagate.propagate. See propagate.cpp.
#pragma once

#include <cstdint>

namespace pyhcs {
namespace propagate {

struct Stats {
    std::int64_t pushes = 0;
    std::int64_t pops = 0;
    // The second phase's queue (see propagate.cpp): 0 none (no entry left after the seeds),
    // 1 a band queue per connected component (in parallel on several threads), 2 the array
    // heap kept to the end (its array was not a valid heap after the seeds).
    int phase2 = 0;
    std::int64_t components = 0;  // with phase2 == 1
    bool float_image = false;     // the image was read from a float32 copy (float32 holds it)
};

// The sequential priority-queue propagation.
//   image      rows x cols, float64
//   labels     rows x cols, int32 >= 0 (the seeds: labelled pixels inside the mask)
//   mask       rows x cols, uint8 (0 or 1)
//   labels_out rows x cols, int32, written
//   distances  rows x cols, float64, written
//   n_threads  threads of the second phase (<= 0: OpenMP's default); the result does not
//              depend on it
Stats propagate(const double* image, const std::int32_t* labels, const std::uint8_t* mask,
                std::int64_t rows, std::int64_t cols, double weight, std::int32_t* labels_out,
                double* distances, int n_threads = 0);

}  // namespace propagate
}  // namespace pyhcs
