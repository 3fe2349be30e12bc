"""CPU kernels for per-object Zernike moment sums (numba, parallel over objects).

The label image is first cut into horizontal runs of one object, grouped by object in row-major
order. Each object is then summed by one thread, in an order fixed by its pixels alone, so the
result does not depend on the number of threads and no atomics or partial buffers are needed.
"""

from __future__ import annotations

import contextlib
import math
from typing import Iterator

import numba
import numpy as np
from llvmlite import ir
from numba import njit, prange
from numba.core import types
from numba.extending import intrinsic

from .. import _numba_cache
from ._zernike_math import build

_numba_cache.register()  # cached kernels also depend on the shared helper module


@njit(inline="always")
def _mul(a, b):
    return a * b


@njit(inline="always")
def _add(a, b):
    return a + b


@intrinsic
def _fma_intrinsic(typingctx, a, b, c):
    """a * b + c rounded once (llvm.fma: the FMA instruction, or libm's fma without one)."""
    signature = types.float64(types.float64, types.float64, types.float64)

    def codegen(context, builder, sig, args):
        double = ir.DoubleType()
        fma = builder.module.declare_intrinsic(
            "llvm.fma", [double], ir.FunctionType(double, [double, double, double])
        )
        return builder.call(fma, args)

    return signature, codegen


@njit(inline="always")
def _fma(a, b, c):
    return _fma_intrinsic(a, b, c)


unit_disk, complex_mul, integer_power, cellprofiler_terms, mahotas_terms = build(
    _mul, _add, _fma, njit(inline="always")
)


@contextlib.contextmanager
def threads_for(work: int, work_per_thread: int) -> Iterator[None]:
    """Run the numba kernels inside with at most one thread per ``work_per_thread`` units.

    Starting a parallel region costs tens of microseconds on an idle machine and up to a
    scheduler time slice on a busy one, so small calls run on one thread. The kernels' results
    do not depend on the number of threads.
    """
    before = numba.get_num_threads()
    wanted = max(1, min(before, int(work) // max(int(work_per_thread), 1)))
    if wanted == before:
        yield
        return
    numba.set_num_threads(wanted)
    try:
        yield
    finally:
        numba.set_num_threads(before)


#: Rough work units worth one thread: pixels scanned (object_runs), pixel-moments (~1 ns each
#: for CellProfiler's basis, ~20 ns for mahotas').
RUN_PIXELS_PER_THREAD = 1 << 19
MOMENT_TERMS_PER_THREAD = 1 << 21
MAHOTAS_TERMS_PER_THREAD = 1 << 17


@njit(parallel=True, cache=True)
def object_runs(ids, n_slots):
    """Horizontal runs of every slot, grouped by slot, each group in row-major order.

    Parameters
    ----------
    ids : int32 array (H, W)
        Slot of every pixel, 0 = background.
    n_slots : int

    Returns
    -------
    offsets : int64 array (n_slots + 1,)
        The runs of slot ``s`` are ``offsets[s]:offsets[s + 1]``.
    rows, starts, stops : int32 arrays (n_runs,)
        Row and column range ``[start, stop)`` of every run.
    area : int64 array (n_slots,)
        Pixel count of every slot (slot 0 is not counted).
    """
    height, width = ids.shape
    per_row = np.zeros(height + 1, np.int64)
    for r in prange(height):
        n = 0
        previous = 0
        for c in range(width):
            s = ids[r, c]
            if s != previous:
                if s != 0:
                    n += 1
                previous = s
        per_row[r + 1] = n
    for r in range(height):
        per_row[r + 1] += per_row[r]
    n_runs = per_row[height]
    run_slot = np.empty(n_runs, np.int32)
    run_row = np.empty(n_runs, np.int32)
    run_start = np.empty(n_runs, np.int32)
    run_stop = np.empty(n_runs, np.int32)
    for r in prange(height):
        q = per_row[r]
        previous = 0
        for c in range(width):
            s = ids[r, c]
            if s != previous:
                if previous != 0:
                    run_stop[q - 1] = c
                if s != 0:
                    run_slot[q] = s
                    run_row[q] = r
                    run_start[q] = c
                    q += 1
                previous = s
        if previous != 0:
            run_stop[q - 1] = width

    # stable counting sort of the runs by slot
    offsets = np.zeros(n_slots + 1, np.int64)
    area = np.zeros(n_slots, np.int64)
    for q in range(n_runs):
        offsets[run_slot[q] + 1] += 1
        area[run_slot[q]] += run_stop[q] - run_start[q]
    for s in range(n_slots):
        offsets[s + 1] += offsets[s]
    fill = offsets[:-1].copy()
    rows = np.empty(n_runs, np.int32)
    starts = np.empty(n_runs, np.int32)
    stops = np.empty(n_runs, np.int32)
    for q in range(n_runs):
        p = fill[run_slot[q]]
        fill[run_slot[q]] = p + 1
        rows[p] = run_row[q]
        starts[p] = run_start[q]
        stops[p] = run_stop[q]
    return offsets, rows, starts, stops, area


# An object's sums use 8 interleaved partial sums (element p goes to partial p % 8), added
# pairwise at the end: a fixed order, independent of the machine and the number of threads, and
# eight independent addition chains for the processor.


@njit(inline="always")
def _combine(s0, s1, s2, s3, s4, s5, s6, s7):
    return ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7))


@njit(inline="always")
def _sum(a, n):
    """sum(a[:n]) with 8 interleaved partial sums."""
    s0 = s1 = s2 = s3 = s4 = s5 = s6 = s7 = 0.0
    full = n - n % 8
    for p in range(0, full, 8):
        s0 += a[p]
        s1 += a[p + 1]
        s2 += a[p + 2]
        s3 += a[p + 3]
        s4 += a[p + 4]
        s5 += a[p + 5]
        s6 += a[p + 6]
        s7 += a[p + 7]
    rest = n - full
    if rest > 0:
        s0 += a[full]
    if rest > 1:
        s1 += a[full + 1]
    if rest > 2:
        s2 += a[full + 2]
    if rest > 3:
        s3 += a[full + 3]
    if rest > 4:
        s4 += a[full + 4]
    if rest > 5:
        s5 += a[full + 5]
    if rest > 6:
        s6 += a[full + 6]
    return _combine(s0, s1, s2, s3, s4, s5, s6, s7)


@njit(inline="always")
def _dot2(a, b, c, n):
    """(sum(a[:n] * b[:n]), sum(a[:n] * c[:n])) in one pass, in the order of :func:`_sum`."""
    s0 = s1 = s2 = s3 = s4 = s5 = s6 = s7 = 0.0
    t0 = t1 = t2 = t3 = t4 = t5 = t6 = t7 = 0.0
    full = n - n % 8
    for p in range(0, full, 8):
        s0 += a[p] * b[p]
        s1 += a[p + 1] * b[p + 1]
        s2 += a[p + 2] * b[p + 2]
        s3 += a[p + 3] * b[p + 3]
        s4 += a[p + 4] * b[p + 4]
        s5 += a[p + 5] * b[p + 5]
        s6 += a[p + 6] * b[p + 6]
        s7 += a[p + 7] * b[p + 7]
        t0 += a[p] * c[p]
        t1 += a[p + 1] * c[p + 1]
        t2 += a[p + 2] * c[p + 2]
        t3 += a[p + 3] * c[p + 3]
        t4 += a[p + 4] * c[p + 4]
        t5 += a[p + 5] * c[p + 5]
        t6 += a[p + 6] * c[p + 6]
        t7 += a[p + 7] * c[p + 7]
    rest = n - full
    if rest > 0:
        s0 += a[full] * b[full]
        t0 += a[full] * c[full]
    if rest > 1:
        s1 += a[full + 1] * b[full + 1]
        t1 += a[full + 1] * c[full + 1]
    if rest > 2:
        s2 += a[full + 2] * b[full + 2]
        t2 += a[full + 2] * c[full + 2]
    if rest > 3:
        s3 += a[full + 3] * b[full + 3]
        t3 += a[full + 3] * c[full + 3]
    if rest > 4:
        s4 += a[full + 4] * b[full + 4]
        t4 += a[full + 4] * c[full + 4]
    if rest > 5:
        s5 += a[full + 5] * b[full + 5]
        t5 += a[full + 5] * c[full + 5]
    if rest > 6:
        s6 += a[full + 6] * b[full + 6]
        t6 += a[full + 6] * c[full + 6]
    return _combine(s0, s1, s2, s3, s4, s5, s6, s7), _combine(t0, t1, t2, t3, t4, t5, t6, t7)


@njit(parallel=True, cache=True)
def cellprofiler_sums_cpu(
    offsets, rows, starts, stops, area, object_slot, image, ci, cj, radius, with_weight,
    coeffs, cstart, first, count,
):
    """Per-object sums of V_nm (shape) and, with ``with_weight``, of I V_nm over kept pixels.

    One thread per object. The object's kept pixels (r^2 <= 1) are gathered into buffers, and
    every moment is evaluated for all of them at once (loops over pixels that the compiler
    vectorises): the same operations in the same order per pixel as the GPU kernel and
    :func:`._zernike_math.build`'s ``cellprofiler_terms`` (Horner in r^2, then times z^m, the
    weight applied to the polynomial first), so the per-pixel values are bit-identical; the
    object's sum is then taken with eight interleaved partial sums.

    Parameters
    ----------
    offsets, rows, starts, stops, area : from :func:`object_runs`
    object_slot : int64 array (n_objects + 1,)
        Slot of every object (row 0 is unused: the background).
    image : uint16 or float64 array (H, W), or (1, 1) when ``with_weight`` is False
    ci, cj, radius : float64 arrays (n_objects + 1,)
        Circle of every object (pixel centres at integer (row, col)).
    with_weight : bool
    coeffs, cstart, first, count : moment tables (see :mod:`._zernike_math`).

    Returns
    -------
    shape_re, shape_im, weight_re, weight_im : float64 arrays (n_objects + 1, K)
        K = number of moments, in group-major order; row 0 is zero; the weighted pair has no
        columns without ``with_weight``.
    """
    n_rows = object_slot.shape[0]
    n_moments = cstart.shape[0] - 1
    n_groups = first.shape[0]
    k_weight = n_moments if with_weight else 0
    shape_re = np.zeros((n_rows, n_moments), np.float64)
    shape_im = np.zeros((n_rows, n_moments), np.float64)
    weight_re = np.zeros((n_rows, k_weight), np.float64)
    weight_im = np.zeros((n_rows, k_weight), np.float64)
    for o in prange(1, n_rows):
        s = object_slot[o]
        rad = radius[o]
        if offsets[s] == offsets[s + 1] or not rad > 0.0:
            continue  # no pixel, or a one-pixel object (radius 0: its row becomes NaN)
        size = area[s]
        xs = np.empty(size, np.float64)
        ys = np.empty(size, np.float64)
        r2s = np.empty(size, np.float64)
        ws = np.empty(size if with_weight else 0, np.float64)
        c_i = ci[o]
        c_j = cj[o]
        n = 0
        for q in range(offsets[s], offsets[s + 1]):
            r = rows[q]
            for c in range(starts[q], stops[q]):
                x, y, r2 = unit_disk(r, c, c_i, c_j, rad)
                if r2 <= 1.0:  # CellProfiler drops r2 > 1
                    xs[n] = x
                    ys[n] = y
                    r2s[n] = r2
                    if with_weight:
                        ws[n] = np.float64(image[r, c])
                    n += 1
        zr = np.ones(n, np.float64)
        zi = np.zeros(n, np.float64)
        poly = np.empty(n, np.float64)
        weighted = np.empty(n if with_weight else 0, np.float64)
        for m in range(n_groups):
            if m > 0:
                for p in range(n):  # z^m = z^(m-1) z, z = y + i x (numpy's complex product)
                    a_r = zr[p]
                    a_i = zi[p]
                    zr[p] = a_r * ys[p] - a_i * xs[p]
                    zi[p] = a_r * xs[p] + a_i * ys[p]
            for j in range(count[m]):
                k = first[m] + j
                c0 = coeffs[cstart[k]]
                for p in range(n):
                    poly[p] = c0
                for t in range(cstart[k] + 1, cstart[k + 1]):
                    coefficient = coeffs[t]
                    for p in range(n):  # Horner in r^2
                        poly[p] = poly[p] * r2s[p] + coefficient
                if m == 0:
                    shape_re[o, k] = _sum(poly, n)
                else:
                    shape_re[o, k], shape_im[o, k] = _dot2(poly, zr, zi, n)
                if with_weight:
                    for p in range(n):
                        weighted[p] = poly[p] * ws[p]
                    if m == 0:
                        weight_re[o, k] = _sum(weighted, n)
                    else:
                        weight_re[o, k], weight_im[o, k] = _dot2(weighted, zr, zi, n)
    return shape_re, shape_im, weight_re, weight_im


@njit(parallel=True, cache=True)
def mahotas_sums_cpu(offsets, rows, starts, stops, object_slot, image, ci, cj, radius,
                     fused_square, coeffs, cstart, first, count):
    """Per-object sums of I conj(V_nl) in mahotas' arithmetic over its kept pixels.

    Keeps pixels with max(sqrt(r^2), 1e-9) <= 1; each object is summed by one thread in
    row-major order. Arguments as :func:`cellprofiler_sums_cpu`; returns ``(re, im)``, float64
    (n_objects + 1, K), group-major moments.
    """
    n_rows = object_slot.shape[0]
    n_moments = cstart.shape[0] - 1
    n_groups = first.shape[0]
    sums_re = np.zeros((n_rows, n_moments), np.float64)
    sums_im = np.zeros((n_rows, n_moments), np.float64)
    for o in prange(1, n_rows):
        s = object_slot[o]
        rad = radius[o]
        if offsets[s] == offsets[s + 1] or not rad > 0.0:
            continue
        acc_re = np.zeros(n_moments, np.float64)
        acc_im = np.zeros(n_moments, np.float64)
        c_i = ci[o]
        c_j = cj[o]
        for q in range(offsets[s], offsets[s + 1]):
            r = rows[q]
            for c in range(starts[q], stops[q]):
                x, y, r2 = unit_disk(r, c, c_i, c_j, rad)
                rho = math.sqrt(r2)
                if rho < 1e-9:
                    rho = 1e-9
                if not rho <= 1.0:
                    continue
                w = np.float64(image[r, c])
                ar = x / rho
                ai = y / rho
                for m in range(n_groups):
                    pr, pi = integer_power(ar, ai, m, fused_square)
                    mahotas_terms(
                        m, pr, pi, rho, w, coeffs, cstart, first, count, acc_re, acc_im, first[m]
                    )
        for k in range(n_moments):
            sums_re[o, k] = acc_re[k]
            sums_im[o, k] = acc_im[k]
    return sums_re, sums_im


@njit(cache=True)
def center_of_mass(image):
    """Intensity-weighted centre (row, col) summed sequentially in row-major order, as mahotas'
    ``center_of_mass`` does (so that rim pixels are kept or dropped exactly as there)."""
    height, width = image.shape
    total = 0.0
    sum_r = 0.0
    sum_c = 0.0
    for r in range(height):
        for c in range(width):
            v = image[r, c]
            total += v
            sum_c += v * np.float64(c)
            sum_r += v * np.float64(r)
    if total == 0.0:
        return np.nan, np.nan  # mahotas divides by zero: no pixel can qualify
    return sum_r / total, sum_c / total
