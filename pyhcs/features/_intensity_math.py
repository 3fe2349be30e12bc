"""Per-object intensity math shared by the CPU and GPU kernels (MeasureObjectIntensity).

Plain Python functions, compiled twice by :func:`compile_with`: with ``numba.njit`` for the CPU
kernel (``_intensity_cpu``) and with ``numba.cuda.jit(device=True)`` for the GPU kernel
(``_intensity_gpu``). One call of :func:`object_features` measures one object sequentially
over its pixels in raster order (the object index's CSR), so both devices add the same values
in the same order (CellProfiler's sequential ``bincount`` order) and agree bit for bit.

Rules for code in this module: no allocation (the scratch array is passed in), no exceptions,
explicit casts, and every product that feeds a sum goes through ``_mul`` / ``_add`` (plain
arithmetic on the CPU, round-to-nearest intrinsics on the GPU, whose compiler would otherwise
contract ``a * b + c`` into a fused multiply-add). Quantiles need a few order statistics
of each object, not a full sort: :func:`select` (quickselect, NaN last as in numpy's sort and
``numpy.lexsort``) finds them in place in the object's scratch span, the same code on both
devices.
"""

from __future__ import annotations

import math
import types

from ._compile import compile_shared

#: Feature columns of the kernel output, in CellProfiler 5's measurement order.
FEATURES = (
    "IntegratedIntensity",
    "MeanIntensity",
    "StdIntensity",
    "MinIntensity",
    "MaxIntensity",
    "IntegratedIntensityEdge",
    "MeanIntensityEdge",
    "StdIntensityEdge",
    "MinIntensityEdge",
    "MaxIntensityEdge",
    "MassDisplacement",
    "LowerQuartileIntensity",
    "MedianIntensity",
    "MADIntensity",
    "UpperQuartileIntensity",
    "CenterMassIntensity_X",
    "CenterMassIntensity_Y",
    "CenterMassIntensity_Z",
    "MaxIntensity_X",
    "MaxIntensity_Y",
    "MaxIntensity_Z",
)
N_FEATURES = len(FEATURES)

#: Quantile conventions (the kernel's ``mode``).
MODE_CELLPROFILER = 0  # CellProfiler 5: quartiles at n*q, MAD = true median of |v - median|
MODE_CP_MEASURE = 1  # cp_measure default: numpy-linear (n-1)*q for quartiles and MAD
MODE_CELLPROFILER4 = 2  # CellProfiler 4 / cp_measure legacy: MAD = the n*(1/2) rule on |v - med|


def _plain_mul(a, b):
    return a * b


def _plain_add(a, b):
    return a + b


# the plain-Python arithmetic; compile_with() rebinds both for each device
_mul = _plain_mul
_add = _plain_add


def _is_nan(x):
    return math.isnan(x)


def _div(a, b):
    """IEEE ``a / b`` (also under the CUDA simulator, whose Python floats raise on b == 0)."""
    if b == 0.0:
        if a == 0.0 or _is_nan(a):
            return math.nan
        return math.copysign(math.inf, a) * math.copysign(1.0, b)
    return a / b


def _before(a, b):
    """Strict order with NaN last (numpy's sort order)."""
    if _is_nan(a):
        return False
    if _is_nan(b):
        return True
    return a < b


def _sift_down(x, base, start, end):
    root = start
    while True:
        child = 2 * root + 1
        if child > end:
            return
        if child + 1 <= end and _before(x[base + child], x[base + child + 1]):
            child += 1
        if _before(x[base + root], x[base + child]):
            tmp = x[base + root]
            x[base + root] = x[base + child]
            x[base + child] = tmp
            root = child
        else:
            return


def heapsort_segment(x, a, b):
    """Sort ``x[a:b]`` in place, ascending, NaN last (no allocation, no recursion)."""
    n = b - a
    if n < 2:
        return
    start = (n - 2) // 2
    while start >= 0:
        _sift_down(x, a, start, n - 1)
        start -= 1
    end = n - 1
    while end > 0:
        tmp = x[a]
        x[a] = x[a + end]
        x[a + end] = tmp
        end -= 1
        _sift_down(x, a, 0, end)


def _swap(x, i, j):
    tmp = x[i]
    x[i] = x[j]
    x[j] = tmp


def select(x, lo, hi, k):
    """Partially order ``x[lo:hi]`` in place so that ``x[k]`` holds the value at sorted
    position ``k`` (NaN last), with no larger value before it and no smaller one after it
    (so ``x[lo:k]`` and ``x[k + 1:hi]`` stay closed ranges of sorted positions); returns
    ``x[k]``.

    Quickselect with a median-of-three pivot and Hoare's partition (ties, common in quantised
    images, split evenly); after 2 log2(n) + 16 steps the rest is heapsorted, so the worst
    case is O(n log n).
    """
    budget = 16
    m = hi - lo
    while m > 1:
        budget += 2
        m = m >> 1
    return select_steps(x, lo, hi, k, budget)


def select_steps(x, lo, hi, k, budget):
    """:func:`select` with at most ``budget`` partition steps before the heapsort."""
    hi = hi - 1
    while hi > lo:
        if budget == 0:
            heapsort_segment(x, lo, hi + 1)
            return x[k]
        budget -= 1
        mid = lo + (hi - lo) // 2
        first = x[lo]
        second = x[mid]
        third = x[hi]
        if _before(second, first):
            tmp = first
            first = second
            second = tmp
        if _before(third, second):
            second = third
            if _before(second, first):
                second = first
        pivot = second
        # Hoare's partition (Wirth's selection): both scans stop at values equal to the pivot,
        # so runs of ties split evenly; the pivot value is in the range, so the scans stop
        i = lo
        j = hi
        while i <= j:
            while _before(x[i], pivot):
                i += 1
            while _before(pivot, x[j]):
                j -= 1
            if i <= j:
                _swap(x, i, j)
                i += 1
                j -= 1
        # x[lo:j + 1] <= pivot <= x[i:hi + 1]; what lies between equals the pivot
        if k <= j:
            hi = j
        elif k >= i:
            lo = i
        else:
            return x[k]
    return x[k]


def _smallest(x, lo, hi):
    """The smallest of ``x[lo:hi]`` (hi > lo), NaN last."""
    best = x[lo]
    for i in range(lo + 1, hi):
        if _before(x[i], best):
            best = x[i]
    return best


def _low_position(n, q, linear):
    """Sorted position of the lower sample of quantile ``q`` of ``n`` values."""
    if linear:
        return min(int(float(n - 1) * q), n - 1)
    return int(float(n) * q)  # floor: the position is not negative


def _rule_value(n, q, linear, lo, s_lo, s_next):
    """Quantile ``q`` from the samples at sorted positions ``lo`` and ``lo + 1`` (``s_next``,
    only read when ``lo + 1 < n``).

    CellProfiler (``linear`` False): p = n q, f = p - lo, ``s_lo (1 - f) + s_next f`` when
    lo < n - 1, else ``s_lo``. cp_measure's numpy-linear rule (``linear`` True): p = (n - 1) q,
    always ``s_lo (1 - f) + s_hi f`` with hi = min(lo + 1, n - 1), as cp_measure writes it.
    """
    if linear:
        f = float(n - 1) * q - float(lo)
        s_hi = s_lo
        if lo + 1 <= n - 1:
            s_hi = s_next
        return _add(_mul(s_lo, 1.0 - f), _mul(s_hi, f))
    f = float(n) * q - float(lo)
    if lo < n - 1:
        return _add(_mul(s_lo, 1.0 - f), _mul(s_next, f))
    return s_lo


def _next_after(x, a, n, lo, stop, s_lo):
    """The sample at sorted position ``lo + 1`` once ``x[a + lo]`` is selected and
    ``x[a + lo + 1:a + stop]`` is the closed range that follows it (``s_lo`` past the end)."""
    if lo + 1 >= n:
        return s_lo
    return _smallest(x, a + lo + 1, a + stop)


def _is_edge(ids, p, r, c, width, height):
    """Whether pixel ``p`` (row ``r``, column ``c``) has a 4-neighbour inside the image of
    another slot (skimage find_boundaries, mode 'inner': the image border is not an edge)."""
    own = ids[p]
    if c > 0 and ids[p - 1] != own:
        return True
    if c < width - 1 and ids[p + 1] != own:
        return True
    if r > 0 and ids[p - width] != own:
        return True
    return r < height - 1 and ids[p + width] != own


def edge_flag(k, pixels, ids, width, height):
    """1 if the CSR pixel ``k`` is an edge pixel of its object (see :func:`_is_edge`), else 0."""
    p = pixels[k]
    r = p // width
    if _is_edge(ids, p, r, p - r * width, width, height):
        return 1
    return 0


def object_sums(row, slot, base, offsets, pixels, edges, image, width, scratch, out):
    """Every feature of one object (slot ``slot``) but the four quantiles into ``out[row, :]``;
    returns its pixel count n (0: an empty slot, whose row is all NaN).

    ``edges`` flags the edge pixels of the CSR (:func:`edge_flag`, aligned with ``pixels``);
    the object's values are left in ``scratch[base:base + n]``, raster order.
    """
    a = offsets[slot]
    n = offsets[slot + 1] - a
    nan = math.nan
    if n <= 0:
        for k in range(out.shape[1]):
            out[row, k] = nan
        return 0
    total = 0.0
    sum_x = 0.0
    sum_y = 0.0
    sum_z = 0.0
    sum_c = 0
    sum_r = 0
    v_min = nan
    v_max = nan
    max_pos = -1
    max_is_nan = False
    e_total = 0.0
    e_n = 0
    e_min = nan
    e_max = nan
    e_max_is_nan = False
    r = pixels[a] // width  # the pixels come in raster order: rows only increase
    row_start = r * width
    for k in range(n):
        p = pixels[a + k]
        v = float(image[p])
        while p >= row_start + width:
            r += 1
            row_start += width
        c = p - row_start
        total = _add(total, v)
        sum_x = _add(sum_x, _mul(float(c), v))
        sum_y = _add(sum_y, _mul(float(r), v))
        sum_z = _add(sum_z, _mul(0.0, v))
        sum_c += c
        sum_r += r
        scratch[base + k] = v
        if _is_nan(v):
            if not max_is_nan:  # the first NaN is numpy's argmax
                max_is_nan = True
                max_pos = p
                v_max = v
        else:
            if _is_nan(v_min) or v < v_min:
                v_min = v
            if not max_is_nan and (max_pos < 0 or v > v_max):
                max_pos = p
                v_max = v
        if edges[a + k] != 0:
            e_total = _add(e_total, v)
            e_n += 1
            if _is_nan(v):
                e_max_is_nan = True
            else:
                if _is_nan(e_min) or v < e_min:
                    e_min = v
                if not e_max_is_nan and (_is_nan(e_max) or v > e_max):
                    e_max = v
    if e_max_is_nan:
        e_max = nan
    count = float(n)
    mean = total / count
    e_count = float(e_n)
    e_mean = 0.0
    if e_n > 0:
        e_mean = e_total / e_count
    squares = 0.0
    e_squares = 0.0
    for k in range(n):
        d = scratch[base + k] - mean
        squares = _add(squares, _mul(d, d))
        if edges[a + k] != 0:
            e = scratch[base + k] - e_mean
            e_squares = _add(e_squares, _mul(e, e))

    out[row, 0] = total
    out[row, 1] = mean
    out[row, 2] = math.sqrt(squares / count)
    out[row, 3] = v_min
    out[row, 4] = v_max
    if e_n > 0:
        out[row, 5] = e_total
        out[row, 6] = e_mean
        out[row, 7] = math.sqrt(e_squares / e_count)
        out[row, 8] = e_min
        out[row, 9] = e_max
    else:  # no edge pixel in the image at all (one object filling it): CellProfiler's zeros
        out[row, 5] = 0.0
        out[row, 6] = 0.0
        out[row, 7] = 0.0
        out[row, 8] = 0.0
        out[row, 9] = 0.0

    # centres: intensity-weighted (CellProfiler divides, IEEE: NaN or +-inf when total == 0)
    cmi_x = _div(sum_x, total)
    cmi_y = _div(sum_y, total)
    cmi_z = _div(sum_z, total)
    dx = float(sum_c) / count - cmi_x
    dy = float(sum_r) / count - cmi_y
    dz = 0.0 - cmi_z
    out[row, 10] = math.sqrt(_add(_add(_mul(dx, dx), _mul(dy, dy)), _mul(dz, dz)))
    out[row, 15] = cmi_x
    out[row, 16] = cmi_y
    out[row, 17] = cmi_z
    max_r = max_pos // width
    out[row, 18] = float(max_pos - max_r * width)
    out[row, 19] = float(max_r)
    out[row, 20] = 0.0
    return n


def object_quantiles(row, base, n, mode, scratch, out):
    """LowerQuartile, Median, MAD and UpperQuartile (``out[row, 11:15]``) of the ``n`` > 0
    values in ``scratch[base:base + n]`` (:func:`object_sums`), by quickselect in place."""
    # quantiles: the median, then the quartiles in the closed ranges on either side of it
    linear = mode == 1
    m = _low_position(n, 0.5, linear)
    s_m = select(scratch, base, base + n, base + m)
    s_m1 = _next_after(scratch, base, n, m, n, s_m)
    median = _rule_value(n, 0.5, linear, m, s_m, s_m1)
    lower = _low_position(n, 0.25, linear)
    s_l = s_m
    s_l1 = s_m1
    if lower < m:
        s_l = select(scratch, base, base + m, base + lower)
        s_l1 = s_m
        if lower + 1 < m:
            s_l1 = _smallest(scratch, base + lower + 1, base + m)
    upper = _low_position(n, 0.75, linear)
    s_u = s_m
    s_u1 = s_m1
    if upper > m:
        s_u = select(scratch, base + m + 1, base + n, base + upper)
        s_u1 = _next_after(scratch, base, n, upper, n, s_u)
    out[row, 11] = _rule_value(n, 0.25, linear, lower, s_l, s_l1)
    out[row, 12] = median
    out[row, 14] = _rule_value(n, 0.75, linear, upper, s_u, s_u1)

    # MAD on the absolute deviations from that median
    for k in range(n):
        scratch[base + k] = abs(scratch[base + k] - median)
    if mode == 0:  # scipy.ndimage.median: the mean of the two middle values
        lo = (n - 1) // 2
        d_lo = select(scratch, base, base + n, base + lo)
        d_hi = d_lo
        if n // 2 > lo:
            d_hi = _smallest(scratch, base + lo + 1, base + n)
        out[row, 13] = _add(d_lo, d_hi) / 2.0
    else:
        lo = _low_position(n, 0.5, linear)
        d_lo = select(scratch, base, base + n, base + lo)
        d_next = _next_after(scratch, base, n, lo, n, d_lo)
        out[row, 13] = _rule_value(n, 0.5, linear, lo, d_lo, d_next)


def object_features(row, slot, base, offsets, pixels, edges, image, width, mode, scratch, out):
    """All features of one object (slot ``slot``) into ``out[row, :]``: :func:`object_sums`,
    then :func:`object_quantiles`; ``scratch[base:base + n]`` (n = the object's pixel count)
    is its workspace."""
    n = object_sums(row, slot, base, offsets, pixels, edges, image, width, scratch, out)
    if n > 0:
        object_quantiles(row, base, n, mode, scratch, out)


_SHARED = (
    "_is_nan",
    "_div",
    "_before",
    "_sift_down",
    "heapsort_segment",
    "_swap",
    "select",
    "select_steps",
    "_smallest",
    "_low_position",
    "_rule_value",
    "_next_after",
    "_is_edge",
    "edge_flag",
    "object_sums",
    "object_quantiles",
    "object_features",
)


def compile_with(decorator, mul, add) -> types.SimpleNamespace:
    """Compile the shared helpers with ``decorator`` (``numba.njit`` or a CUDA device jit).

    ``mul`` / ``add`` are the compiled float64 product and sum (round-to-nearest on the GPU).
    See :func:`._compile.compile_shared`.
    """
    return compile_shared(globals(), _SHARED, decorator, {"_mul": mul, "_add": add})
