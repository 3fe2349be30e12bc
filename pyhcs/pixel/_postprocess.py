"""From class probabilities to nucleus labels."""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np
from scipy import ndimage as ndi

from .._backend import to_numpy

__all__ = ["probabilities_to_labels"]


def probabilities_to_labels(
    probabilities: Any,
    *,
    interior_threshold: float = 0.8,
    foreground_threshold: float = 0.5,
    min_seed_size: int = 4,
    min_size: int = 10,
    interior: int = 1,
    boundary: int = 2,
    background: int = 0,
) -> np.ndarray:
    """Nucleus labels from background / interior / boundary probabilities.

    1. Seeds: connected components (8-connectivity) of ``P[interior] > interior_threshold``
       with at least ``min_seed_size`` pixels.
    2. Mask: ``1 - P[background] > foreground_threshold`` (interior or boundary).
    3. A marker watershed (skimage) of the boundary probability ``P[boundary]`` from the seeds,
       restricted to the mask, so touching nuclei split along their shared boundary.
    4. Objects smaller than ``min_size`` pixels are removed and labels renumbered 1..n in
       raster order of their first pixel.

    Parameters
    ----------
    probabilities : array, shape (n_classes, H, W)
        As returned by :func:`pyhcs.pixel.predict` (numpy or cupy; computed on the CPU).
    interior_threshold : float in (0, 1), default 0.8
        Seed threshold. High values keep the seeds of touching nuclei apart; 0.8 was chosen on
        validation fields for the default model (its ``metadata["interior_threshold"]``).
    foreground_threshold : float in (0, 1), default 0.5
    min_seed_size, min_size : int >= 0
        In pixels.
    interior, boundary, background : int
        Class indices in ``probabilities`` (default :data:`pyhcs.pixel.NUCLEI_CLASSES`).

    Returns
    -------
    numpy.ndarray of int32, shape (H, W)
        0 is background.

    Examples
    --------
    >>> import numpy as np
    >>> p = np.zeros((3, 9, 9), np.float32); p[0] = 1
    >>> p[:, 1:8, 1:8] = np.array([0, 0, 1.0])[:, None, None]   # boundary ring ...
    >>> p[:, 2:7, 2:7] = np.array([0, 1.0, 0])[:, None, None]   # ... around an interior
    >>> labels = probabilities_to_labels(p)
    >>> int(labels.max()), int((labels == 1).sum())
    (1, 49)
    """
    from skimage.segmentation import watershed

    prob = to_numpy(probabilities)
    if prob.ndim != 3:
        raise ValueError(f"probabilities must be 3-D (n_classes, H, W), got shape {prob.shape}")
    if prob.dtype.kind != "f":
        raise TypeError(f"probabilities must be a float array, got {prob.dtype} dtype")
    for name, value in (("interior", interior), ("boundary", boundary),
                        ("background", background)):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or not (
            0 <= value < prob.shape[0]
        ):
            raise ValueError(f"{name} must be a class index in [0, {prob.shape[0]}), got {value!r}")
    for name, value in (("interior_threshold", interior_threshold),
                        ("foreground_threshold", foreground_threshold)):
        if not isinstance(value, numbers.Real) or not 0.0 < value < 1.0:
            raise ValueError(f"{name} must be in (0, 1), got {value!r}")
    for name, value in (("min_seed_size", min_seed_size), ("min_size", min_size)):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
            raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
    if not np.isfinite(prob).all():
        raise ValueError("probabilities contains NaN or infinite values")

    eight = np.ones((3, 3), bool)
    seeds, n = ndi.label(prob[interior] > interior_threshold, structure=eight)
    if n and min_seed_size > 1:
        sizes = np.bincount(seeds.ravel(), minlength=n + 1)
        keep = sizes >= min_seed_size
        keep[0] = False
        seeds = np.where(keep[seeds], seeds, 0)
    mask = (1.0 - prob[background]) > foreground_threshold
    mask |= seeds > 0
    labels = watershed(prob[boundary], markers=seeds, mask=mask, connectivity=1)
    n = int(labels.max())
    if n and min_size > 0:
        sizes = np.bincount(labels.ravel(), minlength=n + 1)
        labels = np.where(sizes[labels] >= min_size, labels, 0)
    # renumber in raster order of first appearance
    flat = labels.ravel()
    present, first = np.unique(flat, return_index=True)
    order = np.argsort(first[present > 0])
    lut = np.zeros(int(flat.max()) + 1 if flat.size else 1, np.int32)
    lut[present[present > 0][order]] = np.arange(1, order.size + 1, dtype=np.int32)
    return lut[labels].astype(np.int32)
