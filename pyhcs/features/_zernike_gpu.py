"""GPU kernel for per-object Zernike moment sums (numba CUDA, label-run accumulation).

One work item is a segment of one row and one azimuthal order ``m``: the thread walks the
segment's pixels, evaluates every moment ``(n, m)`` of its group for each kept pixel, adds them
in registers/local memory while the pixels belong to the same object (a *run*), and flushes
each run's sums with one float64 atomic add per moment. All objects and all moments are
computed in one launch.

Products feeding sums use the round-to-nearest intrinsics ``dmul_rn``/``dadd_rn`` so that the
compiler does not fuse them into multiply-adds: every pixel's value is then bit-identical to the
CPU kernel's (and the r^2 > 1 cut-off drops exactly the same pixels). Only the order of the
atomic additions differs. Under the numba CUDA simulator (which has no libdevice) plain
operators are used; the simulator computes with numpy, which never fuses.
"""

from __future__ import annotations

import math

from numba import cuda, float64, int32

from .. import _gpu_rounding as rounding
from .._backend import gpu_kernel
from ._zernike_math import build

SEGMENT = 32  # pixels of a row walked by one work item
MAX_GROUP = 11  # moments per azimuthal order at degree 20 (n = 0, 2, ..., 20)

unit_disk, complex_mul, integer_power, cellprofiler_terms, mahotas_terms = build(
    rounding.mul, rounding.add, rounding.fma, cuda.jit(device=True)
)

_SIGNATURES = tuple(
    f"void(int32[:, ::1], int32[::1], {image}[:, ::1], float64[::1], float64[::1], float64[::1],"
    " boolean, boolean, boolean, boolean, float64[::1], int64[::1], int64[::1], int64[::1],"
    " float64[:, ::1], float64[:, ::1], float64[:, ::1], float64[:, ::1])"
    for image in ("uint16", "float64")
)


@cuda.jit(device=True)
def _flush(obj, m, first, count, with_shape, with_weight, acc_sr, acc_si, acc_wr, acc_wi,
           shape_re, shape_im, weight_re, weight_im):
    base = first[m]
    for j in range(count[m]):
        k = base + j
        if with_shape:
            cuda.atomic.add(shape_re, (obj, k), acc_sr[j])
            if m > 0:
                cuda.atomic.add(shape_im, (obj, k), acc_si[j])
        if with_weight:
            cuda.atomic.add(weight_re, (obj, k), acc_wr[j])
            if m > 0:
                cuda.atomic.add(weight_im, (obj, k), acc_wi[j])


@gpu_kernel(*_SIGNATURES)
def moment_sums_gpu(
    ids, row_of_slot, image, ci, cj, radius, with_shape, with_weight, mahotas, fused_square,
    coeffs, cstart, first, count, shape_re, shape_im, weight_re, weight_im,
):
    """Same sums as ``_zernike_cpu.cellprofiler_sums_cpu`` / ``mahotas_sums_cpu``, added in place.

    ``ids`` (H, W) int32 slots and ``row_of_slot`` (n_slots,) the object row of every slot (0:
    background or not measured); ``image`` (H, W), or (1, 1) when ``with_weight`` is False;
    circles (n_objects + 1,); outputs (n_objects + 1, K) zero-initialised by the launcher (an
    unused pair may be (1, 1)).
    """
    height = ids.shape[0]
    width = ids.shape[1]
    n_groups = first.shape[0]
    segments_per_row = (width + SEGMENT - 1) // SEGMENT
    n_work = height * segments_per_row * n_groups
    acc_sr = cuda.local.array(MAX_GROUP, float64)
    acc_si = cuda.local.array(MAX_GROUP, float64)
    acc_wr = cuda.local.array(MAX_GROUP, float64)
    acc_wi = cuda.local.array(MAX_GROUP, float64)
    for work in range(cuda.grid(1), n_work, cuda.gridsize(1)):
        m = work % n_groups
        segment = work // n_groups
        r = segment // segments_per_row
        c_begin = (segment - r * segments_per_row) * SEGMENT
        c_end = min(width, c_begin + SEGMENT)
        slot = int32(0)
        obj = int32(0)
        kept = False
        c_i = float64(0.0)
        c_j = float64(0.0)
        rad = float64(0.0)
        for c in range(c_begin, c_end):
            s = ids[r, c]
            if s != slot:
                if kept:
                    _flush(obj, m, first, count, with_shape, with_weight,
                           acc_sr, acc_si, acc_wr, acc_wi, shape_re, shape_im, weight_re, weight_im)
                slot = s
                obj = row_of_slot[s] if s != 0 else int32(0)
                kept = False
                for j in range(MAX_GROUP):
                    acc_sr[j] = 0.0
                    acc_si[j] = 0.0
                    acc_wr[j] = 0.0
                    acc_wi[j] = 0.0
                if obj != 0:
                    c_i = ci[obj]
                    c_j = cj[obj]
                    rad = radius[obj]
            if obj == 0 or not rad > 0.0:
                continue  # background, or a one-pixel object (radius 0)
            x, y, r2 = unit_disk(r, c, c_i, c_j, rad)
            w = float64(image[r, c]) if with_weight else float64(1.0)
            if mahotas:
                rho = math.sqrt(r2)
                if rho < 1e-9:
                    rho = 1e-9
                if not rho <= 1.0:
                    continue
                kept = True
                pr, pi = integer_power(x / rho, y / rho, m, fused_square)
                mahotas_terms(m, pr, pi, rho, w, coeffs, cstart, first, count, acc_wr, acc_wi, 0)
                continue
            if not r2 <= 1.0:
                continue  # CellProfiler drops r2 > 1
            kept = True
            zr = float64(1.0)
            zi = float64(0.0)
            for _ in range(m):
                zr, zi = complex_mul(zr, zi, y, x)  # z^m, z = y + i x
            cellprofiler_terms(
                m, zr, zi, r2, w, with_shape, with_weight, coeffs, cstart, first, count,
                acc_sr, acc_si, acc_wr, acc_wi, 0,
            )
        if kept:
            _flush(obj, m, first, count, with_shape, with_weight,
                   acc_sr, acc_si, acc_wr, acc_wi, shape_re, shape_im, weight_re, weight_im)
