"""GPU kernels for HOG (numba CUDA, grid-stride loops).

One thread per (image, cell, chunk of 32 orientations) walks the cell's pixels in row-major
order and keeps the float32 running totals in a local array, exactly as the CPU kernel does;
one thread per (image, block) normalises a block. The per-pixel and per-block math is shared
with the CPU kernels (:mod:`._hog_common`).

Differences from the CPU path on a real GPU: CUDA's ``hypot`` and ``atan2`` may differ from the
C library's by an ulp, so a cell total can differ in its last float32 bit (1 part in 1.7e7),
and a pixel whose orientation lies within an ulp of a bin edge can change bin (the CPU path
takes NumPy's own arctan2 there; the GPU path has no NumPy). Exactly diagonal and axis-aligned
gradients, the only edge cases of integer images without ``transform_sqrt``, are exact on
both. Products that are summed use a round-to-nearest multiply, so no fused multiply-add
changes a block sum. Under the simulator (Python's math, i.e. the C library) the GPU path
equals the CPU path bit for bit, except for those pixels exactly on a bin edge.
"""

from __future__ import annotations

from numba import cuda, float32, float64, int64

from .._backend import gpu_kernel, simulator_enabled
from . import _hog_common as common

_pixel = common.make_pixel_functions(cuda.jit(device=True))
hog_gradient = _pixel.hog_gradient
fast_bin = _pixel.fast_bin
special_orientation = _pixel.special_orientation
atan2_orientation = _pixel.atan2_orientation
theta_bin = _pixel.theta_bin
vote = _pixel.vote

if simulator_enabled():  # the simulator runs Python: no intrinsics, and no contraction either

    @cuda.jit(device=True)
    def _mul(a, b):
        return a * b

else:
    from numba.cuda import libdevice

    @cuda.jit(device=True)
    def _mul(a, b):
        return libdevice.dmul_rn(a, b)


normalize_block = common.make_block_functions(cuda.jit(device=True), _mul)

_CHUNK = common.ORIENTATION_CHUNK
_STACK = common.PAIRWISE_STACK
_IMAGE_TYPES = ("uint8", "uint16", "float32", "float64")
_CELL_SIGNATURES = tuple(
    f"void({t}[:, :, :, ::1], boolean, int64, int64, float64[:, ::1], float32[:, :, :, ::1])"
    for t in _IMAGE_TYPES
)
_BLOCK_SIGNATURES = tuple(
    f"void(float32[:, :, ::1], int64, int64, int64, int64, {t}[:, :, :, :, ::1])"
    for t in ("float32", "float64")
)


@gpu_kernel(*_CELL_SIGNATURES)
def hog_cells_gpu(image, is_f32, c_row, c_col, directions, hist):
    """Same output as :func:`pyhcs.features._hog_cpu.hog_cells_cpu`, bit for bit."""
    n_images = image.shape[0]
    height = image.shape[1]
    width = image.shape[2]
    n_channels = image.shape[3]
    n_cells_row = hist.shape[1]
    n_cells_col = hist.shape[2]
    n_orient = hist.shape[3]
    n_chunks = (n_orient + _CHUNK - 1) // _CHUNK
    per180 = 180.0 / float64(n_orient)
    pixels = float32(c_row * c_col)
    acc = cuda.local.array(_CHUNK, float32)
    n_work = n_images * n_cells_row * n_cells_col * n_chunks
    for work in range(cuda.grid(1), n_work, cuda.gridsize(1)):
        chunk = work % n_chunks
        cell = work // n_chunks
        j = cell % n_cells_col
        cell = cell // n_cells_col
        i = cell % n_cells_row
        n = cell // n_cells_row
        o_first = chunk * _CHUNK
        o_count = min(_CHUNK, n_orient - o_first)
        for o in range(o_count):
            acc[o] = float32(0.0)
        for r in range(i * c_row, (i + 1) * c_row):
            for c in range(j * c_col, (j + 1) * c_col):
                g_row, g_col = hog_gradient(image, n, r, c, height, width, n_channels, is_f32)
                b = fast_bin(g_row, g_col, directions, n_orient)
                if b == -2:
                    theta = special_orientation(g_row, g_col)
                    if theta < 0.0:
                        theta = atan2_orientation(g_row, g_col)
                    b = theta_bin(theta, per180, n_orient)
                if b < 0:
                    continue
                if b == n_orient:
                    for o in range(o_count):
                        acc[o] = vote(acc[o], g_col, g_row)
                elif b >= o_first and b < o_first + o_count:
                    acc[b - o_first] = vote(acc[b - o_first], g_col, g_row)
        for o in range(o_count):
            hist[n, i, j, o_first + o] = acc[o] / pixels


@gpu_kernel(*_BLOCK_SIGNATURES)
def hog_blocks_gpu(hist, n_orient, b_row, b_col, method, out):
    """Same output as :func:`pyhcs.features._hog_cpu.hog_blocks_cpu`; one thread per block."""
    n_images = out.shape[0]
    n_blocks_row = out.shape[1]
    n_blocks_col = out.shape[2]
    nodes = cuda.local.array((_STACK, 3), int64)
    values = cuda.local.array(_STACK, float64)
    n_work = n_images * n_blocks_row * n_blocks_col
    for work in range(cuda.grid(1), n_work, cuda.gridsize(1)):
        bc = work % n_blocks_col
        rest = work // n_blocks_col
        br = rest % n_blocks_row
        n = rest // n_blocks_row
        normalize_block(hist, n, br, bc, b_row, b_col, n_orient, method, out, nodes, values)
