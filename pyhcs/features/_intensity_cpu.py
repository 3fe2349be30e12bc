"""CPU kernels for CellProfiler's per-object intensity features (numba).

``edge_flags_cpu`` marks the edge pixels of an object index's CSR once per label image.
``intensity_cpu`` is parallel over objects: each object is measured by one thread,
sequentially over its pixels in raster order (the CSR), so the float sums never depend on the
number of threads and equal the GPU kernel's (:mod:`._intensity_gpu`) bit for bit. The
per-object math is :mod:`._intensity_math`.
"""

from __future__ import annotations

from numba import njit, prange

from .. import _numba_cache
from . import _intensity_math as math_

_numba_cache.register()

_jit = njit(error_model="numpy")


@_jit
def _mul(a, b):
    return a * b


@_jit
def _add(a, b):
    return a + b


_shared = math_.compile_with(_jit, _mul, _add)
_object_features = _shared.object_features
_edge_flag = _shared.edge_flag

#: Object pixels worth one thread (below that, a parallel region costs more than it saves).
PIXELS_PER_THREAD = 1 << 15


@njit(parallel=True, cache=True)
def edge_flags_cpu(pixels, ids, width, height, edges):
    """``edges[k]`` = 1 where CSR pixel ``k`` (flat index ``pixels[k]``) is an edge pixel of its
    object: a 4-neighbour inside the image has another slot (``ids``: int32, H * W), else 0."""
    for k in prange(pixels.shape[0]):
        edges[k] = _edge_flag(k, pixels, ids, width, height)


@njit(parallel=True, cache=True, error_model="numpy")
def intensity_cpu(targets, ws_offsets, offsets, pixels, edges, image, width, mode, scratch,
                  out):
    """Intensity features of the objects of slots ``targets`` into ``out`` (one row each).

    Parameters
    ----------
    targets : int64 array (n,)
        Slot of every output row (each slot at most once: its scratch span is its own).
    ws_offsets : int64 array (n + 1,)
        Row ``k`` works in ``scratch[ws_offsets[k]:ws_offsets[k + 1]]`` (its pixel count).
    offsets, pixels : int64 arrays
        The object index's CSR: slot ``s`` owns the flat pixel indices
        ``pixels[offsets[s]:offsets[s + 1]]``, raster order.
    edges : uint8 array (len(pixels),)
        :func:`edge_flags_cpu` of the CSR.
    image : float32 or float64 array (H * W,)
    width, mode : int
        ``mode``: :data:`._intensity_math.MODE_CELLPROFILER`, ``MODE_CP_MEASURE`` or
        ``MODE_CELLPROFILER4``.
    scratch : float64 array (ws_offsets[n],)
    out : float64 array (n, N_FEATURES)
        Columns in :data:`._intensity_math.FEATURES` order.
    """
    for row in prange(targets.shape[0]):
        _object_features(row, targets[row], ws_offsets[row], offsets, pixels, edges, image,
                         width, mode, scratch, out)
