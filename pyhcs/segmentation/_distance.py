"""Exact Euclidean distance transform of a 2-D mask on the CPU, parallel (numba).

``scipy.ndimage.distance_transform_edt`` runs on one thread; this is the separable algorithm
of Felzenszwalb & Huttenlocher (2012): per column the distance :math:`g` to the nearest
background pixel of the column, then per row the lower envelope of the parabolas
:math:`(x - v)^2 + g(v)^2`, only over the runs of foreground pixels (a run's nearest
background pixel in its row bounds the columns that can matter). Every quantity is an integer
and the envelope's intersections are compared by cross-multiplication in int64, so the
squared distance of every pixel is exact;
the result, :math:`\\sqrt{d^2}` in float64, equals scipy's (which takes the square root of the
same integer sum of squares) bit for bit.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import njit, prange

from .. import _numba_cache
from .._backend import Namespace

__all__ = ["distance_transform", "distance_transform_edt_cpu"]

_numba_cache.register()  # cached kernels are invalidated by any pyhcs source change

_NONE = np.int32(np.iinfo(np.int32).max)  # "no background pixel in this column"
_BAND = 64  # columns per task of the column pass


@njit(inline="always")
def _square(g, r, c):  # pragma: no cover
    """The squared column distance :math:`g(r, c)^2` in int64 (``g`` holds it unsquared)."""
    value = np.int64(g[r, c])
    return value * value


@njit(parallel=True, cache=True)
def _edt_kernel(foreground, out):  # pragma: no cover
    height, width = foreground.shape
    # The distance to the nearest background pixel of the column, unsquared in int32 (half
    # the memory traffic of int64 squares; squared in int64 where used).
    g = np.empty((height, width), np.int32)
    # The column pass sweeps whole rows (a column at a time would read one cache line per
    # pixel), in parallel over bands of columns: the last and next background row per column.
    n_bands = (width + _BAND - 1) // _BAND
    for band in prange(n_bands):
        c0 = band * _BAND
        c1 = min(c0 + _BAND, width)
        n = c1 - c0
        # Branch-free (selects, which vectorise): a background pixel is its own last and
        # next background row, so its g comes out 0.
        last = np.full(n, -1, np.int32)
        for r in range(height):
            row_foreground = foreground[r, c0:c1]
            row_g = g[r, c0:c1]
            for i in range(n):
                seen = last[i] if row_foreground[i] else np.int32(r)
                last[i] = seen
                row_g[i] = np.int32(r) - seen if seen >= 0 else _NONE
        last[:] = -1
        for r in range(height - 1, -1, -1):
            row_foreground = foreground[r, c0:c1]
            row_g = g[r, c0:c1]
            for i in range(n):
                seen = last[i] if row_foreground[i] else np.int32(r)
                last[i] = seen
                row_g[i] = min(row_g[i], seen - np.int32(r) if seen >= 0 else _NONE)
    for r in prange(height):
        v = np.empty(width, np.int64)  # the columns whose parabolas form the envelope
        q = 0
        while q < width:
            if not foreground[r, q]:
                out[r, q] = 0.0
                q += 1
                continue
            # A run of foreground pixels [start, stop): the background pixel next to it in the
            # row (when there is one) is nearer than any column beyond it, so the envelope of
            # the columns from that pixel to the one after the run gives the same minimum.
            start = q
            while q < width and foreground[r, q]:
                q += 1
            stop = q
            _envelope_run(g, r, max(start - 1, 0), min(stop, width - 1), start, stop, v, out)


@njit(inline="always")
def _envelope_run(g, r, lo, hi, start, stop, v, out):  # pragma: no cover
    """``out[r, start:stop]``: the square root of the lower envelope, over the columns
    ``lo..hi`` (inclusive), of the parabolas :math:`(x - v)^2 + g(r, v)^2`."""
    k = -1
    for q in range(lo, hi + 1):
        if g[r, q] == _NONE:
            continue
        fq = _square(g, r, q)
        while k >= 1:
            # intersection of q with v[k], s1 = n1 / d1, against v[k] with v[k - 1]
            a = v[k]
            b = v[k - 1]
            n1 = fq + q * q - _square(g, r, a) - a * a
            d1 = 2 * (q - a)
            n2 = _square(g, r, a) + a * a - _square(g, r, b) - b * b
            d2 = 2 * (a - b)
            if n1 * d2 <= n2 * d1:
                k -= 1
            else:
                break
        k += 1
        v[k] = q
    j = 0
    for q in range(start, stop):
        while j < k:
            a = v[j + 1]
            b = v[j]
            n = _square(g, r, a) + a * a - _square(g, r, b) - b * b  # v[j+1] meets v[j]
            d = 2 * (a - b)
            if n < q * d:
                j += 1
            else:
                break
        x = q - v[j]
        out[r, q] = np.sqrt(np.float64(x * x + _square(g, r, v[j])))


def distance_transform_edt_cpu(foreground: np.ndarray) -> np.ndarray:
    """``scipy.ndimage.distance_transform_edt(foreground)`` for a 2-D mask, bit for bit.

    The Euclidean distance of every nonzero pixel to the nearest zero pixel (0 on zero
    pixels), float64, (H, W). Without any zero pixel scipy's own result is returned.
    """
    foreground = np.ascontiguousarray(foreground, dtype=np.bool_)
    if foreground.ndim != 2 or foreground.all():
        from scipy import ndimage

        return ndimage.distance_transform_edt(foreground)
    out = np.empty(foreground.shape, np.float64)
    _edt_kernel(foreground, out)
    return out


def distance_transform(foreground: Any, ns: Namespace) -> Any:
    """``distance_transform_edt`` on ``ns``'s device: the parallel exact kernel on the CPU
    (scipy's values), ``cupyx.scipy.ndimage`` on the GPU."""
    if ns.target == "cpu" and foreground.ndim == 2:
        return distance_transform_edt_cpu(foreground)
    return ns.ndimage.distance_transform_edt(foreground)
