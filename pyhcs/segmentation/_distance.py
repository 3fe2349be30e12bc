"""Exact Euclidean distance transform of a 2-D mask on the CPU, parallel (numba).

``scipy.ndimage.distance_transform_edt`` runs on one thread; this is the separable algorithm
of Felzenszwalb & Huttenlocher (2012): per column the squared distance :math:`g` to the nearest
background pixel of the column, then per row the lower envelope of the parabolas
:math:`(x - v)^2 + g(v)`. Every quantity is an integer and the envelope's intersections are
compared by cross-multiplication in int64, so the squared distance of every pixel is exact;
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

_NONE = np.int64(1) << 62  # "no background pixel in this column"
_BAND = 64  # columns per task of the column pass


@njit(parallel=True, cache=True)
def _edt_kernel(foreground, out):  # pragma: no cover
    height, width = foreground.shape
    g = np.empty((height, width), np.int64)
    # The column pass sweeps whole rows (a column at a time would read one cache line per
    # pixel), in parallel over bands of columns: the last and next background row per column.
    n_bands = (width + _BAND - 1) // _BAND
    for band in prange(n_bands):
        c0 = band * _BAND
        c1 = min(c0 + _BAND, width)
        last = np.full(c1 - c0, -1, np.int64)
        for r in range(height):
            for c in range(c0, c1):
                if not foreground[r, c]:
                    last[c - c0] = r
                    g[r, c] = 0
                elif last[c - c0] >= 0:
                    g[r, c] = (r - last[c - c0]) * (r - last[c - c0])
                else:
                    g[r, c] = _NONE
        last[:] = -1
        for r in range(height - 1, -1, -1):
            for c in range(c0, c1):
                if not foreground[r, c]:
                    last[c - c0] = r
                elif last[c - c0] >= 0:
                    d = (last[c - c0] - r) * (last[c - c0] - r)
                    if d < g[r, c]:
                        g[r, c] = d
    for r in prange(height):
        v = np.empty(width, np.int64)  # the columns whose parabolas form the envelope
        k = -1
        for q in range(width):
            fq = g[r, q]
            if fq == _NONE:
                continue
            while k >= 1:
                # intersection of q with v[k], s1 = n1 / d1, against v[k] with v[k - 1]
                a = v[k]
                b = v[k - 1]
                n1 = fq + q * q - g[r, a] - a * a
                d1 = 2 * (q - a)
                n2 = g[r, a] + a * a - g[r, b] - b * b
                d2 = 2 * (a - b)
                if n1 * d2 <= n2 * d1:
                    k -= 1
                else:
                    break
            k += 1
            v[k] = q
        j = 0
        for q in range(width):
            while j < k:
                a = v[j + 1]
                b = v[j]
                n = g[r, a] + a * a - g[r, b] - b * b  # intersection of v[j+1] with v[j]
                d = 2 * (a - b)
                if n < q * d:
                    j += 1
                else:
                    break
            x = q - v[j]
            out[r, q] = np.sqrt(np.float64(x * x + g[r, v[j]]))


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
