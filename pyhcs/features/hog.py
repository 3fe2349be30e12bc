r"""Histograms of oriented gradients, equal to ``skimage.feature.hog``: per image, per batch
of images and per object crop, on the CPU (numba) and the GPU (numba CUDA)."""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np

from .._backend import Namespace, launch_config, namespace_for, to_numpy
from .._validate import check_image, check_int, check_int_pair
from ._hog_common import BLOCK_NORMS, ORIENTATION_CHUNK, edge_directions

__all__ = ["hog", "hog_objects", "hog_objects_array", "hog_feature_size"]

#: image dtypes the kernels read directly; every other dtype is converted to the working dtype
_KERNEL_DTYPES = tuple(np.dtype(t) for t in (np.uint8, np.uint16, np.float32, np.float64))
#: bytes of object crops gathered at once by hog_objects
_CROP_CHUNK_BYTES = 1 << 27


# -- parameters ----------------------------------------------------------------------------------


def _check_parameters(orientations, pixels_per_cell, cells_per_block, block_norm):
    orientations = check_int(orientations, "orientations", 1)
    pixels_per_cell = check_int_pair(pixels_per_cell, "pixels_per_cell")
    cells_per_block = check_int_pair(cells_per_block, "cells_per_block")
    if not isinstance(block_norm, str) or block_norm not in BLOCK_NORMS:
        raise ValueError(
            f"block_norm must be one of {', '.join(map(repr, BLOCK_NORMS))}, got {block_norm!r}"
        )
    return orientations, pixels_per_cell, cells_per_block, block_norm


def _grid(shape, pixels_per_cell, cells_per_block, what="image"):
    """Cells and blocks per axis; raises when not even one block fits."""
    n_cells = (shape[0] // pixels_per_cell[0], shape[1] // pixels_per_cell[1])
    n_blocks = (n_cells[0] - cells_per_block[0] + 1, n_cells[1] - cells_per_block[1] + 1)
    if n_blocks[0] <= 0 or n_blocks[1] <= 0:
        need = (cells_per_block[0] * pixels_per_cell[0], cells_per_block[1] * pixels_per_cell[1])
        raise ValueError(
            f"{what} is too small given pixels_per_cell={pixels_per_cell} and "
            f"cells_per_block={cells_per_block}: one block needs at least {need[0]} rows and "
            f"{need[1]} columns, got {tuple(shape)}"
        )
    return n_cells, n_blocks


def hog_feature_size(
    shape: tuple[int, int],
    orientations: int = 9,
    pixels_per_cell: tuple[int, int] = (8, 8),
    cells_per_block: tuple[int, int] = (3, 3),
) -> int:
    """Length of the HOG feature vector of an image of spatial ``shape`` (H, W).

    Examples
    --------
    >>> from pyhcs.features import hog_feature_size
    >>> hog_feature_size((64, 64))  # 6 x 6 blocks of 3 x 3 cells of 9 orientations
    2916
    """
    orientations = check_int(orientations, "orientations", 1)
    pixels_per_cell = check_int_pair(pixels_per_cell, "pixels_per_cell")
    cells_per_block = check_int_pair(cells_per_block, "cells_per_block")
    _, n_blocks = _grid(shape, pixels_per_cell, cells_per_block)
    return n_blocks[0] * n_blocks[1] * cells_per_block[0] * cells_per_block[1] * orientations


def _channel_axis(channel_axis: Any, ndim: int) -> int:
    if isinstance(channel_axis, (bool, np.bool_)) or not isinstance(channel_axis, numbers.Integral):
        raise TypeError(f"channel_axis must be an integer or None, got {channel_axis!r}")
    axis = int(channel_axis)
    if not -ndim <= axis < ndim:
        raise ValueError(f"channel_axis {axis} is out of range for a {ndim}-D image")
    return axis % ndim


def _as_stack(image: Any, ns: Namespace, channel_axis: Any, batch: bool):
    """The validated input as a C-contiguous (N, H, W, C) array, and whether the working
    dtype is float32 (float16 and float32 images; every other dtype works in float64)."""
    if batch:
        allowed = 3 if channel_axis is None else 4
    else:
        allowed = (0, 1, 2) if channel_axis is None else 3
    dtype = getattr(image, "dtype", None)
    if dtype is not None and np.dtype(dtype).kind not in "biuf":
        raise TypeError(f"image must be a real numeric array, got {np.dtype(dtype)} dtype")
    ndim = getattr(image, "ndim", None)
    if ndim is not None and ndim not in ((allowed,) if isinstance(allowed, int) else allowed):
        if batch:
            what = "(N, H, W)" if channel_axis is None else "(N, H, W, C) with channel_axis"
            raise ValueError(
                f"image must be a {what} stack with batch=True, got shape {tuple(image.shape)}"
            )
        if channel_axis is None:
            raise ValueError(
                f"image must be 2-D (H, W), got shape {tuple(image.shape)}; for a multichannel "
                "image give channel_axis, for a stack of images give batch=True"
            )
        raise ValueError(
            f"image must be 3-D (two spatial axes and the channel_axis), got shape "
            f"{tuple(image.shape)}"
        )
    image = check_image(image, ns, "image", ndim=image.ndim if ndim is not None else 2)
    xp = ns.xp
    if channel_axis is not None:
        per_image = image.ndim - 1 if batch else image.ndim
        axis = _channel_axis(channel_axis, per_image) + (1 if batch else 0)
        image = xp.moveaxis(image, axis, -1)
    elif batch:
        image = image[..., None]
    else:
        while image.ndim < 2:  # numpy.atleast_2d, as scikit-image
            image = image[None]
        image = image[..., None]
    if not batch:
        image = image[None]

    dtype = np.dtype(image.dtype)
    is_f32 = dtype.kind == "f" and dtype.itemsize <= 4
    work = np.float32 if is_f32 else np.float64
    if dtype == np.bool_:
        image = image.view(xp.uint8)
    elif dtype not in _KERNEL_DTYPES:
        image = image.astype(work)
    return xp.ascontiguousarray(image), is_f32


# -- launchers -----------------------------------------------------------------------------------


def _hog_stack(
    stack, is_f32, orientations, pixels_per_cell, cells_per_block, method, ns, n_cells, n_blocks
):
    """Cell histograms (N, ncr, ncc, o) float32 and normalised blocks (N, nbr, nbc, br, bc, o)."""
    xp = ns.xp
    n_images = stack.shape[0]
    hist = xp.empty((n_images, n_cells[0], n_cells[1], orientations), dtype=xp.float32)
    out = xp.empty(
        (n_images, n_blocks[0], n_blocks[1], cells_per_block[0], cells_per_block[1], orientations),
        dtype=xp.float32 if is_f32 else xp.float64,
    )
    if n_images == 0:
        return hist, out
    c_row, c_col = pixels_per_cell
    b_row, b_col = cells_per_block
    # the block kernels see each block row as contiguous: (cells_col * orientations) views
    rows = hist.reshape(n_images, n_cells[0], n_cells[1] * orientations)
    block_rows = out.reshape(n_images, n_blocks[0], n_blocks[1], b_row, b_col * orientations)
    directions = edge_directions(orientations)
    if ns.target == "cpu":
        from ._hog_cpu import hog_blocks_cpu

        _cells_cpu(stack, is_f32, c_row, c_col, directions, hist)
        hog_blocks_cpu(rows, orientations, b_row, b_col, method, block_rows)
        return hist, out

    from ._hog_gpu import hog_blocks_gpu, hog_cells_gpu

    n_chunks = -(-orientations // ORIENTATION_CHUNK)
    blocks, threads = launch_config(n_images * n_cells[0] * n_cells[1] * n_chunks, 128)
    hog_cells_gpu[blocks, threads](stack, is_f32, c_row, c_col, ns.asarray(directions), hist)
    blocks, threads = launch_config(n_images * n_blocks[0] * n_blocks[1], 128)
    hog_blocks_gpu[blocks, threads](rows, orientations, b_row, b_col, method, block_rows)
    return hist, out


def _cells_cpu(stack, is_f32, c_row, c_col, directions, hist):
    """CPU cell histograms, with NumPy's own arctan2 wherever a pixel lies within 1e-12 rad of
    a bin edge.

    NumPy may compute arctan2 with SIMD code (SVML on AVX-512) that rounds differently from
    the C library's, and at a bin edge an ulp decides the bin. The kernel counts such pixels;
    the images that have any (rare: edge-exact gradients such as the sqrt(3) ratios of
    ``transform_sqrt`` images) are computed again with orientations from
    ``numpy.rad2deg(numpy.arctan2(g_row, g_col)) % 180``, scikit-image's own expression.
    """
    from ._hog_cpu import hog_cells_cpu, hog_gradients_cpu

    no_thetas = np.zeros((1, 1, 1), dtype=np.float64)
    ambiguous = hog_cells_cpu(stack, is_f32, c_row, c_col, directions, no_thetas, False, hist)
    redo = np.flatnonzero(ambiguous.reshape(stack.shape[0], -1).sum(axis=1))
    if redo.size == 0:
        return
    sub = np.ascontiguousarray(stack[redo])
    g_row = np.empty(sub.shape[:3], dtype=np.float64)
    g_col = np.empty(sub.shape[:3], dtype=np.float64)
    hog_gradients_cpu(sub, is_f32, g_row, g_col)
    thetas = np.rad2deg(np.arctan2(g_row, g_col)) % 180
    sub_hist = np.empty((redo.size,) + hist.shape[1:], dtype=hist.dtype)
    hog_cells_cpu(sub, is_f32, c_row, c_col, directions, thetas, True, sub_hist)
    hist[redo] = sub_hist


def _visualize(hist: np.ndarray, shape, pixels_per_cell, dtype) -> np.ndarray:
    """scikit-image's HOG picture: per cell and bin, a line through the cell centre,
    perpendicular to the bin's middle orientation, adding the cell's histogram value."""
    from skimage.draw import line

    c_row, c_col = pixels_per_cell
    n_cells_row, n_cells_col, n_orient = hist.shape
    values = hist.astype(np.float64)
    radius = min(c_row, c_col) // 2 - 1
    middle = np.pi * (np.arange(n_orient) + 0.5) / n_orient
    d_row = radius * np.sin(middle)
    d_col = radius * np.cos(middle)
    picture = np.zeros(shape, dtype=dtype)
    centre_r = (np.arange(n_cells_row) * c_row + c_row // 2)[:, None]
    centre_c = (np.arange(n_cells_col) * c_col + c_col // 2)[None, :]
    if radius < 0:  # one-pixel cells: lines reach into neighbouring cells, keep the exact order
        for r in range(n_cells_row):
            for c in range(n_cells_col):
                for o in range(n_orient):
                    cr, cc = int(centre_r[r, 0]), int(centre_c[0, c])
                    rr, ccs = line(
                        int(cr - d_col[o]), int(cc + d_row[o]),
                        int(cr + d_col[o]), int(cc - d_row[o]),
                    )
                    picture[rr, ccs] += values[r, c, o]
        return picture
    # Each line stays inside its cell, so a pixel is only touched by its own cell's lines and
    # adding bin by bin over all cells keeps scikit-image's order of additions per pixel.
    for o in range(n_orient):
        ends = [
            np.trunc(centre_r - d_col[o]).astype(np.int64) - centre_r,
            np.trunc(centre_c + d_row[o]).astype(np.int64) - centre_c,
            np.trunc(centre_r + d_col[o]).astype(np.int64) - centre_r,
            np.trunc(centre_c - d_row[o]).astype(np.int64) - centre_c,
        ]
        ends = np.stack(np.broadcast_arrays(*ends), axis=-1).reshape(-1, 4)
        offsets, group = np.unique(ends, axis=0, return_inverse=True)
        group = group.reshape(n_cells_row, n_cells_col)
        for g, (r0, c0, r1, c1) in enumerate(offsets):
            rr, cc = line(int(r0), int(c0), int(r1), int(c1))  # Bresenham: shift-invariant
            cells_r, cells_c = np.nonzero(group == g)
            rows = (cells_r * c_row + c_row // 2)[:, None] + rr[None, :]
            cols = (cells_c * c_col + c_col // 2)[:, None] + cc[None, :]
            picture[rows, cols] += values[cells_r, cells_c, o][:, None]
    return picture


def hog(
    image: Any,
    orientations: int = 9,
    pixels_per_cell: tuple[int, int] = (8, 8),
    cells_per_block: tuple[int, int] = (3, 3),
    block_norm: str = "L2-Hys",
    visualize: bool = False,
    transform_sqrt: bool = False,
    feature_vector: bool = True,
    *,
    channel_axis: int | None = None,
    batch: bool = False,
):
    r"""Histogram of oriented gradients, equal to ``skimage.feature.hog``.

    Parameters
    ----------
    image : (H, W) or (H, W, C) real array, numpy or cupy; (N, H, W[, C]) with ``batch=True``
        Any integer, float or bool dtype. NaN and infinite values are rejected.
    orientations : int
        Number of orientation bins over [0, 180) degrees.
    pixels_per_cell : (int, int)
        Cell size (rows, columns) in pixels. Rows and columns past the last whole cell are
        dropped (after the gradients are computed on the whole image).
    cells_per_block : (int, int)
        Block size in cells; blocks slide by one cell.
    block_norm : {"L1", "L1-sqrt", "L2", "L2-Hys"}
        Block normalisation of the block vector :math:`v`, with :math:`\epsilon = 10^{-5}`:
        L1 :math:`v / (\|v\|_1 + \epsilon)`; L1-sqrt :math:`\sqrt{v / (\|v\|_1 + \epsilon)}`;
        L2 :math:`v / \sqrt{\|v\|_2^2 + \epsilon^2}`; L2-Hys: L2, then
        :math:`\min(v, 0.2)`, then L2 again.
    visualize : bool
        Also return scikit-image's picture of the cell histograms (built on the host, returned
        on the input's device).
    transform_sqrt : bool
        Take the square root of the image first (negative pixels give NaN, as in
        scikit-image).
    feature_vector : bool
        Ravel each descriptor.
    channel_axis : int, optional
        The channel axis of a multichannel image (of each image of a batch); per pixel the
        channel of largest gradient magnitude is used (the first on ties).
    batch : bool
        ``image`` is a stack (N, H, W[, C]) of equally sized images, all computed in one launch.

    Returns
    -------
    out : ndarray, on the input's device
        float32 for float16 and float32 images, else float64. Shape ``(F,)`` with
        ``F = n_blocks_row * n_blocks_col * b_row * b_col * orientations`` when
        ``feature_vector``, else ``(n_blocks_row, n_blocks_col, b_row, b_col, orientations)``;
        with ``batch=True`` a leading axis of length N is added: ``(N, F)`` or
        ``(N, n_blocks_row, n_blocks_col, b_row, b_col, orientations)``.
        ``n_blocks = n_cells - cells_per_block + 1`` and ``n_cells = size // pixels_per_cell``
        per axis.
    hog_image : (H, W) or (N, H, W) ndarray
        Only with ``visualize=True``.

    Raises
    ------
    ValueError
        When the image cannot hold one block, for a non-positive cell or block size or number
        of orientations, an unknown ``block_norm``, NaN or infinite pixels, or a shape that does
        not match ``channel_axis`` / ``batch``.
    TypeError
        For a non-numeric image or non-integer sizes.

    Notes
    -----
    With :math:`I` the image in the working dtype (float32 for float16/float32, float64
    otherwise), optionally square-rooted:

    1. Gradients, zero on the first and last row/column:
       :math:`g_r[r, c] = I[r+1, c] - I[r-1, c]`, :math:`g_c[r, c] = I[r, c+1] - I[r, c-1]`
       (in the working dtype; for several channels, the channel with the largest
       :math:`\mathrm{hypot}(g_r, g_c)` in the working dtype).
    2. In float64: magnitude :math:`m = \mathrm{hypot}(g_c, g_r)`, orientation
       :math:`\theta = \mathrm{deg}(\mathrm{atan2}(g_r, g_c)) \bmod 180`. Bin :math:`i` takes
       :math:`(180/n)\,i \le \theta < (180/n)(i+1)`; :math:`\theta = 180` (a tiny negative angle)
       falls in no bin. Hard assignment, no interpolation.
    3. Cell histogram :math:`h[i, j, o]`: a float32 running total :math:`t \leftarrow
       \mathrm{float32}(t + m)` over the cell's pixels of bin :math:`o` in row-major order,
       divided by the cell's pixel count in float32 (scikit-image's arithmetic, bit for bit).
    4. Each block of cells is normalised in float64; block sums follow NumPy's pairwise
       summation exactly.

    Most pixels are binned without arctan2, by the signs of cross products with the bin
    edges. On the CPU, the pixels within :math:`10^{-12}` rad of an edge take their
    orientation from NumPy's own ``arctan2`` (which may be SIMD code rounding differently from
    the C library's), so the result equals scikit-image's bit for bit on every tested input,
    gradients exactly on a bin edge included. See :mod:`pyhcs.features._hog_gpu` for the
    (ulp-level) differences of a real GPU.

    With cells one pixel high or wide, ``visualize=True`` draws lines that can leave the
    picture: scikit-image then raises IndexError, and so does pyhcs (it draws the same lines).

    Examples
    --------
    >>> import numpy as np
    >>> from pyhcs.features import hog
    >>> image = np.zeros((32, 32), dtype=np.uint8)
    >>> image[8:24, 8:24] = 200
    >>> features = hog(image, pixels_per_cell=(8, 8), cells_per_block=(2, 2))
    >>> features.shape, features.dtype
    ((324,), dtype('float64'))
    >>> stack = np.stack([image, image.T, image[::-1]])
    >>> batch = hog(stack, pixels_per_cell=(8, 8), cells_per_block=(2, 2), batch=True)
    >>> batch.shape, bool((batch[0] == features).all())
    ((3, 324), True)
    """
    orientations, pixels_per_cell, cells_per_block, block_norm = _check_parameters(
        orientations, pixels_per_cell, cells_per_block, block_norm
    )
    ns = namespace_for(image, names=("image",))
    stack, is_f32 = _as_stack(image, ns, channel_axis, bool(batch))
    if transform_sqrt:
        stack = ns.xp.sqrt(stack.astype(np.float32 if is_f32 else np.float64))
    spatial = stack.shape[1:3]
    n_cells = (spatial[0] // pixels_per_cell[0], spatial[1] // pixels_per_cell[1])
    _, n_blocks = _grid(spatial, pixels_per_cell, cells_per_block)
    hist, out = _hog_stack(
        stack, is_f32, orientations, pixels_per_cell, cells_per_block,
        BLOCK_NORMS[block_norm], ns, n_cells, n_blocks,
    )
    if feature_vector:
        out = out.reshape(out.shape[0], math.prod(out.shape[1:]))
    if not batch:
        out = out[0]
    if not visualize:
        return out
    host_hist = to_numpy(hist)
    picture_dtype = np.float32 if is_f32 else np.float64
    pictures = np.stack(
        [_visualize(h, spatial, pixels_per_cell, picture_dtype) for h in host_hist]
    ) if len(host_hist) else np.zeros((0,) + tuple(spatial), picture_dtype)
    pictures = ns.asarray(pictures)
    return out, (pictures if batch else pictures[0])


# -- per object ----------------------------------------------------------------------------------


def hog_objects_array(
    image: Any,
    labels: Any,
    crop: int | tuple[int, int] = 64,
    *,
    mask_others: bool = False,
    index: Any = None,
    **hog_kwargs: Any,
):
    r"""HOG descriptor of a fixed-size crop around every object: the array form of
    :func:`hog_objects` (for the plate engine), on the input's device.

    Parameters
    ----------
    image : (H, W) real array, or (H, W, C) with ``channel_axis`` in ``hog_kwargs``
    labels : (H, W) integer array, or ObjectIndex
        0 is background.
    crop : int or (int, int)
        Crop size (rows, columns).
    mask_others, index, **hog_kwargs
        As :func:`hog_objects`.

    Returns
    -------
    labels : (n,) int64 array
        The labels present, ascending, or ``index``.
    features : (n, F) array
        One HOG feature vector per row; float32 for float16/float32 images, else float64.
        With ``index``, always float64 (whatever the image dtype), and rows of labels absent
        from ``labels`` are NaN.
    """
    hog_kwargs = dict(hog_kwargs)
    for key in ("visualize", "feature_vector", "batch"):
        if key in hog_kwargs:
            raise TypeError(f"hog_objects does not take {key}=")
    channel_axis = hog_kwargs.pop("channel_axis", None)
    crop = check_int_pair((crop, crop) if isinstance(crop, numbers.Integral) else crop, "crop")
    orientations, pixels_per_cell, cells_per_block, block_norm = _check_parameters(
        hog_kwargs.pop("orientations", 9),
        hog_kwargs.pop("pixels_per_cell", (8, 8)),
        hog_kwargs.pop("cells_per_block", (3, 3)),
        hog_kwargs.pop("block_norm", "L2-Hys"),
    )
    transform_sqrt = bool(hog_kwargs.pop("transform_sqrt", False))
    if hog_kwargs:
        raise TypeError(f"hog_objects got unexpected keyword arguments {sorted(hog_kwargs)}")
    _grid(crop, pixels_per_cell, cells_per_block, what=f"crop {crop}")

    from ._objects import as_object_index, label_array
    from .regionprops import regionprops_table

    ns = namespace_for(image, label_array(labels), names=("image", "labels"))
    xp = ns.xp
    objects = as_object_index(labels, ns, "labels", ndim=2)
    labels = objects.labels
    image_ndim = 2 if channel_axis is None else 3
    image = check_image(image, ns, "image", ndim=image_ndim)
    if channel_axis is not None:
        image = xp.moveaxis(image, _channel_axis(channel_axis, 3), -1)
    if tuple(image.shape[:2]) != tuple(labels.shape):
        raise ValueError(
            f"image has spatial shape {tuple(image.shape[:2])} but labels has shape "
            f"{tuple(labels.shape)}; they must be equal"
        )

    table = regionprops_table(objects, properties=("label", "area", "centroid"), index=index)
    row_labels = table["label"]
    rows = xp.nonzero(table["area"] > 0)[0]  # NaN (absent) rows stay NaN
    # nearest pixel to the centroid, halves rounded up
    centre_r = xp.floor(table["centroid-0"][rows] + 0.5).astype(xp.int64)
    centre_c = xp.floor(table["centroid-1"][rows] + 0.5).astype(xp.int64)
    own = row_labels[rows]

    n_features = hog_feature_size(crop, orientations, pixels_per_cell, cells_per_block)
    dtype = np.dtype(image.dtype)
    out_dtype = np.float32 if dtype.kind == "f" and dtype.itemsize <= 4 else np.float64
    features = xp.full(
        (int(row_labels.shape[0]), n_features),
        np.nan,
        dtype=out_dtype if index is None else np.float64,
    )
    n_channels = 1 if image.ndim == 2 else int(image.shape[2])
    per_object = crop[0] * crop[1] * n_channels * max(dtype.itemsize, 1)
    chunk = max(1, _CROP_CHUNK_BYTES // per_object)
    for start in range(0, int(rows.shape[0]), chunk):
        stop = min(start + chunk, int(rows.shape[0]))
        crops = _gather_crops(
            image, labels, centre_r[start:stop], centre_c[start:stop], own[start:stop], crop,
            mask_others, xp,
        )
        features[rows[start:stop]] = hog(
            crops, orientations, pixels_per_cell, cells_per_block, block_norm,
            transform_sqrt=transform_sqrt, channel_axis=None if image.ndim == 2 else -1,
            batch=True,
        )
    return row_labels, features


def _gather_crops(image, labels, centre_r, centre_c, own, crop, mask_others, xp):
    """(n, crop_r, crop_c[, C]) crops centred on the given pixels, zero outside the image (and
    on other objects' pixels with ``mask_others``), in the image's dtype. One gather, no loop
    over objects."""
    height, width = labels.shape
    rows = centre_r[:, None] - crop[0] // 2 + xp.arange(crop[0])[None, :]
    cols = centre_c[:, None] - crop[1] // 2 + xp.arange(crop[1])[None, :]
    inside_r = (rows >= 0) & (rows < height)
    inside_c = (cols >= 0) & (cols < width)
    inside = inside_r[:, :, None] & inside_c[:, None, :]
    rr = xp.clip(rows, 0, height - 1)[:, :, None]
    cc = xp.clip(cols, 0, width - 1)[:, None, :]
    keep = inside
    if mask_others:
        crop_labels = labels[rr, cc]
        keep = keep & ((crop_labels == 0) | (crop_labels == own[:, None, None]))
    crops = image[rr, cc]
    if crops.ndim == 4:
        keep = keep[..., None]
    return xp.where(keep, crops, xp.zeros((), dtype=crops.dtype))


def hog_objects(
    image: Any,
    labels: Any,
    crop: int | tuple[int, int] = 64,
    *,
    image_name: str = "image",
    mask_others: bool = False,
    index: Any = None,
    **hog_kwargs: Any,
):
    r"""HOG descriptor of a fixed-size crop centred on every object, as a table keyed by label.

    For each object, the crop of ``crop`` pixels is centred on the object's centroid rounded to
    the nearest pixel (halves round up): with centre :math:`(r_0, c_0)` it covers rows
    :math:`r_0 - \lfloor h/2 \rfloor \ldots r_0 - \lfloor h/2 \rfloor + h - 1` (and the same for
    columns). Its descriptor is :func:`hog` of the crop, all crops of an image computed as one
    batch.

    Parameters
    ----------
    image : (H, W) real array, numpy or cupy
        Or (H, W, C) with ``channel_axis`` in ``hog_kwargs``.
    labels : (H, W) integer array, or ObjectIndex
        0 is background; labels need not be contiguous. An :class:`ObjectIndex` shares the
        centroids with the other measurements of the objects.
    crop : int or (int, int)
        Crop size (rows, columns); it must hold at least one HOG block.
    image_name : str
        Used in the column names ``HOG_{image_name}_{i}``.
    mask_others : bool
        Zero the pixels of other objects inside the crop (the object's own pixels and the
        background are kept). Gradients are then computed on the masked crop, so the edges of
        removed neighbours appear as gradients.
    index : int or sequence of int, optional
        The labels to report, in this order; absent labels give NaN rows.
    **hog_kwargs
        ``orientations``, ``pixels_per_cell``, ``cells_per_block``, ``block_norm``,
        ``transform_sqrt``, ``channel_axis`` of :func:`hog`.

    Returns
    -------
    pandas.DataFrame
        Indexed by label (index name ``label``), one float column ``HOG_{image_name}_{i}`` per
        feature, ``i = 0 .. F - 1`` in :func:`hog`'s feature-vector order; always on the host.

    Notes
    -----
    Pixels of a crop outside the image are zero (zero padding), as if the image were
    embedded in a zero background; a crop is the same array as
    ``numpy.pad(image, ((h, h), (w, w)))[r0 - h//2 + h : r0 - h//2 + 2*h,
    c0 - w//2 + w : c0 - w//2 + 2*w]``, so an object at
    the border sees a strong gradient at the image edge, exactly as scikit-image would on
    that padded crop.

    Examples
    --------
    >>> import numpy as np
    >>> from pyhcs.features import hog_objects
    >>> labels = np.zeros((40, 40), dtype=np.int32)
    >>> labels[5:15, 5:15] = 1
    >>> labels[20:34, 22:30] = 4
    >>> image = (labels * 50).astype(np.uint8)
    >>> table = hog_objects(image, labels, crop=16, pixels_per_cell=(4, 4), cells_per_block=(2, 2))
    >>> table.shape, table.index.tolist(), table.columns[0]
    ((2, 324), [1, 4], 'HOG_image_0')
    """
    import pandas as pd

    row_labels, features = hog_objects_array(
        image, labels, crop, mask_others=mask_others, index=index, **hog_kwargs
    )
    features = to_numpy(features)
    columns = [f"HOG_{image_name}_{i}" for i in range(features.shape[1])]
    return pd.DataFrame(
        features, index=pd.Index(to_numpy(row_labels), name="label"), columns=columns
    )
