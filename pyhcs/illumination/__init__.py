r"""Illumination correction as CellProfiler 5 computes it: CorrectIlluminationCalculate
("Regular" intensity, "All" images) and CorrectIlluminationApply, plus the two median
filters involved, on the CPU (numba) and the GPU (numba CUDA).

The array type decides the device (numpy in -> CPU, cupy in -> GPU). All images are 2-D
``(H, W)`` arrays, rows first.

What CellProfiler 5 does (read from ``cellprofiler_library`` 5.0.0.dev784)
-----------------------------------------------------------------------------
Accumulation ("All" images)
    ``image_sum`` has the dtype of the first image (float32 for images CellProfiler loads:
    ``uint16 / 65535`` in float32), starts at zero and receives ``image_sum[mask] +=
    image[mask]`` in float32, image by image; ``mask_count`` (int32) counts the images
    per pixel. The average is ``float32(float64(image_sum) / float64(mask_count))`` where
    ``mask_count > 0`` and 0 elsewhere (numpy promotes float32 / int32 to float64); the
    function's mask is ``mask_count > 0``.
Filter size
    ``"automatic"``: ``min(30, max(H, W) / 40)``; ``"object size"``: ``object_width * 2.35 /
    3.5``; a number: that number (CellProfiler's "Manually"). Smoothing uses ``sigma =
    filter_size / 2.35``.
Median Filter smoothing
    Not centrosome's :func:`median_filter`: CellProfiler 5 quantises the average to uint16,
    ``q = uint16(float32(avg * 65535))`` (truncation), sets ``q = 0`` outside the mask and
    runs ``skimage.filters.median(q, strel_disk(r), behavior="rank")`` with ``r = max(1,
    int(sigma + 0.5))``: the upper median of the disk ``dx**2 + dy**2 <= r**2`` restricted
    to the image (masked pixels count as zeros); the result is ``float32(median / 65535.0)``.
Gaussian Filter smoothing
    ``g(avg masked to 0) / (g(float64 mask) + 2.22e-16)`` with ``g =
    scipy.ndimage.gaussian_filter(., sigma, mode="constant", cval=0)`` (computed in float64).
Output dtype
    CellProfiler wraps every result in a ``cellprofiler_core`` ``Image``, which casts pixel
    data to float32: the function that CorrectIlluminationApply and SaveImages see is float32
    whatever the smoothing, and so is the function returned here.
Smooth to Average
    ``ones(shape, float32) * mean(avg[mask])`` (numpy's float32 pairwise mean).
Dilate objects
    ``smooth_with_function_and_mask`` with ``scipy.ndimage.convolve(., k, mode="constant")``
    and ``k`` centrosome's circular Gaussian kernel (sd ``radius``, support ``3 * radius``),
    cast back to the average's dtype.
Rescale
    over the positive pixels inside the mask, sorted: ``"yes"`` takes the robust minimum
    ``sorted[int(n * 0.02)]``, raises every pixel below it to it and divides by it;
    ``"median"`` divides by ``sorted[int(n / 2)]`` (the upper median, no clipping); ``"no"``
    does nothing. With no positive pixel the function is returned unchanged.
Apply
    ``image / function`` (or ``image - function`` with negatives set to 0) in numpy's dtype
    promotion (float32 for float32 inputs); then, by default, values < 0 become 0 and
    values > 1 become 1 (``numpy.where``; NaN stays NaN, +inf becomes 1).

Docs and code disagree in one place: CellProfiler's help says the median filter "finds the
median pixel value within the diameter you specify", but the code uses a disk of *radius*
``max(1, int(filter_size / 2.35 + 0.5))``, i.e. a diameter of about ``0.85 * filter_size``.

GPU notes: the median filters, the accumulation, the average and the rescaling are
bit-identical on both devices (integer counting, IEEE float32/float64 division). The Gaussian
smoothing, the dilation and the "Smooth to Average" mean use cupyx/cupy on the GPU, whose
summation order differs from scipy's/numpy's: equal to about 1e-7 relative, not bit for bit.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable
from typing import Any

import numpy as np

from .._backend import Namespace, launch_config, namespace_for, simulator_enabled
from .._validate import check_image, check_int, check_mask, check_nonnegative
from ._median_common import RULE_CENTROSOME, RULE_UPPER_MEDIAN
from ._quantize import rank_levels

__all__ = [
    "median_filter",
    "rank_median",
    "octagon_footprint",
    "disk_footprint",
    "smoothing_filter_size",
    "IlluminationAccumulator",
    "calculate_illumination",
    "correct_illumination",
]

_SMOOTHING = {
    "median": "median",
    "median filter": "median",
    "gaussian": "gaussian",
    "gaussian filter": "gaussian",
    "none": "none",
    "no smoothing": "none",
    "average": "average",
    "smooth to average": "average",
}
_UNSUPPORTED_SMOOTHING = ("convex hull", "fit polynomial", "splines")
_RESCALE = {"yes": "yes", "no": "no", "median": "median"}
#: fine-histogram bytes the GPU launcher allocates at most
_GPU_SCRATCH_BYTES = 1 << 28


# -- footprints ----------------------------------------------------------------------------------


def _octagon_geometry(radius: int) -> tuple[int, int]:
    """centrosome's octagon: (half height R, half length a_2 of the flat sides' offset)."""
    side = int(radius * 2.0 / 2.414213)
    a_2 = max(side // 2, 1)
    return (radius if radius > a_2 else a_2 + 1), a_2


def _octagon_halfwidths(radius: int) -> np.ndarray:
    big, a_2 = _octagon_geometry(radius)
    dy = np.abs(np.arange(-big, big + 1, dtype=np.int64))
    return np.minimum(big, big + a_2 - dy)


def _disk_halfwidths(radius: int) -> np.ndarray:
    dy = np.arange(-radius, radius + 1, dtype=np.int64)
    w = np.floor(np.sqrt((radius * radius - dy * dy).astype(np.float64))).astype(np.int64)
    w += (w + 1) ** 2 + dy * dy <= radius * radius  # exact integer square root
    w -= w * w + dy * dy > radius * radius
    return w


def _footprint(halfw: np.ndarray) -> np.ndarray:
    big = (halfw.shape[0] - 1) // 2
    dx = np.abs(np.arange(-big, big + 1))
    return dx[None, :] <= halfw[:, None]


def octagon_footprint(radius: int) -> np.ndarray:
    """The neighbourhood of :func:`median_filter` for ``radius``, as a boolean array.

    With ``a = int(2 * radius / 2.414213)``, ``a_2 = max(a // 2, 1)``, the octagon holds the
    offsets with ``|dy| <= radius``, ``|dx| <= radius`` and ``|dx| + |dy| <= radius + a_2``.

    Returns
    -------
    (2 radius + 1, 2 radius + 1) bool array, rows = dy, columns = dx.

    Examples
    --------
    >>> from pyhcs.illumination import octagon_footprint
    >>> octagon_footprint(2).astype(int)
    array([[0, 1, 1, 1, 0],
           [1, 1, 1, 1, 1],
           [1, 1, 1, 1, 1],
           [1, 1, 1, 1, 1],
           [0, 1, 1, 1, 0]])
    """
    radius = check_int(radius, "radius", 2)
    return _footprint(_octagon_halfwidths(radius))


def disk_footprint(radius: int) -> np.ndarray:
    """The neighbourhood of :func:`rank_median`: ``dx**2 + dy**2 <= radius**2``.

    Equal to ``centrosome.cpmorphology.strel_disk(radius) > 0`` and
    ``skimage.morphology.disk(radius) > 0`` for integer radii.

    Examples
    --------
    >>> from pyhcs.illumination import disk_footprint
    >>> disk_footprint(1).astype(int)
    array([[0, 1, 0],
           [1, 1, 1],
           [0, 1, 0]])
    """
    radius = check_int(radius, "radius", 0)
    return _footprint(_disk_halfwidths(radius))


# -- launcher ------------------------------------------------------------------------------------


def _median_launch(values, mask_u8, use_mask, halfw, rule, percent, n_bins, shift, ns: Namespace):
    """Run the sliding-histogram kernel; ``values`` int32 levels in ``[0, n_bins)``."""
    xp = ns.xp
    values = xp.ascontiguousarray(values, dtype=xp.int32)
    mask_u8 = xp.ascontiguousarray(mask_u8, dtype=xp.uint8)
    halfw = ns.asarray(np.ascontiguousarray(halfw, dtype=np.int64))
    out = xp.zeros(values.shape, dtype=xp.int32)
    height, width = values.shape
    if ns.target == "cpu":
        from ._median_cpu import median_rows_cpu

        median_rows_cpu(values, mask_u8, bool(use_mask), halfw, int(rule), int(percent),
                        int(n_bins), int(shift), out)
        return out
    from ._median_gpu import median_rows_gpu

    segment = 4 if simulator_enabled() else 64
    n_items = height * -(-width // segment)
    blocks, threads = launch_config(n_items, 64)
    max_workers = max(threads, _GPU_SCRATCH_BYTES // (4 * n_bins))
    blocks = max(1, min(blocks, max_workers // threads))
    scratch = xp.zeros((blocks * threads, n_bins), dtype=xp.int32)
    median_rows_gpu[blocks, threads](values, mask_u8, bool(use_mask), halfw, int(rule),
                                     int(percent), int(n_bins), int(shift), int(segment),
                                     scratch, out)
    return out


# -- median filters ------------------------------------------------------------------------------


def median_filter(data: Any, mask: Any = None, radius: int = 2, percent: int = 50) -> Any:
    r"""Masked octagonal percentile filter, equal to ``centrosome.filter.median_filter``.

    Every step is centrosome 1.3.4's (CellProfiler's ``centriole`` is the same code):

    1. If no pixel is inside ``mask``, a copy of ``data`` is returned.
    2. Unless ``data`` is int64 (numpy's ``int``) with every value (masked ones included) in
       0..255, the values inside the mask are quantised to at most 255 levels by
       centrosome's ``rank_order(values, nbins=255)`` (distinct values ranked, then rare
       levels merged into their lower neighbour, see :mod:`pyhcs.illumination._quantize`);
       each level stands for its smallest value.
    3. For every pixel, the window is the octagon of :func:`octagon_footprint` centred on it,
       restricted to the image and to the mask. With ``n`` pixels in the window,
       ``k = round_half_up(n * percent / 100) - 1`` (at least 0) and the output is the window's
       ``k``-th smallest level (0-based): 50 is the lower median, 0 the minimum, 100 the
       maximum. A window with no pixel gives level 0, the smallest value inside the mask.
       (centrosome keeps the window histogram in 16-bit bins: with more than 65535 equal
       levels in one window, radius about 145 and up, it wraps, and so does this function.)
    4. The levels are translated back to values; without quantisation (step 2) the result
       is uint8.

    Every pixel gets a value, inside the mask or not.

    Parameters
    ----------
    data : (H, W) real array
        Finite values (bool and integer dtypes too).
    mask : (H, W) bool array, optional
        Pixels that take part; None means all.
    radius : int
        The radius of the circle inscribed in the octagon, at least 2. (centrosome's C code
        mishandles radii 0 and 1: it builds the octagon of radius 2 but scans with the loop
        bounds of the smaller radius, and returns corrupted histograms' values; they are
        refused here.)
    percent : int
        0 to 100.

    Returns
    -------
    (H, W) array of ``data``'s dtype (uint8 in the unquantised case of step 2).

    Examples
    --------
    >>> import numpy as np
    >>> from pyhcs.illumination import median_filter
    >>> image = np.zeros((5, 5), np.float32)
    >>> image[2, 2] = 1.0
    >>> median_filter(image, radius=2)[2, 2]  # a lone bright pixel disappears
    np.float32(0.0)
    >>> median_filter(image, radius=2, percent=100)[0, 2]  # the maximum reaches it
    np.float32(1.0)
    """
    ns = namespace_for(data, mask, names=("data", "mask"))
    xp = ns.xp
    data = check_image(data, ns, "data", ndim=2)
    mask = check_mask(mask, ns, tuple(data.shape), shape_of="data")
    radius = check_int(radius, "radius", 2)
    percent = check_int(percent, "percent", 0, 100)
    if data.size == 0 or not bool(mask.any()):
        return data.copy()
    unranked = np.dtype(data.dtype) == np.dtype(int) and bool(
        (data.min() >= 0) & (data.max() <= 255)
    )
    values = xp.zeros(data.shape, dtype=xp.int32)
    if unranked:
        values[mask] = data[mask].astype(xp.int32)
    else:
        levels, translation = rank_levels(data[mask], xp)
        values[mask] = levels
    out = _median_launch(values, mask, True, _octagon_halfwidths(radius), RULE_CENTROSOME,
                         percent, 256, 4, ns)
    if unranked:
        return out.astype(xp.uint8)
    return translation[out]


def rank_median(image: Any, radius: int) -> Any:
    r"""Median over a disk, equal to ``skimage.filters.rank.median(image, disk(radius))``.

    For each pixel, the window is the disk ``dx**2 + dy**2 <= radius**2`` centred on it,
    restricted to the image (no padding): with ``n`` pixels in it, the output is the
    smallest value whose cumulative count exceeds ``n / 2``, i.e. the middle value for odd
    ``n`` and the upper of the two middle values for even ``n``. This is the filter of
    CellProfiler 5's "Median Filter" illumination smoothing
    (``skimage.filters.median(q, strel_disk(radius), behavior="rank")``).

    Parameters
    ----------
    image : (H, W) uint8 or uint16 array
    radius : int
        At least 0 (0 returns a copy).

    Returns
    -------
    (H, W) array of ``image``'s dtype.

    Examples
    --------
    >>> import numpy as np
    >>> from pyhcs.illumination import rank_median
    >>> image = np.array([[0, 0, 0], [0, 9, 9], [0, 9, 9]], np.uint16)
    >>> rank_median(image, 1)
    array([[0, 0, 0],
           [0, 9, 9],
           [0, 9, 9]], dtype=uint16)
    """
    ns = namespace_for(image, names=("image",))
    xp = ns.xp
    dtype = getattr(image, "dtype", None)
    if dtype is None or np.dtype(dtype) not in (np.dtype(np.uint8), np.dtype(np.uint16)):
        raise TypeError(
            f"image must be a uint8 or uint16 array, got "
            f"{np.dtype(dtype) if dtype is not None else type(image).__name__}"
        )
    image = check_image(image, ns, "image", ndim=2)
    radius = check_int(radius, "radius", 0)
    if image.size == 0 or radius == 0:
        return image.copy()
    present = xp.bincount(image.ravel(), minlength=int(np.iinfo(image.dtype).max) + 1) > 0
    lut = (xp.cumsum(present) - 1).astype(xp.int32)
    distinct = xp.nonzero(present)[0].astype(image.dtype)
    values = lut[image]
    dummy = xp.zeros((1, 1), dtype=xp.uint8)
    out = _median_launch(values, dummy, False, _disk_halfwidths(radius), RULE_UPPER_MEDIAN, 0,
                         int(distinct.shape[0]), 8, ns)
    return distinct[out]


# -- illumination function -----------------------------------------------------------------------


def smoothing_filter_size(shape: tuple[int, int], filter_size: Any = "automatic",
                          object_width: float = 10) -> float:
    """CellProfiler's smoothing filter size (CorrectIlluminationCalculate).

    ``"automatic"``: ``min(30, max(shape) / 40)``; ``"object size"``: ``object_width * 2.35 /
    3.5``; a positive number: that number ("Manually").

    Examples
    --------
    >>> from pyhcs.illumination import smoothing_filter_size
    >>> smoothing_filter_size((1080, 1080))
    27.0
    >>> smoothing_filter_size((2160, 2160))
    30
    >>> round(smoothing_filter_size((64, 64), "object size", object_width=35), 6)
    23.5
    """
    if isinstance(filter_size, str):
        key = filter_size.lower().replace("_", " ")
        if key == "automatic":
            return min(30, float(max(shape)) / 40.0)
        if key in ("object size", "object"):
            width = check_nonnegative(object_width, "object_width")
            return width * 2.35 / 3.5
        raise ValueError(
            f"filter_size must be 'automatic', 'object size' or a positive number, got "
            f"{filter_size!r}"
        )
    if isinstance(filter_size, (bool, np.bool_)) or not isinstance(filter_size, numbers.Real):
        raise TypeError(
            f"filter_size must be 'automatic', 'object size' or a positive number, got "
            f"{filter_size!r}"
        )
    if not math.isfinite(float(filter_size)) or filter_size <= 0:
        raise ValueError(f"filter_size must be positive, got {filter_size}")
    return filter_size


def _choice(value: Any, name: str, table: dict, unsupported: tuple = ()) -> str:
    if not isinstance(value, str) or value.lower() not in table:
        if isinstance(value, str) and value.lower() in unsupported:
            raise ValueError(
                f"{name}={value!r} (a CellProfiler option) is not supported by pyhcs; use one "
                f"of {', '.join(map(repr, sorted(set(table.values()))))}"
            )
        raise ValueError(
            f"{name} must be one of {', '.join(map(repr, sorted(set(table.values()))))}, got "
            f"{value!r}"
        )
    return table[value.lower()]


def _as_cellprofiler_float(image: Any, name: str, ns: Namespace) -> Any:
    """Float images unchanged; uint8/uint16 as CellProfiler loads them (x / max in float32)."""
    dtype = getattr(image, "dtype", None)
    if dtype is not None and np.dtype(dtype) in (np.dtype(np.uint8), np.dtype(np.uint16)):
        image = check_image(image, ns, name, ndim=2)
        return image.astype(ns.xp.float32) / ns.xp.float32(np.iinfo(np.dtype(dtype)).max)
    if dtype is not None and np.dtype(dtype).kind != "f":
        raise TypeError(
            f"{name} must be a floating-point image (CellProfiler's scale, e.g. uint16 / 65535 "
            f"in float32) or a uint8/uint16 image, got {np.dtype(dtype)} dtype"
        )
    return check_image(image, ns, name, ndim=2)


def _circular_gaussian_kernel(sd: int, radius: int) -> np.ndarray:
    """centrosome's circular Gaussian kernel: exp(-(x^2+y^2)/(2 sd^2)) inside the circle of
    ``radius`` (in units of the grid, computed as centrosome scales it), normalised to sum 1."""
    grid = np.mgrid[-radius:radius + 1, -radius:radius + 1].astype(float) / radius
    gi, gj = grid[0], grid[1]
    inside = gi ** 2 + gj ** 2 <= 1
    gi = gi * radius / sd
    gj = gj * radius / sd
    kernel = np.zeros((2 * radius + 1, 2 * radius + 1))
    kernel[inside] = np.e ** (-(gi[inside] ** 2 + gj[inside] ** 2) / (2 * sd ** 2))
    return kernel / np.sum(kernel)


def _smooth_with_mask(image, mask, function, xp):
    """centrosome.smooth.smooth_with_function_and_mask: f(masked) / (f(mask) + eps)."""
    bleed_over = function(mask.astype(xp.float64))
    masked = xp.where(mask, image, image.dtype.type(0)).astype(image.dtype)
    return function(masked) / (bleed_over + np.finfo(float).eps)


def _quantize_uint16(avg, mask, xp):
    """``uint16(float32(avg * 65535)) * mask`` with numpy-on-x86 conversion of out-of-range
    values (truncation toward zero, then modulo 2**16)."""
    scaled = avg * avg.dtype.type(65535)
    q = (xp.trunc(scaled).astype(xp.int64) & 0xFFFF).astype(xp.uint16)
    return q * mask.astype(xp.uint16)


class IlluminationAccumulator:
    """Streams CorrectIlluminationCalculate's "All images" first pass over a plate.

    ``add`` folds one image in (float32 sum and int32 count, exactly CellProfiler's
    arithmetic), ``average`` gives the averaged image and its mask, ``result`` the smoothed,
    rescaled illumination function. Only the sum and the count are held, never the images.
    All images must have the same shape, dtype and device.

    Examples
    --------
    >>> import numpy as np
    >>> from pyhcs.illumination import IlluminationAccumulator
    >>> acc = IlluminationAccumulator()
    >>> for k in range(3):
    ...     _ = acc.add(np.full((4, 6), 0.1 * (k + 1), np.float32))
    >>> acc.count
    3
    >>> avg, mask = acc.average()
    >>> float(avg[0, 0]), bool(mask.all())
    (0.20000000298023224, True)
    >>> acc.result(smoothing="none", rescale="yes")[0, 0]
    np.float32(1.0)
    """

    def __init__(self) -> None:
        self.image_sum = None
        self.mask_count = None
        self.count = 0
        self._ns: Namespace | None = None

    @property
    def shape(self) -> tuple[int, int] | None:
        """(H, W) of the images, None before the first ``add``."""
        return None if self.image_sum is None else tuple(self.image_sum.shape)

    def add(self, image: Any, mask: Any = None) -> "IlluminationAccumulator":
        """Add one image: ``image_sum[mask] += image[mask]``, ``mask_count[mask] += 1``.

        Parameters
        ----------
        image : (H, W) float array, or uint8/uint16 (then ``x / 255`` or ``x / 65535`` in
            float32, as CellProfiler loads it)
        mask : (H, W) bool array, optional
            Pixels that count; None means all.
        """
        ns = namespace_for(image, mask, names=("image", "mask"))
        xp = ns.xp
        image = _as_cellprofiler_float(image, "image", ns)
        if self.image_sum is None:
            self._ns = ns
            self.image_sum = xp.zeros(image.shape, dtype=image.dtype)
            self.mask_count = xp.zeros(image.shape, dtype=xp.int32)
        elif ns.device != self._ns.device:
            raise TypeError(
                f"image is on the {ns.device} but the accumulator holds {self._ns.device} arrays"
            )
        elif tuple(image.shape) != self.shape:
            raise ValueError(
                f"image has shape {tuple(image.shape)} but the accumulated images have shape "
                f"{self.shape}; they must be equal"
            )
        elif image.dtype != self.image_sum.dtype:
            raise TypeError(
                f"image has dtype {image.dtype} but the accumulated images have dtype "
                f"{self.image_sum.dtype}; CellProfiler sums in the first image's dtype, so "
                "give every image the same dtype"
            )
        if mask is None:
            self.image_sum += image
            self.mask_count += 1
        else:
            mask = check_mask(mask, ns, tuple(image.shape))
            self.image_sum += xp.where(mask, image, image.dtype.type(0)).astype(image.dtype)
            self.mask_count += mask
        self.count += 1
        return self

    def _require(self) -> None:
        if self.image_sum is None:
            raise ValueError("no image was added to the IlluminationAccumulator")

    def average(self) -> tuple[Any, Any]:
        """The averaged image and its mask ``mask_count > 0``.

        ``avg = float32(float64(image_sum) / mask_count)`` where the mask is set, else 0.
        """
        self._require()
        xp = self._ns.xp
        mask = self.mask_count > 0
        ratio = self.image_sum.astype(xp.float64) / xp.maximum(self.mask_count, 1)
        avg = xp.where(mask, ratio, 0).astype(self.image_sum.dtype)
        return avg, mask

    def result(
        self,
        smoothing: str = "median",
        filter_size: Any = "automatic",
        object_width: float = 10,
        rescale: str = "yes",
        dilate: bool = False,
        dilation_radius: int = 1,
    ) -> Any:
        """The illumination function (see :func:`calculate_illumination`)."""
        self._require()
        avg, mask = self.average()
        return _illumination_from_average(avg, mask, self._ns, smoothing, filter_size,
                                          object_width, rescale, dilate, dilation_radius)


def _illumination_from_average(avg, mask, ns, smoothing, filter_size, object_width, rescale,
                               dilate, dilation_radius):
    xp = ns.xp
    smoothing = _choice(smoothing, "smoothing", _SMOOTHING, _UNSUPPORTED_SMOOTHING)
    rescale = _choice(rescale, "rescale", _RESCALE)
    if not isinstance(dilate, (bool, np.bool_)):
        raise TypeError(f"dilate must be True or False, got {dilate!r}")
    size = smoothing_filter_size(tuple(avg.shape), filter_size, object_width)
    pixels = avg
    if dilate:
        radius = check_int(dilation_radius, "dilation_radius", 1)
        kernel = ns.asarray(_circular_gaussian_kernel(radius, radius * 3))

        def convolve(image):
            return ns.ndimage.convolve(image, kernel, mode="constant", cval=0)

        pixels = _smooth_with_mask(pixels, mask, convolve, xp).astype(avg.dtype)
    sigma = size / 2.35
    if smoothing == "median":
        radius = max(1, int(sigma + 0.5))
        filtered = rank_median(_quantize_uint16(pixels, mask, xp), radius)
        pixels = (filtered / 65535.0).astype(pixels.dtype)
    elif smoothing == "gaussian":

        def gaussian(image):
            return ns.ndimage.gaussian_filter(image, sigma, mode="constant", cval=0)

        pixels = _smooth_with_mask(pixels, mask, gaussian, xp)
    elif smoothing == "average":
        pixels = xp.ones(pixels.shape, pixels.dtype) * xp.mean(pixels[mask])
    return _rescale(pixels, mask, rescale, xp).astype(xp.float32, copy=False)


def _rescale(pixels, mask, rescale, xp):
    if rescale == "no":
        return pixels
    positive = pixels[(pixels > 0) & mask]
    n = int(positive.shape[0])
    if n == 0:
        return pixels
    index = int(n * 0.02) if rescale == "yes" else int(n / 2)
    divisor = xp.partition(positive, index)[index]
    if rescale == "yes":
        pixels = xp.where(pixels < divisor, divisor, pixels)
    if bool(divisor == 0):
        return pixels
    return pixels / divisor


def calculate_illumination(
    images: Any,
    masks: Any = None,
    *,
    smoothing: str = "median",
    filter_size: Any = "automatic",
    object_width: float = 10,
    rescale: str = "yes",
    dilate: bool = False,
    dilation_radius: int = 1,
) -> Any:
    r"""CellProfiler's CorrectIlluminationCalculate, "Regular" intensity, "All" images.

    1. average: ``avg = float32(sum(image * mask) / count)`` per pixel over the images
       (float32 running sum, see :class:`IlluminationAccumulator`); mask = counted pixels;
    2. optional dilation (``dilate=True``): masked convolution with centrosome's circular
       Gaussian kernel of sd ``dilation_radius``;
    3. smoothing with ``sigma = filter_size / 2.35`` where ``filter_size`` is
       :func:`smoothing_filter_size`: ``"median"`` (CellProfiler's "Median Filter": uint16
       quantisation, :func:`rank_median` over a disk of radius ``max(1, int(sigma + 0.5))``,
       back to float32 by ``/ 65535``), ``"gaussian"`` (masked Gaussian, in float64),
       ``"average"`` (constant mean), or ``"none"``;
    4. rescaling: ``"yes"`` (clip below the robust minimum, the 2 % point of the sorted
       positive pixels, and divide by it: the function is >= 1), ``"median"`` (divide by the
       median of the positive pixels), ``"no"``.

    CellProfiler's module defaults differ from these: it defaults to "No smoothing" and
    "Each" image; "Median Filter", "All" and rescale "Yes" are the usual choices.

    Parameters
    ----------
    images : (N, H, W) array, or an iterable of (H, W) arrays
        Float images on CellProfiler's scale (``uint16 / 65535`` in float32), or uint8/uint16
        images (converted so).
    masks : (N, H, W) bool array or iterable of (H, W) bool arrays or None, optional
    smoothing : {"median", "gaussian", "average", "none"}
        CellProfiler's names ("Median Filter", "Gaussian Filter", "Smooth to Average",
        "No smoothing") are accepted too; "Convex Hull", "Fit Polynomial" and "Splines" are
        not implemented.
    filter_size : "automatic", "object size" or a positive number
    object_width : float
        Used with ``filter_size="object size"``.
    rescale : {"yes", "median", "no"}
    dilate : bool
    dilation_radius : int
        At least 1.

    Returns
    -------
    (H, W) float32 array (CellProfiler's ``Image`` casts the function to float32).

    Examples
    --------
    >>> import numpy as np
    >>> from pyhcs.illumination import calculate_illumination
    >>> yy, xx = np.mgrid[:64, :64]
    >>> field = (0.2 + 0.1 * np.exp(-((yy - 32) ** 2 + (xx - 32) ** 2) / 800.0))
    >>> stack = np.stack([field * s for s in (0.9, 1.0, 1.1)]).astype(np.float32)
    >>> illum = calculate_illumination(stack, filter_size=10)
    >>> illum.shape, illum.dtype, bool(illum.min() >= 1.0)
    ((64, 64), dtype('float32'), True)
    """
    acc = IlluminationAccumulator()
    if hasattr(images, "ndim"):
        if images.ndim != 3:
            raise ValueError(
                f"images must be a (N, H, W) stack or an iterable of (H, W) images, got shape "
                f"{tuple(images.shape)}"
            )
    elif not isinstance(images, Iterable):
        raise TypeError(f"images must be an array or an iterable of arrays, got {images!r}")
    if masks is not None and hasattr(masks, "ndim") and masks.ndim != 3:
        raise ValueError(f"masks must be a (N, H, W) stack, got shape {tuple(masks.shape)}")
    mask_iter = iter(masks) if masks is not None else None
    for image in images:
        mask = None
        if mask_iter is not None:
            try:
                mask = next(mask_iter)
            except StopIteration:
                raise ValueError("masks has fewer entries than images") from None
        acc.add(image, mask)
    if mask_iter is not None and next(mask_iter, None) is not None:
        raise ValueError("masks has more entries than images")
    if acc.count == 0:
        raise ValueError("images is empty: give at least one image")
    return acc.result(smoothing=smoothing, filter_size=filter_size, object_width=object_width,
                      rescale=rescale, dilate=dilate, dilation_radius=dilation_radius)


def correct_illumination(
    image: Any,
    function: Any,
    *,
    method: str = "divide",
    truncate_low: bool = True,
    truncate_high: bool = True,
) -> Any:
    r"""CellProfiler's CorrectIlluminationApply for one image.

    ``"divide"``: ``out = image / function``; ``"subtract"``: ``out = image - function``, then
    ``out[out < 0] = 0``. Then ``truncate_low`` sets values < 0 to 0 and ``truncate_high``
    values > 1 to 1 (CellProfiler's defaults: both on). Arithmetic in numpy's dtype promotion
    (float32 for a float32 image and function); a zero in the function gives inf (then 1) or
    NaN (0 / 0, kept), as in CellProfiler.

    Parameters
    ----------
    image : (H, W) float array, or uint8/uint16 (then ``x / 255`` or ``x / 65535`` in float32)
    function : (H, W) float array
        The illumination function (e.g. :func:`calculate_illumination`).
    method : {"divide", "subtract"}
    truncate_low, truncate_high : bool

    Returns
    -------
    (H, W) float array.

    Examples
    --------
    >>> import numpy as np
    >>> from pyhcs.illumination import correct_illumination
    >>> image = np.array([[0.2, 0.9]], np.float32)
    >>> function = np.array([[2.0, 0.5]], np.float32)
    >>> correct_illumination(image, function)
    array([[0.1, 1. ]], dtype=float32)
    >>> correct_illumination(image, function, truncate_high=False)
    array([[0.1, 1.8]], dtype=float32)
    """
    ns = namespace_for(image, function, names=("image", "function"))
    xp = ns.xp
    image = _as_cellprofiler_float(image, "image", ns)
    fdtype = getattr(function, "dtype", None)
    if fdtype is None or np.dtype(fdtype).kind != "f":
        raise TypeError(
            "function must be a floating-point illumination function, got "
            f"{np.dtype(fdtype) if fdtype is not None else type(function).__name__}"
        )
    function = check_image(function, ns, "function", shape=tuple(image.shape),
                           shape_of="image", ndim=2)
    method = _choice(method, "method", {"divide": "divide", "subtract": "subtract"})
    for name, flag in (("truncate_low", truncate_low), ("truncate_high", truncate_high)):
        if not isinstance(flag, (bool, np.bool_)):
            raise TypeError(f"{name} must be True or False, got {flag!r}")
    with np.errstate(divide="ignore", invalid="ignore"):
        if method == "divide":
            out = image / function
        else:
            out = image - function
            out[out < 0] = 0
    if truncate_low:
        out = xp.where(out < 0, out.dtype.type(0), out)
    if truncate_high:
        out = xp.where(out > 1, out.dtype.type(1), out)
    return out
