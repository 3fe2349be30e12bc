"""Per-object co-occurrence math shared by the CPU and GPU kernels.

Plain Python functions, compiled twice by :func:`compile_with`: with ``numba.njit`` for the
CPU kernels (``_glcm_cpu``) and with ``numba.cuda.jit(device=True)`` for the GPU kernels
(``_glcm_gpu``). For one object, one pass over its pixels writes the canonical codes
``i << 8 | j`` (i <= j) of its valid pairs in every direction; each direction's codes become
sorted (level i, level j, count) entries (a two-pass counting sort, or on the CPU a dense
count table when the object has few levels: the same entries in the same order); the entries
become the 13 Haralick features without a levels x levels matrix (reference.md 1.5).

Rules for code in this module: no allocation (scratch arrays are passed in), no exceptions,
explicit integer and float casts, so the same source compiles for the CPU and the GPU.
"""

from __future__ import annotations

import math
import types

import numpy as np

from ._compile import compile_shared

N_FEATURES = 13
MAX_LEVELS = 256  # quantised levels are uint8
MAX_DIRECTIONS = 13  # 3-D
LOG_CACHE = 64  # cached log2(c / T) for small pair counts c
CODE_SHIFT = 8  # canonical code = (i << 8) | j with i <= j

#: mahotas' direction vectors, (axis0, axis1, axis2) offsets; 2-D images use the first four
#: with the leading (z) offset 0, in mahotas' 2-D order (0,1), (1,1), (1,0), (1,-1).
DIRECTIONS_2D = np.array([(0, 0, 1), (0, 1, 1), (0, 1, 0), (0, 1, -1)], dtype=np.int64)
DIRECTIONS_3D = np.array(
    [
        (1, 0, 0), (1, 1, 0), (0, 1, 0), (1, -1, 0), (0, 0, 1), (1, 0, 1), (0, 1, 1),
        (1, 1, 1), (1, -1, 1), (1, 0, -1), (0, 1, -1), (1, 1, -1), (1, -1, -1),
    ],
    dtype=np.int64,
)


def raster_step(p, z, r, plane, width):
    """``(z, r, c)`` of the flat index ``p`` given ``(z, r)`` of an earlier index that is not
    larger (``plane`` = H * W): pixels come in raster order, so most steps stay in the same
    plane and row and need no integer division. Start from ``z = r = 0``."""
    rest = p - z * plane
    if rest >= plane:
        z = p // plane
        rest = p - z * plane
        r = np.int64(0)
    c = rest - r * width
    if c >= width:
        r = rest // width
        c = rest - r * width
    return z, r, c


def gather_pair_codes(
    pixels, start, stop, ids, levels, slot, directions, d_begin, d_end, scale,
    depth, height, width, ignore_zeros, codes, base, n_pairs,
):
    """Canonical codes of one object's pixel pairs, for directions ``d_begin..d_end-1``.

    For every pixel p of the object (``pixels[start:stop]``, flat indices in raster order) and
    direction d whose partner p + scale * directions[d] is inside the image and in the same
    object (and, with ``ignore_zeros``, when neither level is 0), appends
    ``min(a, b) << 8 | max(a, b)`` to direction d's segment, which starts at
    ``codes[base + (d - d_begin) * (stop - start)]``. One pass over the pixels serves all
    the directions. ``n_pairs[d - d_begin]`` receives each segment's length.

    Returns
    -------
    max_level : int64
        The largest level over all the object's pixels (mahotas' GLCM size - 1).
    """
    plane = height * width
    area = stop - start
    for d in range(d_end - d_begin):
        n_pairs[d] = 0
    max_level = np.int64(0)
    z = np.int64(0)
    r = np.int64(0)
    for k in range(start, stop):
        p = np.int64(pixels[k])
        a = np.int64(levels[p])
        if a > max_level:
            max_level = a
        if ignore_zeros and a == 0:
            continue
        z, r, c = raster_step(p, z, r, plane, width)
        for d in range(d_begin, d_end):
            z2 = z + directions[d, 0] * scale
            r2 = r + directions[d, 1] * scale
            c2 = c + directions[d, 2] * scale
            if z2 < 0 or z2 >= depth or r2 < 0 or r2 >= height or c2 < 0 or c2 >= width:
                continue
            q = (z2 * height + r2) * width + c2
            if ids[q] != slot:
                continue
            b = np.int64(levels[q])
            if ignore_zeros and b == 0:
                continue
            segment = d - d_begin
            position = base + segment * area + n_pairs[segment]
            if a <= b:
                codes[position] = np.int32((a << CODE_SHIFT) | b)
            else:
                codes[position] = np.int32((b << CODE_SHIFT) | a)
            n_pairs[segment] += 1
    return max_level


def count_dense(codes, counts, base, n, n_levels, dense):
    """Unique sorted codes with their counts, through a dense n_levels x n_levels table.

    Same result as :func:`sort_codes` then :func:`run_length`, in O(n + n_levels^2 / 2):
    cheaper when the object has few levels. ``dense`` (int32, at least n_levels^2 entries)
    must be all zero on entry and is left all zero; only its first n_levels^2 entries are
    touched. Returns the number of unique codes.
    """
    for k in range(n):
        code = np.int64(codes[base + k])
        dense[(code >> CODE_SHIFT) * n_levels + (code & 255)] += 1
    n_unique = np.int64(0)
    for i in range(n_levels):
        for j in range(i, n_levels):
            m = dense[i * n_levels + j]
            if m != 0:
                codes[base + n_unique] = np.int32((i << CODE_SHIFT) | j)
                counts[base + n_unique] = m
                dense[i * n_levels + j] = 0
                n_unique += 1
    return n_unique


def sort_codes(codes, scratch, base, n, n_levels, bucket):
    """Sort ``codes[base:base+n]`` in place: two stable counting passes, on j then on i.

    Both digits of a code are levels below ``n_levels``. ``scratch`` has the same layout as
    ``codes``; ``bucket`` is an int64 array of at least ``n_levels``.
    """
    for digit_pass in range(2):
        shift = digit_pass * CODE_SHIFT
        for b in range(n_levels):
            bucket[b] = 0
        for k in range(n):
            bucket[(codes[base + k] >> shift) & 255] += 1
        total = np.int64(0)
        for b in range(n_levels):
            count = bucket[b]
            bucket[b] = total
            total += count
        for k in range(n):
            value = codes[base + k]
            digit = (value >> shift) & 255
            scratch[base + bucket[digit]] = value
            bucket[digit] += 1
        for k in range(n):
            codes[base + k] = scratch[base + k]


def run_length(codes, counts, base, n):
    """Collapse sorted ``codes[base:base+n]`` to unique codes with their counts (in place).

    Returns the number of unique codes; ``counts[base + u]`` holds the count of unique code u.
    """
    n_unique = np.int64(0)
    k = np.int64(0)
    while k < n:
        value = codes[base + k]
        run = np.int64(1)
        while k + run < n and codes[base + k + run] == value:
            run += 1
        codes[base + n_unique] = value
        counts[base + n_unique] = np.int32(run)
        n_unique += 1
        k += run
    return n_unique


def _entry(codes, counts, base, u):
    """Levels i <= j and pair count m of entry u."""
    code = np.int64(codes[base + u])
    return code >> CODE_SHIFT, code & 255, np.int64(counts[base + u])


def _entropy_term(x):
    # -x log2 x, with 0 for x == 0 (mahotas adds 1 to zero entries before the log)
    if x == 0.0:
        return 0.0
    return -x * math.log2(x)


def haralick_from_entries(
    codes, counts, base, n_unique, n_pairs, n_levels, entropy_scale, true_difference_variance,
    px, p_sum, p_diff, nonzero, out, out_row,
):
    """The 13 Haralick features of one symmetric co-occurrence matrix, from its entries.

    The matrix is C + C^T of the ``n_pairs`` counted pairs: an off-diagonal canonical entry
    (i < j, count m) stands for C[i, j] = C[j, i] = m, a diagonal one for C[i, i] = 2m; the
    total is T = 2 n_pairs and p = C / T. Writes mahotas' 13 features (reference.md 1.2, in
    its order) to ``out[out_row, :]``. ``n_levels`` is mahotas' GLCM size Ng (the object's max
    level + 1), which only DifferenceVariance depends on.

    Entropies are computed in base 2 and multiplied by ``entropy_scale`` (1 for mahotas' and
    CellProfiler's log2; 1/log2(b) for base b). With ``true_difference_variance``,
    DifferenceVariance is the variance of |i - j| (mahotas' ``use_x_minus_y_variance``)
    instead of the variance of the Ng numbers p_{x-y}(k).

    Scratch: ``px`` (256 float64), ``p_sum`` (512 float64), ``p_diff`` (256 float64),
    ``nonzero`` (256 int64).
    """
    total = np.float64(2 * n_pairs)
    # every level is below n_levels, so the marginals need only these entries
    for k in range(n_levels):
        px[k] = 0.0
        p_diff[k] = 0.0
    for k in range(2 * n_levels):
        p_sum[k] = 0.0

    asm = 0.0
    idm = 0.0
    sum_ij = 0.0
    for u in range(n_unique):
        i, j, m = _entry(codes, counts, base, u)
        if i == j:
            v = np.float64(2 * m) / total
            asm += v * v
            idm += v
            sum_ij += np.float64(i * i) * v
            px[i] += v
            p_sum[2 * i] += v
            p_diff[0] += v
        else:
            v = np.float64(m) / total
            d = j - i
            asm += 2.0 * (v * v)
            idm += 2.0 * (v / np.float64(1 + d * d))
            sum_ij += 2.0 * (np.float64(i * j) * v)
            px[i] += v
            px[j] += v
            p_sum[i + j] += 2.0 * v
            p_diff[d] += 2.0 * v

    # marginals (px == py: the matrix is symmetric)
    mean = 0.0
    second = 0.0
    n_nonzero = 0
    for k in range(n_levels):
        if px[k] != 0.0:
            mean += np.float64(k) * px[k]
            second += np.float64(k * k) * px[k]
            nonzero[n_nonzero] = k
            n_nonzero += 1
    variance = second - mean * mean
    sigma = math.sqrt(variance) if variance > 0.0 else 0.0
    if variance < 0.0:
        sigma = math.nan  # as numpy's sqrt of a negative rounding residue
    if sigma == 0.0:
        correlation = 1.0
    else:
        correlation = (1.0 / sigma / sigma) * (sum_ij - mean * mean)

    sum_average = 0.0
    sum_second = 0.0
    sum_entropy = 0.0
    for k in range(2 * n_levels):
        if p_sum[k] != 0.0:
            sum_average += np.float64(k) * p_sum[k]
            sum_second += np.float64(k * k) * p_sum[k]
            sum_entropy += _entropy_term(p_sum[k])

    contrast = 0.0
    diff_first = 0.0
    diff_total = 0.0
    diff_entropy = 0.0
    for k in range(n_levels):
        if p_diff[k] != 0.0:
            contrast += np.float64(k * k) * p_diff[k]
            diff_first += np.float64(k) * p_diff[k]
            diff_total += p_diff[k]
            diff_entropy += _entropy_term(p_diff[k])
    if true_difference_variance:
        diff_variance = contrast - diff_first * diff_first
    else:
        # the population variance of the Ng numbers p_diff[0..Ng-1]
        diff_mean = diff_total / np.float64(n_levels)
        diff_variance = 0.0
        for k in range(n_levels):
            deviation = p_diff[k] - diff_mean
            diff_variance += deviation * deviation
        diff_variance = diff_variance / np.float64(n_levels)

    # HXY = H(p) and HXY1 = -sum p log2(px_i px_j). p_sum is free from here on: its first
    # MAX_LEVELS entries hold log2(px), the next LOG_CACHE ones log2(c / T) per numerator c
    # (1.0 = not yet computed; a probability's log is <= 0), since small counts repeat.
    # HX = H(px), from the same logarithms, summed in the same (ascending) order
    hx = 0.0
    for a in range(n_nonzero):
        log_px = math.log2(px[nonzero[a]])
        p_sum[nonzero[a]] = log_px
        hx += -px[nonzero[a]] * log_px
    for c in range(LOG_CACHE):
        p_sum[MAX_LEVELS + c] = 1.0
    entropy = 0.0
    hxy1 = 0.0
    for u in range(n_unique):
        i, j, m = _entry(codes, counts, base, u)
        numerator = 2 * m if i == j else m
        v = np.float64(numerator) / total
        if numerator < LOG_CACHE:
            log_v = p_sum[MAX_LEVELS + numerator]
            if log_v == 1.0:
                log_v = math.log2(v)
                p_sum[MAX_LEVELS + numerator] = log_v
        else:
            log_v = math.log2(v)
        if i == j:
            entropy -= v * log_v
            hxy1 -= v * (2.0 * p_sum[i])
        else:
            entropy -= 2.0 * (v * log_v)
            hxy1 -= 2.0 * (v * (p_sum[i] + p_sum[j]))
    # HXY2 = H(px outer px) = -sum_ab pa pb (log2 pa + log2 pb) = 2 HX sum(px): O(Ng), where
    # the dense sum is O(Ng^2) logarithms. Only rounding differs from mahotas' dense sum (the
    # term order differs anyway): <= 1e-7 in InfoMeas2 near 0, the tolerance of reference.md.
    px_total = 0.0
    for a in range(n_nonzero):
        px_total += px[nonzero[a]]
    hxy2 = 2.0 * hx * px_total

    hx *= entropy_scale
    hxy1 *= entropy_scale
    hxy2 *= entropy_scale
    entropy *= entropy_scale
    sum_entropy *= entropy_scale
    diff_entropy *= entropy_scale
    if hx == 0.0:
        info1 = entropy - hxy1
    else:
        info1 = (entropy - hxy1) / hx
    info2 = math.sqrt(max(0.0, 1.0 - math.exp(-2.0 * (hxy2 - entropy))))

    out[out_row, 0] = asm
    out[out_row, 1] = contrast
    out[out_row, 2] = correlation
    out[out_row, 3] = variance
    out[out_row, 4] = idm
    out[out_row, 5] = sum_average
    out[out_row, 6] = sum_second - sum_average * sum_average
    out[out_row, 7] = sum_entropy
    out[out_row, 8] = entropy
    out[out_row, 9] = diff_variance
    out[out_row, 10] = diff_entropy
    out[out_row, 11] = info1
    out[out_row, 12] = info2


def haralick_rows(
    row, d_begin, d_end, n_directions, row_slots, offsets, pixels, ids, levels, directions,
    scale, depth, height, width, ignore_zeros, entropy_scale, true_difference_variance,
    codes, scratch, base, dense, use_dense, n_pairs, bucket, px, p_sum, p_diff, nonzero,
    out, empty,
):
    """Directions ``d_begin..d_end-1`` of object row ``row``.

    Writes the features of direction d to ``out[row * n_directions + d]`` and sets
    ``empty[...] = 1`` when that direction has no valid pair (the caller then blanks every
    feature of the object). ``codes`` and ``scratch`` need ``(d_end - d_begin) * area`` slots
    from ``base``. With ``use_dense`` (CPU: ``dense`` is a zeroed 256 * 256 int32 table) the
    entries are counted in the dense table when that is cheaper than sorting; both give the
    same entries in the same order, so the features do not depend on the choice.
    """
    slot = row_slots[row]
    start = offsets[slot]
    stop = offsets[slot + 1]
    area = stop - start
    max_level = gather_pair_codes(
        pixels, start, stop, ids, levels, slot, directions, d_begin, d_end, scale,
        depth, height, width, ignore_zeros, codes, base, n_pairs,
    )
    n_levels = max_level + 1
    for d in range(d_begin, d_end):
        item = row * n_directions + d
        segment_base = base + (d - d_begin) * area
        count = n_pairs[d - d_begin]
        if count == 0:
            empty[item] = 1
            for f in range(N_FEATURES):
                out[item, f] = math.nan
            continue
        empty[item] = 0
        if use_dense and n_levels * n_levels < 8 * count:
            n_unique = count_dense(codes, scratch, segment_base, count, n_levels, dense)
        else:
            sort_codes(codes, scratch, segment_base, count, n_levels, bucket)
            n_unique = run_length(codes, scratch, segment_base, count)
        haralick_from_entries(
            codes, scratch, segment_base, n_unique, count, n_levels, entropy_scale,
            true_difference_variance, px, p_sum, p_diff, nonzero, out, item,
        )


# Helpers in call order: each may call only those listed before it.
_SHARED = (
    "_entry",
    "_entropy_term",
    "raster_step",
    "gather_pair_codes",
    "count_dense",
    "sort_codes",
    "run_length",
    "haralick_from_entries",
    "haralick_rows",
)


def compile_with(decorator) -> types.SimpleNamespace:
    """Compile every shared helper with ``decorator`` (``numba.njit`` or a CUDA device jit).

    See :func:`._compile.compile_shared`.
    """
    return compile_shared(globals(), _SHARED, decorator)
