"""CellProfiler 4's global thresholding (the Threshold module, as IdentifyPrimaryObjects and
IdentifySecondaryObjects call it), written against an array namespace.

- ``minimum_cross_entropy``: ``skimage.filters.threshold_li`` on the unmasked pixels with
  ``tolerance = max(min(diff(unique(pixels))) / 2, 0.5 / 65536)`` and no initial guess, no log
  transform (CellProfiler 4.1+ ``Threshold.get_global_threshold``). On the CPU both the
  tolerance and Li's iteration are computed here, bit for bit, without sorting the pixels
  (:func:`level_gap_cpu`, :func:`threshold_li_cpu`).
- ``otsu``: ``skimage.filters.threshold_otsu`` on the unmasked pixels (two classes).
- ``manual``: the given value, with no correction and no bounds.
- An empty selection gives 0, a constant one gives its value.
- The threshold is multiplied by the correction factor, then clipped to the bounds.
- It is applied to the image smoothed by a Gaussian of sigma ``scale / 0.6744 / 2`` (normalised
  by the smoothed mask, ``centrosome.smooth.smooth_with_function_and_mask``; no smoothing when
  the scale is 0): foreground is ``smoothed >= threshold`` inside the mask.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np
from numba import njit

from .. import _numba_cache
from .._backend import Namespace
from ..features._shape_cpu import pairwise_sum
from ..features._shape_math import _PW_STACK

_numba_cache.register()

__all__ = [
    "THRESHOLD_METHODS",
    "as_unit_float",
    "check_threshold_settings",
    "global_threshold",
    "apply_threshold",
    "threshold_image",
]

THRESHOLD_METHODS = ("minimum_cross_entropy", "otsu", "manual")


def as_unit_float(image: Any, ns: Namespace, name: str = "image") -> Any:
    """``image`` as float64 in [0, 1], as CellProfiler loads it.

    Unsigned and signed integers are divided by their dtype's maximum (uint16 by 65535, uint8
    by 255); floats are taken as they are and must lie in [0, 1]. Booleans are refused.
    """
    xp = ns.xp
    dtype = np.dtype(image.dtype)
    if dtype.kind == "b":
        raise TypeError(
            f"{name} must be a grayscale intensity image (integer or float), got a boolean array"
        )
    if dtype.kind in "iu":
        if dtype.kind == "i" and image.size and bool((image < 0).any()):
            raise ValueError(f"{name} has negative values; intensities must be >= 0")
        return image.astype(xp.float64) / float(np.iinfo(dtype).max)
    if dtype.kind != "f":
        raise TypeError(f"{name} must be a real numeric array, got {dtype} dtype")
    image = image.astype(xp.float64)
    if image.size:
        low, high = float(image.min()), float(image.max())
        if low < 0.0 or high > 1.0:
            raise ValueError(
                f"{name} must be scaled to [0, 1] (as CellProfiler loads images), found values "
                f"in [{low:g}, {high:g}]; pass the raw integer image or divide by its maximum"
            )
    return image


def _real(value: Any, name: str, minimum: float | None = None) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum:g}, got {value:g}")
    return value


def check_threshold_settings(
    method: Any, smoothing_scale: Any, correction_factor: Any, bounds: Any, manual_threshold: Any
) -> tuple[str, float, float, tuple[float, float], float | None]:
    """Validated ``(method, smoothing_scale, correction_factor, bounds, manual_threshold)``."""
    if not isinstance(method, str) or method not in THRESHOLD_METHODS:
        raise ValueError(
            f"threshold_method must be one of {', '.join(map(repr, THRESHOLD_METHODS))}, "
            f"got {method!r}"
        )
    smoothing_scale = _real(smoothing_scale, "threshold_smoothing_scale", 0.0)
    correction_factor = _real(correction_factor, "threshold_correction_factor", 0.0)
    try:
        low, high = bounds
    except (TypeError, ValueError):
        raise TypeError(f"threshold_bounds must be a pair (lower, upper), got {bounds!r}") from None
    low, high = _real(low, "threshold_bounds[0]"), _real(high, "threshold_bounds[1]")
    if not 0.0 <= low <= high <= 1.0:
        raise ValueError(f"threshold_bounds must satisfy 0 <= lower <= upper <= 1, got {bounds!r}")
    if method == "manual":
        if manual_threshold is None:
            raise ValueError("threshold_method='manual' needs manual_threshold")
        manual_threshold = _real(manual_threshold, "manual_threshold")
    return method, smoothing_scale, correction_factor, (low, high), manual_threshold


#: Li's tolerance is never below 2**-17 = 0.5 / 65536, so gaps below 2**-16 need no exact value.
_LEVEL_BINS = 65536


@njit(cache=True)
def level_gap_cpu(pixels, n_bins):
    """``min(diff(unique(pixels)))`` if it is at least ``1 / n_bins``, else -1; inf for one level.

    ``pixels`` (float64, 1-D) lie in [0, 1]. Pixel ``x`` goes to bin ``floor(x * n_bins)``
    (exact for a power-of-two ``n_bins``); two different values in one bin are closer than
    ``1 / n_bins`` (-1). Otherwise every bin holds at most one level, the occupied bins in
    order are the sorted levels, and the gaps are their differences, as ``np.diff`` computes
    them. ``-0.0 == 0.0``: one level, as in ``np.unique``. O(n + n_bins), no sort.
    """
    occupied = np.zeros(n_bins + 1, np.bool_)
    level = np.empty(n_bins + 1, np.float64)
    for x in pixels:
        b = int(x * n_bins)
        if occupied[b]:
            if level[b] != x:
                return -1.0
        else:
            occupied[b] = True
            level[b] = x
    gap = np.inf
    previous = 0.0
    first = True
    for b in range(n_bins + 1):
        if occupied[b]:
            if not first:
                gap = min(gap, level[b] - previous)
            previous = level[b]
            first = False
    return gap


@njit(cache=True)
def _split_sums(shifted, threshold, above, below, stack_start, stack_n, stack_stage, partial):
    """numpy's sums of ``shifted[shifted > threshold]`` and of the rest, and their sizes."""
    n_above = 0
    n_below = 0
    for v in shifted:
        # Written to both, kept by one: no branch to mispredict on a noisy image.
        is_above = v > threshold
        above[n_above] = v
        below[n_below] = v
        n_above += is_above
        n_below += 1 - is_above
    sum_above = pairwise_sum(above, 0, n_above, stack_start, stack_n, stack_stage, partial)
    sum_below = pairwise_sum(below, 0, n_below, stack_start, stack_n, stack_stage, partial)
    return sum_above, n_above, sum_below, n_below


def threshold_li_cpu(pixels: np.ndarray, tolerance: float) -> float:
    r"""``skimage.filters.threshold_li(pixels, tolerance=tolerance)`` of finite float64 pixels
    (not all equal), bit for bit.

    Li's iteration on :math:`x - \min x`: start at the mean, then
    :math:`t \leftarrow (\mu_b - \mu_f) / (\log \mu_b - \log \mu_f)` with :math:`\mu_f`,
    :math:`\mu_b` the means above :math:`t` and at or below it, until :math:`t` moves by at
    most the tolerance (or :math:`\mu_b = 0`). The means are numpy's (pairwise sums of the
    selected pixels in image order, divided by their count) from one fused pass per
    iteration; the scalar steps are skimage's own numpy scalar arithmetic.
    """
    image_min = np.min(pixels)
    shifted = pixels - image_min
    above = np.empty_like(shifted)
    below = np.empty_like(shifted)
    stack = (np.empty(_PW_STACK, np.int64), np.empty(_PW_STACK, np.int64),
             np.empty(_PW_STACK, np.int64), np.empty(_PW_STACK, np.float64))
    t_next = np.mean(shifted)
    t_curr = -2 * tolerance
    with np.errstate(invalid="ignore", divide="ignore"):
        while abs(t_next - t_curr) > tolerance:
            t_curr = t_next
            sum_fore, n_fore, sum_back, n_back = _split_sums(shifted, t_curr, above, below,
                                                             *stack)
            mean_fore = np.float64(sum_fore) / n_fore
            mean_back = np.float64(sum_back) / n_back
            if mean_back == 0.0:
                break
            t_next = (mean_back - mean_fore) / (np.log(mean_back) - np.log(mean_fore))
    return t_next + image_min


def _li_tolerance(pixels: Any, ns: Namespace) -> float:
    """CellProfiler's tolerance ``max(min(diff(unique(pixels))) / 2, 0.5 / 65536)``."""
    xp = ns.xp
    if ns.target == "cpu":
        gap = level_gap_cpu(np.ascontiguousarray(pixels, dtype=np.float64), _LEVEL_BINS)
        return 0.5 / 65536 if gap < 0 else max(float(gap) / 2.0, 0.5 / 65536)
    levels = xp.unique(pixels)
    return max(float(xp.diff(levels).min()) / 2.0, 0.5 / 65536)


def global_threshold(pixels: Any, method: str, ns: Namespace) -> float:
    """The uncorrected global threshold of a 1-D selection of pixels (CellProfiler's rules)."""
    if pixels.size == 0:
        return 0.0
    first = pixels[0]
    if bool((pixels == first).all()):
        return float(first)
    filters = ns.skimage.filters
    if method == "minimum_cross_entropy":
        tolerance = _li_tolerance(pixels, ns)
        if ns.target == "cpu" and pixels.dtype == np.float64 and bool(np.isfinite(pixels).all()):
            return float(threshold_li_cpu(np.ascontiguousarray(pixels), tolerance))
        return float(filters.threshold_li(pixels, tolerance=tolerance))
    if method == "otsu":
        return float(filters.threshold_otsu(pixels))
    raise ValueError(f"unknown threshold method {method!r}")  # pragma: no cover


def apply_threshold(image: Any, threshold: float, mask: Any, smoothing_scale: float, ns: Namespace):
    """``(smoothed image >= threshold) & mask``; the image is smoothed when the scale is > 0."""
    if smoothing_scale == 0:
        return (image >= threshold) & mask
    xp, ndi = ns.xp, ns.ndimage
    sigma = smoothing_scale / 0.6744 / 2.0
    weight = ndi.gaussian_filter(mask.astype(xp.float64), sigma, mode="constant", cval=0.0)
    masked = xp.where(mask, image, 0.0)
    smoothed = ndi.gaussian_filter(masked, sigma, mode="constant", cval=0.0)
    smoothed = smoothed / (weight + np.finfo(np.float64).eps)
    return (smoothed >= threshold) & mask


def threshold_image(
    image: Any,
    mask: Any,
    ns: Namespace,
    *,
    method: str,
    smoothing_scale: float,
    correction_factor: float,
    bounds: tuple[float, float],
    manual_threshold: float | None,
) -> tuple[Any, float]:
    """The foreground mask and the final threshold, as CellProfiler's Threshold module."""
    if method == "manual":
        threshold = float(manual_threshold)
    else:
        threshold = global_threshold(image[mask], method, ns) * correction_factor
        threshold = min(max(threshold, bounds[0]), bounds[1])
    return apply_threshold(image, threshold, mask, smoothing_scale, ns), threshold
