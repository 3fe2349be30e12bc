"""numpy 1.x's default float64 ``argsort`` (introsort), the order CellProfiler 5 breaks ties in.

CellProfiler 5 pins numpy 1.26. Its ``scipy.ndimage.minimum_position`` sorts with
``ndarray.argsort()``, and which of several equal values comes first decides, for example,
which co-circular hull vertex centrosome's minimum enclosing circle keeps, whose last bits
then decide whether a rim pixel lies inside the circle of CellProfiler's Zernike features.
numpy 2 sorts small and large arrays with SIMD networks (x86-simd-sort, also on AVX2) that
order equal values differently, so following the installed numpy 2 disagrees with
CellProfiler on tied objects. This is numpy 1.26's generic ``aquicksort`` for doubles
(median-of-3 quicksort, insertion sort from 16 elements down, heapsort past a depth of
2 floor(log2 n), NaN last), the path it takes on every machine without AVX-512.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .. import _numba_cache

_numba_cache.register()

_SMALL_QUICKSORT = 15
_STACK = 128


@njit(inline="always")
def _less(a, b):
    return a < b or (b != b and a == a)


@njit(inline="always")
def _sift_down(v, order, base, i, n, tmp):
    """Sink ``tmp`` from heap slot ``i`` (1-based, slots ``base + 1 .. base + n``)."""
    j = i << 1
    while j <= n:
        if j < n and _less(v[order[base + j]], v[order[base + j + 1]]):
            j += 1
        if _less(v[tmp], v[order[base + j]]):
            order[base + i] = order[base + j]
            i = j
            j += j
        else:
            break
    order[base + i] = tmp


@njit(cache=True)
def _heapsort(v, order, start, n):
    """numpy's ``aheapsort`` on ``order[start:start + n]``."""
    base = start - 1
    for l in range(n >> 1, 0, -1):
        _sift_down(v, order, base, l, n, order[base + l])
    while n > 1:
        tmp = order[base + n]
        order[base + n] = order[base + 1]
        n -= 1
        _sift_down(v, order, base, 1, n, tmp)


@njit(cache=True)
def _argsort(v):
    num = v.shape[0]
    order = np.arange(num, dtype=np.int64)
    if num < 2:
        return order
    stack = np.empty(_STACK, np.int64)
    depths = np.empty(_STACK, np.int64)
    sp = 0
    dp = 0
    depth = 0
    m = num
    while m > 1:
        m >>= 1
        depth += 1
    depth *= 2
    pl = 0
    pr = num - 1
    while True:
        if depth < 0:
            _heapsort(v, order, pl, pr - pl + 1)
        else:
            while pr - pl > _SMALL_QUICKSORT:
                pm = pl + ((pr - pl) >> 1)
                if _less(v[order[pm]], v[order[pl]]):
                    order[pm], order[pl] = order[pl], order[pm]
                if _less(v[order[pr]], v[order[pm]]):
                    order[pr], order[pm] = order[pm], order[pr]
                if _less(v[order[pm]], v[order[pl]]):
                    order[pm], order[pl] = order[pl], order[pm]
                vp = v[order[pm]]
                pi = pl
                pj = pr - 1
                order[pm], order[pj] = order[pj], order[pm]
                while True:
                    pi += 1
                    while _less(v[order[pi]], vp):
                        pi += 1
                    pj -= 1
                    while _less(vp, v[order[pj]]):
                        pj -= 1
                    if pi >= pj:
                        break
                    order[pi], order[pj] = order[pj], order[pi]
                pk = pr - 1
                order[pi], order[pk] = order[pk], order[pi]
                if pi - pl < pr - pi:  # push the larger partition
                    stack[sp] = pi + 1
                    stack[sp + 1] = pr
                    pr = pi - 1
                else:
                    stack[sp] = pl
                    stack[sp + 1] = pi - 1
                    pl = pi + 1
                sp += 2
                depth -= 1  # numpy checks the depth only for partitions it pops
                depths[dp] = depth
                dp += 1
            for pi in range(pl + 1, pr + 1):  # insertion sort
                vi = order[pi]
                vp = v[vi]
                pj = pi
                while pj > pl and _less(vp, v[order[pj - 1]]):
                    order[pj] = order[pj - 1]
                    pj -= 1
                order[pj] = vi
        if sp == 0:
            break
        sp -= 2
        pl = stack[sp]
        pr = stack[sp + 1]
        dp -= 1
        depth = depths[dp]
    return order


def legacy_argsort(values) -> np.ndarray:
    """``values.argsort()`` as numpy 1.26 computes it (float64, 1-D); int64 permutation."""
    return _argsort(np.ascontiguousarray(values, dtype=np.float64).ravel())
