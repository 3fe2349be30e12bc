r"""Local maxima within objects (CellProfiler's ``is_local_maximum``), CPU and GPU kernels.

A pixel :math:`p` with label :math:`L(p) > 0` is a local maximum when

.. math::

    I(p) \ge I(p + o) \quad \text{for every footprint offset } o \ne 0
    \text{ with } p + o \text{ inside the image and } L(p + o) = L(p),

so plateaus are maxima in full, and pixels of other objects or of the background are ignored.
One kernel launch covers every object (scikit-image's ``peak_local_max`` with ``labels`` loops
over the objects instead). The per-pixel test is one Python function compiled twice: with
``numba.njit`` for the CPU and as a CUDA device function for the GPU.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import cuda, njit, prange

from .. import _numba_cache
from .._backend import Namespace, gpu_kernel, launch_config

__all__ = ["local_maxima", "footprint_offsets"]

_numba_cache.register()  # cached kernels are invalidated by any pyhcs source change


def footprint_offsets(footprint: np.ndarray) -> np.ndarray:
    """The ``(K, 2)`` int32 offsets of a 2-D footprint's true elements, centre excluded,
    nearest first (the test stops at the first larger neighbour, most often an adjacent one;
    the order does not change the result)."""
    footprint = np.asarray(footprint, dtype=bool)
    if footprint.ndim != 2 or footprint.shape[0] % 2 == 0 or footprint.shape[1] % 2 == 0:
        raise ValueError(f"footprint must be 2-D with odd sides, got shape {footprint.shape}")
    half = np.array(footprint.shape) // 2
    offsets = np.argwhere(footprint) - half
    offsets = offsets[(offsets != 0).any(axis=1)]
    offsets = offsets[np.argsort((offsets**2).sum(axis=1), kind="stable")]
    return np.ascontiguousarray(offsets, dtype=np.int32)


def _is_local_maximum(image, labels, offsets, r, c):
    label = labels[r, c]
    if label <= 0:
        return False
    height = image.shape[0]
    width = image.shape[1]
    value = image[r, c]
    for k in range(offsets.shape[0]):
        rq = r + offsets[k, 0]
        cq = c + offsets[k, 1]
        if rq < 0 or rq >= height or cq < 0 or cq >= width:
            continue
        if labels[rq, cq] == label and image[rq, cq] > value:
            return False
    return True


_is_local_maximum_cpu = njit(cache=True)(_is_local_maximum)
_is_local_maximum_gpu = cuda.jit(device=True)(_is_local_maximum)


@njit(parallel=True, cache=True)
def _local_maxima_cpu(image, labels, offsets, out):
    width = image.shape[1]
    for r in prange(image.shape[0]):
        for c in range(width):
            out[r, c] = _is_local_maximum_cpu(image, labels, offsets, r, c)


@gpu_kernel("void(float64[:, ::1], int32[:, ::1], int32[:, ::1], boolean[:, ::1])")
def _local_maxima_gpu(image, labels, offsets, out):
    width = image.shape[1]
    for p in range(cuda.grid(1), image.shape[0] * width, cuda.gridsize(1)):
        r = p // width
        c = p - r * width
        out[r, c] = _is_local_maximum_gpu(image, labels, offsets, r, c)


def local_maxima(image: Any, labels: Any, footprint: np.ndarray, ns: Namespace) -> Any:
    """Boolean map of the local maxima of ``image`` within each object of ``labels``.

    Parameters
    ----------
    image : ndarray, shape (H, W)
        Computed in float64.
    labels : ndarray of int, shape (H, W)
        Objects (> 0); label values must fit int32.
    footprint : ndarray of bool, shape (2a + 1, 2b + 1)
        The neighbourhood, centred on the pixel.
    ns : Namespace
        Where to run (CPU kernel, or GPU kernel on ``ns.xp`` arrays / the simulator).

    Returns
    -------
    ndarray of bool, shape (H, W), on ``ns``'s device
    """
    xp = ns.xp
    image = xp.ascontiguousarray(image, dtype=xp.float64)
    labels = xp.ascontiguousarray(labels, dtype=xp.int32)
    offsets = footprint_offsets(footprint)
    out = xp.zeros(image.shape, dtype=bool)
    if image.size == 0:
        return out
    if ns.target == "cpu":
        _local_maxima_cpu(image, labels, offsets, out)
    else:
        if offsets.shape[0] == 0:
            offsets = np.zeros((1, 2), np.int32)  # the centre itself: never larger
        blocks, threads = launch_config(image.size)
        _local_maxima_gpu[blocks, threads](image, labels, xp.asarray(offsets), out)
    return out
