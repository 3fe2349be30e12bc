"""GPU kernels of :func:`pyhcs.features.granularity` (numba CUDA, grid-stride).

The resampling, morphology and top-hat kernels run one thread per output pixel with the CPU
kernels' arithmetic (:mod:`._granularity_math`). The reconstruction alternates two in-place
sweeps over every step of the spectrum at once: one thread per (step, row) propagates maxima
along its row forwards and backwards, then one thread per (step, column) along its column,
until a pass changes nothing. Each sweep only raises a pixel to a neighbour's value clamped
by the mask, so the fixed point is the reconstruction, which is unique: the same bits as the
CPU's queue algorithm. Objects are summed one thread each, in raster order, as on the CPU.
The image-level means follow numpy's summation (see
:func:`pyhcs.features.granularity._pairwise_plan`): its leaves (at most 128 values) are summed
in parallel, then one thread per row combines them in numpy's order.
"""

from __future__ import annotations

import numba
import numpy as np
from numba import cuda

from .. import _gpu_rounding
from .._backend import gpu_kernel, simulator_enabled
from . import _granularity_math as math_


if simulator_enabled():  # pragma: no cover - the simulator's numba.float32 does not round

    @cuda.jit(device=True)
    def _to_float32(value):
        return np.float32(value)

else:

    @cuda.jit(device=True)
    def _to_float32(value):
        return numba.float32(value)


_shared = math_.compile_with(cuda.jit(device=True), _gpu_rounding.mul, _gpu_rounding.add,
                             _to_float32)
_bilinear = _shared.bilinear
_morph_pixel = _shared.morph_pixel
_cross_erosion = _shared.cross_erosion
_leaf_sum = _shared.leaf_sum
_combine_leaves = _shared.combine_leaves
_object_spectrum = _shared.object_spectrum

_FLOATS = ("float32", "float64")


@gpu_kernel(*(f"void({t}[:, ::1], float64[::1], float64[::1], {o}[:, ::1])"
              for t in _FLOATS for o in _FLOATS))
def resample_gpu(source, ys, xs, out):
    """As :func:`._granularity_cpu.resample_cpu`; one thread per output pixel."""
    width = out.shape[1]
    for k in range(cuda.grid(1), out.shape[0] * width, cuda.gridsize(1)):
        i = k // width
        j = k - i * width
        out[i, j] = _bilinear(source, ys[i], xs[j])


@gpu_kernel("void(float64[:, ::1], float64[::1], float64[::1], uint8[:, ::1])")
def threshold_mask_gpu(source, ys, xs, out):
    """As :func:`._granularity_cpu.threshold_mask_cpu`."""
    width = out.shape[1]
    for k in range(cuda.grid(1), out.shape[0] * width, cuda.gridsize(1)):
        i = k // width
        j = k - i * width
        out[i, j] = 1 if _bilinear(source, ys[i], xs[j]) > 0.9 else 0


@gpu_kernel(*(f"void({t}[:, ::1], uint8[:, ::1], int64[::1], int64[::1], int64, boolean, {t}[:, ::1])"
              for t in _FLOATS))
def morph_gpu(source, mask, dy, dx, reach, take_max, out):
    """As :func:`._granularity_cpu.morph_cpu`."""
    width = out.shape[1]
    for k in range(cuda.grid(1), out.shape[0] * width, cuda.gridsize(1)):
        i = k // width
        j = k - i * width
        out[i, j] = _morph_pixel(source, mask, i, j, dy, dx, reach, take_max)


@gpu_kernel(*(f"void({t}[:, ::1], uint8[:, ::1], {t}[:, ::1])" for t in _FLOATS))
def cross_erosion_gpu(source, mask, out):
    """As :func:`._granularity_cpu.cross_erosion_cpu`."""
    width = out.shape[1]
    for k in range(cuda.grid(1), out.shape[0] * width, cuda.gridsize(1)):
        i = k // width
        j = k - i * width
        out[i, j] = _cross_erosion(source, mask, i, j)


@gpu_kernel(*(f"void({t}[:, ::1], {b}[:, ::1], {t}[:, ::1])" for t in _FLOATS for b in _FLOATS))
def tophat_gpu(pixels, background, out):
    """As :func:`._granularity_cpu.tophat_cpu`."""
    width = out.shape[1]
    for k in range(cuda.grid(1), out.shape[0] * width, cuda.gridsize(1)):
        i = k // width
        j = k - i * width
        out[i, j] = float(pixels[i, j]) - float(background[i, j])
        if out[i, j] < 0:
            out[i, j] = 0


@gpu_kernel(*(f"void({t}[:, :, ::1], {t}[:, ::1], int32[::1])" for t in _FLOATS))
def reconstruct_rows_gpu(stack, mask, changed):
    """One thread per (plane, row): raise each pixel to its left, then right, neighbour's
    value clamped by ``mask``; ``changed[0] = 1`` when a pixel rose."""
    n_rows = stack.shape[1]
    width = stack.shape[2]
    for k in range(cuda.grid(1), stack.shape[0] * n_rows, cuda.gridsize(1)):
        g = k // n_rows
        i = k - g * n_rows
        rose = False
        for j in range(1, width):
            v = min(stack[g, i, j - 1], mask[i, j])
            if v > stack[g, i, j]:
                stack[g, i, j] = v
                rose = True
        for j in range(width - 2, -1, -1):
            v = min(stack[g, i, j + 1], mask[i, j])
            if v > stack[g, i, j]:
                stack[g, i, j] = v
                rose = True
        if rose:
            changed[0] = 1


@gpu_kernel(*(f"void({t}[:, :, ::1], {t}[:, ::1], int32[::1])" for t in _FLOATS))
def reconstruct_columns_gpu(stack, mask, changed):
    """One thread per (plane, column): as :func:`reconstruct_rows_gpu` along columns."""
    height = stack.shape[1]
    n_columns = stack.shape[2]
    for k in range(cuda.grid(1), stack.shape[0] * n_columns, cuda.gridsize(1)):
        g = k // n_columns
        j = k - g * n_columns
        rose = False
        for i in range(1, height):
            v = min(stack[g, i - 1, j], mask[i, j])
            if v > stack[g, i, j]:
                stack[g, i, j] = v
                rose = True
        for i in range(height - 2, -1, -1):
            v = min(stack[g, i + 1, j], mask[i, j])
            if v > stack[g, i, j]:
                stack[g, i, j] = v
                rose = True
        if rose:
            changed[0] = 1


_SPECTRUM_SIGNATURE = (
    "void(int64[::1], int64[::1], int64[::1], int64, {o}[::1], uint8[::1], int64[::1],"
    " float64[::1], int64[::1], float64[::1], {t}[:, :, ::1], boolean, float64[:, ::1],"
    " float64[:, ::1])"
)


@gpu_kernel(*(_SPECTRUM_SIGNATURE.format(o=o, t=t) for o in _FLOATS for t in _FLOATS))
def object_spectrum_gpu(targets, offsets, pixels, width, original, mask, row_y0, row_ty,
                        col_x0, col_tx, stack, round32, scratch, out):
    """As :func:`._granularity_cpu.object_spectrum_cpu`; one thread per object
    (``scratch``: one row of ``stack.shape[0]`` floats per target)."""
    for row in range(cuda.grid(1), targets.shape[0], cuda.gridsize(1)):
        _object_spectrum(row, targets[row], offsets, pixels, width, original, mask, row_y0,
                         row_ty, col_x0, col_tx, stack, round32, scratch[row], out)


@gpu_kernel(*(f"void({t}[:, ::1], int64[::1], int64[::1], {t}[:, ::1])" for t in _FLOATS))
def leaf_sums_gpu(values, starts, lengths, out):
    """``out[row, k]`` = :func:`._granularity_math.leaf_sum` of leaf ``k`` of every row of
    ``values``; one thread per (row, leaf)."""
    n_leaves = starts.shape[0]
    for k in range(cuda.grid(1), values.shape[0] * n_leaves, cuda.gridsize(1)):
        row = k // n_leaves
        leaf = k - row * n_leaves
        out[row, leaf] = _leaf_sum(values[row], starts[leaf], lengths[leaf])


@gpu_kernel(*(f"void({t}[:, ::1], int64[::1], {t}[:, ::1], {t}[::1])" for t in _FLOATS))
def combine_leaves_gpu(leaves, program, stack, out):
    """``out[row]`` = :func:`._granularity_math.combine_leaves` of ``leaves[row]``; one thread
    per row, ``stack[row]`` its scratch."""
    for row in range(cuda.grid(1), leaves.shape[0], cuda.gridsize(1)):
        out[row] = _combine_leaves(leaves[row], program, stack[row])
