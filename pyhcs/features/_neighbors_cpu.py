"""CPU kernels of MeasureObjectNeighbors (numba, parallel, no atomics).

Labels here are *object numbers*: 0 = background, 1..N = the present labels in ascending order.

- :func:`boundary_counts_cpu`: per object, the outline pixel count (centrosome's outline) and
  how many of them touch another object within the touching disk; per row segment, the number
  of (object, neighbour) pairs it emits. Parallel over bands of rows, each band with its own
  partial counts (results independent of the thread count).
- :func:`emit_pairs_cpu`: writes the pairs (same rule, same order) where the exclusive scan of
  the segment counts says, visiting only the segments that have any; parallel over rows.
- :func:`nearest_three_cpu`: the three nearest centres of every object (stable order),
  parallel over objects, one thread scanning all centres.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from .. import _numba_cache
from ._neighbors_math import PAIR_CACHE, build
from ._zernike_cpu import _add, _mul

_numba_cache.register()  # cached kernels also depend on the shared helper module

is_outline, touches, segment_pairs, nearest_three = build(_mul, _add, njit(inline="always"))

SEGMENT = 64  # pixels of a row per pair-emission work item
_MAX_BANDS = 64
_MIN_ROWS_PER_BAND = 8
_PARTIAL_BUDGET_BYTES = 1 << 28


def rows_per_band(height: int, stride: int) -> int:
    """Rows per band of :func:`boundary_counts_cpu`: a function of the image height and the
    object count only (never of the thread count)."""
    by_memory = max(1, _PARTIAL_BUDGET_BYTES // (16 * max(stride, 1)))
    n_bands = max(1, min(_MAX_BANDS, -(-height // _MIN_ROWS_PER_BAND), by_memory))
    return max(1, -(-height // n_bands))


@njit(parallel=True, cache=True)
def boundary_counts_cpu(labels, neighbor_labels, half_pairs, half_touch, stride, band_rows,
                        segment, edge, segment_counts):
    """Outline and touching counts per object, pair counts per row segment.

    Parameters
    ----------
    labels : int32 array (H, W)
        Working object numbers E (0 = background).
    neighbor_labels : int32 array (H, W)
        Object numbers whose pairs are counted (E itself, or the unexpanded labels).
    half_pairs, half_touch : int32 arrays (2 R + 1,)
        Half-width tables of the neighbour disk S_d and the touching disk S_{d+0.5}.
    stride : int
        N + 1 (object numbers are below it).
    band_rows, segment : int
    edge : uint8 array (H, W), zeroed, written
        1 on outline pixels, 2 on outline pixels touching another object.
    segment_counts : int64 array (H * ceil(W / segment),), written
        Pairs emitted by each segment (row-major).

    Returns
    -------
    perimeter, touching : int64 arrays (stride,)
    """
    height, width = labels.shape
    n_bands = (height + band_rows - 1) // band_rows
    per_row = (width + segment - 1) // segment
    p_perimeter = np.zeros((n_bands, stride), np.int64)
    p_touching = np.zeros((n_bands, stride), np.int64)
    for band_index in prange(n_bands):
        band = np.int64(band_index)  # prange indices can be unsigned
        cache = np.empty(PAIR_CACHE, np.int64)
        no_keys = np.empty(1, np.int64)
        for r in range(band * band_rows, min(height, (band + 1) * band_rows)):
            for c in range(width):
                a = labels[r, c]
                if a != 0 and is_outline(labels, r, c, a):
                    p_perimeter[band, a] += 1
                    if touches(labels, r, c, a, half_touch):
                        p_touching[band, a] += 1
                        edge[r, c] = 2
                    else:
                        edge[r, c] = 1
            for k in range(per_row):
                c_begin = k * segment
                segment_counts[r * per_row + k] = segment_pairs(
                    labels, neighbor_labels, edge, r, c_begin, min(width, c_begin + segment),
                    half_pairs, stride, cache, False, no_keys, 0)
    perimeter = np.zeros(stride, np.int64)
    touching = np.zeros(stride, np.int64)
    for s in prange(stride):
        for band in range(n_bands):
            perimeter[s] += p_perimeter[band, s]
            touching[s] += p_touching[band, s]
    return perimeter, touching


@njit(parallel=True, cache=True)
def emit_pairs_cpu(labels, neighbor_labels, edge, half_pairs, stride, segment, segment_counts,
                   segment_starts, keys):
    """Write every segment's pairs at ``keys[segment_starts[q]:]`` (q = row-major segment);
    segments without pairs are skipped."""
    height, width = labels.shape
    per_row = (width + segment - 1) // segment
    for row in prange(height):
        r = np.int64(row)  # prange indices can be unsigned
        cache = np.empty(PAIR_CACHE, np.int64)
        for k in range(per_row):
            q = r * per_row + k
            if segment_counts[q] == 0:
                continue
            c_begin = k * segment
            segment_pairs(labels, neighbor_labels, edge, r, c_begin,
                          min(width, c_begin + segment), half_pairs, stride, cache, True, keys,
                          segment_starts[q])


@njit(parallel=True, cache=True)
def nearest_three_cpu(o_r, o_c, n_r, n_c, order):
    """``order[i, 0:3]``: positions 0..2 of the stable sort of object i's distance row
    ``|o_i - n_j|`` (-1 where fewer than three)."""
    for i in prange(o_r.shape[0]):
        nearest_three(np.int64(i), o_r, o_c, n_r, n_c, order)
