"""CPU kernels for co-occurrence matrices and per-object Haralick features (numba)."""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from .. import _numba_cache
from . import _haralick_math as math_

_numba_cache.register()

_shared = math_.compile_with(njit)
_haralick_rows = _shared.haralick_rows

# Object rows are dealt round-robin to this many chunks (each allocates its scratch once);
# a fixed number, so results never depend on the thread count.
_N_CHUNKS = 256


_CSR_BANDS = 16  # fixed, so the pixel order never depends on the thread count


@njit(parallel=True, cache=True)
def pixels_by_object(ids, n_slots):
    """Pixel flat indices grouped by slot (raster order within a slot): a counting sort.

    Parallel over ``_CSR_BANDS`` contiguous bands of pixels: each band counts its slots, the
    counts give every (slot, band) its start, and each band scatters its pixels there, so the
    pixels of a slot stay in raster order.

    Parameters
    ----------
    ids : int32 array (N,)
        Slot of every pixel, 0 = background.
    n_slots : int

    Returns
    -------
    area : int64 array (n_slots,)
        Pixel count of every slot (0 for the background slot 0, which is not counted).
    offsets : int64 array (n_slots + 1,)
        Slot s owns ``pixels[offsets[s]:offsets[s + 1]]``; slot 0 (background) owns nothing.
    pixels : int64 array (sum of area[1:],)
    """
    n = ids.shape[0]
    n_bands = _CSR_BANDS if n >= 1 << 16 else 1
    band_size = (n + n_bands - 1) // n_bands
    band_counts = np.zeros((n_bands, n_slots), np.int64)
    for band in prange(n_bands):
        for p in range(band * band_size, min(n, (band + 1) * band_size)):
            s = ids[p]
            if s != 0:  # skipping the background avoids a chain of updates to one counter
                band_counts[band, s] += 1
    area = np.zeros(n_slots, np.int64)
    offsets = np.zeros(n_slots + 1, np.int64)
    for s in range(n_slots):
        for band in range(n_bands):
            area[s] += band_counts[band, s]
        if s > 0:
            offsets[s + 1] = offsets[s] + area[s]
    cursors = np.empty((n_bands, n_slots), np.int64)  # where each band writes each slot
    for s in range(1, n_slots):
        position = offsets[s]
        for band in range(n_bands):
            cursors[band, s] = position
            position += band_counts[band, s]
    pixels = np.empty(offsets[n_slots], np.int64)
    for band in prange(n_bands):
        for p in range(band * band_size, min(n, (band + 1) * band_size)):
            s = ids[p]
            if s != 0:
                pixels[cursors[band, s]] = p
                cursors[band, s] += 1
    return area, offsets, pixels


@njit(parallel=True, cache=True)
def haralick_cpu(
    row_slots, offsets, pixels, ids, levels, directions, scale, depth, height, width,
    ignore_zeros, entropy_scale, true_difference_variance, split_directions, n_levels_bound,
):
    """Haralick features of every (object row, direction).

    One work item is one object row with all its directions (one pass over its pixels), or,
    with ``split_directions`` (few large objects, e.g. whole-image texture), one (row,
    direction), so that the directions run in parallel. Each chunk of items owns its scratch,
    sized for its largest object. Every direction's result is the same either way.
    ``n_levels_bound`` (the image's max level + 1) sizes the dense count tables.

    Returns
    -------
    features : float64 array (n_rows * n_directions, 13)
    empty : int8 array (n_rows * n_directions,)
        1 where the direction has no valid pair.
    """
    n_directions = directions.shape[0]
    n_rows = row_slots.shape[0]
    features = np.empty((n_rows * n_directions, math_.N_FEATURES), np.float64)
    empty = np.zeros(n_rows * n_directions, np.int8)
    per_item = 1 if split_directions else n_directions
    n_items = n_rows * (n_directions // per_item)
    n_chunks = min(n_items, _N_CHUNKS)
    for chunk in prange(n_chunks):
        largest = 0
        for item in range(chunk, n_items, n_chunks):
            slot = row_slots[item * per_item // n_directions]
            largest = max(largest, offsets[slot + 1] - offsets[slot])
        codes = np.empty(max(1, largest * per_item), np.int32)
        scratch = np.empty_like(codes)
        dense = np.zeros(n_levels_bound * n_levels_bound, np.int32)
        n_pairs = np.empty(math_.MAX_DIRECTIONS, np.int64)
        bucket = np.empty(math_.MAX_LEVELS, np.int64)
        px = np.empty(math_.MAX_LEVELS, np.float64)
        p_sum = np.empty(2 * math_.MAX_LEVELS, np.float64)
        p_diff = np.empty(math_.MAX_LEVELS, np.float64)
        nonzero = np.empty(math_.MAX_LEVELS, np.int64)
        for item in range(chunk, n_items, n_chunks):
            row = item * per_item // n_directions
            d_begin = item * per_item - row * n_directions
            _haralick_rows(
                row, d_begin, d_begin + per_item, n_directions, row_slots, offsets, pixels,
                ids, levels, directions, scale, depth, height, width, ignore_zeros,
                entropy_scale, true_difference_variance, codes, scratch, 0, dense, True,
                n_pairs, bucket, px, p_sum, p_diff, nonzero, features, empty,
            )
    return features, empty


@njit(parallel=True, cache=True)
def glcm_cpu(images, offsets, levels):
    """Co-occurrence counts P[b, k, i, j] = #{(r, c): I_b[r, c] = i, I_b[r + dr_k, c + dc_k] = j}.

    Parameters
    ----------
    images : uint8, uint16 or int32 array (B, H, W), values in [0, levels)
    offsets : int64 array (K, 2)
        (dr, dc) of every (distance, angle) combination.
    levels : int

    Returns
    -------
    uint32 array (B, K, levels, levels)
    """
    n_images, height, width = images.shape
    n_offsets = offsets.shape[0]
    counts = np.zeros((n_images, n_offsets, levels, levels), np.uint32)
    for task in prange(n_images * n_offsets):
        b = task // n_offsets
        k = task - b * n_offsets
        dr = offsets[k, 0]
        dc = offsets[k, 1]
        table = counts[b, k]
        image = images[b]
        for r in range(max(0, -dr), min(height, height - dr)):
            row = image[r]
            partner = image[r + dr]
            for c in range(max(0, -dc), min(width, width - dc)):
                table[row[c], partner[c + dc]] += 1
    return counts
