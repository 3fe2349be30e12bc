"""Argument validation shared by every public function.

Each check raises ``TypeError`` (wrong type or dtype) or ``ValueError`` (wrong shape, range or
content) with a message that names the argument. Checks work on numpy and cupy arrays alike;
checks on contents (negative labels, NaN) cost one reduction on the array's device.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np

from ._backend import Namespace, to_numpy

_NUMERIC_KINDS = "biuf"


def _dtype_of(array: Any, name: str) -> np.dtype:
    dtype = getattr(array, "dtype", None)
    if dtype is None:
        raise TypeError(f"{name} must be a numpy or cupy array, got {type(array).__name__}")
    return np.dtype(dtype)


def check_ndim(array: Any, name: str, ndim: int | tuple[int, ...]) -> None:
    allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
    if array.ndim not in allowed:
        wanted = " or ".join(f"{n}-D" for n in allowed)
        raise ValueError(f"{name} must be {wanted}, got shape {tuple(array.shape)}")


def check_labels(labels: Any, ns: Namespace, name: str = "labels", ndim=2) -> Any:
    """A label image: integer dtype (not bool, not float), non-negative, ``ndim`` dimensions.

    Returns the array on ``ns``'s device (unchanged dtype).
    """
    dtype = _dtype_of(labels, name)
    if dtype.kind not in "iu":
        kind = "boolean" if dtype.kind == "b" else str(dtype)
        raise TypeError(
            f"{name} must be an integer label image (0 = background), got {kind} dtype; "
            "label a mask first (e.g. scipy.ndimage.label)"
        )
    labels = ns.asarray(labels)
    check_ndim(labels, name, ndim)
    if labels.size and dtype.kind == "i" and bool(labels.min() < 0):
        raise ValueError(f"{name} must be non-negative (0 is background), found negative labels")
    if labels.size and dtype == np.uint64 and bool(labels.max() > np.iinfo(np.int64).max):
        raise ValueError(f"{name} has labels above the int64 range")
    return labels


def check_image(
    image: Any,
    ns: Namespace,
    name: str = "image",
    *,
    shape: tuple[int, ...] | None = None,
    shape_of: str = "labels",
    ndim=2,
    allow_bool: bool = True,
    allow_nonfinite: bool = False,
) -> Any:
    """A numeric image with finite values (any values with ``allow_nonfinite``), optionally
    of a given shape.

    Returns the array on ``ns``'s device (unchanged dtype).
    """
    dtype = _dtype_of(image, name)
    if dtype.kind not in _NUMERIC_KINDS or (dtype.kind == "b" and not allow_bool):
        raise TypeError(f"{name} must be a real numeric array, got {dtype} dtype")
    image = ns.asarray(image)
    check_ndim(image, name, ndim)
    if shape is not None and tuple(image.shape) != tuple(shape):
        raise ValueError(
            f"{name} has shape {tuple(image.shape)} but {shape_of} has shape {tuple(shape)}; "
            "they must be equal"
        )
    if (not allow_nonfinite and dtype.kind == "f" and image.size
            and not bool(ns.xp.isfinite(image).all())):
        raise ValueError(f"{name} contains NaN or infinite values")
    return image


def check_mask(
    mask: Any,
    ns: Namespace,
    shape: tuple[int, ...],
    *,
    shape_of: str = "image",
    allow_integer: bool = False,
) -> Any:
    """A 2-D boolean mask of the given shape on ``ns``'s device; None means everywhere.

    With ``allow_integer``, integer masks are accepted too (nonzero = inside).
    """
    if mask is None:
        return ns.xp.ones(shape, dtype=bool)
    kinds = "biu" if allow_integer else "b"
    dtype = _dtype_of(mask, "mask")
    if dtype.kind not in kinds:
        wanted = "a boolean (or integer 0/1)" if allow_integer else "a boolean"
        raise TypeError(f"mask must be {wanted} array, got {dtype} dtype")
    mask = ns.asarray(mask)
    check_ndim(mask, "mask", 2)
    if tuple(mask.shape) != tuple(shape):
        raise ValueError(
            f"mask has shape {tuple(mask.shape)} but {shape_of} has shape {tuple(shape)}; "
            "they must be equal"
        )
    return mask if dtype.kind == "b" else mask != 0


def check_index(index: Any, ns: Namespace, name: str = "index") -> Any:
    """The labels to report, in order: a 1-D int64 array on ``ns``'s device.

    Accepts an int, a sequence of ints or an integer array (any device). Labels may be any
    integers; those absent from the image (0 and negative ones included) give NaN rows.
    """
    if isinstance(index, (int, np.integer)) and not isinstance(index, bool):
        index = [int(index)]
    if hasattr(index, "dtype"):
        dtype = np.dtype(index.dtype)
        values = index
    else:
        values = np.asarray(list(index))
        dtype = values.dtype if values.size else np.dtype(np.int64)
    if dtype.kind not in "iu":
        raise TypeError(f"{name} must hold integer labels, got {dtype} dtype")
    if ns.device == "cpu":
        values = to_numpy(values)
    values = ns.xp.asarray(values).astype(ns.xp.int64, copy=False)
    if values.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {tuple(values.shape)}")
    return values


def check_int(value: Any, name: str, minimum: int | None = None, maximum: int | None = None) -> int:
    """An integer scalar (Python or numpy, not bool) within ``[minimum, maximum]``, as int."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    value = int(value)
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        if minimum is not None and maximum is not None:
            wanted = f"between {minimum} and {maximum}"
        elif minimum is not None:
            wanted = f"at least {minimum}"
        else:
            wanted = f"at most {maximum}"
        raise ValueError(f"{name} must be {wanted}, got {value}")
    return value


def check_nonnegative(value: Any, name: str) -> float:
    """A finite real scalar >= 0 (Python or numpy, not bool), as float."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {value!r}")
    value = float(value)
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be finite and >= 0, got {value}")
    return value


def check_int_pair(value: Any, name: str, minimum: int = 1) -> tuple[int, int]:
    """A pair of integers, each at least ``minimum``, as a tuple of int."""
    try:
        items = tuple(value)
    except TypeError:
        raise TypeError(f"{name} must be a pair of integers, got {value!r}") from None
    if len(items) != 2:
        raise ValueError(f"{name} must be a pair of integers, got {value!r}")
    first, second = (check_int(item, name, minimum) for item in items)
    return first, second
