"""CPU kernels for CellProfiler's per-object intensity features (numba).

``edge_map_cpu`` and ``edge_flags_cpu`` mark the edge pixels of an object index's CSR once per
label image. ``intensity_cpu`` is parallel over objects: each object is measured by one
thread, sequentially over its pixels in raster order (the CSR), so the float sums never depend
on the number of threads and equal the GPU kernel's (:mod:`._intensity_gpu`) bit for bit. The
per-object sums are :mod:`._intensity_math`'s; the order statistics of the quantiles come
from value buckets here (:func:`_bucket_select`, about 3x faster than the shared quickselect
on cells of ~1,500 pixels) and equal the quickselect's.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from .. import _numba_cache
from . import _intensity_math as math_

_numba_cache.register()

_jit = njit(error_model="numpy")


@_jit
def _mul(a, b):
    return a * b


@_jit
def _add(a, b):
    return a + b


_shared = math_.compile_with(_jit, _mul, _add)
_object_sums = _shared.object_sums
_object_quantiles = _shared.object_quantiles
_select = _shared.select
_low_position = _shared._low_position
_rule_value = _shared._rule_value

#: Object pixels worth one thread (below that, a parallel region costs more than it saves).
PIXELS_PER_THREAD = 1 << 15

#: Objects of at least this many pixels (all finite) take their order statistics from
#: value buckets (:func:`_bucket_select`); smaller ones, and objects holding NaN or inf,
#: from the devices' shared quickselect. Both give the same values.
BUCKET_MIN_PIXELS = 64

#: At most 2 ** _MAX_BUCKETS_LOG2 buckets per object.
_MAX_BUCKETS_LOG2 = 11


@njit(parallel=True, cache=True)
def edge_map_cpu(ids, edge_map):
    """``edge_map[r, c]`` = 1 where pixel (r, c) has a 4-neighbour inside the image with
    another slot (``ids``: int32, (H, W)), else 0 (background pixels included).

    Row-parallel; the column loop runs on unsigned indices, so numba emits no negative-index
    wraparound test and the loop vectorises (about 8x faster than signed indices).
    """
    height, width = ids.shape
    one = np.uint64(1)
    for r in prange(height):
        row = ids[r]
        up = ids[r - 1] if r > 0 else row
        down = ids[r + 1] if r < height - 1 else row
        flags = edge_map[r]
        for c in range(one, np.uint64(max(width - 1, 1))):
            own = row[c]
            flags[c] = np.uint8((row[c - one] != own) | (row[c + one] != own)
                                | (up[c] != own) | (down[c] != own))
        for c in (0, width - 1):  # the first and last columns (the same one when W == 1)
            own = row[c]
            edge = (up[c] != own) | (down[c] != own)
            if c > 0:
                edge |= row[c - 1] != own
            if c < width - 1:
                edge |= row[c + 1] != own
            flags[c] = np.uint8(edge)


@njit(parallel=True, cache=True)
def edge_flags_cpu(pixels, edge_map, edges):
    """``edges[k]`` = ``edge_map[pixels[k]]``: the :func:`edge_map_cpu` flag of every CSR
    pixel (flat ``edge_map``, H * W)."""
    for k in prange(pixels.shape[0]):
        edges[k] = edge_map[pixels[k]]


@_jit
def _order_key(value):
    """The order key of ``float32(value)``: its bits as an int32, the magnitude bits flipped
    when negative (monotone non-decreasing in ``value``)."""
    k = np.int64(np.float32(value).view(np.int32))
    return k ^ ((k >> 31) & 0x7FFFFFFF)


@_jit
def _bucket_select(xs, low, high, center, deviations, positions, n_positions, values, keys,
                   hist, bucket_of_bin, small, buf):
    """``values[j]`` = the value at sorted position ``positions[j]`` of the n finite values
    ``xs`` (of ``|xs - center|``, written into ``xs``, when ``deviations``), for
    ``j < n_positions`` (positions ascending, distinct, each < n); ``low <= value <= high``
    for every value.

    Every value gets the :func:`_order_key` of its float32 rounding (exact for a float32
    image). A histogram of the keys in at most 2 ** 11 equal key ranges (buckets) between
    the keys of ``low`` and ``high`` locates the bucket of every wanted position; one more
    pass copies those buckets' values into ``buf``, where the shared quickselect finds each
    position among the few values of its bucket. Values equal to the quickselect over all
    ``n`` values. The full passes index with unsigned integers (no negative-index test).

    Workspaces: ``keys`` uint32 (n,) (a key minus the key of ``low``: up to 2 ** 32 - 1),
    ``hist`` int32 and ``bucket_of_bin`` int8 (2 ** 11 + 1,), ``small`` int64 (4, 8), ``buf``
    float64 (n,).
    """
    n = xs.shape[0]
    count = np.uint64(n)
    k_min = _order_key(low)
    span = _order_key(high) - k_min
    span_bits = 0
    while (span >> span_bits) > 0:
        span_bits += 1
    n_bits = 0
    while (n >> n_bits) > 0:
        n_bits += 1
    shift = max(0, span_bits - min(_MAX_BUCKETS_LOG2, max(4, n_bits - 2)))
    n_bins = (span >> shift) + 1
    for b in range(n_bins):
        hist[b] = 0
        bucket_of_bin[b] = -1
    for i in range(count):
        v = xs[i]
        if deviations:
            v = abs(v - center)
            xs[i] = v
        k = _order_key(v) - k_min
        keys[i] = k
        hist[k >> shift] += 1
    # the bucket of every wanted position: small[0] its bin, [1] its first sorted position,
    # [2] its first slot in buf, [3] the next free slot there
    bins = small[0]
    first = small[1]
    begin = small[2]
    fill = small[3]
    n_buckets = 0
    b = 0
    start = 0
    for j in range(n_positions):
        while start + hist[b] <= positions[j]:
            start += hist[b]
            b += 1
        if n_buckets == 0 or bins[n_buckets - 1] != b:
            bins[n_buckets] = b
            first[n_buckets] = start
            bucket_of_bin[b] = n_buckets
            n_buckets += 1
    used = 0
    for d in range(n_buckets):
        begin[d] = used
        fill[d] = used
        used += hist[bins[d]]
    for i in range(count):
        d = bucket_of_bin[keys[i] >> shift]
        if d >= 0:
            buf[fill[d]] = xs[i]
            fill[d] += 1
    d = -1
    lo = 0
    for j in range(n_positions):
        while d < 0 or positions[j] >= first[d] + hist[bins[d]]:
            d += 1
            lo = begin[d]
        k = begin[d] + positions[j] - first[d]
        values[j] = _select(buf, lo, begin[d] + hist[bins[d]], k)
        lo = k + 1  # buf[k + 1:] of the bucket: the next sorted positions, in some order


@_jit
def _value_at(positions, values, count, position):
    for j in range(count):
        if positions[j] == position:
            return values[j]
    return values[0]  # not wanted by the rule (past the last position)


@_jit
def _wanted(positions, count, n, position):
    """Insert ``position`` (if < n and new) into the ascending ``positions[:count]``."""
    if position >= n:
        return count
    j = count
    while j > 0 and positions[j - 1] >= position:
        if positions[j - 1] == position:
            return count
        j -= 1
    for i in range(count, j, -1):
        positions[i] = positions[i - 1]
    positions[j] = position
    return count + 1


@_jit
def _bucket_quantiles(row, base, n, mode, scratch, out):
    """:func:`._intensity_math.object_quantiles` with the order statistics of
    :func:`_bucket_select` (all ``n`` values finite): the same four features, same values."""
    keys = np.empty(n, np.uint32)
    buf = np.empty(n, np.float64)
    hist = np.empty((1 << _MAX_BUCKETS_LOG2) + 1, np.int32)
    bucket_of_bin = np.empty((1 << _MAX_BUCKETS_LOG2) + 1, np.int8)
    small = np.empty((4, 8), np.int64)
    positions = np.empty(8, np.int64)
    values = np.empty(8, np.float64)
    linear = mode == 1
    m = _low_position(n, 0.5, linear)
    lower = _low_position(n, 0.25, linear)
    upper = _low_position(n, 0.75, linear)
    count = 0
    for p in (lower, lower + 1, m, m + 1, upper, upper + 1):
        count = _wanted(positions, count, n, p)
    xs = scratch[base:base + n]
    _bucket_select(xs, out[row, 3], out[row, 4], 0.0, False, positions, count, values, keys,
                   hist, bucket_of_bin, small, buf)
    median = _rule_value(n, 0.5, linear, m, _value_at(positions, values, count, m),
                         _value_at(positions, values, count, m + 1))
    out[row, 11] = _rule_value(n, 0.25, linear, lower,
                               _value_at(positions, values, count, lower),
                               _value_at(positions, values, count, lower + 1))
    out[row, 12] = median
    out[row, 14] = _rule_value(n, 0.75, linear, upper,
                               _value_at(positions, values, count, upper),
                               _value_at(positions, values, count, upper + 1))

    if mode == 0:  # scipy.ndimage.median: the mean of the two middle values
        lo = (n - 1) // 2
    else:
        lo = _low_position(n, 0.5, linear)
    count = _wanted(positions, 0, n, lo)
    count = _wanted(positions, count, n, lo + 1)
    # |v - median| is largest at the extremes (v - median is monotone in v, rounded or not)
    widest = max(abs(out[row, 3] - median), abs(out[row, 4] - median))
    _bucket_select(xs, 0.0, widest, median, True, positions, count, values, keys, hist,
                   bucket_of_bin, small, buf)
    d_lo = values[0]
    d_next = _value_at(positions, values, count, lo + 1)
    if mode == 0:
        d_hi = d_lo
        if n // 2 > lo:
            d_hi = d_next
        out[row, 13] = _add(d_lo, d_hi) / 2.0
    else:
        out[row, 13] = _rule_value(n, 0.5, linear, lo, d_lo, d_next)


@njit(parallel=True, cache=True, error_model="numpy")
def intensity_cpu(targets, ws_offsets, offsets, pixels, edges, image, width, mode, scratch,
                  out, bucket_min_pixels):
    """Intensity features of the objects of slots ``targets`` into ``out`` (one row each).

    Parameters
    ----------
    targets : int64 array (n,)
        Slot of every output row (each slot at most once: its scratch span is its own).
    ws_offsets : int64 array (n + 1,)
        Row ``k`` works in ``scratch[ws_offsets[k]:ws_offsets[k + 1]]`` (its pixel count).
    offsets, pixels : int64 arrays
        The object index's CSR: slot ``s`` owns the flat pixel indices
        ``pixels[offsets[s]:offsets[s + 1]]``, raster order.
    edges : uint8 array (len(pixels),)
        :func:`edge_flags_cpu` of the CSR.
    image : float32 or float64 array (H * W,)
    width, mode : int
        ``mode``: :data:`._intensity_math.MODE_CELLPROFILER`, ``MODE_CP_MEASURE`` or
        ``MODE_CELLPROFILER4``.
    scratch : float64 array (ws_offsets[n],)
    out : float64 array (n, N_FEATURES)
        Columns in :data:`._intensity_math.FEATURES` order.
    bucket_min_pixels : int
        Objects of at least this many pixels, all finite, take the bucket path
        (:data:`BUCKET_MIN_PIXELS`); the result does not depend on it.
    """
    for row in prange(targets.shape[0]):
        base = ws_offsets[row]
        n = _object_sums(row, targets[row], base, offsets, pixels, edges, image, width,
                         scratch, out)
        if n >= bucket_min_pixels and math.isfinite(out[row, 3]) and math.isfinite(out[row, 4]):
            _bucket_quantiles(row, base, n, mode, scratch, out)
        elif n > 0:
            _object_quantiles(row, base, n, mode, scratch, out)
