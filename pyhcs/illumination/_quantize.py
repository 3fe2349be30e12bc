"""centrosome's rank-order quantisation to at most 256 levels, reproduced exactly.

``centrosome.rankorder.rank_order(values, nbins=255)`` first gives every pixel the rank of
its value among the distinct values (0 for the smallest), then, while the highest rank is at
least ``nbins``, merges rarely used levels into their lower neighbour:

1. ``hist`` = pixel count per level (int64), ``order = numpy.argsort(hist)`` (numpy's
   default sort kind: the tie order among equal counts is numpy's, and decides the merges);
2. the first ``max_rank + 2 - nbins`` levels of ``order`` are candidates;
3. a candidate level ``i`` is merged unless the next level is a candidate too and bit 1 of
   ``i`` is set (``i & 2``), and level 0 is never merged;
4. a merged level takes the rank of the level below it; the surviving levels keep their
   smallest original value as their value.

Here the loop runs on the per-level counts (one entry per distinct value), never on the
image, so every iteration costs O(levels); the argsort runs in numpy on the host on both
devices, exactly as in the reference.
"""

from __future__ import annotations

import numpy as np

from .._backend import to_numpy


def rank_levels(values, xp, nbins: int = 255):
    """Quantise a 1-D array like ``rank_order(values, nbins)``.

    Returns ``(levels, translation)``: ``levels`` (int32, on ``xp``'s device) is each value's
    final level, ``translation`` (the input dtype, on ``xp``'s device) the value of each
    level, so that ``translation[levels]`` approximates ``values``.
    """
    n = values.shape[0]
    order = xp.argsort(values)
    ordered = values[order]
    differs = ordered[1:] != ordered[:-1]
    rank_sorted = xp.zeros(n, dtype=xp.int64)
    if n > 1:
        rank_sorted[1:] = xp.cumsum(differs)
    ranks = xp.empty(n, dtype=xp.int64)
    ranks[order] = rank_sorted
    starts = xp.concatenate([xp.zeros(1, dtype=xp.int64), xp.nonzero(differs)[0] + 1])
    distinct = ordered[starts]

    starts_host = to_numpy(starts).astype(np.int64)
    hist = np.diff(np.append(starts_host, n)).astype(np.int64)
    mapping = np.arange(hist.shape[0], dtype=np.int64)
    kept = np.arange(hist.shape[0], dtype=np.int64)
    top = hist.shape[0] - 1
    while top >= nbins:
        order_h = np.argsort(hist)
        to_delete = np.zeros(top + 2, dtype=bool)
        to_delete[order_h[: top + 2 - nbins]] = True
        merged = to_delete[:-1] & (((np.arange(top + 1) & 2) == 0) | ~to_delete[1:])
        merged[0] = False
        keep = ~merged
        mapping = (np.cumsum(keep) - 1)[mapping]
        hist = np.add.reduceat(hist, np.flatnonzero(keep))
        kept = kept[keep]
        top = kept.shape[0] - 1
    levels = xp.asarray(mapping.astype(np.int32))[ranks]
    translation = distinct[xp.asarray(kept)]
    return levels, translation
