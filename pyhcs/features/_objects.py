"""Label images to accumulator slots, and per-slot results back to per-label rows.

Per-object kernels accumulate into one *slot* per object. Usually a slot is the label value
itself (a dense table of ``max_label + 1`` slots, no sort needed); when labels are sparse and
huge (``max_label`` far above the pixel count) they are first renumbered with ``unique``.
Slot 0 is always the background and is never reported.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .._backend import Namespace
from .._validate import check_index

# A dense table is used while max_label stays below this or below twice the pixel count.
_DENSE_SLOT_LIMIT = 1 << 22


@dataclass(frozen=True)
class ObjectSlots:
    """Where every pixel accumulates.

    Attributes
    ----------
    ids : int32 array, same shape as the label image
        Slot of every pixel; 0 for background.
    n_slots : int
        Number of slots, background included.
    slot_labels : int64 array, shape (n_slots,) or None
        Label of every slot when labels were renumbered; None when slot == label.
    """

    ids: Any
    n_slots: int
    slot_labels: Any | None

    def labels_of(self, slots: Any, ns: Namespace) -> Any:
        """The int64 labels of the given slots."""
        if self.slot_labels is None:
            return slots.astype(ns.xp.int64)
        return self.slot_labels[slots]

    def slots_of(self, labels: Any, ns: Namespace) -> tuple[Any, Any]:
        """Slots of the given int64 labels, and whether each label has a slot.

        Labels without a slot (absent, 0 or negative) get slot 0 and ``False``.
        """
        xp = ns.xp
        if self.slot_labels is None:
            valid = (labels > 0) & (labels < self.n_slots)
            return xp.where(valid, labels, 0).astype(xp.int64), valid
        position = xp.searchsorted(self.slot_labels, labels)
        position = xp.clip(position, 0, self.n_slots - 1)
        valid = (self.slot_labels[position] == labels) & (labels > 0)
        return xp.where(valid, position, 0).astype(xp.int64), valid


def object_slots(labels: Any, ns: Namespace) -> ObjectSlots:
    """Map a validated, non-negative integer label image to accumulator slots."""
    xp = ns.xp
    max_label = int(labels.max()) if labels.size else 0
    if max_label < _DENSE_SLOT_LIMIT or max_label <= 2 * labels.size:
        return ObjectSlots(labels.astype(xp.int32, copy=False), max_label + 1, None)
    unique, inverse = xp.unique(labels.ravel(), return_inverse=True)
    if int(unique[0]) != 0:  # keep slot 0 for the background even when there is none
        unique = xp.concatenate([xp.zeros(1, dtype=unique.dtype), unique])
        inverse = inverse + 1
    ids = inverse.reshape(labels.shape).astype(xp.int32)
    return ObjectSlots(ids, int(unique.size), unique.astype(xp.int64))


@dataclass(frozen=True)
class RowSelection:
    """Which slot fills each output row.

    Attributes
    ----------
    labels : int64 array, shape (n_rows,)
        The label of each row.
    slots : int64 array, shape (n_rows,)
        The slot of each row (0 where ``found`` is False).
    found : bool array, shape (n_rows,) or None
        Whether each row's label is present; None when every row is (no ``index`` given).
    """

    labels: Any
    slots: Any
    found: Any | None


def select_rows(
    slots: ObjectSlots, area: Any, index: Any | None, ns: Namespace
) -> RowSelection:
    """Rows of a per-object table: present labels ascending, or the labels of ``index``.

    Parameters
    ----------
    slots : ObjectSlots
    area : integer array, shape (n_slots,)
        Pixel count of every slot; a slot is present when its count is positive.
    index : array-like of int or None
        Labels to report, in order (absent ones found=False), or None for every present label.
    """
    xp = ns.xp
    if index is None:
        present = xp.nonzero(area[1:] > 0)[0] + 1
        return RowSelection(slots.labels_of(present, ns), present.astype(xp.int64), None)
    wanted = check_index(index, ns)
    row_slots, found = slots.slots_of(wanted, ns)
    found = found & (area[row_slots] > 0)
    return RowSelection(wanted, xp.where(found, row_slots, 0), found)


def gather(values: Any, rows: RowSelection, ns: Namespace) -> Any:
    """``values[rows.slots]``, with NaN (as float64) in rows whose label is absent."""
    picked = values[rows.slots]
    if rows.found is None:
        return picked
    shape = (-1,) + (1,) * (picked.ndim - 1)
    return ns.xp.where(rows.found.reshape(shape), picked.astype(ns.xp.float64), np.nan)


class ObjectIndex:
    r"""The objects of one label image, indexed once and shared by every measurement.

    Every per-object family groups the pixels of each object before it measures; an
    ``ObjectIndex`` does that grouping once per label image, on the label image's device, and
    every family accepts it in place of the label image (``labels=`` of
    :func:`regionprops_table`, :func:`haralick`, :func:`zernike`, :func:`hog_objects` and their
    array forms), so measuring one compartment in several channels and scales pays for the
    grouping once. Results are identical to passing the label image.

    What it holds, each computed on first use and then kept (the slots at construction):

    - ``slots``: the accumulator slot of every pixel (the label itself for dense labels; sparse,
      huge labels are renumbered, see :class:`ObjectSlots`);
    - ``offsets`` / ``pixels``: every object's pixels grouped together, a CSR by slot: slot
      :math:`s` owns the flat (raster) pixel indices ``pixels[offsets[s]:offsets[s + 1]]``, in
      raster order, and ``area``, the pixel count of every slot (one counting-sort pass);
    - :meth:`geometry`: centroid sums and bounding boxes (one pass);
    - :meth:`row_runs`: the same grouping as horizontal runs (CPU);
    - :meth:`circles`: CellProfiler's minimum enclosing circles of the present objects.

    A family asks only for what it needs (``regionprops_table`` without an image reads
    :meth:`geometry` and never builds the CSR), so a one-off call costs what it cost before.

    Parameters
    ----------
    labels : (H, W) or (Z, H, W) integer array, numpy or cupy
        0 is background; labels need not be contiguous; a label with several pieces is one
        object.

    Attributes
    ----------
    labels : integer array
        The validated label image (unchanged dtype, on its device).
    shape : tuple of int
    slots : ObjectSlots
    n_slots : int
        Slots, background (slot 0) included.
    area, offsets, pixels, present, object_labels : int64 arrays
        See the properties.

    Examples
    --------
    >>> import numpy as np
    >>> from pyhcs.features import ObjectIndex, regionprops_table
    >>> labels = np.array([[0, 3, 3], [7, 0, 3]], dtype=np.int32)
    >>> objects = ObjectIndex(labels)
    >>> objects.object_labels.tolist(), objects.area[[3, 7]].tolist()
    ([3, 7], [3, 1])
    >>> objects.pixels[objects.offsets[3]:objects.offsets[4]].tolist()  # raster order
    [1, 2, 5]
    >>> regionprops_table(objects, properties=("label", "area"))["area"].tolist()
    [3.0, 1.0]
    """

    def __init__(self, labels: Any):
        from .._backend import namespace_for
        from .._validate import check_labels

        if isinstance(labels, ObjectIndex):
            raise TypeError("labels: already an ObjectIndex")
        ns = namespace_for(labels, names=("labels",))
        self._setup(check_labels(labels, ns, "labels", ndim=(2, 3)), ns)

    @classmethod
    def _of_checked(cls, labels: Any, ns: Namespace) -> "ObjectIndex":
        """An index of a label image a family has validated already (no second check)."""
        index = cls.__new__(cls)
        index._setup(labels, ns)
        return index

    def _setup(self, labels: Any, ns: Namespace) -> None:
        xp = ns.xp
        self._ns = ns
        self.labels = labels
        self.shape = tuple(int(s) for s in labels.shape)
        self.slots = object_slots(labels, ns)
        self.n_slots = int(self.slots.n_slots)
        self.flat_ids = xp.ascontiguousarray(self.slots.ids, dtype=xp.int32).ravel()
        self._cache: dict[str, Any] = {}

    def _csr(self) -> tuple[Any, Any, Any]:
        if "csr" not in self._cache:
            self._cache["csr"] = _pixels_by_object(self.flat_ids, self.n_slots, self._ns)
        return self._cache["csr"]

    @property
    def offsets(self) -> Any:
        """int64 (n_slots + 1,): slot ``s`` owns ``pixels[offsets[s]:offsets[s + 1]]``."""
        return self._csr()[1]

    @property
    def pixels(self) -> Any:
        """int64 (object pixels,): flat pixel indices grouped by slot, raster order within."""
        return self._csr()[2]

    @property
    def area(self) -> Any:
        """int64 (n_slots,): pixels per slot; ``area[0] == 0`` (background not counted)."""
        if "csr" in self._cache:
            return self._cache["csr"][0]
        if "geometry" in self._cache:
            return self._cache["geometry"][0]
        return self._csr()[0]

    @property
    def present(self) -> Any:
        """int64 (n_objects,): the slots of the labels present, in ascending label order."""
        if "present" not in self._cache:
            xp = self._ns.xp
            self._cache["present"] = (xp.nonzero(self.area[1:] > 0)[0] + 1).astype(xp.int64)
        return self._cache["present"]

    @property
    def object_labels(self) -> Any:
        """int64 (n_objects,): the labels present, ascending (the default rows of a table)."""
        return self.slots.labels_of(self.present, self._ns).astype(self._ns.xp.int64)

    @property
    def ns(self) -> Namespace:
        """The array namespace (device) of the index."""
        return self._ns

    @property
    def ids(self) -> Any:
        """The int32 slot image, C-contiguous, in the label image's shape."""
        return self.flat_ids.reshape(self.shape)

    @property
    def n_objects(self) -> int:
        """Number of labels present."""
        return int(self.present.shape[0])

    def __repr__(self) -> str:
        return (f"ObjectIndex(shape={self.shape}, n_objects={self.n_objects}, "
                f"device={self._ns.device!r})")

    def rows(self, index: Any | None) -> RowSelection:
        """The rows of a table: present labels ascending, or the labels of ``index``."""
        if index is None:
            return RowSelection(self.object_labels, self.present, None)
        return select_rows(self.slots, self.area, index, self._ns)

    def _check_2d(self, what: str) -> None:
        if len(self.shape) != 2:
            raise ValueError(f"labels: {what} needs a 2-D label image, got shape {self.shape}")

    def geometry(self) -> tuple[Any, ...]:
        """Per-slot ``(area, sum_r, sum_c, min_r, min_c, max_r, max_c)`` of a 2-D image.

        int64 counts and coordinate sums, int32 inclusive bounds (``min`` = INT32_MAX and
        ``max`` = -1 for empty slots); one pass, kept.
        """
        if "geometry" not in self._cache:
            self._check_2d("geometry")
            from .regionprops import _accumulate

            xp = self._ns.xp
            outputs = _accumulate(self.ids, xp.zeros((1, 1), dtype=xp.float64), False,
                                  self.n_slots, self._ns)
            self.keep_geometry(outputs[:7])
        return self._cache["geometry"]

    def keep_geometry(self, geometry: tuple[Any, ...]) -> None:
        """Keep the geometry a kernel computed on the way (the first seven per-slot arrays of
        the region-properties accumulation); the first one kept stays."""
        if "geometry" not in self._cache:
            area = geometry[0]
            area[0] = 0  # the GPU kernel counts every pixel; the background is not an object
            self._cache["geometry"] = tuple(geometry)

    def row_runs(self) -> tuple[Any, ...]:
        """The grouping as horizontal runs (CPU, 2-D): ``(offsets, rows, starts, stops, area)``.

        The runs of slot ``s`` are ``offsets[s]:offsets[s + 1]``, in raster order; run ``q``
        covers columns ``starts[q]:stops[q]`` of row ``rows[q]``. Kept after the first call.
        """
        if "runs" not in self._cache:
            self._check_2d("row runs")
            if self._ns.target != "cpu":
                raise ValueError("row_runs: the run form is built on the CPU only")
            from .zernike import _object_runs_cpu

            self._cache["runs"] = _object_runs_cpu(self.ids, self.n_slots)
        return self._cache["runs"]

    def circles(self) -> tuple[Any, Any]:
        """CellProfiler's minimum enclosing circles of the present objects (2-D).

        ``(centers (n_objects, 2), radii (n_objects,))`` float64 on the index's device, rows in
        ``object_labels`` order; an exact tie is broken as centrosome breaks it, over all
        present objects at once, so a circle never depends on which rows a table asks for.
        """
        if "circles" not in self._cache:
            self._check_2d("minimum enclosing circles")
            from .geometry import circles_of_objects, minimum_enclosing_circle

            xp = self._ns.xp
            if self._ns.target == "cpu":
                centers, radii = minimum_enclosing_circle(self.labels, index=self.object_labels)
            else:  # only the objects' column extremes go to the host, not the label image
                centers, radii = circles_of_objects(
                    self.ids, self.row_of_slot(), self.n_objects, self._ns)
            self._cache["circles"] = (xp.asarray(centers, dtype=xp.float64),
                                      xp.asarray(radii, dtype=xp.float64))
        return self._cache["circles"]

    def row_of_slot(self) -> Any:
        """int32 (n_slots,): 1..n_objects for the present slots in label order, 0 elsewhere."""
        if "row_of_slot" not in self._cache:
            xp = self._ns.xp
            row_of_slot = xp.zeros(self.n_slots, xp.int32)
            row_of_slot[self.present] = xp.arange(1, self.n_objects + 1, dtype=xp.int32)
            self._cache["row_of_slot"] = row_of_slot
        return self._cache["row_of_slot"]


def _pixels_by_object(ids: Any, n_slots: int, ns: Namespace) -> tuple[Any, Any, Any]:
    """Every object's pixels in raster order: ``(area, offsets, pixels)`` (a CSR by slot)."""
    if ns.target == "cpu":
        from ._glcm_cpu import pixels_by_object

        return pixels_by_object(ids, n_slots)
    xp = ns.xp
    area = xp.bincount(ids, minlength=n_slots).astype(xp.int64)
    area[0] = 0
    foreground = xp.flatnonzero(ids)
    # unique keys, so the order does not depend on the sort's stability
    keys = ids[foreground].astype(xp.int64) * ids.size + foreground
    pixels = (xp.sort(keys) % ids.size).astype(xp.int64)
    offsets = xp.zeros(n_slots + 1, dtype=xp.int64)
    offsets[2:] = xp.cumsum(area[1:])  # background pixels are not listed
    return area, offsets, pixels


def as_object_index(labels: Any, ns: Namespace, name: str = "labels", ndim=2) -> ObjectIndex:
    """``labels`` itself when it is an :class:`ObjectIndex` (checked: device, ``ndim``), else
    a new index of the label image (validated by :class:`ObjectIndex`)."""
    if isinstance(labels, ObjectIndex):
        if labels.ns.device != ns.device or labels.ns.target != ns.target:
            raise TypeError(f"{name}: the ObjectIndex was built for {_where(labels.ns)} but the "
                            f"other arrays are for {_where(ns)}; build it where they are")
        allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if len(labels.shape) not in allowed:
            raise ValueError(f"{name}: expected a {' or '.join(f'{d}-D' for d in allowed)} label "
                             f"image, got an ObjectIndex of shape {labels.shape}")
        return labels
    from .._validate import check_labels

    return ObjectIndex._of_checked(check_labels(labels, ns, name, ndim=ndim), ns)


def _where(ns: Namespace) -> str:
    if ns.simulated:
        return "the simulated GPU"
    return "the GPU" if ns.target == "cuda" else "the CPU"


def label_array(labels: Any) -> Any:
    """The label image of ``labels`` (itself, or an :class:`ObjectIndex`'s), for dispatch."""
    return labels.labels if isinstance(labels, ObjectIndex) else labels
