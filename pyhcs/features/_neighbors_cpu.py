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
- :func:`expand_labels_cpu`: "Expand until adjacent", every background pixel given its
  nearest object's number exactly as scipy's feature transform picks it; parallel over
  column blocks, then over rows.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from .. import _numba_cache
from ._neighbors_math import PAIR_CACHE, build
from ._zernike_cpu import _add, _mul

_numba_cache.register()  # cached kernels also depend on the shared helper module

is_outline, touches, segment_pairs, nearest_three, _, expand_row = build(
    _mul, _add, njit(inline="always"))

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


@njit(parallel=True, cache=True)
def expand_labels_cpu(numbers, column_block, expanded):
    """Every pixel takes the number of its nearest labelled pixel: ``expanded`` equals
    ``numbers[tuple(scipy.ndimage.distance_transform_edt(numbers == 0,
    return_distances=False, return_indices=True))]`` exactly, ties included.

    The feature transform is scipy's (Maurer, Qi and Raghavan 2003), in exact integer
    arithmetic (scipy's float64 products of pixel coordinates are exact too while a side is
    below 2 ** 17 pixels), with its two tie rules:

    1. along every column, the nearest labelled row, the upper one of two at equal distance;
    2. along every row, the lower envelope of the parabolas of those column sites, a middle
       site kept unless strictly hidden (``c vR - b uR - a wR - a b c > 0`` removes it, for
       consecutive sites u, v, w with column gaps a = v - u, b = w - v, c = a + b and squared
       row offsets uR, vR, wR), then the first site of the envelope at the smallest distance.

    Parameters
    ----------
    numbers : int32 array (H, W)
        0 = background; at least one pixel is not.
    column_block : int
        Columns per work item of the column pass (a multiple of the vector width).
    expanded : int32 array (H, W)
        The output.
    """
    height, width = numbers.shape
    nearest_row = np.empty((height, width), np.int32)
    n_blocks = (width + column_block - 1) // column_block
    for block in prange(n_blocks):
        c0 = block * column_block
        c1 = min(width, c0 + column_block)
        # _neighbors_math.expand_column on a block of columns at once (vectorised): downwards
        # the last labelled row at or above, upwards the next one at or below if strictly
        # nearer
        u0 = np.uint64(c0)
        u1 = np.uint64(c1)
        first = numbers[0]
        nearest = nearest_row[0]
        for c in range(u0, u1):
            nearest[c] = 0 if first[c] != 0 else -1
        for r in range(1, height):
            here = numbers[r]
            above = nearest_row[r - 1]
            nearest = nearest_row[r]
            for c in range(u0, u1):
                nearest[c] = r if here[c] != 0 else above[c]
        below = np.full(width, -1, np.int32)  # whole rows: the same unsigned indices
        for r in range(height - 1, -1, -1):
            here = numbers[r]
            nearest = nearest_row[r]
            for c in range(u0, u1):
                if here[c] != 0:
                    below[c] = r
                b = below[c]
                a = nearest[c]
                if b >= 0 and (a < 0 or b - r < r - a):
                    nearest[c] = b
    for r in prange(height):
        site_c = np.empty(width, np.int32)
        site_r2 = np.empty(width, np.int64)
        site_number = np.empty(width, np.int32)
        expand_row(numbers, nearest_row, r, site_c, site_r2, site_number, expanded)
