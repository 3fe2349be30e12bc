"""Per-object geometry: CellProfiler's minimum enclosing circle and convex hull.

Both run in the compiled core (``pyhcs._core``, C++17), all objects of an image in one call,
and are bit-identical to ``centrosome.cpmorphology.minimum_enclosing_circle`` and
``centrosome.cpmorphology.convex_hull`` (the circle used by CellProfiler's Zernike features) as
CellProfiler 5 runs them: exact ties between co-circular hull vertices are broken in numpy
1.26's sort order (CellProfiler 5's numpy), not the installed numpy's.
"""

from __future__ import annotations

import ctypes
import functools
import platform
import warnings
from typing import Any

import numpy as np

from .. import _core
from .._backend import _CPU, Namespace, _is_cupy_array, launch_config, namespace_for, to_numpy
from .._validate import check_index, check_labels

__all__ = ["minimum_enclosing_circle", "convex_hull"]


class _UFuncHead(ctypes.Structure):
    """The leading, long-stable fields of numpy's ``PyUFuncObject`` (numpy 1.x and 2.x)."""

    _fields_ = [
        ("ob_refcnt", ctypes.c_ssize_t),
        ("ob_type", ctypes.c_void_p),
        ("nin", ctypes.c_int),
        ("nout", ctypes.c_int),
        ("nargs", ctypes.c_int),
        ("identity", ctypes.c_int),
        ("functions", ctypes.c_void_p),
        ("data", ctypes.c_void_p),
        ("ntypes", ctypes.c_int),
        ("reserved1", ctypes.c_int),
        ("name", ctypes.c_void_p),
        ("types", ctypes.c_void_p),
    ]


def _find_numpy_acos_loop() -> tuple[int, int]:
    """Address of numpy's float64 ``arccos`` inner loop and its data pointer, or (0, 0).

    The reference computes its angles with ``np.arccos``, which on AVX-512 machines is SIMD
    code that differs from the C library's ``acos`` in the last bit for ~10% of arguments,
    and those bits decide ties between co-circular hull vertices. Calling numpy's own loop
    from C++ reproduces centrosome under the installed numpy on every machine. CellProfiler 5
    pins numpy 1.26, whose AVX-512 arc cosine can differ from numpy 2's as well (an AMD EPYC
    with AVX-512: 84,167 of 300,001 arguments; 3 of 1,122 circles of a tie-heavy field, by
    up to 20 ulp in the radius); without AVX-512 both are the C library's. The struct
    layout is checked field by field, and the loop is then checked against ``np.arccos`` bit
    for bit.
    """
    ufunc = np.arccos
    if (
        platform.python_implementation() != "CPython"  # id() is an address only on CPython
        or not isinstance(ufunc, np.ufunc)
        or ctypes.sizeof(ctypes.c_void_p) != 8
    ):
        return 0, 0
    head = _UFuncHead.from_address(id(ufunc))
    if (
        head.ob_type != id(type(ufunc))
        or (head.nin, head.nout, head.nargs) != (1, 1, 2)
        or head.ntypes != ufunc.ntypes
        or not head.functions
        or not head.name
        or not head.types
    ):
        return 0, 0
    if ctypes.string_at(head.name) != b"arccos":
        return 0, 0
    type_nums = ctypes.string_at(head.types, head.ntypes * head.nargs)
    expected = bytes(
        np.dtype(letter).num for signature in ufunc.types for letter in signature.replace("->", "")
    )
    if type_nums != expected:
        return 0, 0
    double = np.dtype(np.float64).num
    for k in range(head.ntypes):
        if type_nums[2 * k] == double and type_nums[2 * k + 1] == double:
            loop = ctypes.c_void_p.from_address(head.functions + 8 * k).value or 0
            data = ctypes.c_void_p.from_address(head.data + 8 * k).value if head.data else 0
            return loop, data or 0
    return 0, 0


def _acos_check_values() -> np.ndarray:
    rng = np.random.default_rng(20240611)
    special = np.array([-1.0, -0.5, -0.0, 0.0, 0.5, 1.0, np.sqrt(0.5), -np.sqrt(0.5)])
    near_one = 1.0 - np.ldexp(1.0, -np.arange(1, 53))
    return np.concatenate(
        [special, near_one, -near_one, np.linspace(-1.0, 1.0, 4097), rng.uniform(-1, 1, 20000)]
    )


@functools.lru_cache(maxsize=1)
def _acos_kernel() -> tuple[int, int]:
    """The arc cosine the C++ kernel uses: numpy's own loop when it checks out, else libm's."""
    try:
        loop, data = _find_numpy_acos_loop()
    except Exception:  # pragma: no cover - unexpected interpreter layout
        loop, data = 0, 0
    if loop:
        x = _acos_check_values()
        if np.array_equal(_core._acos_with_loop(x, loop, data), np.arccos(x)):
            return loop, data
    x = _acos_check_values()
    if not np.array_equal(_core._acos_with_loop(x, 0, 0), np.arccos(x)):
        warnings.warn(
            "pyhcs could not use numpy's arccos loop and the C library's acos differs from "
            "np.arccos on this machine: minimum_enclosing_circle may differ from CellProfiler "
            "in the last bits for objects with co-circular hull points",
            RuntimeWarning,
            stacklevel=3,
        )
    return 0, 0


def _reference_argsort(values: np.ndarray) -> np.ndarray:
    """The permutation scipy.ndimage.minimum_position sorts with, as CellProfiler 5 runs it.

    centrosome breaks exact ties between co-circular hull vertices through
    ``ndarray.argsort()``, whose order of equal values depends on the numpy version:
    CellProfiler 5 pins numpy 1.26, so pyhcs uses that version's algorithm
    (:mod:`._legacy_argsort`) whatever numpy is installed.
    """
    from ._legacy_argsort import legacy_argsort

    return legacy_argsort(values)


def _prepare(labels: Any, index: Any) -> tuple[np.ndarray, np.ndarray | None, bool]:
    """Validated C-contiguous int32/int64 labels, the int64 index, and whether input was cupy."""
    on_gpu = _is_cupy_array(labels)
    if on_gpu:
        labels = to_numpy(labels)
    if _is_cupy_array(index):
        index = to_numpy(index)
    labels_np = check_labels(labels, _CPU, "labels", ndim=2)
    if labels_np.dtype.itemsize < 4 or labels_np.dtype == np.int32 or (
        labels_np.dtype == np.uint32
        and (labels_np.size == 0 or labels_np.max() <= np.iinfo(np.int32).max)
    ):
        labels_np = np.ascontiguousarray(labels_np, dtype=np.int32)
    else:
        labels_np = np.ascontiguousarray(labels_np, dtype=np.int64)
    if index is None:
        wanted = None
    else:
        wanted = np.ascontiguousarray(check_index(index, _CPU, "index"), dtype=np.int64)
    return labels_np, wanted, on_gpu


_INT32_MAX = np.iinfo(np.int32).max


def column_extremes(ids: Any, object_of_slot: Any, n_objects: int, ns: Namespace) -> tuple:
    """Per-object column extremes of a slot image, computed on the device, as host arrays.

    ``ids`` (H, W) int32 slots and ``object_of_slot`` (n_slots,) int32 give every slot its
    object 1..n_objects (0: not measured). Returns ``(first, offset, lower, upper)`` (numpy;
    int64 (n,), int64 (n + 1,), int32, int32), the input of
    ``_core.minimum_enclosing_circle_from_extremes`` for objects 0..n-1: object ``o - 1`` covers
    the columns ``first[o-1] + k``, ``k < offset[o] - offset[o-1]``, with its topmost and
    bottommost row in each (INT32_MAX and -1 where a column has none of its pixels); an
    object without pixels has width 0. Only these tables (and the (2, n + 1) column bounds)
    cross to the host: ~8 bytes per object column instead of the whole label image.
    """
    from ._geometry_gpu import SEGMENT, column_runs_gpu

    xp = ns.xp
    height, width = ids.shape
    config = launch_config(-(-height // SEGMENT) * width)
    bounds = xp.empty((2, n_objects + 1), xp.int32)
    bounds[0] = _INT32_MAX
    bounds[1] = -1
    if n_objects and ids.size:  # offset and table unused (numpy arguments must not alias)
        column_runs_gpu[config](
            ids, object_of_slot, False, bounds, xp.zeros(1, xp.int64), xp.zeros((2, 1), xp.int32)
        )
    bounds_host = to_numpy(bounds)
    widths = np.maximum(bounds_host[1, 1:].astype(np.int64) - bounds_host[0, 1:] + 1, 0)
    offset = np.zeros(n_objects + 1, np.int64)
    np.cumsum(widths, out=offset[1:])
    total = int(offset[-1])
    table = xp.empty((2, total), xp.int32)
    table[0] = _INT32_MAX
    table[1] = -1
    if total:
        column_runs_gpu[config](ids, object_of_slot, True, bounds, xp.asarray(offset), table)
    table_host = to_numpy(table)
    first = np.where(widths > 0, bounds_host[0, 1:], 0).astype(np.int64)
    return first, offset, table_host[0], table_host[1]


def circles_of_objects(
    ids: Any, object_of_slot: Any, n_objects: int, ns: Namespace, slot: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """CellProfiler's circles of the objects of a slot image on the device (see
    :func:`column_extremes`): ``(centers (m, 2), radii (m,))`` numpy, one row per object
    1..n_objects or, with ``slot``, per entry of ``slot`` (object - 1, or -1 for a NaN row).

    The objects must be numbered as :func:`minimum_enclosing_circle` numbers the labels of its
    ``index`` (order of first appearance): the reference breaks exact ties with one argsort
    over all objects in that order. Bit-identical to the label-image route.
    """
    first, offset, lower, upper = column_extremes(ids, object_of_slot, n_objects, ns)
    loop, data = _acos_kernel()
    return _core.minimum_enclosing_circle_from_extremes(
        first, offset, lower, upper, slot, loop, data, _reference_argsort
    )


def _device_circles(labels: Any, index: Any, ns: Namespace) -> tuple[Any, Any]:
    """minimum_enclosing_circle on the GPU namespace: only column extremes reach the host."""
    from ._objects import object_slots

    xp = ns.xp
    labels = check_labels(labels, ns, "labels", ndim=2)
    if _is_cupy_array(index):
        index = to_numpy(index)
    slots = object_slots(labels, ns)
    ids = xp.ascontiguousarray(slots.ids, dtype=xp.int32)
    object_of_slot = xp.zeros(slots.n_slots, xp.int32)
    if index is None:
        area = xp.bincount(ids.ravel(), minlength=slots.n_slots)
        area[0] = 0
        present = xp.nonzero(area > 0)[0]  # slots, ascending labels
        n_objects = int(present.shape[0])
        object_of_slot[present] = xp.arange(1, n_objects + 1, dtype=xp.int32)
        entry_slot = None
    else:
        wanted = np.ascontiguousarray(check_index(index, _CPU, "index"), dtype=np.int64)
        positive = wanted > 0
        distinct, first_seen = np.unique(wanted[positive], return_index=True)
        order = np.argsort(first_seen, kind="stable")  # objects in order of first appearance
        rank = np.empty(distinct.size, np.int64)
        rank[order] = np.arange(distinct.size)
        entry_slot = np.full(wanted.size, -1, np.int64)
        entry_slot[positive] = rank[np.searchsorted(distinct, wanted[positive])]
        n_objects = int(distinct.size)
        slot_of, found = slots.slots_of(xp.asarray(distinct[order]), ns)
        numbers = xp.arange(1, n_objects + 1, dtype=xp.int32)
        object_of_slot[slot_of[found]] = numbers[found]
    centers, radii = circles_of_objects(ids, object_of_slot, n_objects, ns, entry_slot)
    return xp.asarray(centers), xp.asarray(radii)


def _to_caller(arrays: tuple[np.ndarray, ...], on_gpu: bool) -> tuple[Any, ...]:
    if not on_gpu:
        return arrays
    import cupy

    return tuple(cupy.asarray(a) for a in arrays)


def minimum_enclosing_circle(labels: Any, index: Any = None) -> tuple[Any, Any]:
    """CellProfiler's minimum enclosing circle of every object, bit for bit.

    This is the circle that maps each object onto the unit disk for CellProfiler's Zernike
    features (``centrosome.cpmorphology.minimum_enclosing_circle``). Its radius is *not*
    always the true minimal radius, and the exact algorithm below is reproduced so that
    downstream features match CellProfiler.

    Parameters
    ----------
    labels : ndarray of int, shape (M, N)
        Label image, 0 = background. Labels may be non-contiguous and an object may have
        several pieces or holes (a label is one object). numpy or cupy: for cupy, the
        column extremes of every object are computed on the GPU and only they are copied
        to the host for the C++ circle iteration; the result comes back as cupy.
    index : int or array-like of int, optional
        Labels to report, in this order (duplicates allowed). Labels absent from ``labels``
        (and 0 or negative ones) give NaN rows. Default: every label > 0 present, ascending.

    Returns
    -------
    centers : ndarray of float64, shape (n, 2)
        Circle centre of each object as (row i, column j) in pixel coordinates.
    radii : ndarray of float64, shape (n,)
        Circle radius of each object; 0 for one-pixel objects.

    Notes
    -----
    The points are the pixel centres (integer (i, j)) of the object.

    1. Hull: the convex hull of the points with collinear points removed (Andrew's monotone
       chain over the top and bottom pixel of every occupied column), vertices
       counter-clockwise in (j, i) starting at the vertex with the smallest j (ties: the
       smallest i).
    2. Side iteration (Chrystal's algorithm): start with the side S = (h0, h1). For every
       other hull vertex V compute the angles at S1 and S0 as
       ``a1 = arccos(<S0-S1, V-S1> / sqrt(|S0-S1|^2 |V-S1|^2))`` (``a0`` likewise) and the
       angle at V as ``(pi - a1) - a0``. Take the vertex V with the smallest angle at V
       (first in hull order on ties). If that angle is >= pi/2, S is a diameter: centre
       ``(S0 + S1)/2``, radius ``|S0 - S1|/2``. Else, if ``a0``, ``a1`` and the angle at V
       are all <= pi/2, the centre is the circumcentre of (S0, S1, V) (integer numerator and
       denominator, one division each). Else V replaces the end of S whose angle is obtuse
       (``a0 > pi/2``: S0, otherwise S1), keeping its position in S, and the step repeats.
    3. Radius rule: for a circumcircle, ``R = sqrt((S0_i - c_i)^2 + (S0_j - c_j)^2)`` measured
       from the FIRST end S0 of the final side (not a maximum over the vertices). A 2-vertex
       hull gives the midpoint and ``R = |c - h0|``; a 1-vertex hull gives the pixel and 0.

    Every step uses the reference's floating-point operations in its order (no fused
    multiply-add), and the arc cosine is numpy's own ``arccos`` loop (SIMD on AVX-512
    machines), so exact ties between co-circular vertices resolve as in centrosome under the
    installed numpy, and as in CellProfiler 5 wherever its numpy 1.26 computes the same arc
    cosine (see :func:`_find_numpy_acos_loop`).

    Differences from centrosome: labels absent from the image give a NaN radius (centrosome:
    NaN centre, radius 0), and the default ``index`` holds the labels present rather than
    ``1..max(labels)``.

    Examples
    --------
    >>> import numpy as np
    >>> from pyhcs.features.geometry import minimum_enclosing_circle
    >>> labels = np.zeros((8, 8), np.int32)
    >>> labels[1:4, 1:6] = 1   # a 3 x 5 rectangle
    >>> labels[6, 6] = 3       # a single pixel
    >>> centers, radii = minimum_enclosing_circle(labels, index=[1, 2, 3])
    >>> centers
    array([[ 2.,  3.],
           [nan, nan],
           [ 6.,  6.]])
    >>> radii.round(6)
    array([2.236068,      nan, 0.      ])
    """
    ns = namespace_for(labels, names=("labels",))
    if ns.target != "cpu":
        return _device_circles(labels, index, ns)
    labels_np, wanted, on_gpu = _prepare(labels, index)
    loop, data = _acos_kernel()
    _, centers, radii = _core.minimum_enclosing_circle(
        labels_np, wanted, loop, data, _reference_argsort
    )
    return _to_caller((centers, radii), on_gpu)


def convex_hull(labels: Any, index: Any = None) -> tuple[Any, Any]:
    """Convex hull of every object's pixel centres, as ``centrosome.cpmorphology.convex_hull``.

    Parameters
    ----------
    labels : ndarray of int, shape (M, N)
        Label image, 0 = background (see :func:`minimum_enclosing_circle`).
    index : int or array-like of int, optional
        Labels to report, in this order. Default: every label > 0 present, ascending.

    Returns
    -------
    points : ndarray of int64, shape (P, 3)
        One row (label, i, j) per hull vertex, grouped by label in ``index`` order; within a
        label the vertices are counter-clockwise in (j, i) from the vertex with the smallest
        j (ties: smallest i), collinear points removed.
    counts : ndarray of int64, shape (n,)
        Number of vertices of each label (0 when absent).

    Examples
    --------
    >>> import numpy as np
    >>> from pyhcs.features.geometry import convex_hull
    >>> labels = np.zeros((5, 5), np.int32)
    >>> labels[1:4, 1:4] = 2
    >>> points, counts = convex_hull(labels)
    >>> points
    array([[2, 1, 1],
           [2, 1, 3],
           [2, 3, 3],
           [2, 3, 1]])
    >>> counts
    array([4])
    """
    labels_np, wanted, on_gpu = _prepare(labels, index)
    _, points, counts = _core.convex_hull(labels_np, wanted)
    return _to_caller((points, counts), on_gpu)
