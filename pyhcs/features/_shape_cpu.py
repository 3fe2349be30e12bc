"""CPU kernels of :func:`pyhcs.features.size_shape` (numba), and the hull features that both
devices compute here from the objects' column extremes.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from .. import _numba_cache
from ._shape_math import _CODES, _PW_STACK, N_SUMS, build
from ._zernike_cpu import _add, _fma, _mul

_numba_cache.register()

# the GPU's image-wide distance transform is replaced here by one on each object's crop
_, _, pairwise_sum, _object_sums = build(njit(inline="always"), _mul, _add, _fma)


@njit(cache=True)
def object_distance2_cpu(ids, slot, r0, c0, r1, c1, gap, dist2, vertex, height_at, start_num,
                         start_den):
    r"""Squared Euclidean distance from every pixel of object ``slot`` to the nearest pixel not
    in it (another object, the background or off the image), on its bounding box.

    ``ids[r0:r1, c0:c1]`` is the box; ``gap`` (int64) and ``dist2`` (int64) receive, at
    ``[r - r0, c - c0]`` (row-major with row length ``c1 - c0``, flat), the vertical distance
    to the nearest outside pixel of the column and the squared distance (0 outside the object);
    ``vertex`` .. ``start_den`` (int64, at least ``c1 - c0 + 2``) are the row pass's scratch.
    A pixel past the box is outside the object, so the crop changes nothing (see
    :mod:`._shape_math`).

    Two exact passes: per column the distance to the run's ends (down, then up); per row
    :math:`d^2(c) = \min_q (c - q)^2 + g(q)^2` over the row's run around ``c`` and the pixel
    past either end (:math:`g = 0`), by Felzenszwalb and Huttenlocher's lower envelope of
    parabolas in integer arithmetic (the parabolas of :math:`q < q'` cross at
    :math:`((g(q')^2 + q'^2) - (g(q)^2 + q^2)) / (2 (q' - q))`, compared by
    cross-multiplication). The minimum equals the per-pixel search of the GPU
    (``row_distance2`` of :func:`._shape_math.build`).
    """
    h = r1 - r0
    w = c1 - c0
    for j in range(w):
        gap[j] = 1 if ids[r0, c0 + j] == slot else 0
    for i in range(1, h):
        for j in range(w):
            inside = ids[r0 + i, c0 + j] == slot
            gap[i * w + j] = gap[(i - 1) * w + j] + 1 if inside else 0
    # upwards: the distance to the run's lower end is 1 past the crop or above an outside
    # pixel, else one more than below's; below already holds min(its two distances), whose
    # upper one is one more than here's, so min(here, below + 1) is here's min of the two
    for j in range(w):
        if gap[(h - 1) * w + j] != 0:
            gap[(h - 1) * w + j] = 1
    for i in range(h - 2, -1, -1):
        for j in range(w):
            here = gap[i * w + j]
            if here != 0:
                below = gap[(i + 1) * w + j]
                gap[i * w + j] = min(here, below + 1) if below != 0 else 1
    for i in range(h):
        base = i * w
        j = 0
        while j < w:
            if gap[base + j] == 0:
                dist2[base + j] = 0
                j += 1
                continue
            a = j
            while j < w and gap[base + j] != 0:
                j += 1
            b = j - 1
            top = 0  # the envelope: parabolas 0..top, parabola k from abscissa start[k] on
            vertex[0] = a - 1
            height_at[0] = 0
            num = 0
            den = 1
            for q in range(a, b + 2):
                f = 0
                if q <= b:
                    g = gap[base + q]
                    f = g * g
                while True:
                    p = vertex[top]
                    num = (f + q * q) - (height_at[top] + p * p)
                    den = 2 * (q - p)
                    # the new parabola hides the top one when it starts where the top starts
                    if top > 0 and num * start_den[top] <= start_num[top] * den:
                        top -= 1
                        continue
                    break
                top += 1
                vertex[top] = q
                height_at[top] = f
                start_num[top] = num
                start_den[top] = den
            k = 0
            for x in range(a, b + 1):
                while k < top and start_num[k + 1] < x * start_den[k + 1]:
                    k += 1
                d = x - vertex[k]
                dist2[base + x] = d * d + height_at[k]


@njit(parallel=True, cache=True)
def object_sums_cpu(ids, pixels, offsets, slots, r0, c0, r1, c1, ybar, xbar):
    """:func:`._shape_math.object_sums` of every object ``k`` (slot ``slots[k]``, bounding box
    rows ``r0[k]:r1[k]``, columns ``c0[k]:c1[k]``): (n, N_SUMS). Parallel over objects, each
    with the distance transform of its crop (:func:`object_distance2_cpu`)."""
    n_objects = slots.shape[0]
    out = np.zeros((n_objects, N_SUMS), np.float64)
    values = np.empty(pixels.shape[0], np.float64)
    for k in prange(n_objects):
        stack_start = np.empty(_PW_STACK, np.int64)
        stack_n = np.empty(_PW_STACK, np.int64)
        stack_stage = np.empty(_PW_STACK, np.int64)
        partial = np.empty(_PW_STACK, np.float64)
        histogram = np.empty(_CODES, np.float64)
        h = r1[k] - r0[k]
        w = c1[k] - c0[k]
        gap = np.empty(h * w, np.int64)
        dist2 = np.empty(h * w, np.int64)
        vertex = np.empty(w + 2, np.int64)
        height_at = np.empty(w + 2, np.int64)
        start_num = np.empty(w + 2, np.int64)
        start_den = np.empty(w + 2, np.int64)
        s = slots[k]
        object_distance2_cpu(ids, s, r0[k], c0[k], r1[k], c1[k], gap, dist2, vertex,
                             height_at, start_num, start_den)
        start = offsets[s]
        _object_sums(ids, dist2.reshape((h, w)), r0[k], c0[k], pixels, start,
                     offsets[s + 1] - start, r0[k], c0[k], ybar[k], xbar[k], out, k, values,
                     histogram, stack_start, stack_n, stack_stage, partial)
    return out


@njit(parallel=True, cache=True)
def column_extremes_cpu(pixels, offsets, slots, first, last, width):
    """Per object, its top and bottom row in each of its columns, from the object index's CSR.

    The CPU twin of :func:`.geometry.column_extremes` (same layout), parallel over objects:
    object ``o`` (1..n, slot ``slots[o - 1]``, columns ``first[o - 1]..last[o - 1]``, int64)
    covers columns ``first[o - 1] + k`` for ``k < offset[o] - offset[o - 1]``; ``lower`` /
    ``upper`` (int32) hold INT32_MAX / -1 where a column has none of its pixels. Returns
    ``(first, offset, lower, upper)``.
    """
    n_objects = slots.shape[0]
    offset = np.zeros(n_objects + 1, np.int64)
    for o in range(n_objects):
        offset[o + 1] = offset[o] + max(last[o] - first[o] + 1, 0)
    lower = np.empty(offset[n_objects], np.int32)
    upper = np.empty(offset[n_objects], np.int32)
    for o in prange(n_objects):
        for k in range(offset[o], offset[o + 1]):
            lower[k] = 2147483647
            upper[k] = -1
        s = slots[o]
        for t in range(offsets[s], offsets[s + 1]):  # raster order: rows only increase
            p = pixels[t]
            r = p // width
            k = offset[o] + (p - r * width) - first[o]
            if lower[k] > r:
                lower[k] = r
            upper[k] = r
    return first, offset, lower, upper


@njit(inline="always")
def _cross(ox, oy, ax, ay, bx, by):
    return (ax - ox) * (by - oy) - (ay - oy) * (bx - ox)


@njit(inline="always")
def _chain(xs, ys, n, sign, hx, hy):
    """Andrew's monotone chain over points sorted by x: the lower (``sign`` 1) or upper
    (``sign`` -1) convex chain, collinear points dropped. Returns its length."""
    m = 0
    for i in range(n):
        while m >= 2 and sign * _cross(hx[m - 2], hy[m - 2], hx[m - 1], hy[m - 1], xs[i],
                                       ys[i]) <= 0:
            m -= 1
        hx[m] = xs[i]
        hy[m] = ys[i]
        m += 1
    return m


@njit(inline="always")
def _floor_div(a, b):
    return a // b


@njit(inline="always")
def _chain_height(cx, cy, n, i, x):
    """The height of a chain at x on its segment i..i + 1 (its one point if n == 1), as the
    fraction num / den (den > 0)."""
    if n == 1:
        return cy[0], 1
    den = cx[i + 1] - cx[i]
    return cy[i] * den + (x - cx[i]) * (cy[i + 1] - cy[i]), den


@njit(inline="always")
def _count_between(lx, ly, nl, ux, uy, nu, x0, x1):
    """Pixel centres (2r, 2c) on or inside the polygon between a lower and an upper chain
    (doubled coordinates, x = 2 * column), for columns c with x0 <= 2c <= x1."""
    total = 0
    il = 0
    iu = 0
    c = (x0 + 1) // 2
    while 2 * c <= x1:
        x = 2 * c
        while il + 1 < nl - 1 and lx[il + 1] < x:
            il += 1
        while iu + 1 < nu - 1 and ux[iu + 1] < x:
            iu += 1
        # lower bound y >= ly + (x - lx) * slope: r >= ceil(y / 2)
        num_l, den_l = _chain_height(lx, ly, nl, il, x)
        num_u, den_u = _chain_height(ux, uy, nu, iu, x)
        r_low = -_floor_div(-num_l, 2 * den_l)
        r_high = _floor_div(num_u, 2 * den_u)
        if r_high >= r_low:
            total += r_high - r_low + 1
        c += 1
    return total


@njit(parallel=True, cache=True)
def hull_features_cpu(first, offset, lower, upper):
    """Per object: ``(MinFeretDiameter, MaxFeretDiameter, ConvexArea)``, (n, 3) float64.

    Feret diameters (centrosome): the convex hull of the pixel centres; the largest vertex
    distance, and the smallest over hull edges of the largest vertex distance to the edge's
    line, in exact integer arithmetic with one division and one square root. ConvexArea
    (skimage ``convex_hull_image``): the pixel centres on or inside the hull of the pixels'
    edge midpoints, counted exactly in doubled coordinates. Both hulls depend only on each
    column's top and bottom pixel.
    """
    n = first.shape[0]
    out = np.zeros((n, 3), np.float64)
    for o in prange(n):
        width = offset[o + 1] - offset[o]
        if width == 0:
            out[o, 0] = np.nan
            out[o, 1] = np.nan
            out[o, 2] = np.nan
            continue
        # --- pixel centres: lower chain on the top rows, upper chain on the bottom rows
        xs = np.empty(width, np.int64)
        top = np.empty(width, np.int64)
        bottom = np.empty(width, np.int64)
        m = 0
        for k in range(width):
            t = lower[offset[o] + k]
            if t <= upper[offset[o] + k]:
                xs[m] = first[o] + k
                top[m] = t
                bottom[m] = upper[offset[o] + k]
                m += 1
        hx = np.empty(2 * m + 2, np.int64)
        hy = np.empty(2 * m + 2, np.int64)
        nl = _chain(xs, top, m, 1, hx, hy)
        ux = np.empty(m + 1, np.int64)
        uy = np.empty(m + 1, np.int64)
        nu = _chain(xs, bottom, m, -1, ux, uy)
        # the polygon: lower chain left to right, then the upper chain right to left
        h = nl
        for k in range(nu - 1, -1, -1):
            if (k == nu - 1 and ux[k] == hx[h - 1] and uy[k] == hy[h - 1]) or (
                    k == 0 and ux[k] == hx[0] and uy[k] == hy[0]):
                continue
            hx[h] = ux[k]
            hy[h] = uy[k]
            h += 1
        far = 0
        for i in range(h):
            for j in range(i + 1, h):
                d = (hx[i] - hx[j]) ** 2 + (hy[i] - hy[j]) ** 2
                if d > far:
                    far = d
        out[o, 1] = np.sqrt(np.float64(far))
        if h <= 2:
            out[o, 0] = 0.0
        else:
            best = np.inf
            for i in range(h):
                j = (i + 1) % h
                den = (hx[j] - hx[i]) ** 2 + (hy[j] - hy[i]) ** 2
                widest = 0
                for v in range(h):
                    cr = (hy[i] - hy[j]) * (hx[i] - hx[v]) - (hy[i] - hy[v]) * (hx[i] - hx[j])
                    if cr * cr > widest:
                        widest = cr * cr
                value = np.float64(widest) / np.float64(den)
                if value < best:
                    best = value
            out[o, 0] = np.sqrt(best)
        # --- edge midpoints, doubled: x = 2c +- 1 and 2c; per x the smallest and largest y
        span = 2 * width + 1
        x0 = 2 * first[o] - 1
        ylo = np.full(span, np.int64(1) << 40)
        yhi = np.full(span, -(np.int64(1) << 40))
        for k in range(width):
            t = lower[offset[o] + k]
            b = upper[offset[o] + k]
            if t > b:
                continue
            i = 2 * k + 1  # x = 2c
            ylo[i] = min(ylo[i], 2 * t - 1)
            yhi[i] = max(yhi[i], 2 * b + 1)
            for i in (2 * k, 2 * k + 2):  # x = 2c -+ 1
                ylo[i] = min(ylo[i], 2 * t)
                yhi[i] = max(yhi[i], 2 * b)
        px = np.empty(span, np.int64)
        plo = np.empty(span, np.int64)
        phi = np.empty(span, np.int64)
        q = 0
        for i in range(span):
            if yhi[i] >= ylo[i]:
                px[q] = x0 + i
                plo[q] = ylo[i]
                phi[q] = yhi[i]
                q += 1
        lx = np.empty(q, np.int64)
        ly = np.empty(q, np.int64)
        mx = np.empty(q, np.int64)
        my = np.empty(q, np.int64)
        nl2 = _chain(px, plo, q, 1, lx, ly)
        nu2 = _chain(px, phi, q, -1, mx, my)
        out[o, 2] = np.float64(_count_between(lx, ly, nl2, mx, my, nu2, px[0], px[q - 1]))
    return out
