r"""CellProfiler's MeasureGranularity: the granular spectrum per image and per object, CPU
and GPU.

The image-wide steps (resampling, the background's grey opening, the spectrum's erosions and
reconstructions) run on the image's device in numba kernels; the spectrum is computed once per
channel (:func:`granularity_spectrum`) and every label set (nuclei, cells, cytoplasm) is then
measured from it, all objects in one launch. Both devices give the same bits.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Any, NamedTuple

import numpy as np

from .._backend import Namespace, kernel_array, launch_config, namespace_for, to_numpy
from .._validate import check_image, check_int, check_mask
from ._objects import ObjectIndex, as_object_index, label_array

__all__ = ["REFERENCES", "GranularityArrays", "GranularitySpectrum", "granularity",
           "granularity_spectrum"]

#: Accepted values of ``reference=``.
REFERENCES = ("cellprofiler", "cp_measure")

_PW_BLOCK = 128  # numpy's pairwise-summation leaf size
_NUMPY_BUFFER = 8192  # numpy 1.x's reduction buffer


class GranularityArrays(NamedTuple):
    """Per-object granularity as arrays on the input's device (see
    :meth:`GranularitySpectrum.objects`).

    Attributes
    ----------
    labels : int64 array (n,)
        The label of every row.
    features : dict of str to float64 array (n,)
        ``"Granularity_1"`` .. ``"Granularity_{spectrum}"``, in that order.
    """

    labels: Any
    features: dict


def _check_factor(value: Any, name: str) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.number)):
        raise TypeError(f"{name} must be a real number, got {value!r}")
    value = float(value)
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be finite and > 0, got {value}")
    return value


def _grid_length(stop: float) -> int:
    """Points of numpy's ``mgrid[0:stop]`` (a float stop: ``ceil(stop)``)."""
    return max(int(math.ceil(stop)), 0)


def _disk_offsets(radius: int) -> tuple[np.ndarray, np.ndarray]:
    """scikit-image ``disk(radius)``'s offsets: :math:`dy^2 + dx^2 \\le r^2`."""
    dy, dx = np.mgrid[-radius:radius + 1, -radius:radius + 1]
    inside = dy * dy + dx * dx <= radius * radius
    return dy[inside].astype(np.int64), dx[inside].astype(np.int64)


def _restore_tables(n_out: int, factor: float, n_grid: int) -> tuple[np.ndarray, np.ndarray]:
    """Floor and fraction of the restored coordinate ``i * factor`` of every output index
    ``i`` (one float64 product, as CellProfiler's ``i *= factor``); floor -1 where the
    coordinate lies outside ``[0, n_grid - 1]`` (scipy's constant mode gives 0 there)."""
    coordinate = np.arange(n_out, dtype=np.float64) * factor
    floor = np.floor(coordinate)
    fraction = coordinate - floor
    outside = (coordinate < 0) | (coordinate > n_grid - 1)
    return np.where(outside, -1, floor).astype(np.int64), fraction


@lru_cache(maxsize=32)
def _pairwise_plan(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """numpy 1.26's sum of ``n`` contiguous values (CellProfiler 5's numpy) as leaves and a
    postfix program.

    numpy 1.x reduces in buffers of :data:`_NUMPY_BUFFER` values, adding the buffers' sums in
    order; within a buffer it sums at most 128 values directly and splits a longer run at half
    its length rounded down to a multiple of 8 (numpy 2 has no buffers here: the two agree up
    to 8192 values). Returns the leaves' starts and lengths (in order) and the program of
    :func:`._granularity_math.combine_leaves`: ``k >= 0`` pushes leaf ``k``, ``-1`` adds the
    top two.
    """
    starts: list[int] = []
    lengths: list[int] = []
    program: list[int] = []

    def visit(start: int, length: int) -> None:
        if length <= _PW_BLOCK:
            program.append(len(starts))
            starts.append(start)
            lengths.append(length)
            return
        half = length // 2
        half -= half % 8
        visit(start, half)
        visit(start + half, length - half)
        program.append(-1)

    for chunk in range(0, max(n, 1), _NUMPY_BUFFER):
        visit(chunk, min(_NUMPY_BUFFER, n - chunk))
        if chunk:
            program.append(-1)
    return (np.asarray(starts, np.int64), np.asarray(lengths, np.int64),
            np.asarray(program, np.int64))


def _row_means(values: Any, ns: Namespace) -> list:
    """numpy 1.26's ``row.mean()`` of every row of the C-contiguous (rows, n) array
    ``values``, in its dtype (:func:`_pairwise_plan`'s sum, then one division), as numpy
    scalars on the host; the sums are computed on the array's device."""
    dtype = np.dtype(values.dtype)
    rows, n = (int(s) for s in values.shape)
    if n == 0:
        return [dtype.type(np.nan)] * rows
    xp = ns.xp
    starts, lengths, program = (xp.asarray(a) for a in _pairwise_plan(n))
    depth = int(math.ceil(math.log2(max(int(starts.shape[0]), 2)))) + 2
    leaves = xp.empty((rows, int(starts.shape[0])), dtype)
    stack = xp.empty((rows, depth), dtype)
    sums = xp.empty(rows, dtype)
    if ns.target == "cpu":
        from ._granularity_cpu import pairwise_sums_cpu

        pairwise_sums_cpu(values, starts, lengths, program, leaves, stack, sums)
    else:
        from ._granularity_gpu import combine_leaves_gpu, leaf_sums_gpu

        views = [kernel_array(ns, a) for a in (values, starts, lengths, program, leaves, stack,
                                               sums)]
        blocks, threads = launch_config(rows * int(starts.shape[0]))
        leaf_sums_gpu[blocks, threads](views[0], views[1], views[2], views[4])
        blocks, threads = launch_config(rows)
        combine_leaves_gpu[blocks, threads](views[4], views[3], views[5], views[6])
    return [dtype.type(float(s) / n) for s in to_numpy(sums)]


class _Plan(NamedTuple):
    """Grid sizes and sample coordinates of one (shape, settings, reference)."""

    grid: tuple[int, int]  # the subsampled image's rows and columns
    sample_y: np.ndarray | None  # subsampling coordinates (None: no subsampling)
    sample_x: np.ndarray | None
    background: tuple[int, int] | None  # the background grid (None: the subsampled grid)
    background_y: np.ndarray | None
    background_x: np.ndarray | None
    back_y: np.ndarray | None  # background restored onto the subsampled grid
    back_x: np.ndarray | None
    restore_factor: tuple[float, float]  # subsampled grid -> original pixels


def _plan(shape: tuple[int, int], subsample: float, background_subsample: float,
          reference: str) -> _Plan:
    """CellProfiler's geometry (``reference="cellprofiler"``: the subsampled shape is the
    float :math:`H s`, its grid has :math:`\\lceil H s \\rceil` rows) or cp_measure's (the
    shape is floored first)."""
    height, width = shape
    if subsample < 1:
        if reference == "cellprofiler":
            new = (height * subsample, width * subsample)
        else:
            new = (float(int(height * subsample)), float(int(width * subsample)))
        grid = (_grid_length(new[0]), _grid_length(new[1]))
        sample_y = np.arange(grid[0], dtype=np.float64) / subsample
        sample_x = np.arange(grid[1], dtype=np.float64) / subsample
    else:
        new = (float(height), float(width))
        grid = (height, width)
        sample_y = sample_x = None
    if grid[0] < 2 or grid[1] < 2:  # no spectrum (see granularity_spectrum)
        return _Plan(grid, sample_y, sample_x, None, None, None, None, None, (0.0, 0.0))
    if background_subsample < 1:
        # both references subsample the grid they hold (ceil(H s) rows for CellProfiler),
        # and restore onto it with the factor of the float shape
        back = (grid[0] * background_subsample, grid[1] * background_subsample)
        background = (_grid_length(back[0]), _grid_length(back[1]))
        background_y = np.arange(background[0], dtype=np.float64) / background_subsample
        background_x = np.arange(background[1], dtype=np.float64) / background_subsample
        back_y = np.arange(grid[0], dtype=np.float64) * (float(back[0] - 1) / float(new[0] - 1))
        back_x = np.arange(grid[1], dtype=np.float64) * (float(back[1] - 1) / float(new[1] - 1))
    else:
        background = background_y = background_x = back_y = back_x = None
    restore = (float(new[0] - 1) / float(height - 1) if height > 1 else 0.0,
               float(new[1] - 1) / float(width - 1) if width > 1 else 0.0)
    return _Plan(grid, sample_y, sample_x, background, background_y, background_x, back_y,
                 back_x, restore)


class GranularitySpectrum:
    r"""One image's granular spectrum, measured per image and, from the same
    reconstructions, per object of any number of label images (see :func:`granularity`).

    Build it with :func:`granularity_spectrum`.

    Attributes
    ----------
    shape : tuple of int
        The original image's (H, W).
    spectrum : int
        The number of steps G.
    reference : str
    image_features : dict of str to float
        ``"Granularity_1"`` .. ``"Granularity_G"`` of the whole image (CellProfiler's Image
        measurement), host floats.
    """

    def __init__(self, ns, original, mask, stack, plan, shape, reference, image_values):
        self._ns = ns
        self._original = original  # (H * W,), the input pixels
        self._mask = mask  # (H * W,) uint8, CellProfiler's image mask
        self._stack = stack  # (G, h, w) reconstructions, or None on a grid below 2 x 2
        self._plan = plan
        self.shape = shape
        self.spectrum = len(image_values)
        self.reference = reference
        self.image_features = {f"Granularity_{g + 1}": float(v)
                               for g, v in enumerate(image_values)}

    def objects(self, labels: Any, *, index: Any = None) -> GranularityArrays:
        r"""Per-object granularity of the label image ``labels`` (or an
        :class:`~pyhcs.features.ObjectIndex`), on the spectrum's device.

        For object :math:`L` (its pixels inside the image mask, :math:`n_L` of them):
        :math:`m_0 = \frac{1}{n_L}\sum_{p \in L} I(p)` on the original image,
        :math:`m_g = \frac{1}{n_L}\sum_{p \in L} U_g(p)` with :math:`U_g` the reconstruction
        of step :math:`g` restored to full size by bilinear interpolation (rounded to float32 for
        ``reference="cellprofiler"`` and a float32 image, as CellProfiler's scipy call returns
        it), and
        ``Granularity_g`` :math:`= (m_{g-1} - m_g) \cdot 100 / \max(m_0, \epsilon)`.
        Sums are sequential in raster order (scipy.ndimage.mean's order).

        Returns
        -------
        GranularityArrays
            ``labels`` (n,) and a (n,) float64 array per ``Granularity_g``; absent labels of
            ``index`` and objects without an unmasked pixel give NaN.
        """
        ns = self._ns
        xp = ns.xp
        labels_ns = namespace_for(label_array(labels), names=("labels",))
        if labels_ns.target != ns.target or labels_ns.device != ns.device:
            raise TypeError("labels must be on the image's device (numpy for a numpy image, "
                            "cupy for a cupy image)")
        objects = as_object_index(labels, ns, "labels", ndim=2)
        if tuple(objects.shape) != self.shape:
            raise ValueError(f"labels has shape {tuple(objects.shape)} but image has shape "
                             f"{self.shape}; they must be equal")
        if index is None:
            row_labels = objects.object_labels
            values = self._measure(objects, objects.present.astype(xp.int64))
        else:
            rows = objects.rows(index)
            row_labels = rows.labels
            targets = xp.unique(rows.slots[rows.found]).astype(xp.int64)  # each slot once
            measured = self._measure(objects, targets)
            padded = xp.concatenate([measured, xp.full((1, self.spectrum), np.nan)])
            position = xp.searchsorted(targets, rows.slots)
            position = xp.where(rows.found, position, int(targets.shape[0]))
            values = padded[position]
        columns = xp.ascontiguousarray(values.T)
        features = {f"Granularity_{g + 1}": columns[g] for g in range(self.spectrum)}
        return GranularityArrays(row_labels.astype(xp.int64), features)

    def _measure(self, objects: ObjectIndex, targets: Any) -> Any:
        ns = self._ns
        xp = ns.xp
        n = int(targets.shape[0])
        out = xp.full((n, self.spectrum), np.nan, xp.float64)
        if n == 0 or self._stack is None:
            return out
        height, width = self.shape
        grid_h, grid_w = self._stack.shape[1:]
        row_y0, row_ty = _restore_tables(height, self._plan.restore_factor[0], grid_h)
        col_x0, col_tx = _restore_tables(width, self._plan.restore_factor[1], grid_w)
        tables = [xp.asarray(t) for t in (row_y0, row_ty, col_x0, col_tx)]
        # CellProfiler restores the reconstruction in its dtype (scipy keeps it): float32
        round32 = self.reference == "cellprofiler" and self._stack.dtype == np.float32
        args = (targets, objects.offsets, objects.pixels, width, self._original, self._mask,
                *tables, self._stack, round32)
        if ns.target == "cpu":
            from ._granularity_cpu import object_spectrum_cpu
            from ._zernike_cpu import threads_for

            with threads_for(int(objects.pixels.shape[0]), 20000):
                object_spectrum_cpu(*args, out)
            return out
        from ._granularity_gpu import object_spectrum_gpu

        scratch = xp.empty((n, self.spectrum), xp.float64)
        blocks, threads = launch_config(n, threads_per_block=32)
        object_spectrum_gpu[blocks, threads](*(kernel_array(ns, a) if hasattr(a, "shape") else a
                                               for a in args),
                                             kernel_array(ns, scratch), kernel_array(ns, out))
        return out


def granularity_spectrum(
    image: Any,
    *,
    mask: Any = None,
    subsample: float = 0.25,
    background_subsample: float = 0.25,
    radius: int = 10,
    spectrum: int = 16,
    reference: str = "cellprofiler",
) -> GranularitySpectrum:
    r"""The granular spectrum of one image (CellProfiler's MeasureGranularity), for the
    image and then for any label images (:meth:`GranularitySpectrum.objects`).

    Parameters
    ----------
    image : (H, W) real array, numpy or cupy
        Finite pixel values. To reproduce CellProfiler pass its input, the float32 image
        (uint16 ``x`` becomes ``x.astype(np.float32) / np.float32(65535)``). float32 and
        float64 are computed in their precision, as CellProfiler's scipy calls are; other
        dtypes are converted to float64.
    mask : (H, W) bool array, optional
        CellProfiler's image mask: pixels outside it are 0 in every morphological step,
        enter no mean, and objects are measured on their pixels inside it.
    subsample : float > 0
        Subsampling factor :math:`s` of the measurement (CellProfiler's 0.25); 1 or more
        means no subsampling.
    background_subsample : float > 0
        Further subsampling :math:`b` for the background estimate (0.25).
    radius : int >= 0
        Radius :math:`r` of the disk whose grey opening is the background (10).
    spectrum : int >= 1
        Number of steps :math:`G` (16).
    reference : {"cellprofiler", "cp_measure"}
        ``"cellprofiler"`` (default): CellProfiler 5's geometry and precision; the subsampled
        grid has :math:`\lceil H s \rceil` rows and the restore factor is
        :math:`(H s - 1)/(H - 1)` with the float :math:`H s`. ``"cp_measure"``: cp_measure
        0.3's :math:`\lfloor H s \rfloor`, and no float32 rounding of the restored image. The
        two agree when :math:`H s`, :math:`W s` (and :math:`H s b`, :math:`W s b`) are
        integers, up to that rounding.

    Returns
    -------
    GranularitySpectrum

    Notes
    -----
    With :math:`\mathrm{LIN}` scipy's bilinear ``map_coordinates`` (0 outside the grid) and
    the results of each resampling rounded to the image's dtype, as scipy returns them:

    1. :math:`P = \mathrm{LIN}(I, k/s, l/s)` on the subsampled grid (for :math:`s \ge 1`,
       :math:`P = I`); the mask likewise, kept where the interpolated mask exceeds 0.9.
    2. :math:`B = \mathrm{LIN}(P, k/b, l/b)`, opened (masked grey erosion, then dilation) by
       the disk :math:`D_r = \{dy^2 + dx^2 \le r^2\}` with reflected borders, restored to the
       subsampled grid bilinearly (factor :math:`(H s b - 1)/(H s - 1)`).
    3. :math:`T = \max(P - B, 0)`, the difference rounded to the dtype.
    4. :math:`E_0 = T`, :math:`E_g` = the masked erosion of :math:`E_{g-1}` by the 4-neighbour
       cross, :math:`R_g` = the grey reconstruction by dilation of :math:`E_g` under
       :math:`T` (4-connected).
    5. Per image: :math:`\bar T` and :math:`\bar R_g`, the means over the mask in the dtype as
       CellProfiler 5's numpy (1.26) takes them (pairwise sums within buffers of 8192 values,
       the buffers added in order), and ``Granularity_g`` :math:`= (\bar R_{g-1} - \bar R_g)
       \cdot 100 / \max(\bar T, \epsilon)`, the difference in the dtype, the rest in float64
       (:math:`\bar R_0 = \bar T`).

    A subsampled grid with fewer than 2 rows or columns has no spectrum: every value is NaN
    (cp_measure's rule; CellProfiler's is undefined there). The background's reflection is a
    true mirror on any grid (scipy reads uninitialised memory when the disk is more than
    4 times the background grid, section 10.8 of the reference notes).

    Exactness: bit for bit CellProfiler 5's arithmetic (its scipy / scikit-image calls in
    their order and precision); against cp_measure (``reference="cp_measure"``) within its
    own sparse-sum round-off (about 1e-13 percentage points). Both devices agree bit for bit.
    """
    if not isinstance(reference, str) or reference not in REFERENCES:
        raise ValueError(f"reference must be one of {', '.join(map(repr, REFERENCES))}, "
                         f"got {reference!r}")
    subsample = _check_factor(subsample, "subsample")
    background_subsample = _check_factor(background_subsample, "background_subsample")
    radius = check_int(radius, "radius", minimum=0, maximum=1000)
    spectrum = check_int(spectrum, "spectrum", minimum=1, maximum=1000)
    ns = namespace_for(image, mask, names=("image", "mask"))
    xp = ns.xp
    image = check_image(image, ns, "image")
    if image.dtype not in (np.float32, np.float64):
        image = image.astype(xp.float64)
    image = xp.ascontiguousarray(image)
    shape = (int(image.shape[0]), int(image.shape[1]))
    full_mask = check_mask(mask, ns, shape).astype(xp.uint8)
    plan = _plan(shape, subsample, background_subsample, reference)
    original = image.ravel()
    flat_mask = xp.ascontiguousarray(full_mask).ravel()
    if plan.grid[0] < 2 or plan.grid[1] < 2 or image.size == 0:
        nan = [np.nan] * spectrum
        return GranularitySpectrum(ns, original, flat_mask, None, plan, shape, reference, nan)
    kernels = _Kernels(ns)
    dtype = image.dtype
    if plan.sample_y is None:
        pixels = image.copy()
        pixels_mask = xp.ascontiguousarray(full_mask)
    else:
        pixels = kernels.resample(image, plan.sample_y, plan.sample_x, dtype)
        pixels_mask = kernels.threshold_mask(full_mask, plan.sample_y, plan.sample_x)
    if plan.background is None:
        back = pixels
        back_mask = pixels_mask
    else:
        back = kernels.resample(pixels, plan.background_y, plan.background_x, dtype)
        back_mask = kernels.threshold_mask(pixels_mask, plan.background_y, plan.background_x)
    dy, dx = _disk_offsets(radius)
    back = kernels.morph(back, back_mask, dy, dx, take_max=False)
    back = kernels.morph(back, back_mask, dy, dx, take_max=True)
    if plan.background is not None:
        back = kernels.resample(back, plan.back_y, plan.back_x, dtype)
    top_hat = kernels.tophat(pixels, back)
    stack = xp.empty((spectrum,) + top_hat.shape, dtype)
    eroded = top_hat
    for g in range(spectrum):
        kernels.cross_erosion(eroded, pixels_mask, stack[g])
        eroded = stack[g]
    kernels.reconstruct(stack, top_hat)
    inside = pixels_mask.astype(bool)
    samples = xp.concatenate([top_hat[None], stack])[:, inside]
    means = _row_means(xp.ascontiguousarray(samples), ns)
    start = max(means[0], np.finfo(float).eps)
    # CellProfiler 5 (numpy 1.26): the difference of two means in their dtype, then float64
    image_values = [float(means[g] - means[g + 1]) * 100 / float(start) for g in range(spectrum)]
    return GranularitySpectrum(ns, original, flat_mask, stack, plan, shape, reference,
                               image_values)


class _Kernels:
    """The image-wide steps on one device (CPU kernels, or GPU kernels on cupy arrays)."""

    def __init__(self, ns: Namespace):
        self.ns = ns
        self.cpu = ns.target == "cpu"
        if self.cpu:
            from . import _granularity_cpu as module
        else:
            from . import _granularity_gpu as module
        self.module = module

    def _launch(self, name: str, n_items: int, *args):
        ns = self.ns
        if self.cpu:
            getattr(self.module, f"{name}_cpu")(*args)
            return
        blocks, threads = launch_config(n_items)
        arrays = tuple(kernel_array(ns, a) if hasattr(a, "shape") else a for a in args)
        getattr(self.module, f"{name}_gpu")[blocks, threads](*arrays)

    def resample(self, source, ys, xs, dtype):
        xp = self.ns.xp
        out = xp.empty((ys.size, xs.size), dtype)
        self._launch("resample", out.size, xp.ascontiguousarray(source), xp.asarray(ys),
                     xp.asarray(xs), out)
        return out

    def threshold_mask(self, mask, ys, xs):
        xp = self.ns.xp
        out = xp.empty((ys.size, xs.size), xp.uint8)
        self._launch("threshold_mask", out.size, xp.ascontiguousarray(mask, dtype=xp.float64),
                     xp.asarray(ys), xp.asarray(xs), out)
        return out

    def morph(self, source, mask, dy, dx, *, take_max):
        xp = self.ns.xp
        out = xp.empty_like(source)
        self._launch("morph", out.size, xp.ascontiguousarray(source), mask, xp.asarray(dy),
                     xp.asarray(dx), int(np.abs(dy).max(initial=0)), bool(take_max), out)
        return out

    def cross_erosion(self, source, mask, out):
        self._launch("cross_erosion", out.size, source, mask, out)

    def tophat(self, pixels, background):
        out = self.ns.xp.empty_like(pixels)
        self._launch("tophat", out.size, pixels, background, out)
        return out

    def reconstruct(self, stack, under):
        ns = self.ns
        if self.cpu:
            self.module.reconstruct_stack_cpu(stack, under)
            return
        xp = ns.xp
        changed = xp.zeros(1, xp.int32)
        views = (kernel_array(ns, stack), kernel_array(ns, under), kernel_array(ns, changed))
        n_steps, height, width = stack.shape
        rows = launch_config(n_steps * height, threads_per_block=64)
        columns = launch_config(n_steps * width, threads_per_block=64)
        while True:
            changed[0] = 0
            self.module.reconstruct_rows_gpu[rows](*views)
            self.module.reconstruct_columns_gpu[columns](*views)
            if int(changed[0]) == 0:
                return


def granularity(
    image: Any,
    labels: Any = None,
    *,
    image_name: str,
    mask: Any = None,
    subsample: float = 0.25,
    background_subsample: float = 0.25,
    radius: int = 10,
    spectrum: int = 16,
    index: Any = None,
    reference: str = "cellprofiler",
):
    r"""CellProfiler's MeasureGranularity: ``Granularity_{g}_{image_name}`` per object, or of
    the whole image without ``labels``.

    Parameters
    ----------
    image : (H, W) real array, numpy or cupy
        See :func:`granularity_spectrum` (float32 reproduces CellProfiler).
    labels : (H, W) integer array or ObjectIndex, optional
        Objects to measure (0 = background; any labels; a label with several pieces is one
        object). None: the image measurement.
    image_name : str
        The image name at the end of every column name (required).
    mask, subsample, background_subsample, radius, spectrum, reference
        See :func:`granularity_spectrum`.
    index : int or sequence of int, optional
        Labels to report, in this order; absent ones give NaN rows. Default: every label
        present, ascending.

    Returns
    -------
    pandas.DataFrame or dict
        With ``labels``: one row per label (index ``label``), float64 columns
        ``Granularity_1_{image_name}`` .. ``Granularity_{G}_{image_name}``. Without: a dict of
        the same names to floats.

    Notes
    -----
    To measure several label images of one channel (CellProfiler's nuclei, cells and
    cytoplasm), build the spectrum once with :func:`granularity_spectrum` and call its
    :meth:`~GranularitySpectrum.objects` per label image.

    Examples
    --------
    >>> import numpy as np
    >>> from pyhcs.features.granularity import granularity
    >>> rng = np.random.default_rng(0)
    >>> image = rng.random((64, 64)).astype(np.float32)
    >>> labels = np.zeros((64, 64), np.int32)
    >>> labels[8:30, 8:30] = 1
    >>> labels[34:60, 30:60] = 2
    >>> table = granularity(image, labels, image_name="DNA")
    >>> table.columns[:2].tolist(), table.index.tolist()
    (['Granularity_1_DNA', 'Granularity_2_DNA'], [1, 2])
    >>> sorted(granularity(image, image_name="DNA"))[:2]
    ['Granularity_10_DNA', 'Granularity_11_DNA']
    """
    import pandas as pd

    if not isinstance(image_name, str):
        raise TypeError(f"image_name must be a non-empty string, got {image_name!r}")
    if not image_name:
        raise ValueError("image_name must be a non-empty string, got ''")
    result = granularity_spectrum(image, mask=mask, subsample=subsample,
                                  background_subsample=background_subsample, radius=radius,
                                  spectrum=spectrum, reference=reference)
    if labels is None:
        if index is not None:
            raise ValueError("index needs labels: the image measurement has no rows")
        return {f"{name}_{image_name}": value for name, value in result.image_features.items()}
    arrays = result.objects(labels, index=index)
    data = {f"{name}_{image_name}": to_numpy(values) for name, values in arrays.features.items()}
    return pd.DataFrame(data, index=pd.Index(to_numpy(arrays.labels).astype(np.int64),
                                             name="label"))
