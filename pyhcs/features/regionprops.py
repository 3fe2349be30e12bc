"""Per-object region properties for every object of a label image in one kernel launch."""

from __future__ import annotations

from typing import Any, Iterable

import numpy as np

from .._backend import Namespace, launch_config, namespace_for
from .._validate import check_image
from ._objects import as_object_index, gather, label_array

__all__ = ["regionprops_table", "PROPERTIES"]

#: Properties :func:`regionprops_table` computes. ``intensity_*`` need ``image``.
PROPERTIES = (
    "label",
    "area",
    "centroid",
    "bbox",
    "intensity_mean",
    "intensity_min",
    "intensity_max",
    "intensity_sum",
)
_INTENSITY_PROPERTIES = frozenset(p for p in PROPERTIES if p.startswith("intensity_"))
_INT32_MAX = np.iinfo(np.int32).max
_CPU_NATIVE_DTYPES = (np.dtype(np.uint8), np.dtype(np.uint16), np.dtype(np.float32), np.dtype(np.float64))


def _accumulate(ids: Any, image: Any, with_image: bool, n_slots: int, ns: Namespace):
    """Run the CPU or GPU accumulation kernel; returns the ten per-slot arrays."""
    if ns.target == "cpu":
        from ._regionprops_cpu import accumulate_cpu, rows_per_band

        return accumulate_cpu(ids, image, with_image, n_slots, rows_per_band(ids.shape[0], n_slots))

    from ._regionprops_gpu import SEGMENT, accumulate_gpu

    xp = ns.xp
    outputs = (
        xp.zeros(n_slots, xp.int64),  # area
        xp.zeros(n_slots, xp.int64),  # sum_r
        xp.zeros(n_slots, xp.int64),  # sum_c
        xp.full(n_slots, _INT32_MAX, xp.int32),  # min_r
        xp.full(n_slots, _INT32_MAX, xp.int32),  # min_c
        xp.full(n_slots, -1, xp.int32),  # max_r
        xp.full(n_slots, -1, xp.int32),  # max_c
        xp.zeros(n_slots, xp.float64),  # isum
        xp.full(n_slots, np.inf, xp.float64),  # imin
        xp.full(n_slots, -np.inf, xp.float64),  # imax
    )
    height, width = ids.shape
    n_work = height * -(-width // SEGMENT)
    if n_work:
        blocks, threads = launch_config(n_work)
        accumulate_gpu[blocks, threads](ids, image, with_image, *outputs)
    return outputs


def regionprops_table(
    labels: Any,
    image: Any = None,
    properties: Iterable[str] = ("label", "bbox"),
    *,
    index: Any = None,
    separator: str = "-",
) -> dict[str, Any]:
    r"""Properties of every object of a 2-D label image, as ``skimage.measure.regionprops_table``.

    All objects are measured in one pass over the image (one kernel launch on either device):
    no Python loop over objects.

    Parameters
    ----------
    labels : (H, W) integer array, numpy or cupy, or ObjectIndex
        Label image; 0 is background, labels need not be contiguous, a label made of several
        pieces is one object. An :class:`ObjectIndex` of it shares the object grouping (and
        the shape properties) with every other measurement of the same objects.
    image : (H, W) real array, optional
        Intensity image for the ``intensity_*`` properties (any integer, float or bool dtype;
        NaN and inf are rejected).
    properties : iterable of str
        Any of :data:`PROPERTIES`. ``centroid`` and ``bbox`` expand to one column per axis.
    index : int or sequence of int, optional
        The labels to report, in this order, as ``scipy.ndimage.mean`` takes them. Labels
        absent from ``labels`` give NaN rows, and every column except ``label`` is then
        float64 (whether or not a label is absent, so the dtype does not depend on the data).
    separator : str
        Joins a property name and its axis, as in scikit-image (``"centroid-0"``).

    Returns
    -------
    dict of str to 1-D array
        One array per column, of length ``n`` (the labels present, ascending, or ``len(index)``),
        on the input's device. Without ``index``, the keys and dtypes equal scikit-image's:

        ============================  =======  ==============================================
        key                           dtype    value, over the object's pixels :math:`\Omega`
        ============================  =======  ==============================================
        ``label``                     int64    the label
        ``area``                      float64  :math:`|\Omega|` (pixel count)
        ``centroid-0``, ``-1``        float64  :math:`\frac{1}{|\Omega|}\sum_{\Omega} r`, same for c
        ``bbox-0`` .. ``bbox-3``      int64    min row, min col, max row + 1, max col + 1
        ``intensity_mean``            float64  :math:`\frac{1}{|\Omega|}\sum_\Omega I`
        ``intensity_min``, ``_max``   float64  :math:`\min_\Omega I`, :math:`\max_\Omega I`
        ``intensity_sum``             float64  :math:`\sum_\Omega I` (pyhcs extension)
        ============================  =======  ==============================================

    Notes
    -----
    Exactness: counts, centroids, boxes, minima and maxima equal scikit-image exactly.
    Intensity sums are accumulated in float64, so on integer images (sums below
    :math:`2^{53}`) the mean is exact too. scikit-image averages a float32 image in float32
    (pairwise); pyhcs sums in float64 and rounds the mean to float32, so float32 means agree
    to float32 rounding (relative 1e-6) and float64 means to relative 1e-12. On the GPU, float
    sums are added in a nondeterministic order (atomics): the same tolerances apply.

    Examples
    --------
    >>> import numpy as np
    >>> from pyhcs.features import regionprops_table
    >>> labels = np.array([[0, 1, 1], [0, 0, 5]], dtype=np.int32)
    >>> image = np.array([[9, 2, 4], [9, 9, 7]], dtype=np.uint16)
    >>> table = regionprops_table(labels, image, ("label", "area", "intensity_mean"))
    >>> table["label"].tolist(), table["area"].tolist(), table["intensity_mean"].tolist()
    ([1, 5], [2.0, 1.0], [3.0, 7.0])
    """
    properties = _check_properties(properties, image)
    ns = namespace_for(label_array(labels), image, names=("labels", "image"))
    objects = as_object_index(labels, ns, "labels", ndim=2)
    xp = ns.xp
    with_image = image is not None
    if with_image:
        image = check_image(image, ns, "image", shape=objects.shape, ndim=2)
        image_dtype = np.dtype(image.dtype)
        if ns.target == "cpu" and image_dtype in _CPU_NATIVE_DTYPES:
            # the CPU kernel reads these directly (one compiled specialisation each)
            image = xp.ascontiguousarray(image)
        else:
            image = xp.ascontiguousarray(image, dtype=xp.float64)
        (area, sum_r, sum_c, min_r, min_c, max_r, max_c, isum, imin, imax) = _accumulate(
            objects.ids, image, with_image, objects.n_slots, ns
        )
        objects.keep_geometry((area, sum_r, sum_c, min_r, min_c, max_r, max_c))
    else:
        image_dtype = None
        # the shape properties are the index's own, computed once per label image
        area, sum_r, sum_c, min_r, min_c, max_r, max_c = objects.geometry()
    rows = objects.rows(index)
    count = gather(area, rows, ns).astype(xp.float64)

    table: dict[str, Any] = {}
    for prop in properties:
        if prop == "label":
            table["label"] = rows.labels.astype(xp.int64)
        elif prop == "area":
            table["area"] = count
        elif prop == "centroid":
            table[f"centroid{separator}0"] = gather(sum_r, rows, ns) / count
            table[f"centroid{separator}1"] = gather(sum_c, rows, ns) / count
        elif prop == "bbox":
            for axis, (array, offset) in enumerate(
                ((min_r, 0), (min_c, 0), (max_r, 1), (max_c, 1))
            ):
                table[f"bbox{separator}{axis}"] = gather(array.astype(xp.int64) + offset, rows, ns)
        elif prop == "intensity_mean":
            mean = gather(isum, rows, ns) / count
            if image_dtype.kind == "f" and image_dtype.itemsize < 8:
                # scikit-image averages float32 (float16) images in their own precision
                mean = mean.astype(image_dtype).astype(xp.float64)
            table["intensity_mean"] = mean
        elif prop == "intensity_min":
            table["intensity_min"] = gather(imin, rows, ns)
        elif prop == "intensity_max":
            table["intensity_max"] = gather(imax, rows, ns)
        elif prop == "intensity_sum":
            table["intensity_sum"] = gather(isum, rows, ns)
    return table


def _check_properties(properties: Iterable[str], image: Any) -> tuple[str, ...]:
    if isinstance(properties, str):
        properties = (properties,)
    try:
        properties = tuple(properties)
    except TypeError:
        raise TypeError(
            f"properties must be an iterable of property names, got {type(properties).__name__}"
        ) from None
    unknown = [p for p in properties if p not in PROPERTIES]
    if unknown:
        raise ValueError(f"properties: unknown {unknown}; available: {', '.join(PROPERTIES)}")
    needing_image = [p for p in properties if p in _INTENSITY_PROPERTIES]
    if needing_image and image is None:
        raise ValueError(f"properties {needing_image} need an intensity image: pass image=")
    return properties
