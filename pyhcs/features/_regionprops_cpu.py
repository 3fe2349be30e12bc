"""CPU kernel for per-object region properties (numba, parallel over row bands)."""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from .. import _numba_cache

_numba_cache.register()

# Bytes of band-partial accumulators per slot: 3 int64 + 4 int32 + 3 float64.
_BYTES_PER_SLOT = 3 * 8 + 4 * 4 + 3 * 8
_PARTIAL_BUDGET_BYTES = 1 << 28
_MAX_BANDS = 64
_MIN_ROWS_PER_BAND = 16


def rows_per_band(height: int, n_slots: int) -> int:
    """Rows per band for :func:`accumulate_cpu`.

    Depends only on the image height and the slot count, never on the number of threads, so
    float sums are added in the same order on every machine.
    """
    by_memory = max(1, _PARTIAL_BUDGET_BYTES // (_BYTES_PER_SLOT * max(n_slots, 1)))
    n_bands = max(1, min(_MAX_BANDS, -(-height // _MIN_ROWS_PER_BAND), by_memory))
    return max(1, -(-height // n_bands))


@njit(parallel=True, cache=True)
def accumulate_cpu(ids, image, with_image, n_slots, band_rows):
    """Per-slot pixel count, coordinate sums, bounding box and intensity sum/min/max.

    Each band of ``band_rows`` rows accumulates into its own partial buffers (no atomics);
    the partials are then reduced per slot in band order.

    Parameters
    ----------
    ids : int32 array (H, W)
        Slot of each pixel, 0 = background (skipped).
    image : uint8, uint16, float32 or float64 array (H, W), or (1, 1) when ``with_image`` is False
        Read as float64.
    with_image : bool
    n_slots : int
    band_rows : int

    Returns
    -------
    area, sum_r, sum_c : int64 arrays (n_slots,)
    min_r, min_c, max_r, max_c : int32 arrays (n_slots,)
        Inclusive bounding box; untouched slots keep (INT32_MAX, INT32_MAX, -1, -1).
    isum, imin, imax : float64 arrays (n_slots,)
        Untouched slots keep (0, +inf, -inf).
    """
    height, width = ids.shape
    n_bands = (height + band_rows - 1) // band_rows
    big = np.int32(2147483647)
    p_area = np.zeros((n_bands, n_slots), np.int64)
    p_sum_r = np.zeros((n_bands, n_slots), np.int64)
    p_sum_c = np.zeros((n_bands, n_slots), np.int64)
    p_min_r = np.full((n_bands, n_slots), big, np.int32)
    p_min_c = np.full((n_bands, n_slots), big, np.int32)
    p_max_r = np.full((n_bands, n_slots), np.int32(-1), np.int32)
    p_max_c = np.full((n_bands, n_slots), np.int32(-1), np.int32)
    p_isum = np.zeros((n_bands, n_slots), np.float64)
    p_imin = np.full((n_bands, n_slots), np.inf, np.float64)
    p_imax = np.full((n_bands, n_slots), -np.inf, np.float64)
    for band in prange(n_bands):
        r_end = min(height, (band + 1) * band_rows)
        for r in range(band * band_rows, r_end):
            for c in range(width):
                s = ids[r, c]
                if s == 0:
                    continue
                p_area[band, s] += 1
                p_sum_r[band, s] += r
                p_sum_c[band, s] += c
                if r < p_min_r[band, s]:
                    p_min_r[band, s] = r
                if r > p_max_r[band, s]:
                    p_max_r[band, s] = r
                if c < p_min_c[band, s]:
                    p_min_c[band, s] = c
                if c > p_max_c[band, s]:
                    p_max_c[band, s] = c
                if with_image:
                    v = np.float64(image[r, c])
                    p_isum[band, s] += v
                    if v < p_imin[band, s]:
                        p_imin[band, s] = v
                    if v > p_imax[band, s]:
                        p_imax[band, s] = v

    area = np.zeros(n_slots, np.int64)
    sum_r = np.zeros(n_slots, np.int64)
    sum_c = np.zeros(n_slots, np.int64)
    min_r = np.full(n_slots, big, np.int32)
    min_c = np.full(n_slots, big, np.int32)
    max_r = np.full(n_slots, np.int32(-1), np.int32)
    max_c = np.full(n_slots, np.int32(-1), np.int32)
    isum = np.zeros(n_slots, np.float64)
    imin = np.full(n_slots, np.inf, np.float64)
    imax = np.full(n_slots, -np.inf, np.float64)
    for s in prange(n_slots):
        for band in range(n_bands):
            if p_area[band, s] == 0:
                continue
            area[s] += p_area[band, s]
            sum_r[s] += p_sum_r[band, s]
            sum_c[s] += p_sum_c[band, s]
            min_r[s] = min(min_r[s], p_min_r[band, s])
            min_c[s] = min(min_c[s], p_min_c[band, s])
            max_r[s] = max(max_r[s], p_max_r[band, s])
            max_c[s] = max(max_c[s], p_max_c[band, s])
            isum[s] += p_isum[band, s]
            imin[s] = min(imin[s], p_imin[band, s])
            imax[s] = max(imax[s], p_imax[band, s])
    return area, sum_r, sum_c, min_r, min_c, max_r, max_c, isum, imin, imax
