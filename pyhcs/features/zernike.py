r"""Zernike moments: CellProfiler's per-object shape and intensity features, and mahotas'.

Every object of a label image is mapped onto the unit disk by CellProfiler's minimum enclosing
circle (:func:`pyhcs.features.minimum_enclosing_circle`, C++, bit-identical to centrosome);
then one kernel launch (numba CPU kernel or numba CUDA kernel) sums the Zernike basis over the
pixels of all objects.
"""

from __future__ import annotations

import functools
import math
import numbers
import warnings
from math import factorial
from typing import Any, NamedTuple

import numpy as np

from .._backend import Namespace, launch_config, namespace_for, to_numpy
from .._validate import check_image, check_int
from ._objects import RowSelection, as_object_index, gather, label_array

__all__ = [
    "zernike",
    "zernike_array",
    "zernike_moments",
    "zernike_indexes",
    "ZernikeArrays",
    "MAX_DEGREE",
]

#: Highest supported degree (the factorials of the coefficients grow past int64 beyond it).
MAX_DEGREE = 20


# ---------------------------------------------------------------------------- moment tables


def _check_degree(degree: Any) -> int:
    return check_int(degree, "degree", 0, MAX_DEGREE)


def zernike_indexes(degree: int = 9) -> np.ndarray:
    """The ``(n, m)`` pairs of the moments up to ``degree``, in CellProfiler's order.

    ``n = 0..degree`` and ``m = n % 2, n % 2 + 2, ..., n`` (so ``n - m`` is even and
    ``m >= 0``): ``(degree + 1)(degree + 3) / 4`` pairs for odd degrees, ``(degree + 2)^2 / 4``
    for even ones. Equals ``centrosome.zernike.get_zernike_indexes(degree + 1)`` and the order
    of ``mahotas.features.zernike_moments``.

    Parameters
    ----------
    degree : int
        0 to :data:`MAX_DEGREE`.

    Returns
    -------
    ndarray of int64, shape (K, 2)

    Examples
    --------
    >>> from pyhcs.features import zernike_indexes
    >>> zernike_indexes(3).tolist()
    [[0, 0], [1, 1], [2, 0], [2, 2], [3, 1], [3, 3]]
    >>> len(zernike_indexes(9))
    30
    """
    return _tables(_check_degree(degree)).nm.copy()


class _Tables(NamedTuple):
    nm: np.ndarray  # (K, 2) int64, CellProfiler order
    coeffs: np.ndarray  # float64, Horner coefficients, group-major moments
    cstart: np.ndarray  # int64 (K + 1,)
    first: np.ndarray  # int64 (degree + 1,): first moment of group m
    count: np.ndarray  # int64 (degree + 1,): moments in group m
    to_cp: np.ndarray  # int64 (K,): group-major position of CellProfiler column k


@functools.lru_cache(maxsize=None)
def _tables(degree: int) -> _Tables:
    """Coefficient tables, computed exactly with Python integers.

    The radial polynomial is :math:`R_{nm}(r) = r^m P_{nm}(r^2)` with
    :math:`P_{nm}(t) = \\sum_{k=0}^{(n-m)/2} (-1)^k \\frac{(n-k)!}{k!\\,((n+m)/2-k)!\\,((n-m)/2-k)!}
    t^{(n-m)/2-k}`; the coefficients (at most 2,333,760 at degree 20) are exact in float64 and
    equal centrosome's lookup table.
    """
    nm = [(n, m) for n in range(degree + 1) for m in range(n % 2, n + 1, 2)]
    order = sorted(range(len(nm)), key=lambda k: (nm[k][1], nm[k][0]))  # group-major
    coeffs: list[float] = []
    cstart = [0]
    for k in order:
        n, m = nm[k]
        for j in range((n - m) // 2 + 1):
            value = factorial(n - j) // (
                factorial(j) * factorial((n + m) // 2 - j) * factorial((n - m) // 2 - j)
            )
            coeffs.append(float(-value if j % 2 else value))
        cstart.append(len(coeffs))
    count = np.array([sum(1 for n, m in nm if m == g) for g in range(degree + 1)], np.int64)
    first = np.concatenate([[0], np.cumsum(count)[:-1]]).astype(np.int64)
    to_cp = np.empty(len(nm), np.int64)
    to_cp[np.asarray(order, np.int64)] = np.arange(len(nm))  # inverse of `order`
    return _Tables(
        np.asarray(nm, np.int64).reshape(-1, 2),
        np.asarray(coeffs, np.float64),
        np.asarray(cstart, np.int64),
        first,
        count,
        np.asarray(to_cp, np.int64),
    )


# ------------------------------------------------------------------------------ launchers


@functools.lru_cache(maxsize=1)
def _numpy_square_is_fused() -> bool:
    """Whether ``np.square`` of a complex array rounds its real part once (an FMA).

    mahotas computes ``A ** 2`` with it; numpy's SIMD loops use ``fma(ar, ar, -(ai * ai))`` on
    FMA machines (e.g. AVX-512) and ``ar * ar - ai * ai`` elsewhere, and at degree 20 that last
    bit shows at ~1e-9 in mahotas' moments of order l = 2.
    """
    from fractions import Fraction

    theta = np.linspace(0.0, 2.0 * np.pi, 4099)
    a = np.cos(theta) + 1j * np.sin(theta)
    real = np.square(a).real
    if np.array_equal(real, a.real * a.real - a.imag * a.imag):
        return False
    fused = [
        float(Fraction(float(x)) * Fraction(float(x)) - Fraction(float(y * y)))
        for x, y in zip(a.real, a.imag)
    ]
    if np.array_equal(real, fused):
        return True
    warnings.warn(
        "numpy's complex square rounds in an unknown way on this machine: zernike_moments may "
        "differ from mahotas by ~1e-9 (relative) at degrees near 20",
        RuntimeWarning,
        stacklevel=3,
    )
    return False


def _image_for_kernel(image: Any, ns: Namespace) -> Any:
    """uint16 and float64 images are read as they are; every other dtype becomes float64."""
    xp = ns.xp
    if np.dtype(image.dtype) in (np.dtype(np.uint16), np.dtype(np.float64)):
        return xp.ascontiguousarray(image)
    return xp.ascontiguousarray(image, dtype=xp.float64)


def _object_runs_cpu(ids: np.ndarray, n_slots: int) -> tuple:
    """:func:`._zernike_cpu.object_runs`, on one thread for small images."""
    from . import _zernike_cpu

    with _zernike_cpu.threads_for(ids.size, _zernike_cpu.RUN_PIXELS_PER_THREAD):
        return _zernike_cpu.object_runs(ids, n_slots)


def _moment_sums(
    ids: Any,
    image: Any | None,
    objects: tuple[Any, Any],
    circles: tuple[Any, Any, Any],
    mahotas: bool,
    tables: _Tables,
    ns: Namespace,
    runs: tuple | None = None,
) -> tuple[Any, Any, Any, Any]:
    """One launch: per-object moment sums, (n_objects + 1, K) each, group-major columns.

    ``objects`` is ``(object_slot, row_of_slot)``: the slot of every object row (int64,
    ``n_objects + 1``, row 0 unused) and the object row of every slot (int32, ``n_slots``, 0
    for the background and unmeasured slots); ``circles`` are ``(ci, cj, radius)`` per object
    row. CellProfiler (``mahotas=False``): returns ``(shape_re, shape_im, weight_re,
    weight_im)``, the sums of V_nm and, with ``image``, of I V_nm (else the weighted pair is
    unused). mahotas: the sums of I conj(V_nl) in the last pair. ``runs`` (CPU only) is the
    output of :func:`._zernike_cpu.object_runs` when already known.
    """
    xp = ns.xp
    with_weight = image is not None
    if not with_weight:
        image = xp.zeros((1, 1), xp.float64)
    object_slot, row_of_slot = objects
    ci, cj, radius = circles
    fused_square = mahotas and _numpy_square_is_fused()
    if ns.target == "cpu":
        from . import _zernike_cpu

        if runs is None:
            runs = _object_runs_cpu(ids, int(row_of_slot.shape[0]))
        offsets, rows, starts, stops, area = runs
        tabs = (tables.coeffs, tables.cstart, tables.first, tables.count)
        terms = int(area.sum()) * len(tables.nm) * (2 if with_weight else 1)
        if mahotas:
            with _zernike_cpu.threads_for(terms, _zernike_cpu.MAHOTAS_TERMS_PER_THREAD):
                re, im = _zernike_cpu.mahotas_sums_cpu(
                    offsets, rows, starts, stops, object_slot, image, ci, cj, radius,
                    fused_square, *tabs,
                )
            return None, None, re, im
        with _zernike_cpu.threads_for(terms, _zernike_cpu.MOMENT_TERMS_PER_THREAD):
            return _zernike_cpu.cellprofiler_sums_cpu(
                offsets, rows, starts, stops, area, object_slot, image, ci, cj, radius,
                with_weight, *tabs,
            )

    from ._zernike_gpu import SEGMENT, moment_sums_gpu

    with_shape = not mahotas
    n_rows = int(object_slot.shape[0])
    n_moments = len(tables.nm)
    shape_k = n_moments if with_shape else 1
    weight_k = n_moments if with_weight else 1
    outputs = (
        xp.zeros((n_rows, shape_k), xp.float64),
        xp.zeros((n_rows, shape_k), xp.float64),
        xp.zeros((n_rows, weight_k), xp.float64),
        xp.zeros((n_rows, weight_k), xp.float64),
    )
    height, width = ids.shape
    n_work = height * -(-width // SEGMENT) * len(tables.first)
    if n_work and n_rows > 1:
        blocks, threads = launch_config(n_work)
        moment_sums_gpu[blocks, threads](
            ids, row_of_slot, image, ci, cj, radius, with_shape, with_weight, mahotas,
            fused_square,
            *(xp.asarray(t) for t in (tables.coeffs, tables.cstart, tables.first, tables.count)),
            *outputs,
        )
    if mahotas:
        return None, None, outputs[2], outputs[3]
    return outputs


class ZernikeArrays(NamedTuple):
    """Per-object Zernike features as arrays on the input's device (see :func:`zernike_array`).

    Attributes
    ----------
    labels : int64 array (n,)
    nm : int64 numpy array (K, 2)
        The ``(n, m)`` of every column, CellProfiler's order.
    shape : float64 array (n, K)
        CellProfiler ``AreaShape_Zernike_n_m``.
    magnitude, phase : float64 arrays (n, K), or None without an image
        CellProfiler ``RadialDistribution_ZernikeMagnitude/Phase``.
    """

    labels: Any
    nm: np.ndarray
    shape: Any
    magnitude: Any | None
    phase: Any | None


def zernike_array(
    labels: Any, *, image: Any = None, degree: int = 9, index: Any = None
) -> ZernikeArrays:
    r"""Per-object Zernike features as arrays (the array-level form of :func:`zernike`).

    Parameters
    ----------
    labels : (H, W) integer array, numpy or cupy, or ObjectIndex
        Label image, 0 = background. Labels need not be contiguous; a label made of several
        pieces is one object, and holes are not filled. An :class:`ObjectIndex` shares its
        grouping and minimum enclosing circles with the other measurements of the objects.
    image : (H, W) real array, optional (keyword only)
        Intensity image for the intensity-weighted moments, used as given (no rescaling).
    degree : int
        Highest radial order ``n``, 0 to :data:`MAX_DEGREE` (CellProfiler's default 9).
    index : int or sequence of int, optional
        Labels to report, in this order (absent ones give NaN rows). Default: every label
        present, ascending.

    Returns
    -------
    ZernikeArrays
        ``labels`` (n,), ``nm`` (K, 2), ``shape`` (n, K) and, with ``image``, ``magnitude``
        and ``phase`` (n, K), rows following ``labels`` and columns following ``nm``; on the
        input's device. See :func:`zernike` for the formulas.

    Examples
    --------
    >>> import numpy as np
    >>> from pyhcs.features import zernike_array
    >>> labels = np.zeros((6, 6), np.int32)
    >>> labels[1:5, 1:5] = 3
    >>> result = zernike_array(labels, degree=2)
    >>> result.labels, result.nm.tolist()
    (array([3]), [[0, 0], [1, 1], [2, 0], [2, 2]])
    >>> result.shape.round(6)  # the 4 corners lie on the circle and r^2 rounds above 1
    array([[0.848826, 0.      , 0.15719 , 0.      ]])
    """
    ns = namespace_for(label_array(labels), image, names=("labels", "image"))
    objects = as_object_index(labels, ns, "labels", ndim=2)
    degree = _check_degree(degree)
    xp = ns.xp
    with_image = image is not None
    if with_image:
        image = _image_for_kernel(check_image(image, ns, "image", shape=objects.shape, ndim=2),
                                  ns)
    tables = _tables(degree)

    ids = objects.ids
    runs = objects.row_runs() if ns.target == "cpu" else None
    area = runs[4] if runs is not None else objects.area

    # the circles of all present objects, in the order CellProfiler asks for them (ascending
    # labels): centrosome breaks exact ties with one sort over all objects, so the circle of an
    # object must not depend on `index`
    present = objects.present
    n_objects = objects.n_objects
    object_slot = xp.concatenate([xp.zeros(1, xp.int64), present.astype(xp.int64)])
    row_of_slot = objects.row_of_slot()
    centers, radii = objects.circles()
    nan = xp.full(1, np.nan, xp.float64)
    ci = xp.concatenate([nan, centers[:, 0]])
    cj = xp.concatenate([nan, centers[:, 1]])
    radius = xp.concatenate([nan, radii])

    # the table rows, as object rows (0, the background, where a label of `index` is absent)
    selection = objects.rows(index)
    rows = RowSelection(selection.labels, row_of_slot[selection.slots].astype(xp.int64),
                        selection.found)
    summed_rows, summed_radius = row_of_slot, radius
    if index is not None:  # sum only the objects asked for (a NaN radius is skipped)
        chosen = xp.zeros(n_objects + 1, dtype=bool)
        chosen[rows.slots] = True
        chosen[0] = False
        summed_rows = xp.where(chosen[row_of_slot], row_of_slot, 0).astype(xp.int32)
        summed_radius = xp.where(chosen, radius, np.nan)
    shape_re, shape_im, weight_re, weight_im = _moment_sums(
        ids, image if with_image else None, (object_slot, summed_rows),
        (ci, cj, summed_radius), False, tables, ns, runs,
    )
    to_cp = xp.asarray(tables.to_cp)
    r = gather(radius, rows, ns)[:, None]
    one_pixel = r == 0  # centrosome divides 0 by 0 there
    re = gather(shape_re, rows, ns)[:, to_cp]
    im = gather(shape_im, rows, ns)[:, to_cp]
    # centrosome: sqrt(re^2 + im^2) / (pi R^2), with pi R^2 computed as (R * R) * pi
    with np.errstate(invalid="ignore", divide="ignore"):
        shape = xp.sqrt(re * re + im * im) / ((r * r) * np.pi)
    shape = xp.where(one_pixel, np.nan, shape)
    magnitude = phase = None
    if with_image:
        re = gather(weight_re, rows, ns)[:, to_cp]
        im = gather(weight_im, rows, ns)[:, to_cp]
        count = gather(area[object_slot], rows, ns).astype(xp.float64)[:, None]
        with np.errstate(invalid="ignore", divide="ignore"):
            magnitude = xp.sqrt(re * re + im * im) / count
        magnitude = xp.where(one_pixel, np.nan, magnitude)
        phase = xp.where(one_pixel, np.nan, xp.arctan2(re, im))
    labels_out = selection.labels.astype(xp.int64)
    return ZernikeArrays(labels_out, tables.nm.copy(), shape, magnitude, phase)


def zernike(
    labels: Any,
    *,
    image: Any = None,
    degree: int = 9,
    image_name: str = "image",
    index: Any = None,
):
    r"""CellProfiler's Zernike features of every object, as a table keyed by label.

    Without ``image`` these are the shape features of CellProfiler's MeasureObjectSizeShape
    (``AreaShape_Zernike_n_m``, the same as cp_measure ``get_zernike`` and centrosome
    ``zernike``); with ``image`` the intensity features of MeasureObjectIntensityDistribution
    (``RadialDistribution_ZernikeMagnitude_{image_name}_n_m`` and ``..._ZernikePhase_...``, the
    same as cp_measure ``get_radial_zernikes``) are added.

    Parameters
    ----------
    labels : (H, W) integer array, numpy or cupy, or ObjectIndex
        Label image, 0 = background. Labels need not be contiguous; a label made of several
        pieces is one object, and holes are not filled.
    image : (H, W) real array, optional (keyword only, so an integer image is never taken
        for labels)
        Intensity image, used as given: CellProfiler divides a uint16 image by 65535 when it
        loads it, so pass ``image / 65535`` to get its magnitudes (phases do not change).
    degree : int
        Highest radial order ``n``, 0 to :data:`MAX_DEGREE`; CellProfiler's default is 9.
    image_name : str
        The image name inside the intensity column names.
    index : int or sequence of int, optional
        Labels to report, in this order; labels absent from ``labels`` give NaN rows. Default:
        every label present, ascending.

    Returns
    -------
    pandas.DataFrame
        One row per label (index named ``label``, int64) and, for the K pairs ``(n, m)`` of
        :func:`zernike_indexes` (30 for degree 9), the columns ``AreaShape_Zernike_{n}_{m}``,
        then with ``image`` ``RadialDistribution_ZernikeMagnitude_{image_name}_{n}_{m}`` (K),
        then ``RadialDistribution_ZernikePhase_{image_name}_{n}_{m}`` (K), in CellProfiler's
        column order. A cupy input is computed on the GPU; the table is on the host.

    Notes
    -----
    Each object :math:`\Omega` gets CellProfiler's minimum enclosing circle (centre
    :math:`(c_i, c_j)`, radius :math:`R`, see :func:`pyhcs.features.minimum_enclosing_circle`).
    A pixel :math:`(i, j)` of the object has :math:`x = (j - c_j)/R`, :math:`y = (i - c_i)/R`,
    :math:`r^2 = x x + y y` and :math:`z = y + \mathrm{i}\,x`; it is dropped iff
    :math:`r^2 > 1` in exactly this floating-point arithmetic (it drops rim pixels of many
    objects). The basis is

    .. math:: V_{nm} = P_{nm}(r^2)\, z^m, \qquad
              P_{nm}(t) = \sum_{k=0}^{(n-m)/2} (-1)^k
              \frac{(n-k)!}{k!\,(\frac{n+m}{2}-k)!\,(\frac{n-m}{2}-k)!}\, t^{\frac{n-m}{2}-k},

    i.e. :math:`R_{nm}(r) e^{\mathrm{i} m \phi}`, and with the sums over the kept pixels

    .. math:: \mathrm{Zernike}_{nm} = \frac{|\sum V_{nm}|}{\pi R^2}, \quad
              \mathrm{Magnitude}_{nm} = \frac{|\sum I\, V_{nm}|}{N}, \quad
              \mathrm{Phase}_{nm} = \operatorname{arctan2}(\mathrm{Re}\sum I V_{nm},
              \mathrm{Im}\sum I V_{nm})

    where :math:`N` is the object's full pixel count (dropped pixels included) and the phase
    keeps CellProfiler's argument order. One-pixel objects (:math:`R = 0`) give NaN.

    Precision: the per-pixel values use centrosome's exact coefficients and its Horner order
    (no fused multiply-add on either device, so the r^2 > 1 cut-off keeps exactly the
    reference's pixels), and the sums are float64. On the CPU each object is summed by one
    thread with eight interleaved partial sums, an order fixed by the object alone (the result
    does not depend on the number of threads); the GPU adds the same per-pixel values with
    float64 atomics in a nondeterministic order. Both agree with centrosome and cp_measure to a
    relative 1e-9 with an absolute floor of 1e-12 (measured: within ~1e-4 of that bound,
    degree 9 and 20; moments that vanish by symmetry are ~1e-17 everywhere). A phase is only
    as well defined as its moment: where the magnitude is at round-off level, so is the phase.

    The circles come from the host (C++); for a cupy ``labels`` the GPU reduces every object
    to its column extremes (topmost and bottommost pixel per column, all the hull depends on)
    and only those are copied to the host for them; the moment sums run on the GPU.

    Examples
    --------
    >>> import numpy as np
    >>> from pyhcs.features import zernike
    >>> labels = np.zeros((8, 8), np.int32)
    >>> labels[1:6, 1:6] = 2          # a 5 x 5 square
    >>> labels[7, 7] = 5              # one pixel: NaN
    >>> table = zernike(labels, degree=2)
    >>> table.columns.tolist()  # doctest: +NORMALIZE_WHITESPACE
    ['AreaShape_Zernike_0_0', 'AreaShape_Zernike_1_1',
     'AreaShape_Zernike_2_0', 'AreaShape_Zernike_2_2']
    >>> table.index.tolist(), table.loc[2].round(6).tolist()
    ([2, 5], [0.994718, 0.0, 0.0, 0.0])
    >>> bool(table.loc[5].isna().all())
    True
    """
    import pandas as pd

    if not isinstance(image_name, str) or not image_name:
        raise TypeError(f"image_name must be a non-empty string, got {image_name!r}")
    result = zernike_array(labels, image=image, degree=degree, index=index)
    names = [f"AreaShape_Zernike_{n}_{m}" for n, m in result.nm]
    blocks = [to_numpy(result.shape)]
    if result.magnitude is not None:
        names += [f"RadialDistribution_ZernikeMagnitude_{image_name}_{n}_{m}" for n, m in result.nm]
        names += [f"RadialDistribution_ZernikePhase_{image_name}_{n}_{m}" for n, m in result.nm]
        blocks += [to_numpy(result.magnitude), to_numpy(result.phase)]
    data = np.concatenate(blocks, axis=1)
    return pd.DataFrame(
        data,
        index=pd.Index(to_numpy(result.labels).astype(np.int64), name="label"),
        columns=names,
    )


# --------------------------------------------------------------------------------- mahotas


def _check_scalar(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        if getattr(value, "shape", None) == () and np.dtype(value.dtype).kind in "iuf":
            value = float(value)
        else:
            raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    return value


def zernike_moments(im: Any, radius: float, degree: int = 8, cm: Any = None):
    r"""Zernike moments of an image, as ``mahotas.features.zernike_moments``.

    Parameters
    ----------
    im : (H, W) real array, numpy or cupy
        Image; pixels with ``im > 0`` inside the circle take part, weighted by their value.
    radius : float
        Radius of the circle, in pixels (> 0).
    degree : int
        Highest order ``n``, 0 to :data:`MAX_DEGREE` (mahotas' default 8).
    cm : pair of float, optional
        Centre (row, col) of the circle. Default: the intensity-weighted centre of mass of
        ``im`` over all its pixels (negative ones included), summed in row-major order as
        mahotas does (computed on the host for a cupy image).

    Returns
    -------
    ndarray of float64, shape (K,)
        :math:`|A_{nl}|` for ``(n, l)`` in :func:`zernike_indexes` order (25 values for degree
        8), on the input's device.

    Notes
    -----
    With :math:`Y = (\mathrm{row} - c_0)/\mathrm{radius}`, :math:`X = (\mathrm{col} -
    c_1)/\mathrm{radius}` and :math:`\rho = \sqrt{X X + Y Y}`, the pixels with :math:`\rho
    \le 1` (the rounded square root, as mahotas computes it) and :math:`I > 0` are kept, with
    weights :math:`p = I / \sum I` over them, and

    .. math:: A_{nl} = \frac{n+1}{\pi} \sum p\, \overline{R_{nl}(\rho)\, e^{\mathrm{i} l
              \theta}}, \qquad e^{\mathrm{i}\theta} = (X + \mathrm{i} Y)/\rho.

    All zeros if no pixel qualifies. The polynomial is evaluated as in :func:`zernike`
    (Horner in :math:`\rho^2`, times :math:`(Y + \mathrm{i}X)^l`, which has the same modulus);
    results agree with mahotas to a relative 1e-9 (absolute 1e-12). Differences from mahotas:
    NaN or infinite pixels, a radius that is not positive and finite, and a degree above
    :data:`MAX_DEGREE` raise errors.

    Examples
    --------
    >>> import numpy as np
    >>> from pyhcs.features import zernike_moments
    >>> im = np.zeros((9, 9))
    >>> im[2:7, 2:7] = 1.0
    >>> zernike_moments(im, 4.0, degree=2).round(6)
    array([0.31831 , 0.      , 0.477465, 0.      ])
    """
    ns = namespace_for(im, names=("im",))
    im = check_image(im, ns, "im", ndim=2)
    radius = _check_scalar(radius, "radius")
    if radius <= 0:
        raise ValueError(f"radius must be positive, got {radius}")
    degree = _check_degree(degree)
    xp = ns.xp
    if cm is None:
        from ._zernike_cpu import center_of_mass

        c0, c1 = center_of_mass(np.ascontiguousarray(to_numpy(im), dtype=np.float64))
    else:
        try:
            c0, c1 = cm
        except (TypeError, ValueError):
            raise ValueError(f"cm must be a pair (row, col), got {cm!r}") from None
        c0, c1 = _check_scalar(c0, "cm[0]"), _check_scalar(c1, "cm[1]")
    tables = _tables(degree)
    weights = xp.ascontiguousarray(im, dtype=xp.float64)
    ids = (weights > 0).astype(xp.int32)  # one object: the positive pixels
    objects = (xp.asarray([0, 1], xp.int64), xp.asarray([0, 1], xp.int32))
    circles = tuple(xp.asarray([np.nan, value], xp.float64) for value in (c0, c1, radius))
    _, _, sum_re, sum_im = _moment_sums(ids, weights, objects, circles, True, tables, ns)
    re = sum_re[1, xp.asarray(tables.to_cp)]
    im_part = sum_im[1, xp.asarray(tables.to_cp)]
    total = re[0]  # V_00 = 1: the sum of the kept weights
    factor = xp.asarray((tables.nm[:, 0] + 1) / np.pi)
    safe_total = xp.where(total > 0, total, 1.0)
    values = factor * (xp.sqrt(re * re + im_part * im_part) / safe_total)
    return xp.where(total > 0, values, 0.0)
