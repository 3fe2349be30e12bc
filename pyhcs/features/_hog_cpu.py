"""CPU kernels for HOG (numba, parallel over rows of cells and rows of blocks).

The per-pixel and per-block math is shared with the GPU kernels (:mod:`._hog_common`). Work is
split by rows of cells, and every (cell, orientation) total is accumulated by one thread in
the row-major order of the cell's pixels, so results do not depend on the thread count.

numba's on-disk cache would check only this file's timestamp; :mod:`pyhcs._numba_cache` makes
it check every pyhcs source file, so an edit to ``_hog_common.py`` recompiles these kernels.
"""

from __future__ import annotations

import numpy as np
from numba import float32, njit, prange

from .. import _numba_cache
from . import _hog_common as common

_numba_cache.register()  # cached kernels also depend on the shared helper module

_pixel = common.make_pixel_functions(njit)
hog_gradient = _pixel.hog_gradient
special_orientation = _pixel.special_orientation
atan2_orientation = _pixel.atan2_orientation
theta_bin = _pixel.theta_bin
vote = _pixel.vote


@njit(cache=True)
def _mul(a, b):
    return a * b


normalize_block = common.make_block_functions(njit, _mul)


@njit(cache=True)
def _fast_bins_row(g_row, g_col, directions, n_orient, x, y, threshold, count, bins):
    """``fast_bin`` of a row of pixels, edge by edge over the whole row (SIMD-friendly loops,
    the same arithmetic as :func:`pyhcs.features._hog_common.make_pixel_functions`)."""
    width = g_row.shape[0]
    for c in range(width):
        sign = 1.0 if g_row[c] >= 0.0 else -1.0
        x[c] = g_col[c] * sign
        y[c] = g_row[c] * sign
        threshold[c] = common.EDGE_MARGIN * (abs(x[c]) + y[c])
        count[c] = 0
    for k in range(1, n_orient):
        d0 = directions[k, 0]
        d1 = directions[k, 1]
        for c in range(width):
            cross = d0 * y[c] - d1 * x[c]
            count[c] += (cross > 0.0) - 2 * n_orient * (abs(cross) <= threshold[c])
    for c in range(width):
        scale = abs(x[c]) + y[c]
        regular = (
            (y[c] > threshold[c]) & (scale > common.TINY) & (scale < common.HUGE)
            & (abs(x[c]) != y[c])
        )
        bins[c] = count[c] if (regular and count[c] >= 0) else -2


@njit(parallel=True, cache=True)
def hog_cells_cpu(image, is_f32, c_row, c_col, directions, thetas, use_thetas, hist):
    """Cell histograms of every image of a stack.

    Parameters
    ----------
    image : (N, H, W, C) uint8, uint16, float32 or float64 array
    is_f32 : bool
        float32 working dtype (else float64).
    c_row, c_col : int
        Pixels per cell.
    directions : (n_orient + 1, 2) float64 array
        :func:`pyhcs.features._hog_common.edge_directions`.
    thetas : (N, H, W) float64 array
        With ``use_thetas``, NumPy's orientations, used for the pixels that need arctan2;
        otherwise unused (any shape) and the C library's arctan2 is used.
    use_thetas : bool
    hist : (N, n_cells_row, n_cells_col, n_orient) float32 array, written
        ``hist[n, i, j, o] = float32(t / float32(c_row * c_col))`` with ``t`` the float32 running
        total (``t = float32(float64(t) + magnitude)``) over the pixels of cell ``(i, j)`` whose
        orientation falls in bin ``o``, in row-major order.

    Returns
    -------
    (N * n_cells_row,) int64 array
        Per row of cells, the number of pixels binned with the C library's arctan2 (0 with
        ``use_thetas``): pixels within 1e-12 rad of a bin edge, where NumPy's arctan2 could
        round to the other side.
    """
    n_images, height, width, n_channels = image.shape
    n_cells_row = hist.shape[1]
    n_cells_col = hist.shape[2]
    n_orient = hist.shape[3]
    per180 = 180.0 / n_orient
    pixels = float32(c_row * c_col)
    ambiguous = np.zeros(n_images * n_cells_row, np.int64)
    for job in prange(n_images * n_cells_row):
        n = job // n_cells_row
        i = job - n * n_cells_row
        acc = np.zeros((n_cells_col, n_orient), np.float32)
        row_width = n_cells_col * c_col
        g_rows = np.empty(row_width, np.float64)
        g_cols = np.empty(row_width, np.float64)
        x = np.empty(row_width, np.float64)
        y = np.empty(row_width, np.float64)
        threshold = np.empty(row_width, np.float64)
        count = np.empty(row_width, np.int64)
        bins = np.empty(row_width, np.int64)
        for r in range(i * c_row, (i + 1) * c_row):
            for c in range(row_width):
                g_rows[c], g_cols[c] = hog_gradient(
                    image, n, r, c, height, width, n_channels, is_f32
                )
            _fast_bins_row(g_rows, g_cols, directions, n_orient, x, y, threshold, count, bins)
            for c in range(row_width):
                g_row = g_rows[c]
                g_col = g_cols[c]
                b = bins[c]
                if b == -2:
                    theta = special_orientation(g_row, g_col)
                    if theta < 0.0:
                        if use_thetas:
                            theta = thetas[n, r, c]
                        else:
                            theta = atan2_orientation(g_row, g_col)
                            ambiguous[job] += 1
                    b = theta_bin(theta, per180, n_orient)
                if b < 0:
                    continue
                j = c // c_col
                if b == n_orient:
                    for o in range(n_orient):
                        acc[j, o] = vote(acc[j, o], g_col, g_row)
                else:
                    acc[j, b] = vote(acc[j, b], g_col, g_row)
        for j in range(n_cells_col):
            for o in range(n_orient):
                hist[n, i, j, o] = acc[j, o] / pixels
    return ambiguous


@njit(parallel=True, cache=True)
def hog_gradients_cpu(image, is_f32, g_row, g_col):
    """The gradients (float64, (N, H, W)) that :func:`hog_cells_cpu` bins."""
    n_images, height, width, n_channels = image.shape
    for job in prange(n_images * height):
        n = job // height
        r = job - n * height
        for c in range(width):
            g_row[n, r, c], g_col[n, r, c] = hog_gradient(
                image, n, r, c, height, width, n_channels, is_f32
            )


@njit(parallel=True, cache=True)
def hog_blocks_cpu(hist, n_orient, b_row, b_col, method, out):
    """Normalised blocks (float32 or float64) from float32 cell histograms.

    ``hist`` is (N, n_cells_row, n_cells_col * n_orient) and ``out`` is
    (N, n_blocks_row, n_blocks_col, b_row, b_col * n_orient); see
    :func:`pyhcs.features._hog_common.make_block_functions`.
    """
    n_images = out.shape[0]
    n_blocks_row = out.shape[1]
    n_blocks_col = out.shape[2]
    for job in prange(n_images * n_blocks_row):
        n = job // n_blocks_row
        br = job - n * n_blocks_row
        nodes = np.zeros((common.PAIRWISE_STACK, 3), np.int64)
        values = np.zeros(common.PAIRWISE_STACK, np.float64)
        for bc in range(n_blocks_col):
            normalize_block(hist, n, br, bc, b_row, b_col, n_orient, method, out, nodes, values)
