"""GPU kernels of MeasureObjectNeighbors (numba CUDA, grid-stride loops).

Same work split as :mod:`pyhcs.features._neighbors_cpu`: one work item per row segment of
``SEGMENT`` pixels counts the outline and touching pixels of its objects (integer atomics, so
the counts are exact and order-free) and its (object, neighbour) pairs; a second launch writes
the pairs where the scan of the counts says; one thread per object finds its three nearest
centres. Launchers pass int32 label images, int32 half-width tables, int64 outputs and float64
centres, C-contiguous.
"""

from __future__ import annotations

from numba import cuda, int64, uint8

from .. import _gpu_rounding as rounding
from .._backend import gpu_kernel
from ._neighbors_math import PAIR_CACHE, build

is_outline, touches, segment_pairs, nearest_three, expand_column, expand_row = build(
    rounding.mul, rounding.add, cuda.jit(device=True)
)

SEGMENT = 64


@gpu_kernel(
    "void(int32[:, ::1], int32[:, ::1], int32[::1], int32[::1], int64, int64, uint8[:, ::1],"
    " int64[::1], int64[::1], int64[::1])"
)
def boundary_counts_gpu(labels, neighbor_labels, half_pairs, half_touch, stride, segment, edge,
                        perimeter, touching, segment_counts):
    """``perimeter``/``touching`` (zeroed by the launcher), ``edge`` (zeroed) and
    ``segment_counts`` as :func:`pyhcs.features._neighbors_cpu.boundary_counts_cpu` computes
    them."""
    height = labels.shape[0]
    width = labels.shape[1]
    per_row = (width + segment - 1) // segment
    n_work = height * per_row
    cache = cuda.local.array(PAIR_CACHE, int64)
    no_keys = cuda.local.array(1, int64)
    for work in range(cuda.grid(1), n_work, cuda.gridsize(1)):
        r = work // per_row
        c_begin = (work - r * per_row) * segment
        c_end = min(width, c_begin + segment)
        for c in range(c_begin, c_end):
            a = labels[r, c]
            if a != 0 and is_outline(labels, r, c, a):
                cuda.atomic.add(perimeter, a, int64(1))
                if touches(labels, r, c, a, half_touch):
                    cuda.atomic.add(touching, a, int64(1))
                    edge[r, c] = uint8(2)
                else:
                    edge[r, c] = uint8(1)
        segment_counts[work] = segment_pairs(labels, neighbor_labels, edge, r, c_begin, c_end,
                                             half_pairs, stride, cache, False, no_keys, 0)


@gpu_kernel(
    "void(int32[:, ::1], int32[:, ::1], uint8[:, ::1], int32[::1], int64, int64, int64[::1],"
    " int64[::1], int64[::1])"
)
def emit_pairs_gpu(labels, neighbor_labels, edge, half_pairs, stride, segment, segment_counts,
                   segment_starts, keys):
    """The pairs of every segment with any at ``keys[segment_starts[q]:]``."""
    height = labels.shape[0]
    width = labels.shape[1]
    per_row = (width + segment - 1) // segment
    n_work = height * per_row
    cache = cuda.local.array(PAIR_CACHE, int64)
    for work in range(cuda.grid(1), n_work, cuda.gridsize(1)):
        if segment_counts[work] == 0:
            continue
        r = work // per_row
        c_begin = (work - r * per_row) * segment
        segment_pairs(labels, neighbor_labels, edge, r, c_begin, min(width, c_begin + segment),
                      half_pairs, stride, cache, True, keys, segment_starts[work])


@gpu_kernel("void(float64[::1], float64[::1], float64[::1], float64[::1], int64[:, ::1])")
def nearest_three_gpu(o_r, o_c, n_r, n_c, order):
    """``order[i, 0:3]`` as :func:`pyhcs.features._neighbors_cpu.nearest_three_cpu`."""
    for i in range(cuda.grid(1), o_r.shape[0], cuda.gridsize(1)):
        nearest_three(i, o_r, o_c, n_r, n_c, order)


@gpu_kernel("void(int32[:, ::1], int32[:, ::1])")
def expand_columns_gpu(numbers, nearest_row):
    """The column pass of :func:`pyhcs.features._neighbors_cpu.expand_labels_cpu`: one thread
    per column (adjacent threads read adjacent pixels)."""
    for c in range(cuda.grid(1), numbers.shape[1], cuda.gridsize(1)):
        expand_column(numbers, nearest_row, c)


@gpu_kernel("void(int32[:, ::1], int32[:, ::1], int32[:, ::1], int64[:, ::1], int32[:, ::1],"
            " int32[:, ::1])")
def expand_rows_gpu(numbers, nearest_row, site_c, site_r2, site_number, expanded):
    """The row pass of :func:`pyhcs.features._neighbors_cpu.expand_labels_cpu`: one thread
    per row, its envelope in row ``r`` of the (H, W) ``site_*`` workspaces."""
    for r in range(cuda.grid(1), numbers.shape[0], cuda.gridsize(1)):
        expand_row(numbers, nearest_row, r, site_c[r], site_r2[r], site_number[r], expanded)
