"""GPU kernels of :func:`pyhcs.features.size_shape` (numba CUDA, grid-stride loops).

The same per-pixel and per-object functions as the CPU kernels (:mod:`._shape_math`), with
round-to-nearest multiply/add intrinsics so that no sum is contracted into a fused
multiply-add: the GPU gives the CPU's bits.
"""

from __future__ import annotations

from numba import cuda, float64, int64

from .. import _gpu_rounding as rounding
from .._backend import gpu_kernel
from ._shape_math import _CODES, _PW_STACK, build

_column_gap, _row_distance2, _, _object_sums = build(
    cuda.jit(device=True), rounding.mul, rounding.add, rounding.fma
)


@gpu_kernel("void(int32[:, ::1], int64[:, ::1])")
def column_gap_gpu(ids, gap):
    """``gap[r, c]``: rows to the nearest pixel of column c outside the object of (r, c)."""
    height = ids.shape[0]
    width = ids.shape[1]
    for p in range(cuda.grid(1), height * width, cuda.gridsize(1)):
        r = p // width
        c = p - r * width
        gap[r, c] = _column_gap(ids, r, c) if ids[r, c] != 0 else 0


@gpu_kernel("void(int32[:, ::1], int64[:, ::1], int64[:, ::1])")
def distance2_gpu(ids, gap, dist2):
    """``dist2[r, c]``: squared distance to the nearest pixel outside the object (0 off objects)."""
    height = ids.shape[0]
    width = ids.shape[1]
    for p in range(cuda.grid(1), height * width, cuda.gridsize(1)):
        r = p // width
        c = p - r * width
        dist2[r, c] = _row_distance2(ids, gap, r, c) if ids[r, c] != 0 else 0


@gpu_kernel(
    "void(int32[:, ::1], int64[:, ::1], int64[::1], int64[::1], int64[::1], int64[::1],"
    " int64[::1], float64[::1], float64[::1], float64[:, ::1], float64[::1])"
)
def object_sums_gpu(ids, dist2, pixels, offsets, slots, r0, c0, ybar, xbar, out, values):
    """One thread per object: :func:`._shape_math.object_sums` into ``out[k, :]``;
    ``values`` (one float64 per object pixel) is the objects' scratch."""
    stack_start = cuda.local.array(_PW_STACK, int64)
    stack_n = cuda.local.array(_PW_STACK, int64)
    stack_stage = cuda.local.array(_PW_STACK, int64)
    partial = cuda.local.array(_PW_STACK, float64)
    histogram = cuda.local.array(_CODES, float64)
    for k in range(cuda.grid(1), slots.shape[0], cuda.gridsize(1)):
        s = slots[k]
        start = offsets[s]
        _object_sums(ids, dist2, 0, 0, pixels, start, offsets[s + 1] - start, r0[k], c0[k],
                     ybar[k], xbar[k], out, k, values, histogram, stack_start, stack_n,
                     stack_stage, partial)
