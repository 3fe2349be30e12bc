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
