"""CPU kernels of :func:`pyhcs.features.granularity` (numba).

The resampling and morphology kernels are parallel over rows; the reconstructions of the
spectrum's steps are independent and run in parallel over steps (each one Vincent's hybrid
raster-scan and FIFO algorithm); the per-object kernel is parallel over objects, each summed
by one thread in raster order (:mod:`._granularity_math`), so no result depends on the
number of threads and all equal the GPU kernels' (:mod:`._granularity_gpu`) bit for bit.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from .. import _numba_cache
from . import _granularity_math as math_

_numba_cache.register()

_jit = njit(error_model="numpy")


@_jit
def _mul(a, b):
    return a * b


@_jit
def _add(a, b):
    return a + b


@_jit
def _to_float32(value):
    return np.float32(value)


_shared = math_.compile_with(njit(error_model="numpy", inline="always"), _mul, _add, _to_float32)
_bilinear = _shared.bilinear
_morph_pixel = _shared.morph_pixel
_cross_erosion = _shared.cross_erosion
_leaf_sum = _shared.leaf_sum
_combine_leaves = _shared.combine_leaves
_object_spectrum = _shared.object_spectrum


@njit(parallel=True, cache=True, error_model="numpy")
def resample_cpu(source, ys, xs, out):  # pragma: no cover - compiled
    """``out[k, l] = bilinear(source, ys[k], xs[l])`` rounded to ``out``'s dtype."""
    for k in prange(out.shape[0]):
        for m in range(out.shape[1]):
            out[k, m] = _bilinear(source, ys[k], xs[m])


@njit(parallel=True, cache=True, error_model="numpy")
def threshold_mask_cpu(source, ys, xs, out):  # pragma: no cover - compiled
    """``out[k, l] = 1`` where the bilinear sample of the 0/1 ``source`` exceeds 0.9
    (CellProfiler's resampled image mask), else 0."""
    for k in prange(out.shape[0]):
        for m in range(out.shape[1]):
            out[k, m] = 1 if _bilinear(source, ys[k], xs[m]) > 0.9 else 0


@njit(parallel=True, cache=True, error_model="numpy")
def morph_cpu(source, mask, dy, dx, reach, take_max, out):  # pragma: no cover - compiled
    """Masked grey erosion (``take_max`` False) or dilation of ``source`` by the footprint
    offsets ``(dy, dx)``, reflect borders."""
    for i in prange(out.shape[0]):
        for j in range(out.shape[1]):
            out[i, j] = _morph_pixel(source, mask, i, j, dy, dx, reach, take_max)


@njit(parallel=True, cache=True, error_model="numpy")
def cross_erosion_cpu(source, mask, out):  # pragma: no cover - compiled
    """Masked grey erosion by the 4-neighbour cross (:func:`morph_cpu`'s result for it)."""
    for i in prange(out.shape[0]):
        for j in range(out.shape[1]):
            out[i, j] = _cross_erosion(source, mask, i, j)


@njit(parallel=True, cache=True, error_model="numpy")
def tophat_cpu(pixels, background, out):  # pragma: no cover - compiled
    """``out = max(pixels - background, 0)``: the difference taken in float64 and rounded
    to ``out``'s dtype before the clamp (CellProfiler's in-place float32 subtraction)."""
    for i in prange(out.shape[0]):
        for j in range(out.shape[1]):
            out[i, j] = np.float64(pixels[i, j]) - np.float64(background[i, j])
            if out[i, j] < 0:
                out[i, j] = 0


_SCAN_PAIRS = 6  # raster / anti-raster scan pairs before the queue takes over


@njit(cache=True, error_model="numpy")
def _reconstruct(rec, mask, in_queue, queue):  # pragma: no cover - compiled
    """Grey reconstruction by dilation of ``rec`` (the seed, ``<= mask``) under ``mask``,
    4-connected, in place: up to :data:`_SCAN_PAIRS` forward and backward raster scans (each
    pixel raised to its causal neighbours' maximum, clamped by the mask), then a FIFO queue
    from every pixel that can still raise a neighbour (Vincent 1993). The result, the
    largest image ``<= mask`` reachable from the seed by 4-neighbour maxima, is unique, so
    any correct algorithm gives these bits; the scans only make the queue shorter (a FIFO
    revisits pixels that later waves raise again)."""
    h, w = rec.shape
    for _ in range(_SCAN_PAIRS):
        changed = False
        for i in range(h):
            for j in range(w):
                v = rec[i, j]
                if i > 0 and rec[i - 1, j] > v:
                    v = rec[i - 1, j]
                if j > 0 and rec[i, j - 1] > v:
                    v = rec[i, j - 1]
                if v > mask[i, j]:
                    v = mask[i, j]
                if v != rec[i, j]:
                    rec[i, j] = v
                    changed = True
        for i in range(h - 1, -1, -1):
            for j in range(w - 1, -1, -1):
                v = rec[i, j]
                if i < h - 1 and rec[i + 1, j] > v:
                    v = rec[i + 1, j]
                if j < w - 1 and rec[i, j + 1] > v:
                    v = rec[i, j + 1]
                if v > mask[i, j]:
                    v = mask[i, j]
                if v != rec[i, j]:
                    rec[i, j] = v
                    changed = True
        if not changed:
            return
    capacity = h * w
    head = 0
    tail = 0
    size = 0
    for i in range(h):
        for j in range(w):
            v = rec[i, j]
            if ((i > 0 and rec[i - 1, j] < v and rec[i - 1, j] < mask[i - 1, j])
                    or (i < h - 1 and rec[i + 1, j] < v and rec[i + 1, j] < mask[i + 1, j])
                    or (j > 0 and rec[i, j - 1] < v and rec[i, j - 1] < mask[i, j - 1])
                    or (j < w - 1 and rec[i, j + 1] < v and rec[i, j + 1] < mask[i, j + 1])):
                p = i * w + j
                in_queue[p] = 1
                queue[tail] = p
                tail += 1
                size += 1
    if tail == capacity:
        tail = 0
    while size > 0:
        p = queue[head]
        head += 1
        if head == capacity:
            head = 0
        size -= 1
        in_queue[p] = 0
        i = p // w
        j = p - i * w
        v = rec[i, j]
        for step in range(4):
            r = i - 1 if step == 0 else (i + 1 if step == 1 else i)
            c = j - 1 if step == 2 else (j + 1 if step == 3 else j)
            if r < 0 or r >= h or c < 0 or c >= w:
                continue
            if rec[r, c] < v and rec[r, c] < mask[r, c]:
                rec[r, c] = min(v, mask[r, c])
                q = r * w + c
                if in_queue[q] == 0:
                    in_queue[q] = 1
                    queue[tail] = q
                    tail += 1
                    if tail == capacity:
                        tail = 0
                    size += 1


@njit(parallel=True, cache=True, error_model="numpy")
def reconstruct_stack_cpu(stack, mask):  # pragma: no cover - compiled
    """Reconstruct every plane of ``stack`` (the seeds) under ``mask`` in place, in
    parallel over planes."""
    n = stack.shape[0]
    h, w = mask.shape
    for g in prange(n):
        in_queue = np.zeros(h * w, np.uint8)
        queue = np.empty(max(h * w, 1), np.int64)
        _reconstruct(stack[g], mask, in_queue, queue)


@njit(parallel=True, cache=True, error_model="numpy")
def object_spectrum_cpu(targets, offsets, pixels, width, original, mask, row_y0, row_ty,
                        col_x0, col_tx, stack, round32, out):  # pragma: no cover - compiled
    """:func:`._granularity_math.object_spectrum` of the slots ``targets`` into ``out``
    (one row per target), parallel over objects."""
    n_steps = stack.shape[0]
    for row in prange(targets.shape[0]):
        sums = np.empty(n_steps, np.float64)
        _object_spectrum(row, targets[row], offsets, pixels, width, original, mask, row_y0,
                         row_ty, col_x0, col_tx, stack, round32, sums, out)


@njit(parallel=True, cache=True, error_model="numpy")
def pairwise_sums_cpu(values, starts, lengths, program, leaves, stack, out):  # pragma: no cover
    """``out[row]`` = numpy's sum of ``values[row]`` by the plan ``starts`` / ``lengths`` /
    ``program`` (leaves, then :func:`._granularity_math.combine_leaves`), in the values'
    precision; parallel over rows."""
    for row in prange(values.shape[0]):
        for leaf in range(starts.shape[0]):
            leaves[row, leaf] = _leaf_sum(values[row], starts[leaf], lengths[leaf])
        out[row] = _combine_leaves(leaves[row], program, stack[row])
