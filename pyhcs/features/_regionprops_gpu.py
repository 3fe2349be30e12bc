"""GPU kernel for per-object region properties (numba CUDA, label-run accumulation).

Each thread walks a segment of one row. Consecutive pixels of the same object (a *run*) are
accumulated in registers and flushed with one set of atomics per run, as cuCIM's regionprops
does, so the atomic traffic is per run, not per pixel.
"""

from __future__ import annotations

import math

from numba import cuda, float64, int32, int64

from .._backend import gpu_kernel

SEGMENT = 64  # pixels of a row walked by one thread

_SIGNATURE = (
    "void(int32[:, ::1], float64[:, ::1], boolean, int64[::1], int64[::1], int64[::1],"
    " int32[::1], int32[::1], int32[::1], int32[::1], float64[::1], float64[::1], float64[::1])"
)


@cuda.jit(device=True)
def _flush_run(
    slot, r, count, c_first, c_last, run_sum_c, run_isum, run_imin, run_imax, with_image,
    area, sum_r, sum_c, min_r, min_c, max_r, max_c, isum, imin, imax,
):
    cuda.atomic.add(area, slot, count)
    cuda.atomic.add(sum_r, slot, int64(r) * count)
    cuda.atomic.add(sum_c, slot, run_sum_c)
    cuda.atomic.min(min_r, slot, int32(r))
    cuda.atomic.max(max_r, slot, int32(r))
    cuda.atomic.min(min_c, slot, int32(c_first))
    cuda.atomic.max(max_c, slot, int32(c_last))
    if with_image:
        cuda.atomic.add(isum, slot, run_isum)
        cuda.atomic.min(imin, slot, run_imin)
        cuda.atomic.max(imax, slot, run_imax)


@gpu_kernel(_SIGNATURE)
def accumulate_gpu(
    ids, image, with_image, area, sum_r, sum_c, min_r, min_c, max_r, max_c, isum, imin, imax
):
    """Same outputs as :func:`pyhcs.features._regionprops_cpu.accumulate_cpu`, in place.

    Outputs must be initialised by the launcher to the untouched values
    (0, 0, 0, INT32_MAX, INT32_MAX, -1, -1, 0, +inf, -inf).
    """
    height = ids.shape[0]
    width = ids.shape[1]
    segments_per_row = (width + SEGMENT - 1) // SEGMENT
    n_work = height * segments_per_row
    for work in range(cuda.grid(1), n_work, cuda.gridsize(1)):
        r = work // segments_per_row
        c_begin = (work - r * segments_per_row) * SEGMENT
        c_end = min(width, c_begin + SEGMENT)
        slot = int32(0)
        count = int64(0)
        c_first = int32(0)
        c_last = int32(0)
        run_sum_c = int64(0)
        run_isum = float64(0.0)
        run_imin = float64(math.inf)
        run_imax = float64(-math.inf)
        for c in range(c_begin, c_end):
            s = ids[r, c]
            if s != slot:
                if slot != 0:
                    _flush_run(
                        slot, r, count, c_first, c_last, run_sum_c, run_isum, run_imin,
                        run_imax, with_image,
                        area, sum_r, sum_c, min_r, min_c, max_r, max_c, isum, imin, imax,
                    )
                slot = s
                count = int64(0)
                c_first = int32(c)
                run_sum_c = int64(0)
                run_isum = float64(0.0)
                run_imin = float64(math.inf)
                run_imax = float64(-math.inf)
            if s != 0:
                count += int64(1)
                c_last = int32(c)
                run_sum_c += int64(c)
                if with_image:
                    v = image[r, c]
                    run_isum += v
                    run_imin = min(run_imin, v)
                    run_imax = max(run_imax, v)
        if slot != 0:
            _flush_run(
                slot, r, count, c_first, c_last, run_sum_c, run_isum, run_imin, run_imax,
                with_image, area, sum_r, sum_c, min_r, min_c, max_r, max_c, isum, imin, imax,
            )
