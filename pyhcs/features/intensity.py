r"""CellProfiler's MeasureObjectIntensity: per-object intensity features, CPU and GPU.

Every object of a label image is measured in one kernel launch (numba CPU kernel parallel over
objects, or numba CUDA kernel, one thread per object); each object is summed sequentially over
its pixels in raster order, as CellProfiler does, so both devices give CellProfiler's numbers
bit for bit.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from .._backend import Namespace, launch_config, namespace_for, to_numpy
from .._validate import check_image
from ._intensity_math import (
    FEATURES,
    MODE_CELLPROFILER,
    MODE_CELLPROFILER4,
    MODE_CP_MEASURE,
    N_FEATURES,
)
from ._objects import ObjectIndex, as_object_index, label_array

__all__ = ["INTENSITY_FEATURES", "QUARTILES", "IntensityArrays", "intensity", "intensity_array"]

#: Feature keys of :func:`intensity_array`, in CellProfiler 5's order (the column names of
#: :func:`intensity` without the ``_{image_name}`` suffix).
INTENSITY_FEATURES = tuple(
    ("Location_" if name.startswith(("CenterMass", "MaxIntensity_")) else "Intensity_") + name
    for name in FEATURES
)

#: Accepted values of ``quartiles=``.
QUARTILES = {
    "cellprofiler": MODE_CELLPROFILER,
    "cp_measure": MODE_CP_MEASURE,
    "cellprofiler4": MODE_CELLPROFILER4,
}

_KERNEL_IMAGE_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


class IntensityArrays(NamedTuple):
    """Per-object intensity features as arrays on the input's device (see
    :func:`intensity_array`).

    Attributes
    ----------
    labels : int64 array (n,)
        The label of every row.
    features : dict of str to float64 array (n,)
        One array per key of :data:`INTENSITY_FEATURES` (``"Intensity_MeanIntensity"``,
        ``"Location_MaxIntensity_X"``, ...), in that order.
    """

    labels: Any
    features: dict


def _check_quartiles(quartiles: Any) -> int:
    if not isinstance(quartiles, str) or quartiles not in QUARTILES:
        raise ValueError(
            f"quartiles must be one of {', '.join(repr(q) for q in QUARTILES)}, "
            f"got {quartiles!r}"
        )
    return QUARTILES[quartiles]


def _check_image(image: Any, ns: Namespace, shape: tuple[int, ...]) -> Any:
    """A real 2-D image of the labels' shape, raveled for the kernel; NaN and inf are kept
    (CellProfiler's rule)."""
    image = check_image(image, ns, "image", shape=shape, allow_nonfinite=True)
    xp = ns.xp
    if image.dtype in _KERNEL_IMAGE_DTYPES:  # read as they are (float32 is CellProfiler's input)
        return xp.ascontiguousarray(image).ravel()
    return xp.ascontiguousarray(image, dtype=xp.float64).ravel()


def _edges(objects: ObjectIndex, ns: Namespace) -> Any:
    """uint8 per CSR pixel: 1 on the edge of its object. Label-only: kept in the index, so
    every channel measured on the same objects reuses it."""
    if "intensity_edges" not in objects._cache:
        xp = ns.xp
        pixels = objects.pixels
        edges = xp.empty(max(int(pixels.shape[0]), 1), xp.uint8)
        height, width = objects.shape
        if pixels.shape[0]:
            if ns.target == "cpu":
                from ._intensity_cpu import PIXELS_PER_THREAD, edge_flags_cpu, edge_map_cpu
                from ._zernike_cpu import threads_for

                edge_map = xp.empty((height, width), xp.uint8)
                with threads_for(height * width, PIXELS_PER_THREAD):
                    edge_map_cpu(objects.ids, edge_map)
                with threads_for(int(pixels.shape[0]), PIXELS_PER_THREAD):
                    edge_flags_cpu(pixels, edge_map.ravel(), edges)
            else:
                from ._intensity_gpu import edge_flags_gpu

                blocks, threads = launch_config(int(pixels.shape[0]))
                edge_flags_gpu[blocks, threads](pixels, objects.flat_ids, width, height, edges)
        objects._cache["intensity_edges"] = edges
    return objects._cache["intensity_edges"]


def _measure(image: Any, objects: ObjectIndex, targets: Any, mode: int, ns: Namespace) -> Any:
    """One launch: the (len(targets), N_FEATURES) features of the slots ``targets``."""
    xp = ns.xp
    n = int(targets.shape[0])
    out = xp.empty((n, N_FEATURES), xp.float64)
    if n == 0:
        return out
    offsets, pixels = objects.offsets, objects.pixels
    edges = _edges(objects, ns)
    ws_offsets = xp.zeros(n + 1, xp.int64)
    ws_offsets[1:] = xp.cumsum(offsets[targets + 1] - offsets[targets])
    scratch = xp.empty(max(int(ws_offsets[-1]), 1), xp.float64)
    width = objects.shape[1]
    args = (targets, ws_offsets, offsets, pixels, edges, image, width, mode, scratch, out)
    if ns.target == "cpu":
        from ._intensity_cpu import BUCKET_MIN_PIXELS, PIXELS_PER_THREAD, intensity_cpu
        from ._zernike_cpu import threads_for

        with threads_for(int(ws_offsets[-1]), PIXELS_PER_THREAD):
            intensity_cpu(*args, BUCKET_MIN_PIXELS)
        return out
    from ._intensity_gpu import intensity_gpu

    blocks, threads = launch_config(n, threads_per_block=32)  # one thread per object
    intensity_gpu[blocks, threads](*args)
    return out


def intensity_array(
    image: Any, labels: Any, *, index: Any = None, quartiles: str = "cellprofiler"
) -> IntensityArrays:
    r"""Per-object intensity features as arrays (the array-level form of :func:`intensity`).

    Parameters
    ----------
    image : (H, W) real array, numpy or cupy
        Intensity image, used as given (float32 and float64 are read directly, other dtypes
        as float64). NaN and inf pixels are kept, as CellProfiler keeps them.
    labels : (H, W) integer array, numpy or cupy, or ObjectIndex
        Label image, 0 = background; labels need not be contiguous; a label with several
        pieces is one object. An :class:`ObjectIndex` shares its pixel grouping with every
        other measurement (and channel) of the same objects.
    index : int or sequence of int, optional
        Labels to report, in this order (absent ones give NaN rows). Default: every label
        present, ascending.
    quartiles : {"cellprofiler", "cp_measure", "cellprofiler4"}
        The quantile convention, see :func:`intensity`.

    Returns
    -------
    IntensityArrays
        ``labels`` (n,) and ``features``, a dict of (n,) float64 arrays keyed by
        :data:`INTENSITY_FEATURES`, on the input's device.

    Examples
    --------
    >>> import numpy as np
    >>> from pyhcs.features.intensity import intensity_array
    >>> labels = np.array([[0, 4, 4], [0, 4, 9]], dtype=np.int32)
    >>> image = np.array([[5., 1., 2.], [5., 3., 8.]], dtype=np.float32)
    >>> result = intensity_array(image, labels)
    >>> result.labels.tolist(), result.features["Intensity_IntegratedIntensity"].tolist()
    ([4, 9], [6.0, 8.0])
    >>> result.features["Location_MaxIntensity_Y"].tolist()
    [1.0, 1.0]
    """
    mode = _check_quartiles(quartiles)
    ns = namespace_for(label_array(labels), image, names=("labels", "image"))
    objects = as_object_index(labels, ns, "labels", ndim=2)
    image = _check_image(image, ns, objects.shape)
    xp = ns.xp
    if index is None:
        row_labels = objects.object_labels
        values = _measure(image, objects, objects.present, mode, ns)
    else:
        rows = objects.rows(index)
        row_labels = rows.labels
        targets = xp.unique(rows.slots[rows.found]).astype(xp.int64)  # each slot once
        measured = _measure(image, objects, targets, mode, ns)
        padded = xp.concatenate([measured, xp.full((1, N_FEATURES), np.nan, xp.float64)])
        position = xp.searchsorted(targets, rows.slots)
        position = xp.where(rows.found, position, int(targets.shape[0]))
        values = padded[position]
    columns = xp.ascontiguousarray(values.T)
    features = {name: columns[k] for k, name in enumerate(INTENSITY_FEATURES)}
    return IntensityArrays(row_labels.astype(xp.int64), features)


def intensity(
    image: Any,
    labels: Any,
    *,
    image_name: str,
    index: Any = None,
    quartiles: str = "cellprofiler",
):
    r"""CellProfiler's MeasureObjectIntensity features of every object, keyed by label.

    Parameters
    ----------
    image : (H, W) real array, numpy or cupy
        The intensity image. To reproduce CellProfiler, pass its input: the float32 image
        (a uint16 image becomes ``x.astype(np.float32) / np.float32(65535)``). float32 and
        float64 are read as they are, other dtypes as float64; all arithmetic is float64.
        NaN and inf pixels are kept (CellProfiler keeps them: a NaN makes its object's sums
        NaN).
    labels : (H, W) integer array, numpy or cupy, or ObjectIndex
        Label image, 0 = background. Labels need not be contiguous or small; a label with
        several pieces is one object, holes are not filled.
    image_name : str
        The image name at the end of every column name (required).
    index : int or sequence of int, optional
        Labels to report, in this order; absent labels give NaN rows. Default: every label
        present, ascending.
    quartiles : {"cellprofiler", "cp_measure", "cellprofiler4"}
        ``"cellprofiler"`` (default): CellProfiler 5. ``"cp_measure"``: cp_measure
        ``get_intensity``'s default (numpy-linear quantiles and MAD). ``"cellprofiler4"``:
        CellProfiler 4's MAD (= cp_measure ``legacy=True``). Only the four quantile features
        change.

    Returns
    -------
    pandas.DataFrame
        One row per label (index ``label``, int64), float64 columns in CellProfiler 5's order:
        ``Intensity_{F}_{image_name}`` for F = IntegratedIntensity, MeanIntensity,
        StdIntensity, MinIntensity, MaxIntensity, IntegratedIntensityEdge,
        MeanIntensityEdge, StdIntensityEdge, MinIntensityEdge, MaxIntensityEdge,
        MassDisplacement, LowerQuartileIntensity, MedianIntensity, MADIntensity,
        UpperQuartileIntensity, then ``Location_{F}_{image_name}`` for F =
        CenterMassIntensity_X, _Y, _Z, MaxIntensity_X, _Y, _Z. A cupy input is computed on
        the GPU; the table is on the host.

    Notes
    -----
    For an object with pixel values :math:`v_1..v_n` in raster order (row :math:`i_k`,
    column :math:`j_k`), every sum is sequential in that order, in float64, from 0:

    - IntegratedIntensity :math:`I = \sum v`; MeanIntensity :math:`\bar v = I / n`;
      StdIntensity :math:`\sqrt{\sum (v - \bar v)(v - \bar v) / n}`.
    - MinIntensity: the smallest non-NaN value (NaN if all are); MaxIntensity: the largest,
      NaN if any value is NaN (scipy.ndimage's minimum / maximum, as CellProfiler calls them).
    - Edge features: the same five over the object's edge pixels, those with a 4-neighbour
      inside the image of another label or background (scikit-image ``find_boundaries``,
      mode ``'inner'``: the image border is not an edge); 0 when the image has no edge pixel.
    - Location_CenterMassIntensity_X :math:`= \sum j v / I`, _Y with :math:`i`, _Z
      :math:`= \sum 0 \cdot v / I` (0). CellProfiler divides (IEEE): when :math:`I = 0`
      all three are NaN, or :math:`\pm\infty` for X/Y of an image with negative values.
    - MassDisplacement :math:`= \sqrt{d_x d_x + d_y d_y + d_z d_z}`, :math:`d` = the mean
      pixel coordinate minus the intensity centre (:math:`d_z = -` CMI_Z).
    - Location_MaxIntensity_X/_Y: the column/row of the first pixel in raster order holding
      the maximum (numpy ``argmax``: the first NaN if there is one); _Z = 0. CellProfiler's
      ``scipy.ndimage.maximum_position`` picks an arbitrary one among tied maxima.
    - Quantiles on the sorted values :math:`s` (NaN last). ``"cellprofiler"``: position
      :math:`p = n q`, :math:`l = \lfloor p \rfloor`, :math:`f = p - l`; the value is
      :math:`s_l (1 - f) + s_{l+1} f` when :math:`l < n - 1`, else :math:`s_l`, for
      LowerQuartile (q = 1/4), Median (1/2) and UpperQuartile (3/4). MADIntensity is the
      median (``scipy.ndimage.median``: the mean of the two middle values) of
      :math:`|v - \mathrm{Median}|`. ``"cp_measure"``: :math:`p = (n - 1) q`, always
      :math:`s_l (1 - f) + s_{\min(l + 1, n - 1)} f`, and MAD the same rule at 1/2 on the
      sorted deviations. ``"cellprofiler4"``: MAD is CellProfiler's quantile rule at 1/2 on
      the sorted deviations (CellProfiler 4, cp_measure ``legacy=True``).

    Exactness: bit for bit equal to CellProfiler 5 (its module code, and the CSV of a real
    pipeline run) on every feature but Location_MaxIntensity of tied maxima; to cp_measure
    where it defines the same quantity (its sums are pairwise: StdIntensity agrees to a
    relative 1e-13, the other sums of continuous float64 images to 1e-13); CPU and GPU
    results are identical (each object is summed by one thread: no atomics, no fused
    multiply-add, results independent of the thread count).

    Examples
    --------
    >>> import numpy as np
    >>> from pyhcs.features.intensity import intensity
    >>> labels = np.zeros((4, 5), np.int32)
    >>> labels[1:3, 1:4] = 7
    >>> image = np.arange(20, dtype=np.float32).reshape(4, 5)
    >>> table = intensity(image, labels, image_name="DNA")
    >>> table.columns[:2].tolist()
    ['Intensity_IntegratedIntensity_DNA', 'Intensity_MeanIntensity_DNA']
    >>> table.loc[7, ["Intensity_MeanIntensity_DNA", "Intensity_MedianIntensity_DNA"]].tolist()
    [9.5, 11.0]
    >>> table.loc[7, ["Location_MaxIntensity_X_DNA", "Location_MaxIntensity_Y_DNA"]].tolist()
    [3.0, 2.0]
    """
    import pandas as pd

    if not isinstance(image_name, str):
        raise TypeError(f"image_name must be a non-empty string, got {image_name!r}")
    if not image_name:
        raise ValueError("image_name must be a non-empty string, got ''")
    result = intensity_array(image, labels, index=index, quartiles=quartiles)
    data = {f"{name}_{image_name}": to_numpy(result.features[name]) for name in INTENSITY_FEATURES}
    return pd.DataFrame(
        data, index=pd.Index(to_numpy(result.labels).astype(np.int64), name="label"),
    )
