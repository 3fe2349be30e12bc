"""GPU kernel for the sliding-histogram median filters (numba CUDA, grid-stride loop).

One work item is a run of ``segment`` columns of one row (see
:mod:`pyhcs.illumination._median_common`). Each thread owns one row of the ``scratch``
array (its fine histogram, zero on entry and left zero after every item) and a local coarse
histogram, and walks the items with a grid-stride loop. Integer counting only, so the GPU
path equals the CPU path bit for bit.
"""

from __future__ import annotations

from numba import cuda, int32

from .._backend import gpu_kernel
from ._median_common import MAX_BLOCKS, make_functions

median_run = make_functions(cuda.jit(device=True))

_SIGNATURE = (
    "void(int32[:, ::1], uint8[:, ::1], boolean, int64[::1], int64, int64, int64, int64, "
    "int64, int32[:, ::1], int32[:, ::1])"
)


@gpu_kernel(_SIGNATURE)
def median_rows_gpu(values, mask, use_mask, halfw, rule, percent, n_bins, shift, segment,
                    scratch, out):
    """Same output as :func:`pyhcs.illumination._median_cpu.median_rows_cpu`.

    ``scratch`` is (number of launched threads, n_bins) int32, all zeros.
    """
    worker = cuda.grid(1)
    if worker >= scratch.shape[0]:
        return
    coarse = cuda.local.array(MAX_BLOCKS, int32)
    for i in range(MAX_BLOCKS):
        coarse[i] = 0
    fine = scratch[worker]
    height = values.shape[0]
    width = values.shape[1]
    n_segments = (width + segment - 1) // segment
    for item in range(worker, height * n_segments, cuda.gridsize(1)):
        y = item // n_segments
        x0 = (item % n_segments) * segment
        x1 = min(width, x0 + segment)
        median_run(values, mask, use_mask, halfw, rule, percent, n_bins, shift, y, x0, x1,
                   fine, coarse, out)
