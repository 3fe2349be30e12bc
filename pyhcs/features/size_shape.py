r"""CellProfiler's MeasureObjectSizeShape (2-D) and the objects' locations, every object of a
label image in a few launches, on the CPU or the GPU.

Definitions (``specs/reference_wave2.md`` section 7; CellProfiler 5 computes them with
``skimage.measure.regionprops`` on each object's bounding-box crop, centriole for the Feret
diameters and ``scipy.ndimage`` for the radii):

- Area :math:`A`, the bounding box (``_Maximum`` exclusive), BoundingBoxArea, Extent
  :math:`A / \text{BoundingBoxArea}`, Center_X/Y (the centroid),
  EquivalentDiameter :math:`(4 A / \pi)^{1/2}` (the C library's ``pow``, as skimage's scalar
  ``**``: glibc's is not always correctly rounded, e.g. area 2502, so neither ``sqrt`` nor
  numpy's vectorised ``power`` matches it everywhere).
- Perimeter: skimage's 4-neighbourhood perimeter (border pixels weighted 1, :math:`\sqrt 2` or
  :math:`(1 + \sqrt 2)/2` by the border configuration around them), summed in the order of
  OpenBLAS's ``ddot`` (SkylakeX kernel; another BLAS kernel can change skimage's last bit).
  FormFactor :math:`4\pi A / P^2`, Compactness :math:`P^2 / \max(4 \pi A, 1)`.
- ConvexArea: pixel centres on or inside the convex hull of the pixels' edge midpoints
  (skimage ``convex_hull_image``), counted exactly; Solidity :math:`A / \text{ConvexArea}`.
- EulerNumber: 8-connected components minus 4-connected holes, from the 2 x 2 windows
  (:math:`(Q_1 - Q_3 - 2 Q_D)/4`).
- Maximum/Mean/MedianRadius: the exact Euclidean distance of each pixel to the nearest pixel
  outside the object (the image border counts as outside), its maximum, numpy-pairwise mean
  and median.
- Min/MaxFeretDiameter: centrosome's, on the hull of the pixel centres, exact integers.
- Moments in the bounding-box frame (:math:`y` = row, :math:`x` = column):
  SpatialMoment_p_q :math:`\sum y^p x^q`, CentralMoment_p_q
  :math:`\sum (y - \bar y)^p (x - \bar x)^q` (summed sequentially in raster order; skimage
  sums through BLAS, so they agree to :math:`10^{-15} \sum |y - \bar y|^p |x - \bar x|^q`),
  NormalizedMoment_p_q :math:`\mu_{pq} / \mu_{00}^{(p+q)/2 + 1}` (NaN for :math:`p + q < 2`),
  the seven HuMoments, InertiaTensor (skimage's
  :math:`((\mu_{20} + \mu_{02}) - \mu_{20}) / \mu_{00}` diagonal and :math:`-\mu_{11}/\mu_{00}`),
  its eigenvalues by LAPACK's 2 x 2 formula (``dlae2``, as ``numpy.linalg.eigvalsh`` runs it),
  clipped at 0; Major/MinorAxisLength :math:`4 \sqrt{\lambda}`, Eccentricity
  :math:`\sqrt{1 - \lambda_2/\lambda_1}`, Orientation in degrees (skimage's rule, +-45 when
  the tensor's diagonal is equal).

Every integer-valued feature is exact. On the GPU the sums are the CPU's bits; ``pow``,
``atan2`` and ``sqrt`` come from CUDA's math library there (``pow``/``atan2`` within 2 ulp).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .._backend import launch_config, namespace_for, to_numpy
from .._validate import check_index
from ._objects import ObjectIndex, as_object_index, label_array
from ._shape_math import N_SUMS, SUM_NAMES

__all__ = ["size_shape", "size_shape_array", "location", "SIZE_SHAPE_FEATURES",
           "ADVANCED_FEATURES"]

#: The AreaShape features of a 2-D object, in CellProfiler 5's order (without "AreaShape_").
SIZE_SHAPE_FEATURES = (
    "Area", "Perimeter", "MajorAxisLength", "MinorAxisLength", "Eccentricity", "Orientation",
    "Center_X", "Center_Y", "BoundingBoxArea", "BoundingBoxMinimum_X", "BoundingBoxMaximum_X",
    "BoundingBoxMinimum_Y", "BoundingBoxMaximum_Y", "FormFactor", "Extent", "Solidity",
    "Compactness", "EulerNumber", "MaximumRadius", "MeanRadius", "MedianRadius", "ConvexArea",
    "MinFeretDiameter", "MaxFeretDiameter", "EquivalentDiameter",
)
#: The features CellProfiler adds with "Calculate the advanced features?", in its order.
ADVANCED_FEATURES = (
    tuple(f"SpatialMoment_{p}_{q}" for p in range(3) for q in range(4))
    + tuple(f"CentralMoment_{p}_{q}" for p in range(3) for q in range(4))
    + tuple(f"NormalizedMoment_{p}_{q}" for p in range(4) for q in range(4))
    + tuple(f"HuMoment_{k}" for k in range(7))
    + ("InertiaTensor_0_0", "InertiaTensor_0_1", "InertiaTensor_1_0", "InertiaTensor_1_1",
       "InertiaTensorEigenvalues_0", "InertiaTensorEigenvalues_1")
)
_FERET = ("MinFeretDiameter", "MaxFeretDiameter")
_SUM = {name: k for k, name in enumerate(SUM_NAMES)}
_LAPACK_EPS2 = (2.0**-53) ** 2  # dsterf's test for a negligible off-diagonal element



def _scalar_pow(base: Any, exponent: float, xp: Any) -> Any:
    """``base ** exponent`` element by element with the C library's ``pow`` (Python's float
    ``**``), as skimage computes it for one region at a time; numpy's array ``power`` may use
    another (SIMD) implementation whose last bit differs. On the GPU the (n,) values make a
    round trip through the host, so both devices give the same bits."""
    values = [v ** exponent for v in to_numpy(base).astype(np.float64).tolist()]
    return xp.asarray(np.array(values, dtype=np.float64).reshape(base.shape))

def _check_flag(value: Any, name: str) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def _object_sums(objects: ObjectIndex, slots, r0, c0, r1, c1, ybar, xbar) -> Any:
    """The per-pixel sums of :mod:`._shape_math` (n_objects, N_SUMS). The CPU transforms each
    object's crop; the GPU the whole image, one thread per pixel, then one per object."""
    ns = objects.ns
    xp = ns.xp
    ids = xp.ascontiguousarray(objects.ids, dtype=xp.int32)
    pixels = objects.pixels
    offsets = objects.offsets
    if ns.target == "cpu":
        from ._shape_cpu import object_sums_cpu

        return object_sums_cpu(ids, pixels, offsets, slots, r0, c0, r1, c1, ybar, xbar)
    from ._shape_gpu import column_gap_gpu, distance2_gpu, object_sums_gpu

    gap = xp.zeros(ids.shape, xp.int64)
    dist2 = xp.zeros(ids.shape, xp.int64)
    out = xp.zeros((int(slots.shape[0]), N_SUMS), xp.float64)
    if slots.shape[0]:
        config = launch_config(ids.size)
        column_gap_gpu[config](ids, gap)
        distance2_gpu[config](ids, gap, dist2)
        object_sums_gpu[launch_config(int(slots.shape[0]))](
            ids, dist2, pixels, offsets, slots, r0, c0, ybar, xbar, out,
            xp.empty(int(pixels.shape[0]), xp.float64))
    return out


def _hull_features(objects: ObjectIndex) -> Any:
    """(n_objects, 3): MinFeretDiameter, MaxFeretDiameter, ConvexArea, in object order."""
    from ._shape_cpu import column_extremes_cpu, hull_features_cpu

    ns = objects.ns
    if ns.target == "cpu":
        geometry, present = objects.geometry(), objects.present
        extremes = column_extremes_cpu(
            objects.pixels, objects.offsets, present, geometry[4][present].astype(np.int64),
            geometry[6][present].astype(np.int64), objects.shape[1])
    else:  # only the column extremes cross to the host
        from .geometry import column_extremes

        ids = ns.xp.ascontiguousarray(objects.ids, dtype=ns.xp.int32)
        extremes = column_extremes(ids, objects.row_of_slot(), objects.n_objects, ns)
    return ns.xp.asarray(hull_features_cpu(*extremes))


def _eigenvalues(xp, a, b, c):
    """Eigenvalues of [[a, b], [b, c]] as LAPACK's dsterf computes them (dlae2), per object:
    ``(larger, smaller)``, both clipped at 0 as scikit-image clips them."""
    with np.errstate(divide="ignore", invalid="ignore"):
        sm = a + c
        df = a - c
        adf = xp.abs(df)
        tb = b + b
        ab = xp.abs(tb)
        a_larger = xp.abs(a) > xp.abs(c)
        acmx = xp.where(a_larger, a, c)
        acmn = xp.where(a_larger, c, a)
        rt = xp.where(adf > ab, adf * xp.sqrt(1.0 + (ab / adf) ** 2),
                      xp.where(adf < ab, ab * xp.sqrt(1.0 + (adf / ab) ** 2),
                               ab * math.sqrt(2.0)))
        rt1 = xp.where(sm < 0, 0.5 * (sm - rt), xp.where(sm > 0, 0.5 * (sm + rt), 0.5 * rt))
        rt2 = xp.where(sm != 0, (acmx / rt1) * acmn - (b / rt1) * b, -0.5 * rt)
        negligible = b * b <= _LAPACK_EPS2 * xp.abs(a * c)
        rt1 = xp.where(negligible, a, rt1)
        rt2 = xp.where(negligible, c, rt2)
    larger = xp.maximum(xp.maximum(rt1, rt2), 0.0)
    smaller = xp.maximum(xp.minimum(rt1, rt2), 0.0)
    return larger, smaller


def _hu_moments(nu: dict) -> list:
    n20, n02, n11 = nu[2, 0], nu[0, 2], nu[1, 1]
    n30, n12, n21, n03 = nu[3, 0], nu[1, 2], nu[2, 1], nu[0, 3]
    a = n30 + n12
    b = n21 + n03
    t0 = n30 - 3 * n12
    t1 = 3 * n21 - n03
    return [
        n20 + n02,
        (n20 - n02) * (n20 - n02) + 4 * n11 * n11,
        t0 * t0 + t1 * t1,
        a * a + b * b,
        t0 * a * (a * a - 3 * (b * b)) + t1 * b * (3 * (a * a) - b * b),
        (n20 - n02) * (a * a - b * b) + 4 * n11 * a * b,
        t1 * a * (a * a - 3 * (b * b)) - t0 * b * (3 * (a * a) - b * b),
    ]


def _features(objects: ObjectIndex, advanced: bool, feret: bool) -> dict[str, Any]:
    """Every requested feature of every present object (rows in label order)."""
    ns = objects.ns
    xp = ns.xp
    area_s, sum_r_s, sum_c_s, min_r_s, min_c_s, max_r_s, max_c_s = objects.geometry()
    slots = xp.asarray(objects.present, dtype=xp.int64)
    area = area_s[slots]
    r0 = min_r_s[slots].astype(xp.int64)
    c0 = min_c_s[slots].astype(xp.int64)
    r1 = max_r_s[slots].astype(xp.int64) + 1
    c1 = max_c_s[slots].astype(xp.int64) + 1
    a = area.astype(xp.float64)
    ybar = (sum_r_s[slots] - area * r0).astype(xp.float64) / a
    xbar = (sum_c_s[slots] - area * c0).astype(xp.float64) / a
    sums = _object_sums(objects, slots, r0, c0, r1, c1, ybar, xbar)
    col = {name: sums[:, k] for k, name in enumerate(SUM_NAMES)}
    hull = _hull_features(objects)

    out: dict[str, Any] = {}
    perimeter = col["Perimeter"]
    bbox_area = ((r1 - r0) * (c1 - c0)).astype(xp.float64)
    mu = {(p, q): col[f"CentralMoment_{p}_{q}"] for p in range(4) for q in range(4)}
    mu00 = mu[0, 0]
    with np.errstate(divide="ignore", invalid="ignore"):
        t00 = ((mu[2, 0] + mu[0, 2]) - mu[2, 0]) / mu00
        t11 = ((mu[2, 0] + mu[0, 2]) - mu[0, 2]) / mu00
        t01 = -mu[1, 1] / mu00
        major, minor = _eigenvalues(xp, t00, t01, t11)
        eccentricity = xp.where(major == 0, 0.0, xp.sqrt(1.0 - minor / major))
        theta = xp.where(t00 - t11 == 0, xp.where(t01 < 0, math.pi / 4.0, -math.pi / 4.0),
                         0.5 * xp.arctan2(-2.0 * t01, t11 - t00))
        four_pi_area = (4.0 * math.pi) * a
        out["Area"] = a
        out["Perimeter"] = perimeter
        out["MajorAxisLength"] = 4.0 * xp.sqrt(major)
        out["MinorAxisLength"] = 4.0 * xp.sqrt(minor)
        out["Eccentricity"] = eccentricity
        out["Orientation"] = theta * (180.0 / math.pi)
        out["Center_X"] = sum_c_s[slots].astype(xp.float64) / a
        out["Center_Y"] = sum_r_s[slots].astype(xp.float64) / a
        out["BoundingBoxArea"] = bbox_area
        out["BoundingBoxMinimum_X"] = c0.astype(xp.float64)
        out["BoundingBoxMaximum_X"] = c1.astype(xp.float64)
        out["BoundingBoxMinimum_Y"] = r0.astype(xp.float64)
        out["BoundingBoxMaximum_Y"] = r1.astype(xp.float64)
        out["FormFactor"] = four_pi_area / (perimeter * perimeter)
        out["Extent"] = a / bbox_area
        out["Solidity"] = a / hull[:, 2]
        out["Compactness"] = (perimeter * perimeter) / xp.maximum(four_pi_area, 1.0)
        out["EulerNumber"] = col["EulerNumber"]
        out["MaximumRadius"] = col["MaximumRadius"]
        out["MeanRadius"] = col["MeanRadius"]
        out["MedianRadius"] = col["MedianRadius"]
        out["ConvexArea"] = hull[:, 2]
        if feret:
            out["MinFeretDiameter"] = hull[:, 0]
            out["MaxFeretDiameter"] = hull[:, 1]
        out["EquivalentDiameter"] = _scalar_pow((4.0 * a) / math.pi, 0.5, xp)
        if advanced:
            for p in range(3):
                for q in range(4):
                    out[f"SpatialMoment_{p}_{q}"] = col[f"SpatialMoment_{p}_{q}"]
            for p in range(3):
                for q in range(4):
                    out[f"CentralMoment_{p}_{q}"] = mu[p, q]
            nu = {}
            scales = {}  # mu00 ** (k / 2 + 1) for k = p + q, as skimage's scalar arithmetic
            for p in range(4):
                for q in range(4):
                    if p + q < 2:
                        nu[p, q] = xp.full_like(a, np.nan)
                    else:
                        if p + q not in scales:
                            scales[p + q] = _scalar_pow(mu00, (p + q) / 2 + 1, xp)
                        nu[p, q] = mu[p, q] / scales[p + q]
                    out[f"NormalizedMoment_{p}_{q}"] = nu[p, q]
            for k, value in enumerate(_hu_moments(nu)):
                out[f"HuMoment_{k}"] = value
            out["InertiaTensor_0_0"] = t00
            out["InertiaTensor_0_1"] = t01
            out["InertiaTensor_1_0"] = t01
            out["InertiaTensor_1_1"] = t11
            out["InertiaTensorEigenvalues_0"] = major
            out["InertiaTensorEigenvalues_1"] = minor
    return out


def size_shape_array(
    labels: Any, *, index: Any = None, advanced: bool = False, feret: bool = True
) -> tuple[Any, dict[str, Any]]:
    """The AreaShape features as arrays on the labels' device (the form the engine uses).

    Returns
    -------
    row_labels : int64 array (n,)
        The label of each row: the present labels ascending, or ``index``.
    features : dict of str to float64 array (n,)
        Keyed by CellProfiler's feature name without ``AreaShape_``, in
        :data:`SIZE_SHAPE_FEATURES` (+ :data:`ADVANCED_FEATURES`) order; NaN rows for labels
        of ``index`` that are absent.
    """
    advanced = _check_flag(advanced, "advanced")
    feret = _check_flag(feret, "feret")
    ns = namespace_for(label_array(labels))
    objects = as_object_index(labels, ns)
    if len(objects.shape) != 2:
        raise ValueError(f"labels: expected a 2-D label image, got shape {objects.shape}")
    xp = ns.xp
    rows = objects.rows(index)
    if objects.n_objects:
        per_object = _features(objects, advanced, feret)
    else:
        names = [n for n in SIZE_SHAPE_FEATURES if feret or n not in _FERET]
        names += list(ADVANCED_FEATURES) if advanced else []
        per_object = {name: xp.zeros(0, xp.float64) for name in names}
    object_row = objects.row_of_slot()[rows.slots].astype(xp.int64) - 1
    found = object_row >= 0 if rows.found is None else rows.found & (object_row >= 0)
    take = xp.where(found, object_row, 0)
    features = {}
    for name, values in per_object.items():
        if values.shape[0] == 0:
            features[name] = xp.full(take.shape, np.nan)
        else:
            features[name] = xp.where(found, values[take], np.nan)
    return rows.labels, features


def size_shape(
    labels: Any,
    *,
    index: Any = None,
    zernike: bool = False,
    advanced: bool = False,
    feret: bool = True,
):
    """CellProfiler's MeasureObjectSizeShape of every object of a 2-D label image.

    Parameters
    ----------
    labels : (H, W) integer array (numpy or cupy) or ObjectIndex
        0 is background; labels need not be contiguous; a label of several pieces is one
        object (its Euler number counts the pieces).
    index : int or sequence of int, optional
        The labels to report, in this order; absent labels give NaN rows.
    zernike : bool
        Add ``AreaShape_Zernike_n_m`` (degree 9, CellProfiler's order; :func:`.zernike`).
    advanced : bool
        Add the moments and the inertia tensor (CellProfiler's "advanced features").
    feret : bool
        Include Min/MaxFeretDiameter (on by default, as in CellProfiler).

    Returns
    -------
    pandas.DataFrame
        Index ``label`` (int64); columns ``AreaShape_<feature>`` float64 in CellProfiler 5's
        order (:data:`SIZE_SHAPE_FEATURES`, then :data:`ADVANCED_FEATURES`, then Zernike),
        host (numpy) values whatever the device.

    Examples
    --------
    >>> import numpy as np
    >>> from pyhcs.features import size_shape
    >>> labels = np.zeros((8, 8), np.int32)
    >>> labels[1:4, 1:5] = 3
    >>> table = size_shape(labels)
    >>> table.loc[3, ["AreaShape_Area", "AreaShape_Perimeter", "AreaShape_EulerNumber"]].tolist()
    [12.0, 10.0, 1.0]
    """
    import pandas as pd

    zernike = _check_flag(zernike, "zernike")
    row_labels, features = size_shape_array(labels, index=index, advanced=advanced, feret=feret)
    columns = {f"AreaShape_{name}": to_numpy(values) for name, values in features.items()}
    if zernike:
        from .zernike import zernike_array

        result = zernike_array(labels, index=index)
        shape = to_numpy(result.shape)
        for k, (n, m) in enumerate(to_numpy(result.nm)):
            columns[f"AreaShape_Zernike_{n}_{m}"] = shape[:, k]
    table = pd.DataFrame(columns, index=pd.Index(to_numpy(row_labels), name="label"))
    return table


def location(labels: Any, *, index: Any = None):
    """CellProfiler's ``Location_Center_X/Y`` and ``Number_Object_Number`` of every object.

    The centre is the mean column / row of the object's pixels (``scipy.ndimage
    .center_of_mass`` of the objects, as the Identify modules record it), exact integer sums
    and one division. ``Number_Object_Number`` is the label (CellProfiler's object number when
    labels are 1..N). Absent labels of ``index`` give NaN rows.

    Returns
    -------
    pandas.DataFrame
        Index ``label``; columns ``Location_Center_X``, ``Location_Center_Y``,
        ``Number_Object_Number`` (float64).
    """
    import pandas as pd

    ns = namespace_for(label_array(labels))
    objects = as_object_index(labels, ns)
    if len(objects.shape) != 2:
        raise ValueError(f"labels: expected a 2-D label image, got shape {objects.shape}")
    xp = ns.xp
    if index is not None:
        check_index(index, ns)
    rows = objects.rows(index)
    area, sum_r, sum_c = objects.geometry()[:3]
    with np.errstate(divide="ignore", invalid="ignore"):
        center_x = sum_c[rows.slots].astype(xp.float64) / area[rows.slots]
        center_y = sum_r[rows.slots].astype(xp.float64) / area[rows.slots]
    number = rows.labels.astype(xp.float64)
    if rows.found is not None:
        center_x = xp.where(rows.found, center_x, np.nan)
        center_y = xp.where(rows.found, center_y, np.nan)
        number = xp.where(rows.found, number, np.nan)
    return pd.DataFrame(
        {"Location_Center_X": to_numpy(center_x), "Location_Center_Y": to_numpy(center_y),
         "Number_Object_Number": to_numpy(number)},
        index=pd.Index(to_numpy(rows.labels), name="label"),
    )
