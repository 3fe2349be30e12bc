"""GPU kernels for co-occurrence matrices and per-object Haralick features (numba CUDA)."""

from __future__ import annotations

from numba import cuda, float64, int32, int64, uint32

from .._backend import gpu_kernel
from . import _haralick_math as math_

_shared = math_.compile_with(cuda.jit(device=True))
_haralick_rows = _shared.haralick_rows
_MAX_LEVELS = math_.MAX_LEVELS
_SUM_LEVELS = 2 * math_.MAX_LEVELS  # local array sizes must be global constants
_MAX_DIRECTIONS = math_.MAX_DIRECTIONS

_HARALICK_SIGNATURE = (
    "void(int64[::1], int64[::1], int64[::1], int32[::1], uint8[::1], int64[:, ::1], int64,"
    " int64, int64, int64, boolean, float64, boolean, int64[::1], int32[::1], int32[::1],"
    " float64[:, ::1], int8[::1])"
)


@gpu_kernel(_HARALICK_SIGNATURE)
def haralick_gpu(
    row_slots, offsets, pixels, ids, levels, directions, scale, depth, height, width,
    ignore_zeros, entropy_scale, true_difference_variance, workspace_offsets, codes, scratch,
    features, empty,
):
    """One thread per (object row, direction), grid-stride; see ``haralick_cpu``.

    Direction d of row k works in ``codes[workspace_offsets[k] * n_directions + d * area_k:]``
    (and the same span of ``scratch``); entries are sorted (no dense table on the GPU).
    """
    dense = cuda.local.array(1, int32)
    n_pairs = cuda.local.array(_MAX_DIRECTIONS, int64)
    bucket = cuda.local.array(_MAX_LEVELS, int64)
    px = cuda.local.array(_MAX_LEVELS, float64)
    p_sum = cuda.local.array(_SUM_LEVELS, float64)
    p_diff = cuda.local.array(_MAX_LEVELS, float64)
    nonzero = cuda.local.array(_MAX_LEVELS, int64)
    n_directions = directions.shape[0]
    n_items = row_slots.shape[0] * n_directions
    for item in range(cuda.grid(1), n_items, cuda.gridsize(1)):
        row = item // n_directions
        d = item - row * n_directions
        slot = row_slots[row]
        area = offsets[slot + 1] - offsets[slot]
        base = workspace_offsets[row] * n_directions + d * area
        _haralick_rows(
            row, d, d + 1, n_directions, row_slots, offsets, pixels, ids, levels, directions,
            scale, depth, height, width, ignore_zeros, entropy_scale, true_difference_variance,
            codes, scratch, base, dense, False, n_pairs, bucket, px, p_sum, p_diff, nonzero,
            features, empty,
        )


@gpu_kernel("void(int32[:, :, ::1], int64[:, ::1], uint32[:, :, :, ::1])")
def glcm_gpu(images, offsets, counts):
    """Co-occurrence counts with atomics; one thread per (image, offset, pixel), grid-stride.

    ``counts`` (B, K, levels, levels) must be zero on entry. See ``glcm_cpu``.
    """
    n_images = images.shape[0]
    height = images.shape[1]
    width = images.shape[2]
    n_offsets = offsets.shape[0]
    plane = height * width
    n_work = n_images * n_offsets * plane
    for work in range(cuda.grid(1), n_work, cuda.gridsize(1)):
        task = work // plane
        p = work - task * plane
        b = task // n_offsets
        k = task - b * n_offsets
        r = p // width
        c = p - r * width
        r2 = r + offsets[k, 0]
        c2 = c + offsets[k, 1]
        if r2 >= 0 and r2 < height and c2 >= 0 and c2 < width:
            cuda.atomic.add(counts, (b, k, images[b, r, c], images[b, r2, c2]), uint32(1))
