"""GPU kernels for CellProfiler's per-object intensity features (numba CUDA).

``edge_flags_gpu`` marks the edge pixels of an object index's CSR once per label image (one
thread per pixel). ``intensity_gpu`` measures one object per thread (grid-stride),
sequentially over its pixels in raster order, as the CPU kernel (:mod:`._intensity_cpu`): no
atomics, so the sums are added in the same order and both devices agree bit for bit. Products
feeding sums are rounded separately (:mod:`pyhcs._gpu_rounding`), never fused; the quantiles'
order statistics are selected in place in the object's scratch span (the CPU kernel's code).
"""

from __future__ import annotations

from numba import cuda

from .. import _gpu_rounding
from .._backend import gpu_kernel
from . import _intensity_math as math_

_shared = math_.compile_with(cuda.jit(device=True), _gpu_rounding.mul, _gpu_rounding.add)
_object_features = _shared.object_features

_edge_flag = _shared.edge_flag

_SIGNATURE = (
    "void(int64[::1], int64[::1], int64[::1], int64[::1], uint8[::1], {image}[::1], int64,"
    " int64, float64[::1], float64[:, ::1])"
)


@gpu_kernel("void(int64[::1], int32[::1], int64, int64, uint8[::1])")
def edge_flags_gpu(pixels, ids, width, height, edges):
    """``edges[k]`` = 1 where CSR pixel ``k`` (flat index ``pixels[k]``) has a 4-neighbour
    inside the image with another slot (``ids``, H * W), else 0: the flags of
    :func:`._intensity_cpu.edge_map_cpu`; one thread per CSR pixel, grid-stride."""
    for k in range(cuda.grid(1), pixels.shape[0], cuda.gridsize(1)):
        edges[k] = _edge_flag(k, pixels, ids, width, height)


@gpu_kernel(_SIGNATURE.format(image="float32"), _SIGNATURE.format(image="float64"))
def intensity_gpu(targets, ws_offsets, offsets, pixels, edges, image, width, mode, scratch,
                  out):
    """Same arguments and outputs as :func:`._intensity_cpu.intensity_cpu`, in place."""
    for row in range(cuda.grid(1), targets.shape[0], cuda.gridsize(1)):
        _object_features(row, targets[row], ws_offsets[row], offsets, pixels, edges, image,
                         width, mode, scratch, out)
