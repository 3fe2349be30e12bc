"""Nucleus and cell identification after CellProfiler 4's IdentifyPrimaryObjects and
IdentifySecondaryObjects.

Both functions follow CellProfiler's steps and defaults (CellProfiler 4.2
``cellprofiler/modules/identifyprimaryobjects.py``, ``identifysecondaryobjects.py`` and
``threshold.py``; the same steps are in ``cellprofiler_library``'s ``identifyprimaryobjects``,
``identifysecondaryobjects``, ``separate_neighboring_objects``, ``filter_on_size``,
``filter_on_border`` and ``filter_labels``). Images are float in [0, 1] as CellProfiler loads
them: integer images are divided by their dtype's maximum (uint16 by 65535).

One code path serves both devices: numpy in -> CPU (scipy.ndimage / scikit-image), cupy in ->
GPU (cupyx.scipy.ndimage / cuCIM for thresholds, Gaussian smoothing, labelling, distance
transforms, local maxima and the pixel work of hole filling; pyhcs's own GPU solvers for the
seeded watershed and for propagation, each exact by a tie certificate, falling back to the CPU
on host copies where a tie could go either way). Only small arrays leave the device: the walk
over the small graph of touching regions in hole filling runs on the host.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
from numba import njit

from .. import _core, _numba_cache
from .._backend import Namespace, namespace_for
from .._validate import (
    check_image,
    check_int_pair,
    check_labels,
    check_mask,
    check_ndim,
    check_nonnegative,
)
from ._distance import distance_transform
from ._fill_holes import fill_labeled_holes, relabel_consecutive
from ._label import label_components
from ._maxima import local_maxima
from ._scale import estimate_diameter, size_range_for_diameter
from ._threshold import as_unit_float, check_threshold_settings, threshold_image

_numba_cache.register()

__all__ = ["identify_primary", "identify_secondary", "identify_tertiary"]

PRIMARY_METHODS = ("threshold", "fcn")
SECONDARY_METHODS = (
    "propagation",
    "watershed_gradient",
    "watershed_image",
    "distance_n",
    "distance_b",
)
DECLUMP_METHODS = ("intensity", "shape", "none")
WATERSHED_METHODS = ("intensity", "shape", "propagate", "none")
FILL_HOLES_CHOICES = ("thresholding", "declumping", "never")


# --------------------------------------------------------------------------------------------
# Argument checks
# --------------------------------------------------------------------------------------------


def _choice(value: Any, name: str, choices: tuple[str, ...]) -> str:
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}, got {value!r}")
    return value


def _flag(value: Any, name: str) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def _image(image: Any, ns: Namespace, shape=None, shape_of: str = "labels") -> Any:
    image = check_image(image, ns, "image", shape=shape, shape_of=shape_of, allow_bool=False)
    return as_unit_float(image, ns, "image")


# --------------------------------------------------------------------------------------------
# Shared steps
# --------------------------------------------------------------------------------------------


WATERSHED_RULES = ("cellprofiler", "skimage")
DEFAULT_SIZE_RANGE = (10, 40)  # CellProfiler's typical diameter, (min, max) pixels


def _watershed(ns: Namespace, surface: Any, markers: Any, mask: Any, rule: str,
               components: tuple[Any, int] | None = None) -> Any:
    """The seeded watershed, 8-connected, on ``ns``'s device.

    On a GPU, :func:`._watershed_gpu.watershed_gpu` (the same labels; a certified parallel
    solver that falls back to the CPU flooding where ties could go either way). On the CPU:

    ``skimage.segmentation.watershed(surface, markers, connectivity=2, mask=mask)``, bit for
    bit, whatever scikit-image is installed, in either of its flooding rules: ``rule=
    "cellprofiler"`` is scikit-image 0.24.0's (the version CellProfiler 5 pins; every release
    up to 0.25.1), ``"skimage"`` that of 0.25.2 and later, which raises a pixel's priority to
    that of the pixel it was reached from and so splits basins reached over a saddle by age.
    The C++ kernel (``pyhcs._core.watershed``) is tested against both versions. Each
    8-connected component of the mask floods on its own, in parallel, where that is exact
    (``pyhcs._core.watershed_components``: no two markers of equal value in a component);
    otherwise the whole image floods at once. ``components``: the mask's 8-connected
    components and their count where the caller has them (labelled as
    :func:`label_components` labels them).
    """
    if ns.target != "cpu":
        from ._watershed_gpu import watershed_gpu

        labels, _ = watershed_gpu(ns, surface, markers, mask, 2, rule)
        return labels
    mask = np.ascontiguousarray(mask, dtype=bool)
    if components is None:
        components, count = label_components(mask, namespace_for(mask), connectivity=2)
    else:
        components, count = np.ascontiguousarray(components[0], np.int32), components[1]
    labels, _ = _core.watershed_components(
        np.ascontiguousarray(surface, dtype=np.float64),
        np.ascontiguousarray(markers, dtype=np.int32),
        mask.view(np.uint8),
        2,
        rule == "skimage",
        components,
        count,
    )
    return labels


def _edge_labels(labels: Any, ns: Namespace) -> Any:
    xp = ns.xp
    return xp.unique(xp.concatenate([labels[0, :], labels[-1, :], labels[:, 0], labels[:, -1]]))


def _mask_border(mask: Any, ns: Namespace) -> Any:
    """The pixels of ``mask`` that have a pixel outside it (or the image edge) as a neighbour."""
    return mask & ~ns.ndimage.binary_erosion(mask)


def _drop(labels: Any, drop: Any, ns: Namespace) -> Any:
    """``labels`` with the labels listed in ``drop`` set to 0."""
    xp = ns.xp
    drop = drop[drop != 0]
    if drop.size == 0:
        return labels
    return xp.where(xp.isin(labels, drop), 0, labels)


@njit(cache=True)
def _max_per_label_cpu(values, labels, n_labels):  # pragma: no cover
    """:func:`_max_per_label` on the CPU: one pass, no temporaries."""
    out = np.zeros(n_labels + 1, np.int32)
    flat_values = values.ravel()
    flat_labels = labels.ravel()
    for p in range(flat_labels.size):
        label = flat_labels[p]
        value = flat_values[p]
        if label != 0 and value != 0 and value > out[label]:
            out[label] = value
    return out


def _max_per_label(values: Any, labels: Any, n_labels: int, ns: Namespace) -> Any:
    """For each label 0..n_labels, the largest of the non-negative ``values`` over its pixels
    (0 if absent, and always 0 for label 0): one scatter-max over the labelled pixels.

    Both are consecutive label images here, so int32 holds them (and int32 is an atomicMax
    type on every GPU)."""
    xp = ns.xp
    if ns.target == "cpu":
        return _max_per_label_cpu(np.ascontiguousarray(values), np.ascontiguousarray(labels),
                                  n_labels)
    out = xp.zeros(n_labels + 1, xp.int32)
    inside = (labels != 0) & (values != 0)
    where = labels[inside].astype(xp.int64)
    what = values[inside].astype(xp.int32)
    if ns.device == "cuda":
        import cupyx

        cupyx.scatter_max(out, where, what)
    else:
        np.maximum.at(out, where, what)
    return out


# --------------------------------------------------------------------------------------------
# IdentifyPrimaryObjects
# --------------------------------------------------------------------------------------------


def _disk(radius: float) -> np.ndarray:
    """A disk footprint of the given (real) radius, as ``centrosome.cpmorphology.strel_disk``."""
    half = int(radius)
    y, x = np.mgrid[-half : half + 1, -half : half + 1]
    return x * x + y * y <= radius * radius


def _declump_smooth(image: Any, mask: Any, filter_size: float, ns: Namespace) -> Any:
    """CellProfiler's declumping smoothing: a Gaussian of sigma ``filter_size / 2.35`` truncated
    at ``max(int(filter_size / 2), 1)`` pixels, normalised by the smoothed mask."""
    if filter_size == 0:
        return image
    xp, ndi = ns.xp, ns.ndimage
    sigma = filter_size / 2.35
    half = max(int(float(filter_size) / 2.0), 1)
    offsets = np.arange(-half, half + 1)
    taps = xp.asarray(1 / np.sqrt(2.0 * np.pi) / sigma * np.exp(-0.5 * offsets**2 / sigma**2))

    def smooth(values):
        values = ndi.convolve1d(values, taps, axis=0, mode="constant")
        return ndi.convolve1d(values, taps, axis=1, mode="constant")

    weight = smooth(mask.astype(xp.float64))
    smoothed = smooth(xp.where(mask, image, 0.0))
    return xp.where(mask, smoothed / xp.where(mask, weight, 1.0), 0.0)


def _maxima(image: Any, labels: Any, footprint: np.ndarray, factor: float, ns: Namespace) -> Any:
    """CellProfiler's ``get_maxima``: local maxima, on an image resized by ``factor`` < 1 when
    ``low_res_maxima`` applies (cubic-spline resampling; labels nearest-neighbour)."""
    xp, ndi = ns.xp, ns.ndimage
    if factor < 1.0:
        shape = np.array(image.shape) * factor
        grid = xp.asarray(np.mgrid[0 : shape[0], 0 : shape[1]].astype(float) / factor)
        small = ndi.map_coordinates(image, grid)
        small_labels = ndi.map_coordinates(labels, grid, order=0).astype(labels.dtype)
    else:
        small, small_labels = image, labels
    maxima = local_maxima(small, small_labels, footprint, ns)
    maxima &= small > 0
    if factor < 1.0:
        inverse = float(image.shape[0]) / float(maxima.shape[0])
        grid = xp.asarray(
            np.mgrid[0 : image.shape[0], 0 : image.shape[1]].astype(float) / inverse
        )
        maxima = ndi.map_coordinates(maxima.astype(xp.float64), grid) > 0.5
    return maxima


def _model_scale(model: Any, diameter: float | None) -> float:
    """The zoom that brings nuclei of ``diameter`` pixels into the model's training range,
    its ``metadata["nucleus_diameter_range"]`` (1 when they are in it, when the diameter is
    unknown, or when the model does not record its range)."""
    known = (getattr(model, "metadata", None) or {}).get("nucleus_diameter_range")
    if diameter is None or not np.isfinite(diameter) or known is None:
        return 1.0
    low, high = (float(v) for v in known)
    scale = min(max(diameter, low), high) / diameter
    return 1.0 if abs(scale - 1.0) < 0.05 else scale


def _nearest_resize(labels: Any, shape: tuple[int, int], ns: Namespace) -> Any:
    """``labels`` resampled to ``shape`` by taking, for every output pixel, the input pixel
    whose area holds its centre."""
    xp = ns.xp
    rows = np.minimum(((np.arange(shape[0]) + 0.5) * labels.shape[0] / shape[0]).astype(int),
                      labels.shape[0] - 1)
    cols = np.minimum(((np.arange(shape[1]) + 0.5) * labels.shape[1] / shape[1]).astype(int),
                      labels.shape[1] - 1)
    return labels[xp.asarray(rows)[:, None], xp.asarray(cols)[None, :]]


def _classify_pixels(image: Any, mask: Any, model: Any, ns: Namespace,
                     diameter: float | None = None) -> Any:
    """Nucleus labels from the dense pixel classifier (``method="fcn"``), on ``ns``'s device.

    The seeds take the model's ``metadata["interior_threshold"]`` where it has one. With a
    ``diameter`` outside the model's training range the image is first zoomed
    (bilinear, pixel-area aligned) so that its nuclei fall into it, and the labels are mapped
    back to the image's grid by nearest neighbour.
    """
    from ..pixel import load_default, predict, probabilities_to_labels

    model = load_default() if model is None else model
    scale = _model_scale(model, diameter)
    # the seed threshold chosen for the model on its validation fields, where it says
    threshold = (getattr(model, "metadata", None) or {}).get("interior_threshold")
    settings = {} if threshold is None else {"interior_threshold": float(threshold)}
    if scale == 1.0:
        probabilities = predict(model, image, device=ns.device)
        labeled = ns.asarray(probabilities_to_labels(probabilities, **settings))
    else:
        shape = tuple(max(1, round(n * scale)) for n in image.shape)
        zoom = (shape[0] / image.shape[0], shape[1] / image.shape[1])
        resized = ns.ndimage.zoom(image, zoom, order=1, mode="nearest", grid_mode=True)
        probabilities = predict(model, resized, device=ns.device)
        labeled = _nearest_resize(
            ns.asarray(probabilities_to_labels(probabilities, **settings)), image.shape, ns)
    return ns.xp.where(mask, labeled, 0).astype(ns.xp.int32)


@functools.lru_cache(maxsize=2)
def _tie_noise(shape: tuple[int, ...]) -> np.ndarray:
    """CellProfiler's tie-breaking noise, ``RandomState(0).uniform(0, 0.001, shape)`` (kept per
    shape: every field of a plate draws the same numbers)."""
    noise = np.random.RandomState(0).uniform(0, 0.001, shape)
    noise.flags.writeable = False
    return noise


@functools.lru_cache(maxsize=2)
def _tie_noise_on_gpu(shape: tuple[int, ...], device: int) -> Any:
    """:func:`_tie_noise` copied to GPU ``device`` once per shape, not once per field."""
    import cupy

    with cupy.cuda.Device(device):
        return cupy.asarray(_tie_noise(shape))


def _tie_noise_like(labels: Any, ns: Namespace) -> Any:
    """CellProfiler's tie noise for an image of ``labels``' shape, on ``ns``'s device."""
    shape = tuple(labels.shape)
    if ns.xp is np:
        return _tie_noise(shape)
    return _tie_noise_on_gpu(shape, int(labels.device.id))


def _declump(
    image, labeled, n_objects, mask, ns, *, declump, watershed_method, size_range, filter_size,
    automatic_suppression, maxima_suppression_size, low_res_maxima, fill_holes, watershed_rule,
):
    """CellProfiler's ``separate_neighboring_objects``: seeded watershed from local maxima.

    ``labeled`` holds the 8-connected components of the foreground (``n_objects`` of them),
    as :func:`label_components` numbers them."""
    xp = ns.xp
    if declump == "none" or watershed_method == "none":
        return labeled
    min_size = size_range[0]
    if min_size > 10 and low_res_maxima:
        factor = 10.0 / float(min_size)
        suppression = 7 if automatic_suppression else maxima_suppression_size * factor + 0.5
    else:
        factor = 1.0
        suppression = min_size / 1.5 if automatic_suppression else maxima_suppression_size
    footprint = _disk(max(1, suppression - 0.5))

    distance = None
    if declump == "intensity":
        blurred = _declump_smooth(image, mask, filter_size, ns)  # only intensity maxima use it
        maxima = _maxima(blurred, labeled, footprint, factor, ns)
    else:  # shape
        if fill_holes == "never":
            foreground = fill_labeled_holes(labeled, ns) > 0
        else:
            foreground = labeled > 0
        distance = distance_transform(foreground, ns)
        # CellProfiler breaks ties with a little noise from numpy's seed 0
        distance = distance + _tie_noise_like(labeled, ns)
        maxima = _maxima(distance, labeled, footprint, factor, ns)

    markers, _ = label_components(maxima, ns, connectivity=2)
    if watershed_method == "propagate":
        from .propagate import propagate

        out, _ = propagate(xp.zeros(markers.shape), markers, labeled != 0, 1.0)
        return out
    if watershed_method == "intensity":
        surface = 1.0 - image
    else:  # shape
        if distance is None:
            distance = distance_transform(labeled > 0, ns)
        # CellProfiler's -distance - min(-distance), bit for bit, in two passes instead of three
        surface = distance.max() - distance
    return _watershed(ns, surface, markers, labeled != 0, watershed_rule,
                      components=(labeled, n_objects))


def identify_primary(
    image: Any,
    method: str = "threshold",
    *,
    mask: Any = None,
    size_range: tuple[int, int] | None = None,
    diameter: float | str | None = None,
    exclude_size: bool = True,
    exclude_border: bool = True,
    threshold_method: str = "minimum_cross_entropy",
    threshold_smoothing_scale: float = 1.3488,
    threshold_correction_factor: float = 1.0,
    threshold_bounds: tuple[float, float] = (0.0, 1.0),
    manual_threshold: float | None = None,
    declump: str = "intensity",
    watershed_method: str = "intensity",
    automatic_smoothing: bool = True,
    smoothing_filter_size: float | None = None,
    automatic_suppression: bool = True,
    maxima_suppression_size: float = 7.0,
    low_res_maxima: bool = True,
    fill_holes: str = "thresholding",
    model: Any = None,
    watershed_rule: str = "cellprofiler",
    return_threshold: bool = False,
) -> Any:
    r"""Identify bright objects (nuclei) as CellProfiler's IdentifyPrimaryObjects does.

    Steps, with CellProfiler's defaults:

    1. *Threshold* (global): the threshold of the unmasked pixels (minimum cross-entropy, i.e.
       ``skimage.filters.threshold_li``, or Otsu), times ``threshold_correction_factor``,
       clipped to ``threshold_bounds``; foreground is the image smoothed by a Gaussian of
       :math:`\sigma = s / 0.6744 / 2` (:math:`s` = ``threshold_smoothing_scale``; 1.3488 gives
       :math:`\sigma = 1`) at or above it.
    2. *Fill holes* smaller than ``max_diameter ** 2`` pixels in the foreground.
    3. *Label* the foreground, 8-connected.
    4. *Declump*: local maxima of the image smoothed by a Gaussian of size
       ``2.35 * min_diameter / 3.5`` (``declump="intensity"``) or of the distance transform
       (``"shape"``), suppressed within ``min_diameter / 1.5`` pixels (7 pixels of an image
       resized by ``10 / min_diameter`` when ``min_diameter > 10`` and ``low_res_maxima``),
       seed a watershed of the inverted image (``watershed_method="intensity"``), of the
       inverted distance transform (``"shape"``) or a propagation (``"propagate"``).
    5. *Discard* objects touching the image border (``exclude_border``; or, when none does and
       a ``mask`` is given, the mask's border), then objects whose area lies outside
       :math:`[\pi d_{min}^2 / 4, \pi d_{max}^2 / 4]` (``exclude_size``).
    6. *Fill holes* in the objects again (unless ``fill_holes="never"``) and renumber 1..n.

    Parameters
    ----------
    image : ndarray, shape (H, W)
        Grayscale image, bright objects on a dark background. Integer images are divided by
        their dtype's maximum (uint16 by 65535, uint8 by 255); float images must lie in [0, 1].
        numpy -> CPU, cupy -> GPU.
    method : {"threshold", "fcn"}
        ``"threshold"``: steps 1-6 above. ``"fcn"``: steps 1-4 are replaced by the dense pixel
        classifier ``model`` (:func:`pyhcs.pixel.predict`, on the image's device) and
        :func:`pyhcs.pixel.probabilities_to_labels` (interior seeds, then a watershed of the
        boundary probability, on the CPU); steps 5-6 follow, and the threshold and declumping
        settings are not used. With ``diameter`` (a number or ``"auto"``) outside the model's
        training range (its ``metadata["nucleus_diameter_range"]``; 10-28 pixels for the
        default model) the image is zoomed into that range for the classifier and the labels
        are mapped back.
    mask : ndarray of bool, shape (H, W), optional
        CellProfiler's image mask: pixels outside it are ignored by the threshold, the
        smoothing and the objects.
    size_range : (int, int), optional
        Typical diameter of objects in pixels, (min, max). When given it wins over
        ``diameter``; when neither is given, CellProfiler's default (10, 40).
    diameter : float or "auto", optional
        The typical object diameter :math:`d` in pixels, used when ``size_range`` is not
        given: the size range is :math:`(\lfloor 0.65 d \rceil, \lfloor 2.5 d \rceil)`
        (:func:`pyhcs.segmentation.size_range_for_diameter`), which also sets the declumping
        filter and the maxima suppression.
        ``"auto"`` estimates :math:`d` from the image (and mask) with
        :func:`pyhcs.segmentation.estimate_diameter`, falling back to (10, 40) when the image
        has no foreground; it costs about one thresholding and one distance transform more.
    exclude_size : bool, default True
        Discard objects outside the diameter range.
    exclude_border : bool, default True
        Discard objects touching the border of the image.
    threshold_method : {"minimum_cross_entropy", "otsu", "manual"}
        Global threshold method; "manual" uses ``manual_threshold`` as it is.
    threshold_smoothing_scale : float, default 1.3488
        Smoothing before thresholding; 0 for none.
    threshold_correction_factor : float, default 1.0
    threshold_bounds : (float, float), default (0.0, 1.0)
        Lower and upper bounds on the threshold.
    manual_threshold : float, optional
        The threshold for ``threshold_method="manual"``.
    declump : {"intensity", "shape", "none"}
        Method to distinguish clumped objects (CellProfiler's ``unclump_method``).
    watershed_method : {"intensity", "shape", "propagate", "none"}
        Method to draw dividing lines between clumped objects.
    automatic_smoothing : bool, default True
        Size of the declumping smoothing filter from ``size_range``; else
        ``smoothing_filter_size``.
    smoothing_filter_size : float, optional
        Declumping smoothing filter size when ``automatic_smoothing`` is False.
    automatic_suppression : bool, default True
        Minimum distance between local maxima from ``size_range``; else
        ``maxima_suppression_size``.
    maxima_suppression_size : float, default 7.0
    low_res_maxima : bool, default True
        Find maxima on a downsized image when ``min_diameter > 10`` (faster).
    fill_holes : {"thresholding", "declumping", "never"}
        Fill holes after both thresholding and declumping, after declumping only, or never.
    watershed_rule : {"cellprofiler", "skimage"}
        The flooding rule of the declumping watershed: scikit-image 0.24.0's, which
        CellProfiler 5 runs (default), or that of scikit-image 0.25.2 and later, where a pixel's
        priority is raised to that of the pixel it was reached from (they differ only where
        markers spill over a saddle into a basin). Independent of the installed scikit-image.
    return_threshold : bool, default False
        Also return the final threshold (CellProfiler's ``Threshold_FinalThreshold``; NaN for
        ``method="fcn"``).

    Returns
    -------
    labels : ndarray of int32, shape (H, W)
        Objects numbered 1..n, 0 = background; on the input's device.
    threshold : float
        Only with ``return_threshold=True``.

    Raises
    ------
    TypeError
        A boolean or non-numeric image, a non-boolean mask, a wrongly typed setting.
    ValueError
        An unknown method, an image that is not 2-D, holds NaN or lies outside [0, 1], a mask
        of another shape, settings out of range.

    Notes
    -----
    Differences from CellProfiler: local maxima are CellProfiler's (``is_local_maximum``:
    at least every pixel of the same object within the footprint, one kernel for all objects),
    but touching maxima become one marker by labelling where CellProfiler shrinks them to a
    single point, so a plateau can flood slightly differently; adaptive thresholds,
    three-class Otsu, robust background and the log transform are not offered. On the GPU the
    watershed is pyhcs's certified parallel solver (the same labels; host copies only where
    ties could go either way).

    Examples
    --------
    >>> import numpy as np
    >>> from pyhcs.segmentation import identify_primary
    >>> yy, xx = np.mgrid[:64, :64]
    >>> image = np.zeros((64, 64))
    >>> for cy, cx in [(16, 16), (20, 44), (46, 30)]:
    ...     image += 0.8 * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * 5.0**2))
    >>> labels = identify_primary(image)
    >>> labels.dtype, int(labels.max())
    (dtype('int32'), 3)
    """
    ns = namespace_for(image, mask, names=("image", "mask"))
    _choice(method, "method", PRIMARY_METHODS)
    if size_range is not None:
        min_size, max_size = check_int_pair(size_range, "size_range", minimum=1)
        if min_size > max_size:
            raise ValueError(
                f"size_range must be (min, max) with min <= max, got {size_range!r}")
    elif diameter is None:
        min_size, max_size = DEFAULT_SIZE_RANGE
    elif isinstance(diameter, str):
        if diameter != "auto":
            raise ValueError(f"diameter must be a number of pixels or 'auto', got {diameter!r}")
        min_size = max_size = None  # estimated once the image is checked
    else:
        min_size, max_size = size_range_for_diameter(diameter)
    exclude_size = _flag(exclude_size, "exclude_size")
    exclude_border = _flag(exclude_border, "exclude_border")
    settings = check_threshold_settings(
        threshold_method, threshold_smoothing_scale, threshold_correction_factor,
        threshold_bounds, manual_threshold,
    )
    declump = _choice(declump, "declump", DECLUMP_METHODS)
    watershed_method = _choice(watershed_method, "watershed_method", WATERSHED_METHODS)
    automatic_smoothing = _flag(automatic_smoothing, "automatic_smoothing")
    if not automatic_smoothing:
        if smoothing_filter_size is None:
            raise ValueError("automatic_smoothing=False needs smoothing_filter_size")
        filter_size = check_nonnegative(smoothing_filter_size, "smoothing_filter_size")
    automatic_suppression = _flag(automatic_suppression, "automatic_suppression")
    maxima_suppression_size = check_nonnegative(maxima_suppression_size, "maxima_suppression_size")
    low_res_maxima = _flag(low_res_maxima, "low_res_maxima")
    fill_holes = _choice(fill_holes, "fill_holes", FILL_HOLES_CHOICES)
    watershed_rule = _choice(watershed_rule, "watershed_rule", WATERSHED_RULES)

    xp = ns.xp
    image = _image(image, ns)
    check_ndim(image, "image", 2)
    mask_given = mask is not None
    mask = check_mask(mask, ns, image.shape)
    typical = None  # the diameter given or estimated, which the fcn path rescales by
    if min_size is None:
        typical = estimate_diameter(image, mask=mask)
        min_size, max_size = (
            size_range_for_diameter(typical) if np.isfinite(typical) else DEFAULT_SIZE_RANGE
        )
    elif size_range is None and diameter is not None:
        typical = float(diameter)
    threshold = float("nan")
    if method == "fcn":
        labeled = _classify_pixels(image, mask, model, ns, typical)
    else:
        method_, scale, factor, bounds, manual = settings
        binary, threshold = threshold_image(
            image, mask, ns, method=method_, smoothing_scale=scale, correction_factor=factor,
            bounds=bounds, manual_threshold=manual,
        )
        if automatic_smoothing:
            filter_size = 2.35 * min_size / 3.5
        if fill_holes == "thresholding":
            binary = fill_labeled_holes(binary, ns, max_hole_area=max_size * max_size)
        labeled, n_objects = label_components(binary, ns, connectivity=2)
        labeled = _declump(
            image, labeled, n_objects, mask, ns, declump=declump,
            watershed_method=watershed_method, size_range=(min_size, max_size),
            filter_size=filter_size,
            automatic_suppression=automatic_suppression,
            maxima_suppression_size=maxima_suppression_size, low_res_maxima=low_res_maxima,
            fill_holes=fill_holes, watershed_rule=watershed_rule,
        )
    if exclude_border:
        touching = _edge_labels(labeled, ns)
        if not bool((touching != 0).any()) and mask_given:
            touching = xp.unique(labeled[_mask_border(mask, ns)])
        labeled = _drop(labeled, touching, ns)
    if exclude_size and labeled.size:
        areas = xp.bincount(labeled.ravel())
        too_small = areas < np.pi * min_size * min_size / 4
        too_large = areas > np.pi * max_size * max_size / 4
        lookup = xp.where(too_small | too_large, 0, xp.arange(areas.size))
        labeled = lookup.astype(labeled.dtype)[labeled]
    if fill_holes != "never":
        labeled = fill_labeled_holes(labeled, ns)
    labeled, _ = relabel_consecutive(labeled, ns)
    if _flag(return_threshold, "return_threshold"):
        return labeled, float(threshold)
    return labeled


# --------------------------------------------------------------------------------------------
# IdentifySecondaryObjects
# --------------------------------------------------------------------------------------------


def identify_secondary(
    image: Any,
    primary_labels: Any,
    method: str = "propagation",
    *,
    mask: Any = None,
    threshold_method: str = "minimum_cross_entropy",
    threshold_smoothing_scale: float = 0.0,
    threshold_correction_factor: float = 1.0,
    threshold_bounds: tuple[float, float] = (0.0, 1.0),
    manual_threshold: float | None = None,
    regularization_factor: float = 0.05,
    distance_to_dilate: int = 10,
    fill_holes: bool = True,
    discard_edge: bool = False,
    exact: bool = True,
    watershed_rule: str = "cellprofiler",
    return_threshold: bool = False,
) -> tuple[Any, ...]:
    r"""Grow primary objects (nuclei) into secondary objects (cells), as CellProfiler's
    IdentifySecondaryObjects does, and return nuclei, cells and cytoplasm numbered alike.

    Steps:

    1. *Threshold* the image (global; as :func:`identify_primary`, here with no smoothing by
       default) to a foreground mask; not for ``method="distance_n"``.
    2. *Grow* each nucleus:

       - ``"propagation"``: :func:`~pyhcs.segmentation.propagate` over the foreground with
         ``regularization_factor`` as the weight (identical to ``centrosome.propagate``);
       - ``"watershed_gradient"``: seeded watershed of ``abs(scipy.ndimage.sobel(image))``
         (CellProfiler's call, which differentiates along the last axis) within the foreground
         or the nuclei;
       - ``"watershed_image"``: seeded watershed of ``1 - image`` within the same region;
       - ``"distance_n"``: every pixel within ``distance_to_dilate`` pixels of a nucleus goes to
         the nearest one (no threshold);
       - ``"distance_b"``: propagation with weight 1 within the foreground, cut at a path cost
         of ``distance_to_dilate``.

    3. *Fill holes* in each cell (background pixels enclosed by one cell), if ``fill_holes``.
    4. *Discard* cells whose nucleus is missing and, if ``discard_edge``, cells touching the
       image border (or the border of ``mask``) together with their nuclei.
    5. *Renumber*: the nuclei that kept a cell become 1..n in their original order; cell k
       contains nucleus k; cytoplasm k is cell k minus nucleus k.

    Parameters
    ----------
    image : ndarray, shape (H, W)
        Cell stain. Integer images are divided by their dtype's maximum (uint16 by 65535);
        float images must lie in [0, 1]. numpy -> CPU, cupy -> GPU.
    primary_labels : ndarray of int, shape (H, W)
        Nuclei (>= 0; 0 = background); labels may be non-contiguous.
    method : {"propagation", "watershed_gradient", "watershed_image", "distance_n",
              "distance_b"}
    mask : ndarray of bool, shape (H, W), optional
        CellProfiler's image mask (pixels outside it are never foreground).
    threshold_method : {"minimum_cross_entropy", "otsu", "manual"}
    threshold_smoothing_scale : float, default 0.0
    threshold_correction_factor : float, default 1.0
    threshold_bounds : (float, float), default (0.0, 1.0)
    manual_threshold : float, optional
    regularization_factor : float, default 0.05
        Weight of the spatial term of the propagation (>= 0).
    distance_to_dilate : int, default 10
        Number of pixels by which to expand the nuclei (``"distance_n"``, ``"distance_b"``).
    fill_holes : bool, default True
    discard_edge : bool, default False
        Discard cells touching the border, and their nuclei.
    exact : bool, default True
        Passed to :func:`~pyhcs.segmentation.propagate` on the GPU.
    watershed_rule : {"cellprofiler", "skimage"}
        The flooding rule of the ``watershed_*`` methods: scikit-image 0.24.0's, which
        CellProfiler 5 runs (default), or that of scikit-image 0.25.2 and later (see
        :func:`identify_primary`).
    return_threshold : bool, default False
        Also return the final threshold (NaN for ``method="distance_n"``, which has none).

    Returns
    -------
    nuclei, cells, cytoplasm : ndarray of int32, shape (H, W)
        Numbered 1..n alike: nucleus k lies in cell k, cytoplasm k = cell k minus nucleus k
        (it may be empty). On the input's device.
    threshold : float
        Only with ``return_threshold=True``.

    Raises
    ------
    TypeError
        Non-integer primary labels, a boolean or non-numeric image, a non-boolean mask, a
        wrongly typed setting.
    ValueError
        An unknown method, negative labels, shapes that differ, NaN in the image, an image
        outside [0, 1], a negative regularization factor or distance.

    Notes
    -----
    CellProfiler relabels its outputs only when edge objects are discarded; its primary
    objects are always numbered 1..n, so the numbering here is the same for its inputs. On the
    GPU the watershed methods use pyhcs's certified parallel watershed (the same labels).

    Examples
    --------
    >>> import numpy as np
    >>> from pyhcs.segmentation import identify_secondary
    >>> image = np.zeros((9, 9)); image[1:8, 1:8] = 0.5
    >>> nuclei = np.zeros((9, 9), np.int32); nuclei[4, 2] = 7; nuclei[4, 6] = 9
    >>> nuc, cells, cyto = identify_secondary(image, nuclei)
    >>> cells[4]
    array([0, 1, 1, 1, 1, 2, 2, 2, 0], dtype=int32)
    >>> nuc[4], cyto[4]
    (array([0, 0, 1, 0, 0, 0, 2, 0, 0], dtype=int32), array([0, 1, 0, 1, 1, 2, 0, 2, 0], dtype=int32))
    """
    ns = namespace_for(image, primary_labels, mask, names=("image", "primary_labels", "mask"))
    method = _choice(method, "method", SECONDARY_METHODS)
    primary = check_labels(primary_labels, ns, "primary_labels")
    image = _image(image, ns, shape=primary.shape, shape_of="primary_labels")
    mask_given = mask is not None
    mask = check_mask(mask, ns, primary.shape)
    settings = check_threshold_settings(
        threshold_method, threshold_smoothing_scale, threshold_correction_factor,
        threshold_bounds, manual_threshold,
    )
    regularization_factor = check_nonnegative(regularization_factor, "regularization_factor")
    distance_to_dilate = check_nonnegative(distance_to_dilate, "distance_to_dilate")
    fill_holes = _flag(fill_holes, "fill_holes")
    discard_edge = _flag(discard_edge, "discard_edge")
    exact = _flag(exact, "exact")
    watershed_rule = _choice(watershed_rule, "watershed_rule", WATERSHED_RULES)

    xp, ndi = ns.xp, ns.ndimage
    # Consecutive labels in the same order: nothing below depends on the values but their
    # order (the propagation's tie rule), and the lookups stay small.
    seeds, n_primary = relabel_consecutive(primary, ns)
    binary = None
    threshold = float("nan")
    if method != "distance_n":
        method_, scale, factor, bounds, manual = settings
        binary, threshold = threshold_image(
            image, mask, ns, method=method_, smoothing_scale=scale, correction_factor=factor,
            bounds=bounds, manual_threshold=manual,
        )

    if method in ("propagation", "distance_b"):
        from .propagate import propagate

        weight = regularization_factor if method == "propagation" else 1.0
        cells, distances = propagate(image, seeds, binary, weight, exact=exact)
        if method == "distance_b":
            cells = xp.where(distances > distance_to_dilate, 0, cells)
            cells = xp.where(seeds > 0, seeds, cells)
    elif method == "distance_n":
        distances, (rows, cols) = ndi.distance_transform_edt(seeds == 0, return_indices=True)
        cells = xp.where(distances <= distance_to_dilate, seeds[rows, cols], 0)
    else:
        if method == "watershed_gradient":
            surface = xp.abs(ndi.sobel(image))
        else:
            surface = 1.0 - image
        region = (binary | (seeds > 0)) & mask
        cells = _watershed(ns, surface, seeds, region, watershed_rule)
    cells = cells.astype(xp.int32)

    if fill_holes:
        cells = fill_labeled_holes(cells, ns, mask=cells == 0)

    # Cells whose nucleus is missing are dropped (CellProfiler's filter_labels).
    n_cells = int(cells.max()) if cells.size else 0
    if n_cells > 0:
        owner = _max_per_label(seeds, cells, n_cells, ns)
        owner[0] = 0
        cells = owner[cells]
    if discard_edge:
        if mask_given:
            touching = xp.unique(cells[_mask_border(mask, ns)])
        else:
            touching = _edge_labels(cells, ns)
        cells = _drop(cells, touching, ns)

    # Nuclei that kept a cell, renumbered 1..n; their cells take the same numbers.
    kept = _max_per_label(cells, seeds, n_primary, ns)
    kept[0] = 0
    new = xp.zeros(n_primary + 1, xp.int32)
    keep = kept != 0
    new[keep] = xp.arange(1, int(keep.sum()) + 1, dtype=xp.int32)
    nuclei = new[seeds]
    cells = new[cells]
    cytoplasm = xp.where(nuclei > 0, 0, cells).astype(xp.int32)
    if _flag(return_threshold, "return_threshold"):
        return nuclei, cells, cytoplasm, float(threshold)
    return nuclei, cells, cytoplasm


# --------------------------------------------------------------------------------------------
# IdentifyTertiaryObjects
# --------------------------------------------------------------------------------------------


def _outline(labels: Any, ns: Namespace) -> Any:
    """Pixels of ``labels`` with an 8-neighbour of another value, and every image-border pixel
    (``centrosome.outline.outline``), as a boolean image."""
    xp = ns.xp
    different = xp.zeros(labels.shape, dtype=bool)
    pairs = (
        ((slice(1, None), slice(None)), (slice(None, -1), slice(None))),
        ((slice(None), slice(1, None)), (slice(None), slice(None, -1))),
        ((slice(1, None), slice(1, None)), (slice(None, -1), slice(None, -1))),
        ((slice(1, None), slice(None, -1)), (slice(None, -1), slice(1, None))),
    )
    for first, second in pairs:
        changed = labels[first] != labels[second]
        different[first] |= changed
        different[second] |= changed
    different[0, :] = True
    different[-1, :] = True
    different[:, 0] = True
    different[:, -1] = True
    return different


def identify_tertiary(secondary_labels: Any, primary_labels: Any, *,
                      shrink_primary: bool = True) -> Any:
    r"""The region of each secondary object outside its primary object, as CellProfiler's
    IdentifyTertiaryObjects (cells minus nuclei = cytoplasm).

    :math:`T = S` except where the primary object lies: with ``shrink_primary`` (CellProfiler's
    default) the primary objects are first shrunk by their one-pixel outline, so the outline
    stays in the tertiary object. The outline of a label image is every labelled pixel with an
    8-neighbour of another value, plus every pixel on the image border
    (``centrosome.outline.outline``). Tertiary object k is numbered as secondary object k
    (it may be empty).

    Parameters
    ----------
    secondary_labels, primary_labels : (H, W) integer arrays
        Cells and nuclei (0 = background), numpy or cupy.
    shrink_primary : bool, default True

    Returns
    -------
    ndarray of int32, shape (H, W)
        On the input's device.

    Examples
    --------
    >>> import numpy as np
    >>> cells = np.zeros((7, 7), np.int32); cells[1:6, 1:6] = 1
    >>> nuclei = np.zeros((7, 7), np.int32); nuclei[2:5, 2:5] = 1
    >>> identify_tertiary(cells, nuclei)[3]        # the nucleus' centre pixel only is removed
    array([0, 1, 1, 0, 1, 1, 0], dtype=int32)
    >>> identify_tertiary(cells, nuclei, shrink_primary=False)[3]
    array([0, 1, 0, 0, 0, 1, 0], dtype=int32)
    """
    ns = namespace_for(secondary_labels, primary_labels,
                       names=("secondary_labels", "primary_labels"))
    secondary = check_labels(secondary_labels, ns, "secondary_labels")
    primary = check_labels(primary_labels, ns, "primary_labels")
    if secondary.shape != primary.shape:
        raise ValueError(f"primary_labels: shape {primary.shape} differs from secondary_labels' "
                         f"{secondary.shape}")
    shrink_primary = _flag(shrink_primary, "shrink_primary")
    removed = primary > 0
    if shrink_primary:
        removed &= ~_outline(primary, ns)
    return ns.xp.where(removed, 0, secondary).astype(ns.xp.int32)
