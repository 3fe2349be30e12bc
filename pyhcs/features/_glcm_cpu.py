"""CPU kernels for co-occurrence matrices and per-object Haralick features (numba)."""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from .. import _numba_cache
from . import _haralick_math as math_

_numba_cache.register()

_shared = math_.compile_with(njit)
_haralick_rows = _shared.haralick_rows
_haralick_from_entries = _shared.haralick_from_entries
_sort_codes = _shared.sort_codes
_run_length = _shared.run_length
_raster_step = _shared.raster_step

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


_DENSE_FACTOR = 16  # count in a dense table when (levels spanned + 1)^2 <= this * pixels
_CROP_FACTOR = 64  # a padded bounding box larger than this * area (+ _CROP_SLACK): no crop
_CROP_SLACK = 1 << 16
_WINDOW_SLACK = 1 << 20  # a 2-D window of whole lines: larger, as only its object is touched


@njit(cache=True)
def _object_levels(pixels, start, stop, levels):
    """``(max_level, min_level, n_nonzero)`` of one object's pixels, as :func:`_object_extent`."""
    max_level = np.int64(0)
    min_level = np.int64(256)
    n_nonzero = np.int64(0)
    for k in range(start, stop):
        a = np.int64(levels[pixels[k]])
        max_level = max(max_level, a)
        if a != 0:
            min_level = min(min_level, a)
            n_nonzero += 1
    return max_level, min_level, n_nonzero


@njit(cache=True)
def _object_extent(pixels, start, stop, levels, height, width):
    """Bounding box and levels of one object's pixels (``pixels[start:stop]``, raster order).

    Returns
    -------
    z0, z1, r0, r1, c0, c1 : int64
        Inclusive bounds of the pixels' coordinates.
    max_level : int64
        The largest level over all the pixels (mahotas' GLCM size - 1).
    min_level : int64
        The smallest non-zero level (256 when every level is 0).
    n_nonzero : int64
        Pixels with a non-zero level.
    """
    plane = height * width
    z0 = r0 = c0 = np.int64(1) << 62
    z1 = r1 = c1 = np.int64(-1)
    max_level = np.int64(0)
    min_level = np.int64(256)
    n_nonzero = np.int64(0)
    z = np.int64(0)
    r = np.int64(0)
    for k in range(start, stop):
        p = np.int64(pixels[k])
        z, r, c = _raster_step(p, z, r, plane, width)
        z0 = min(z0, z)
        z1 = max(z1, z)
        r0 = min(r0, r)
        r1 = max(r1, r)
        c0 = min(c0, c)
        c1 = max(c1, c)
        a = np.int64(levels[p])
        max_level = max(max_level, a)
        if a != 0:
            min_level = min(min_level, a)
            n_nonzero += 1
    return z0, z1, r0, r1, c0, c1, max_level, min_level, n_nonzero


@njit(cache=True)
def _haralick_chunk(
    chunk, n_chunks, row_slots, offsets, pixels, ids, levels, directions, scale, depth, height,
    width, entropy_scale, true_difference_variance, pad_z, pad_r, pad_c, features, empty,
):
    """The object rows ``chunk, chunk + n_chunks, ...`` of :func:`haralick_objects_cpu`.

    A plain (serial) function, so its buffers can grow as its objects need.
    """
    n_directions = directions.shape[0]
    n_rows = row_slots.shape[0]
    crop = np.zeros(0, np.uint8)  # all zero between objects
    table = np.zeros(0, np.int32)  # all zero between objects
    local = np.empty(0, np.int64)
    codes = np.empty(0, np.int32)
    counts = np.empty(0, np.int32)
    no_dense = np.zeros(1, np.int32)
    partner = np.empty(n_directions, np.int64)
    n_pairs = np.empty(math_.MAX_DIRECTIONS, np.int64)
    bucket = np.empty(math_.MAX_LEVELS, np.int64)
    px = np.empty(math_.MAX_LEVELS, np.float64)
    p_sum = np.empty(2 * math_.MAX_LEVELS, np.float64)
    p_diff = np.empty(math_.MAX_LEVELS, np.float64)
    nonzero = np.empty(math_.MAX_LEVELS, np.int64)
    for row in range(chunk, n_rows, n_chunks):
        slot = row_slots[row]
        start = offsets[slot]
        stop = offsets[slot + 1]
        area = stop - start
        first = row * n_directions
        n_nonzero = np.int64(0)
        window = area > 0 and depth == 1 and pad_z == 0
        if window:
            # 2-D: a window of whole image lines, padded, so that a pixel's place in the crop
            # is its flat index plus a shift per line: one pass, without columns
            r0 = np.int64(pixels[start]) // width
            r1 = np.int64(pixels[stop - 1]) // width
            box_r = r1 - r0 + 1 + 2 * pad_r
            box_c = width + 2 * pad_c
            box = box_r * box_c
            window = box <= _CROP_FACTOR * area + _WINDOW_SLACK
        if window:
            if crop.size < box:
                crop = np.zeros(box, np.uint8)
            if local.size < area:
                local = np.empty(area, np.int64)
            max_level = np.int64(0)
            min_level = np.int64(256)
            line_end = np.int64(0)
            to_crop = np.int64(0)
            for k in range(start, stop):
                p = np.int64(pixels[k])
                if p >= line_end:
                    r = p // width
                    line_end = (r + 1) * width
                    to_crop = (r - r0 + pad_r) * box_c + pad_c - r * width
                a = np.int64(levels[p])
                max_level = max(max_level, a)
                if a != 0:
                    min_level = min(min_level, a)
                    at = p + to_crop  # (r - r0 + pad_r) * box_c + c + pad_c
                    crop[at] = np.uint8(a)
                    local[n_nonzero] = at
                    n_nonzero += 1
        elif area > 0:
            z0, z1, r0, r1, c0, c1, max_level, min_level, n_nonzero = _object_extent(
                pixels, start, stop, levels, height, width
            )
            box_r = r1 - r0 + 1 + 2 * pad_r
            box_c = c1 - c0 + 1 + 2 * pad_c
            box = (z1 - z0 + 1 + 2 * pad_z) * box_r * box_c
        if n_nonzero == 0:  # no pixel, or every level 0: no pair in any direction
            for d in range(n_directions):
                empty[first + d] = 1
                for f in range(math_.N_FEATURES):
                    features[first + d, f] = math.nan
            continue
        n_levels = max_level + 1
        if not window and box > _CROP_FACTOR * area + _CROP_SLACK:
            if codes.size < area * n_directions:
                codes = np.empty(area * n_directions, np.int32)
                counts = np.empty(area * n_directions, np.int32)
            _haralick_rows(
                row, 0, n_directions, n_directions, row_slots, offsets, pixels, ids,
                levels, directions, scale, depth, height, width, True, entropy_scale,
                true_difference_variance, codes, counts, 0, no_dense, False, n_pairs,
                bucket, px, p_sum, p_diff, nonzero, features, empty,
            )
            continue
        if not window:  # the padded bounding box (3-D, or lines far apart)
            if crop.size < box:
                crop = np.zeros(box, np.uint8)
            if local.size < n_nonzero:
                local = np.empty(n_nonzero, np.int64)
            plane = height * width
            z = np.int64(0)
            r = np.int64(0)
            n_local = np.int64(0)
            for k in range(start, stop):
                p = np.int64(pixels[k])
                z, r, c = _raster_step(p, z, r, plane, width)
                a = np.int64(levels[p])
                if a != 0:
                    at = ((z - z0 + pad_z) * box_r + (r - r0 + pad_r)) * box_c + (c - c0 + pad_c)
                    crop[at] = np.uint8(a)
                    local[n_local] = at
                    n_local += 1
        n_local = n_nonzero
        if codes.size < n_nonzero * n_directions:
            codes = np.empty(n_nonzero * n_directions, np.int32)
            counts = np.empty(n_nonzero * n_directions, np.int32)
        # dense tables: levels min_level.. shifted to 1.., row 0 for the pairs with a level 0
        shift = min_level - 1
        side = n_levels - shift
        cells = side * side
        dense = cells <= _DENSE_FACTOR * n_nonzero
        if dense and table.size < cells * n_directions:
            table = np.zeros(cells * n_directions, np.int32)
        for d in range(n_directions):
            partner[d] = (
                (directions[d, 0] * box_r + directions[d, 1]) * box_c + directions[d, 2]
            ) * scale
        if dense and n_directions == 4:  # 2-D: the four directions unrolled
            q0 = partner[0]
            q1 = partner[1]
            q2 = partner[2]
            q3 = partner[3]
            t1 = cells
            t2 = 2 * cells
            t3 = 3 * cells
            for k in range(n_local):
                at = local[k]
                a = np.int64(crop[at])
                b0 = np.int64(crop[at + q0])
                b1 = np.int64(crop[at + q1])
                b2 = np.int64(crop[at + q2])
                b3 = np.int64(crop[at + q3])
                # (min - shift) is <= 0 only for a partner at level 0: row 0
                table[max(min(a, b0) - shift, 0) * side + max(a, b0) - shift] += 1
                table[t1 + max(min(a, b1) - shift, 0) * side + max(a, b1) - shift] += 1
                table[t2 + max(min(a, b2) - shift, 0) * side + max(a, b2) - shift] += 1
                table[t3 + max(min(a, b3) - shift, 0) * side + max(a, b3) - shift] += 1
        elif dense:
            for k in range(n_local):
                at = local[k]
                a = np.int64(crop[at])
                for d in range(n_directions):
                    b = np.int64(crop[at + partner[d]])
                    table[d * cells + max(min(a, b) - shift, 0) * side + max(a, b) - shift] += 1
        else:
            for d in range(n_directions):
                n_pairs[d] = 0
            for k in range(n_local):
                at = local[k]
                a = np.int64(crop[at])
                for d in range(n_directions):
                    b = np.int64(crop[at + partner[d]])
                    if b != 0:
                        position = d * n_nonzero + n_pairs[d]
                        if a <= b:
                            codes[position] = np.int32((a << math_.CODE_SHIFT) | b)
                        else:
                            codes[position] = np.int32((b << math_.CODE_SHIFT) | a)
                        n_pairs[d] += 1
        for k in range(n_local):
            crop[local[k]] = 0
        for d in range(n_directions):
            item = first + d
            base = d * n_nonzero
            if dense:
                # read off (and clear) the upper triangle in ascending (i, j) order;
                # row 0 holds the pairs with a level-0 partner
                at = d * cells
                for j in range(side):
                    table[at + j] = 0
                n_unique = np.int64(0)
                count = np.int64(0)
                for i in range(1, side):
                    code_i = (i + shift) << math_.CODE_SHIFT
                    row_at = at + i * side
                    for j in range(i, side):
                        m = table[row_at + j]
                        if m != 0:
                            codes[base + n_unique] = np.int32(code_i | (j + shift))
                            counts[base + n_unique] = m
                            table[row_at + j] = 0
                            n_unique += 1
                            count += m
            else:
                count = n_pairs[d]
                n_unique = np.int64(0)
                if count != 0:
                    _sort_codes(codes, counts, base, count, n_levels, bucket)
                    n_unique = _run_length(codes, counts, base, count)
            if count == 0:
                empty[item] = 1
                for f in range(math_.N_FEATURES):
                    features[item, f] = math.nan
                continue
            _haralick_from_entries(
                codes, counts, base, n_unique, count, n_levels, entropy_scale,
                true_difference_variance, px, p_sum, p_diff, nonzero, features, item,
            )


@njit(parallel=True, cache=True)
def haralick_objects_cpu(
    row_slots, offsets, pixels, ids, levels, directions, scale, depth, height, width,
    entropy_scale, true_difference_variance, n_chunks,
):
    """Haralick features of every (object row, direction), level 0 dropped (CellProfiler).

    The same features as :func:`haralick_cpu` with ``ignore_zeros=True``, bit for bit: each
    direction gets the same sorted (i, j, count) entries, reduced by the same
    :func:`_haralick_math.haralick_from_entries`. Per object:

    1. its non-zero levels are written into a crop that is zero elsewhere, padded by
       ``scale`` on every axis that a direction moves along, so that a partner outside the
       image, outside the object or at level 0 reads 0, without bounds or label checks. In
       2-D the crop is a window of whole image lines (its lines ``(width + 2 pad)`` long),
       filled in the same pass that finds the object's level range; in 3-D (or when such a
       window would be huge) it is the object's padded bounding box, found first;
    2. every non-zero pixel counts its partners in all the directions in one pass: into one
       dense table per direction indexed by (min, max) of the two levels relative to the
       object's lowest level (a pair with a 0 falls into row 0, never read), when the levels
       spanned are few; otherwise as canonical codes ``i << 8 | j``, sorted as on the GPU;
    3. the dense tables are read off (and cleared) in ascending (i, j) order, the sorted
       order; only the pixels written are cleared from the crop.

    Objects whose padded box is much larger than their area (pieces far apart) take
    :func:`_haralick_math.haralick_rows` instead, which needs no crop. Objects are dealt
    round-robin to ``n_chunks`` chunks (a few per thread: each zeroes its crop once); each
    grows its buffers as its objects need. Objects are independent, so the results do not
    depend on ``n_chunks`` or the threads.

    Returns
    -------
    features : float64 array (n_rows * n_directions, 13)
    empty : int8 array (n_rows * n_directions,)
        1 where the direction has no valid pair (its features are NaN).
    """
    n_directions = directions.shape[0]
    n_rows = row_slots.shape[0]
    features = np.empty((n_rows * n_directions, math_.N_FEATURES), np.float64)
    empty = np.zeros(n_rows * n_directions, np.int8)
    pad_z = np.int64(0)
    pad_r = np.int64(0)
    pad_c = np.int64(0)
    for d in range(n_directions):
        pad_z = max(pad_z, abs(directions[d, 0]) * scale)
        pad_r = max(pad_r, abs(directions[d, 1]) * scale)
        pad_c = max(pad_c, abs(directions[d, 2]) * scale)
    n_chunks = max(1, min(n_rows, n_chunks))
    for chunk in prange(n_chunks):
        _haralick_chunk(
            chunk, n_chunks, row_slots, offsets, pixels, ids, levels, directions, scale, depth,
            height, width, entropy_scale, true_difference_variance, pad_z, pad_r, pad_c,
            features, empty,
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


_WHOLE_BANDS = 8  # at most this many row bands, each with its own count tables


@njit(parallel=True, cache=True)
def haralick_whole_cpu(levels, directions, scale, entropy_scale, true_difference_variance):
    """Whole-image Haralick features: every pixel is one object, level 0 counted.

    The same features as :func:`haralick_cpu` with one object holding every pixel and
    ``ignore_zeros=False``, bit for bit, through dense per-direction count tables: bands of
    rows count their pairs (a, b) into their own L x L tables (L = the image's max level + 1,
    mahotas' Ng), the tables are summed (integers: the totals do not depend on the bands or
    the threads), and each direction's canonical entries (i <= j, count C[i, j] + C[j, i], or
    C[i, i] on the diagonal) are read off in ascending (i, j) order, the order that
    :func:`_haralick_math.count_dense` and the sort give.

    Parameters
    ----------
    levels : uint8 array (Z, H, W), C-contiguous
        Quantised levels (Z = 1 for a 2-D image).
    directions : int64 array (D, 3)
    scale : int

    Returns
    -------
    features : float64 array (D, 13)
    empty : int8 array (D,)
        1 where the direction has no pair.
    """
    depth, height, width = levels.shape
    n_directions = directions.shape[0]
    n_lines = depth * height
    n_pixels = n_lines * width
    flat = levels.reshape(n_pixels)

    # the largest level, per band of lines
    n_max_bands = max(1, min(_WHOLE_BANDS, n_lines))
    band_lines = (n_lines + n_max_bands - 1) // n_max_bands
    band_max = np.zeros(n_max_bands, np.int64)
    for band in prange(n_max_bands):
        top = 0
        for p in range(band * band_lines * width, min(n_pixels, (band + 1) * band_lines * width)):
            v = flat[p]
            if v > top:
                top = v
        band_max[band] = top
    n_levels = np.int64(band_max.max() + 1)
    cells = n_levels * n_levels

    # pair counts per band of lines: more bands than the pixels can pay for would cost more
    # to sum than to count
    n_bands = max(1, min(_WHOLE_BANDS, n_lines, n_pixels // max(1, n_directions * cells)))
    band_lines = (n_lines + n_bands - 1) // n_bands
    tables = np.zeros((n_bands, n_directions * cells), np.int32)
    for band in prange(n_bands):
        table = tables[band]
        live = np.empty(n_directions, np.int64)  # the directions with a partner line
        partner_at = np.empty(n_directions, np.int64)  # partner of column c: partner_at + c
        column_lo = np.empty(n_directions, np.int64)
        column_hi = np.empty(n_directions, np.int64)
        for line in range(band * band_lines, min(n_lines, (band + 1) * band_lines)):
            z = line // height
            r = line - z * height
            row_at = line * width
            n_live = 0
            inner_lo = np.int64(0)
            inner_hi = np.int64(width)
            for d in range(n_directions):
                z2 = z + directions[d, 0] * scale
                r2 = r + directions[d, 1] * scale
                dc = directions[d, 2] * scale
                if z2 < 0 or z2 >= depth or r2 < 0 or r2 >= height:
                    continue
                live[n_live] = d
                partner_at[n_live] = (z2 * height + r2) * width + dc
                column_lo[n_live] = max(0, -dc)
                column_hi[n_live] = min(width, width - dc)
                inner_lo = max(inner_lo, column_lo[n_live])
                inner_hi = min(inner_hi, column_hi[n_live])
                n_live += 1
            if n_live == 0:
                continue
            inner_hi = max(inner_lo, inner_hi)
            # the columns every live direction pairs: four directions per pixel, so that
            # consecutive updates go to different tables (a run of equal pairs in one table
            # would be a chain of dependent increments)
            n_grouped = n_live - n_live % 4
            for group in range(0, n_grouped, 4):  # four directions per pass, unrolled
                t0 = live[group] * cells
                t1 = live[group + 1] * cells
                t2 = live[group + 2] * cells
                t3 = live[group + 3] * cells
                q0 = partner_at[group]
                q1 = partner_at[group + 1]
                q2 = partner_at[group + 2]
                q3 = partner_at[group + 3]
                for c in range(inner_lo, inner_hi):
                    a_at = np.int64(flat[row_at + c]) * n_levels
                    table[t0 + a_at + np.int64(flat[q0 + c])] += 1
                    table[t1 + a_at + np.int64(flat[q1 + c])] += 1
                    table[t2 + a_at + np.int64(flat[q2 + c])] += 1
                    table[t3 + a_at + np.int64(flat[q3 + c])] += 1
            for k in range(n_grouped, n_live):  # the rest (a line without partner lines)
                d_at = live[k] * cells
                for c in range(inner_lo, inner_hi):
                    table[d_at + np.int64(flat[row_at + c]) * n_levels
                          + np.int64(flat[partner_at[k] + c])] += 1
            # the edge columns, one direction at a time
            for k in range(n_live):
                d_at = live[k] * cells
                for c in range(column_lo[k], min(inner_lo, column_hi[k])):
                    table[d_at + np.int64(flat[row_at + c]) * n_levels
                          + np.int64(flat[partner_at[k] + c])] += 1
                for c in range(max(inner_hi, column_lo[k]), column_hi[k]):
                    table[d_at + np.int64(flat[row_at + c]) * n_levels
                          + np.int64(flat[partner_at[k] + c])] += 1

    # sum the bands (int64), in parallel over (direction, block of cells)
    totals = np.zeros((n_directions, cells), np.int64)
    block = 4096
    n_blocks = (cells + block - 1) // block
    for task in prange(n_directions * n_blocks):
        d = task // n_blocks
        lo = (task - d * n_blocks) * block
        hi = min(cells, lo + block)
        for band in range(n_bands):
            for k in range(lo, hi):
                totals[d, k] += tables[band, d * cells + k]

    features = np.empty((n_directions, math_.N_FEATURES), np.float64)
    empty = np.zeros(n_directions, np.int8)
    n_entries = n_levels * (n_levels + 1) // 2
    for d in prange(n_directions):
        codes = np.empty(n_entries, np.int32)
        counts = np.empty(n_entries, np.int64)
        px = np.empty(math_.MAX_LEVELS, np.float64)
        p_sum = np.empty(2 * math_.MAX_LEVELS, np.float64)
        p_diff = np.empty(math_.MAX_LEVELS, np.float64)
        nonzero = np.empty(math_.MAX_LEVELS, np.int64)
        total = totals[d]
        n_pairs = np.int64(0)
        n_unique = np.int64(0)
        for i in range(n_levels):
            for j in range(i, n_levels):
                m = total[i * n_levels + j]
                if j != i:
                    m += total[j * n_levels + i]
                if m != 0:
                    codes[n_unique] = np.int32((i << math_.CODE_SHIFT) | j)
                    counts[n_unique] = m
                    n_unique += 1
                    n_pairs += m
        if n_pairs == 0:
            empty[d] = 1
            for f in range(math_.N_FEATURES):
                features[d, f] = math.nan
            continue
        _haralick_from_entries(
            codes, counts, 0, n_unique, n_pairs, n_levels, entropy_scale,
            true_difference_variance, px, p_sum, p_diff, nonzero, features, d,
        )
    return features, empty


# -- float quantisation (img_as_ubyte + gray-level rescale) ----------------------------------------

_MINMAX_CHUNKS = 64  # fixed; min and max are exact, so the result never depends on the threads
_MINMAX_LANES = 8  # independent running extremes per chunk, so the loop is not one long chain


@njit(parallel=True, cache=True)
def float_min_max(values):
    """``(min, max)`` of a non-empty 1-D float32/float64 array: one parallel pass."""
    n = values.size
    lows = np.empty(_MINMAX_CHUNKS, dtype=values.dtype)
    highs = np.empty(_MINMAX_CHUNKS, dtype=values.dtype)
    step = (n + _MINMAX_CHUNKS - 1) // _MINMAX_CHUNKS
    for chunk in prange(_MINMAX_CHUNKS):
        start = min(chunk * step, n - 1)  # an empty chunk looks at the last value
        stop = min(start + step, n)
        low = np.full(_MINMAX_LANES, values[start])
        high = np.full(_MINMAX_LANES, values[start])
        i = start
        while i + _MINMAX_LANES <= stop:
            for lane in range(_MINMAX_LANES):
                v = values[i + lane]
                low[lane] = v if v < low[lane] else low[lane]
                high[lane] = v if v > high[lane] else high[lane]
            i += _MINMAX_LANES
        for j in range(i, stop):
            low[0] = min(low[0], values[j])
            high[0] = max(high[0], values[j])
        lows[chunk] = low.min()
        highs[chunk] = high.max()
    return lows.min(), highs.max()


@njit(parallel=True, cache=True)
def float_levels(values, scale, lut, out):
    """``out = lut[uint8(clip(rint(values * scale), 0, 255))]`` (1-D, contiguous).

    ``scale`` is 255 in the input's dtype, so float32 products stay float32 as in NumPy;
    ``np.rint`` rounds half to even. NaN maps to 0.
    """
    for i in prange(values.size):
        r = np.rint(values[i] * scale)
        if r >= 255:
            level = 255
        elif r >= 0:
            level = np.int64(r)
        else:
            level = 0
        out[i] = lut[level]
