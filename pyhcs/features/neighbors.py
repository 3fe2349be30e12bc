r"""CellProfiler's MeasureObjectNeighbors for every object of a label image, CPU and GPU.

Neighbour counts and touching percentages come from two kernel launches over the image's row
segments (outline pixels only, see :mod:`pyhcs.features._neighbors_math`), the closest objects
from one launch over the objects; no Python loop over objects on either device.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np

from .._backend import Namespace, launch_config, namespace_for, to_numpy
from .._validate import check_int
from ._objects import RowSelection, as_object_index, gather, label_array

__all__ = ["FEATURES", "METHODS", "NeighborsArrays", "neighbors", "neighbors_array"]

#: CellProfiler 5's feature names, in its column order (``M_ALL``).
FEATURES = (
    "NumberOfNeighbors",
    "PercentTouching",
    "FirstClosestObjectNumber",
    "FirstClosestDistance",
    "SecondClosestObjectNumber",
    "SecondClosestDistance",
    "AngleBetweenNeighbors",
)

#: Accepted ``method`` values: pyhcs's short names and CellProfiler's setting values.
METHODS = {
    "adjacent": "adjacent",
    "expand": "expand",
    "within": "within",
    "Adjacent": "adjacent",
    "Expand until adjacent": "expand",
    "Within a specified distance": "within",
}
_REFERENCES = ("cellprofiler", "cp_measure")


class NeighborsArrays(NamedTuple):
    """Per-object neighbour features as 1-D arrays on the input's device (see
    :func:`neighbors_array`); the fields after ``labels`` follow :data:`FEATURES`.

    Attributes
    ----------
    labels : int64 array (n,)
    number_of_neighbors, percent_touching : float64 arrays (n,)
    first_closest_object_number : int64 array (n,) (float64 with ``index``)
        The LABEL of the closest object (CellProfiler's object number when labels are 1..N).
    first_closest_distance : float64 array (n,)
    second_closest_object_number : int64 array (n,) (float64 with ``index``)
    second_closest_distance, angle_between_neighbors : float64 arrays (n,)
    scale : str
        ``"Adjacent"``, ``"Expanded"`` or the distance (e.g. ``"5"``): the column suffix.
    """

    labels: Any
    number_of_neighbors: Any
    percent_touching: Any
    first_closest_object_number: Any
    first_closest_distance: Any
    second_closest_object_number: Any
    second_closest_distance: Any
    angle_between_neighbors: Any
    scale: str

    def columns(self) -> dict[str, Any]:
        """``{"Neighbors_<feature>_<scale>": array}`` in CellProfiler's column order."""
        return {f"Neighbors_{name}_{self.scale}": value
                for name, value in zip(FEATURES, self[1:8])}


#: Columns per work item of the CPU expansion's column pass.
_EXPAND_COLUMN_BLOCK = 128


def _expand(numbers: Any, ns: Namespace) -> Any:
    """"Expand until adjacent": every pixel the number of its nearest labelled pixel, as
    scipy's feature transform picks it, ties included, on either device."""
    xp = ns.xp
    expanded = xp.empty_like(numbers)
    if ns.target == "cpu":
        from ._neighbors_cpu import expand_labels_cpu

        expand_labels_cpu(numbers, _EXPAND_COLUMN_BLOCK, expanded)
        return expanded
    from ._neighbors_gpu import expand_columns_gpu, expand_rows_gpu

    height, width = numbers.shape
    nearest_row = xp.empty_like(numbers)
    blocks, threads = launch_config(width)
    expand_columns_gpu[blocks, threads](numbers, nearest_row)
    site_c = xp.empty((height, width), xp.int32)
    site_r2 = xp.empty((height, width), xp.int64)
    site_number = xp.empty((height, width), xp.int32)
    blocks, threads = launch_config(height, threads_per_block=32)
    expand_rows_gpu[blocks, threads](numbers, nearest_row, site_c, site_r2, site_number,
                                     expanded)
    return expanded


def _check_method(method: Any) -> str:
    if not isinstance(method, str) or method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(repr(m) for m in METHODS)}, "
                         f"got {method!r}")
    return METHODS[method]


def _check_reference(reference: Any) -> str:
    if not isinstance(reference, str) or reference not in _REFERENCES:
        raise ValueError(f"reference must be 'cellprofiler' or 'cp_measure', got {reference!r}")
    return reference


def _half_widths(radius2: int, radius: int, height: int, width: int) -> np.ndarray:
    """Half-width table of the disk ``dy^2 + dx^2 <= radius2`` (rows ``|dy| <= radius``),
    clipped to the image."""
    rows = min(radius, height - 1)
    return np.array([min(math.isqrt(radius2 - dy * dy), width - 1)
                     for dy in range(-rows, rows + 1)], dtype=np.int32)


def _boundary_and_pairs(labels: Any, neighbor_labels: Any, half_pairs: np.ndarray,
                        half_touch: np.ndarray, stride: int, ns: Namespace):
    """``(perimeter, touching, keys)``: per-object outline and touching pixel counts, and the
    (object, neighbour) pair keys (with duplicates) of the whole image."""
    xp = ns.xp
    height, width = labels.shape
    if ns.target == "cpu":
        from ._neighbors_cpu import (
            SEGMENT,
            boundary_counts_cpu,
            emit_pairs_cpu,
            rows_per_band,
        )

        per_row = -(-width // SEGMENT)
        counts = np.empty(height * per_row, np.int64)
        edge = np.zeros((height, width), np.uint8)
        perimeter, touching = boundary_counts_cpu(
            labels, neighbor_labels, half_pairs, half_touch, stride,
            rows_per_band(height, stride), SEGMENT, edge, counts)
        starts = np.cumsum(counts) - counts
        keys = np.empty(int(counts.sum()), np.int64)
        if keys.size:
            emit_pairs_cpu(labels, neighbor_labels, edge, half_pairs, stride, SEGMENT, counts,
                           starts, keys)
        return perimeter, touching, keys

    from ._neighbors_gpu import SEGMENT, boundary_counts_gpu, emit_pairs_gpu

    per_row = -(-width // SEGMENT)
    n_work = height * per_row
    half_pairs = xp.asarray(half_pairs)
    half_touch = xp.asarray(half_touch)
    perimeter = xp.zeros(stride, xp.int64)
    touching = xp.zeros(stride, xp.int64)
    counts = xp.zeros(n_work, xp.int64)
    edge = xp.zeros((height, width), xp.uint8)
    blocks, threads = launch_config(n_work)
    boundary_counts_gpu[blocks, threads](labels, neighbor_labels, half_pairs, half_touch,
                                         np.int64(stride), np.int64(SEGMENT), edge, perimeter,
                                         touching, counts)
    starts = xp.cumsum(counts) - counts
    total = int(counts.sum())
    keys = xp.empty(total, xp.int64)
    if total:
        emit_pairs_gpu[blocks, threads](labels, neighbor_labels, edge, half_pairs,
                                        np.int64(stride), np.int64(SEGMENT), counts, starts,
                                        keys)
    return perimeter, touching, keys


def _nearest_three(o_r: Any, o_c: Any, n_r: Any, n_c: Any, ns: Namespace) -> Any:
    """int64 (N, 3): positions 0..2 of the stable sort of every object's distance row."""
    xp = ns.xp
    n = int(o_r.shape[0])
    order = xp.full((n, 3), -1, xp.int64)
    args = [xp.ascontiguousarray(v, dtype=xp.float64) for v in (o_r, o_c, n_r, n_c)]
    if ns.target == "cpu":
        from ._neighbors_cpu import nearest_three_cpu

        nearest_three_cpu(*args, order)
    else:
        from ._neighbors_gpu import nearest_three_gpu

        blocks, threads = launch_config(n)
        nearest_three_gpu[blocks, threads](*args, order)
    return order


def _centres(ids: Any, n_objects: int, ns: Namespace) -> tuple[Any, Any]:
    """(mean row, mean column) of objects 1..n of an object-number image: exact integer sums
    divided by the pixel count (scipy's center_of_mass on ones, as centrosome computes it)."""
    from .regionprops import _accumulate

    xp = ns.xp
    area, sum_r, sum_c = _accumulate(ids, xp.zeros((1, 1), xp.float64), False,
                                     n_objects + 1, ns)[:3]
    count = area[1:].astype(xp.float64)
    return sum_r[1:].astype(xp.float64) / count, sum_c[1:].astype(xp.float64) / count


def neighbors_array(
    labels: Any,
    *,
    method: str = "expand",
    distance: int = 5,
    index: Any = None,
    reference: str = "cellprofiler",
) -> NeighborsArrays:
    r"""Per-object neighbour features as arrays (the array-level form of :func:`neighbors`).

    Parameters are those of :func:`neighbors`. Returns a :class:`NeighborsArrays` of 1-D
    arrays on the input's device, rows following ``labels``.

    Examples
    --------
    >>> import numpy as np
    >>> from pyhcs.features.neighbors import neighbors_array
    >>> labels = np.zeros((5, 9), np.int32)
    >>> labels[1:4, 1:3] = 4
    >>> labels[1:4, 3:5] = 6
    >>> labels[2, 7] = 9
    >>> result = neighbors_array(labels, method="adjacent")
    >>> result.labels.tolist(), result.number_of_neighbors.tolist()
    ([4, 6, 9], [1.0, 1.0, 0.0])
    >>> result.first_closest_object_number.tolist(), result.scale
    ([6, 4, 6], 'Adjacent')
    """
    ns = namespace_for(label_array(labels), names=("labels",))
    method = _check_method(method)
    reference = _check_reference(reference)
    if method == "within":
        radius = check_int(distance, "distance", 1)
        scale = str(radius)
    else:
        radius = 1
        scale = "Adjacent" if method == "adjacent" else "Expanded"
    objects = as_object_index(labels, ns, "labels", ndim=2)
    xp = ns.xp
    area, sum_r, sum_c = objects.geometry()[:3]  # first, so the areas need no pixel grouping
    n = objects.n_objects
    stride = n + 1

    # per-object values at positions 1..n (position 0: rows whose label is absent)
    zeros = xp.zeros(stride, xp.float64)
    count = zeros
    percent = zeros
    first_number = second_number = xp.zeros(stride, xp.int64)
    first_distance = second_distance = angle = zeros
    if n > 1:  # CellProfiler: every feature 0 for a single object
        height, width = objects.shape
        if objects.n_slots == stride:  # slots 1..n all present: the slots are the numbers
            numbers = xp.ascontiguousarray(objects.ids, dtype=xp.int32)
        else:
            numbers = xp.ascontiguousarray(objects.row_of_slot()[objects.ids], dtype=xp.int32)
        if method == "expand" and bool((numbers == 0).any()):
            # every background pixel takes its nearest object's number
            working = _expand(numbers, ns)
        else:
            working = numbers
        # cp_measure looks for neighbours in the unexpanded labels
        neighbor_labels = numbers if reference == "cp_measure" else working
        half_pairs = _half_widths(radius * radius, radius, height, width)
        half_touch = _half_widths(radius * radius + radius, radius, height, width)
        perimeter, touching, keys = _boundary_and_pairs(
            working, neighbor_labels, half_pairs, half_touch, stride, ns)
        if keys.size:
            count = xp.bincount(xp.unique(keys) // stride, minlength=stride).astype(xp.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            percent = touching.astype(xp.float64) * 100 / perimeter.astype(xp.float64)

        present = objects.present
        pixels = area[present].astype(xp.float64)
        n_r = sum_r[present].astype(xp.float64) / pixels
        n_c = sum_c[present].astype(xp.float64) / pixels
        if reference == "cp_measure" and method == "expand":
            o_r, o_c = _centres(working, n, ns)  # cp_measure: the expanded objects' centres
        else:
            o_r, o_c = n_r, n_c
        order = _nearest_three(o_r, o_c, n_r, n_c, ns)
        # the vectors to the first and second closest centres, with CellProfiler's arithmetic
        first = order[:, 1]
        x1 = n_c[first] - o_c
        y1 = n_r[first] - o_r
        if n > 2:
            second = order[:, 2]
            x2 = n_c[second] - o_c
            y2 = n_r[second] - o_r
            with np.errstate(divide="ignore", invalid="ignore"):
                dot = (x1 * x2 + y1 * y2) / xp.sqrt((x1 * x1 + y1 * y1) * (x2 * x2 + y2 * y2))
                angle_n = xp.arccos(dot) * 180.0 / np.pi
        else:
            x2 = y2 = angle_n = xp.zeros(n, xp.float64)
        object_labels = objects.object_labels
        pad = xp.zeros(1, xp.float64)
        first_distance = xp.concatenate([pad, xp.sqrt(x1 * x1 + y1 * y1)])
        second_distance = xp.concatenate([pad, xp.sqrt(x2 * x2 + y2 * y2)])
        angle = xp.concatenate([pad, angle_n])
        if reference == "cp_measure":  # sorted positions 0 and 1 (the object itself first)
            first_n = object_labels[order[:, 0]]
            second_n = object_labels[order[:, 1]]
        else:
            first_n = object_labels[order[:, 1]]
            second_n = (object_labels[order[:, 2]] if n > 2
                        else xp.zeros(n, xp.int64))
        ipad = xp.zeros(1, xp.int64)
        first_number = xp.concatenate([ipad, first_n.astype(xp.int64)])
        second_number = xp.concatenate([ipad, second_n.astype(xp.int64)])

    selection = objects.rows(index)
    rows = RowSelection(selection.labels,
                        objects.row_of_slot()[selection.slots].astype(xp.int64),
                        selection.found)
    values = [gather(v, rows, ns) for v in (count, percent, first_number, first_distance,
                                            second_number, second_distance, angle)]
    return NeighborsArrays(selection.labels.astype(xp.int64), *values, scale)


def neighbors(
    labels: Any,
    *,
    method: str = "expand",
    distance: int = 5,
    index: Any = None,
    reference: str = "cellprofiler",
):
    r"""CellProfiler's MeasureObjectNeighbors features of every object, keyed by label.

    Objects are the labels present, in ascending order (CellProfiler numbers them 1..N; with
    labels 1..N the two agree). The neighbour set is the objects themselves.

    Parameters
    ----------
    labels : (H, W) integer array, numpy or cupy, or ObjectIndex
        Label image, 0 = background; labels need not be contiguous; a label with several
        pieces is one object.
    method : {"expand", "adjacent", "within"}
        CellProfiler's "Expand until adjacent" (its default), "Adjacent" or "Within a
        specified distance" (CellProfiler's setting values are accepted too).
    distance : int
        The neighbour distance of "within", an integer >= 1 (CellProfiler's setting minimum);
        ignored by the other methods (they dilate by 1).
    index : int or sequence of int, optional
        Labels to report, in this order; labels absent from ``labels`` give NaN rows (and
        every column is then float64). Default: every label present, ascending.
    reference : {"cellprofiler", "cp_measure"}
        ``"cellprofiler"`` (default): CellProfiler 5's definition. ``"cp_measure"``:
        cp_measure 0.3's ``measureobjectneighbors(labels, labels, ...)``, which differs in
        FirstClosestObjectNumber (the object itself), SecondClosestObjectNumber (the closest
        other object) and, with "expand", in the centres and the neighbour labels (see Notes).
        cp_measure fails on images with fewer than two objects; this option then returns
        CellProfiler's zeros.

    Returns
    -------
    pandas.DataFrame
        Index ``label`` (int64), one row per label; the columns
        ``Neighbors_{F}_{S}`` for F in :data:`FEATURES` (CellProfiler 5's order:
        NumberOfNeighbors, PercentTouching, FirstClosestObjectNumber, FirstClosestDistance,
        SecondClosestObjectNumber, SecondClosestDistance, AngleBetweenNeighbors) and S =
        ``Adjacent``, ``Expanded`` or the distance (``5``). NumberOfNeighbors is float64 as in
        CellProfiler, the object numbers int64 (float64 with ``index``). A cupy input is
        computed on the GPU; the table is on the host.

    Notes
    -----
    With N objects and object numbers 1..N (labels ascending), CellProfiler computes:

    1. Working labels E and radius d: "adjacent": E = labels, d = 1; "within": E = labels,
       d = ``distance``; "expand": every background pixel takes the label of its nearest
       labelled pixel (``scipy.ndimage.distance_transform_edt(labels == 0,
       return_indices=True)``, ties as scipy resolves them), d = 1.
    2. N <= 1: every feature is 0.
    3. Centres :math:`c_k` = (mean row, mean column) of the original labels, exact integer sums
       divided by the pixel count.
    4. Distance row :math:`\delta_{ij} = \sqrt{(c_{i0} - c_{j0})^2 + (c_{i1} - c_{j1})^2}`
       (self included, 0). With :math:`j_1, j_2` at positions 1 and 2 of its stable sort, the
       vectors :math:`v_k = c_{j_k} - c_i` as (x = column, y = row) give
       FirstClosestDistance :math:`|v_1|`, SecondClosestDistance :math:`|v_2|` and
       AngleBetweenNeighbors :math:`\arccos(v_1 \cdot v_2 / \sqrt{|v_1|^2 |v_2|^2})
       \cdot 180 / \pi` (numpy's arithmetic; NaN when two centres coincide);
       FirstClosestObjectNumber / SecondClosestObjectNumber are the labels of
       :math:`j_1, j_2`. With N = 2 the second object, distance and the angle are 0.
    5. NumberOfNeighbors: the distinct objects of E (not 0, not i) under the dilation of
       E == i by the disk :math:`S_d = \{dy^2 + dx^2 \le d^2\}`.
    6. PercentTouching: 100 x (outline pixels of i in E with another object of E within
       :math:`S_{d + 1/2}`) / (outline pixels of i), the outline being centrosome's (a
       labelled pixel on the image border or with an 8-neighbour of another value).

    CellProfiler clips its dilations to each object's bounding box grown by d; no pixel the
    disks reach lies outside it, so the clipping changes nothing and none is done here.

    Ties: CellProfiler takes the vectors of step 4 from ``numpy.argpartition``, whose choice
    among equal distances is unspecified, and the object numbers from a stable sort; pyhcs
    uses the stable sort for both (lowest object number first among equal distances), so the
    angle of an object whose second and third closest centres are equidistant can differ
    from CellProfiler's. Everything else is exact: bit-identical to CellProfiler on the CPU,
    but for the last bit of AngleBetweenNeighbors where CellProfiler 5's numpy 1.26 computes
    another ``arccos`` than the installed numpy (AVX-512 machines: measured on an AMD EPYC,
    163 of 806 angles differ, by at most 4.3e-16 relative).

    ``reference="cp_measure"`` changes: the object numbers are positions 0 and 1 of the
    stable sort (usually the object itself, then its closest neighbour); with "expand" the
    distance row is :math:`|c^E_i - c_j|` with :math:`c^E_i` the centre of object i in E (so
    the self distance is not 0, and the vectors are taken from positions 1 and 2 of that
    row), and neighbours are read from the unexpanded labels under the dilation of E == i.

    Cost: the outline pixels of E are scanned twice (counts, then the pairs of the segments
    that have any), each outline pixel testing the touching disk and, only where it touches,
    the neighbour disk; the closest centres cost one thread per object scanning all centres
    (N^2 distances, as CellProfiler's distance matrix, in O(N) memory). "expand" first gives
    every background pixel its nearest object's number with pyhcs's own feature transform
    (Maurer's algorithm in integers: scipy's choice among equidistant pixels, exactly; a
    parallel column pass, then a row pass), about 7x faster than scipy's on 2 cores.

    GPU: the same kernels, the expansion included (one thread per column, then per row;
    scipy's ties); ``cupy.arccos`` can differ from numpy's in the last bit. Counts are
    integer atomics (exact).

    Examples
    --------
    >>> import numpy as np
    >>> from pyhcs.features.neighbors import neighbors
    >>> labels = np.zeros((5, 9), np.int32)
    >>> labels[1:4, 1:3] = 1
    >>> labels[1:4, 3:5] = 2
    >>> labels[2, 7] = 3
    >>> table = neighbors(labels, method="adjacent")
    >>> table["Neighbors_NumberOfNeighbors_Adjacent"].tolist()
    [1.0, 1.0, 0.0]
    >>> table["Neighbors_PercentTouching_Adjacent"].round(2).tolist()
    [50.0, 50.0, 0.0]
    >>> table["Neighbors_FirstClosestObjectNumber_Adjacent"].tolist()
    [2, 1, 2]
    """
    import pandas as pd

    result = neighbors_array(labels, method=method, distance=distance, index=index,
                             reference=reference)
    columns = {name: to_numpy(value) for name, value in result.columns().items()}
    return pd.DataFrame(columns, index=pd.Index(to_numpy(result.labels).astype(np.int64),
                                                name="label"))
