"""CPU kernel for the sliding-histogram median filters (numba, parallel over image rows).

Each row is one work item of :func:`pyhcs.illumination._median_common.make_functions`'s
``median_run`` with its own histograms, so results do not depend on the thread count.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from .. import _numba_cache
from ._median_common import MAX_BLOCKS, make_functions

_numba_cache.register()  # the kernel also depends on the shared helper module

median_run = make_functions(njit(cache=True))


@njit(parallel=True, cache=True)
def median_rows_cpu(values, mask, use_mask, halfw, rule, percent, n_bins, shift, out):
    """Median-filter every pixel of ``values``.

    Parameters
    ----------
    values : (H, W) int32 array
        Levels in ``[0, n_bins)``.
    mask : (H, W) uint8 array
        With ``use_mask``, only pixels with a nonzero mask enter the histograms.
    use_mask : bool
    halfw : (2 R + 1,) int64 array
        Footprint half width per row offset.
    rule, percent, n_bins, shift : int
        See :mod:`pyhcs.illumination._median_common`.
    out : (H, W) int32 array, written
    """
    height = values.shape[0]
    for y in prange(height):
        fine = np.zeros(n_bins, np.int32)
        coarse = np.zeros(MAX_BLOCKS, np.int32)
        median_run(values, mask, use_mask, halfw, rule, percent, n_bins, shift, y, 0,
                   values.shape[1], fine, coarse, out)
