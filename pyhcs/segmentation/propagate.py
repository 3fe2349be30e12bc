r"""Geodesic Voronoi propagation of seed labels (CellProfiler IdentifySecondaryObjects).

Every pixel inside ``mask`` that a seed can reach takes the label of the seed with the cheapest
path to it. A step between 8-neighbours :math:`p_1, p_2` costs

.. math::

    c(p_1, p_2) = \sqrt{D^2 + m\,w^2}, \qquad
    D = \sum_{\delta \in \{-1,0,1\}^2} |I(p_1 + \delta) - I(p_2 + \delta)|,

with edge-replicated reads, :math:`m = |\Delta i| + |\Delta j|` (1 or 2) and :math:`w` the
``weight``. Large weights make the result Voronoi-like, small ones follow the image's edges.

The CPU path is a C++ priority queue that reproduces ``centrosome.propagate.propagate`` bit
for bit: the same distances and the same labels, ties included (its heap starts from the seeds
in raster order without heapifying, and the order in which equal-distance fronts meet decides
tied pixels). The GPU path is a parallel shortest-path solver; see :func:`propagate`'s
``exact`` argument.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._backend import Namespace, namespace_for
from .._validate import check_image, check_labels, check_mask, check_nonnegative

__all__ = ["propagate"]

_INT32_MAX = np.iinfo(np.int32).max


def _compact_labels(labels: Any, ns: Namespace) -> tuple[Any, Any | None]:
    """int32 seed labels with the same order as ``labels``, and the table mapping them back.

    Labels that fit int32 are used as they are (no table). Larger ones are replaced by their
    rank among the labels present; ranks keep the order, and the order is what the queue's
    tie rule compares, so the result maps back exactly.
    """
    xp = ns.xp
    if labels.size == 0 or int(labels.max()) <= _INT32_MAX:
        return labels.astype(xp.int32, copy=False), None
    values, ranks = xp.unique(labels, return_inverse=True)
    if values.size - 1 > _INT32_MAX:
        raise ValueError("labels holds more than 2**31 - 1 distinct labels")
    if int(values[0]) != 0:  # no background pixel: rank 0 must still mean "no label"
        values = xp.concatenate([xp.zeros(1, values.dtype), values])
        ranks = ranks + 1
    return ranks.reshape(labels.shape).astype(xp.int32), values


def propagate(
    image: Any,
    labels: Any,
    mask: Any = None,
    weight: float = 0.05,
    *,
    exact: bool = True,
) -> tuple[Any, Any]:
    r"""Propagate seed labels over an image by geodesic distance (centrosome's propagate).

    Parameters
    ----------
    image : ndarray, shape (H, W)
        Any real dtype, finite; computed in float64 (as centrosome does). numpy -> CPU,
        cupy -> GPU.
    labels : ndarray of int, shape (H, W)
        Seed labels, >= 0 (0 = background); non-contiguous and int64 labels are allowed.
        Labelled pixels inside ``mask`` are the seeds; labelled pixels outside it do not
        propagate but keep their label in the output.
    mask : ndarray of bool, shape (H, W), optional
        Where labels may spread. None means everywhere.
    weight : float, default 0.05
        :math:`w \ge 0`, the weight of the spatial term (CellProfiler's regularization factor).
    exact : bool, default True
        Only used on the GPU. True: the result is identical to centrosome's (the parallel
        solver's result is checked with a tie certificate and, where a tie could have gone
        either way, recomputed by the sequential algorithm). False: distances identical and
        labels identical except at exact ties (<= 1 ulp apart), which is faster. The CPU path
        is always exact.

    Returns
    -------
    labels_out : ndarray, shape (H, W)
        int32 for labels up to int32 (as centrosome), else int64. 0 where no seed reached.
    distances : ndarray of float64, shape (H, W)
        0 at labelled pixels, -1 where no seed reached, else the path cost.

    Raises
    ------
    TypeError
        Non-integer labels, a non-boolean mask, a non-numeric image or weight.
    ValueError
        Negative labels, shapes that differ, NaN or infinity in the image, a negative weight.

    Examples
    --------
    >>> import numpy as np
    >>> from pyhcs.segmentation import propagate
    >>> image = np.zeros((1, 7))
    >>> seeds = np.array([[1, 0, 0, 0, 0, 0, 2]], dtype=np.int32)
    >>> labels, distances = propagate(image, seeds, np.ones((1, 7), bool), 1.0)
    >>> labels
    array([[1, 1, 1, 1, 2, 2, 2]], dtype=int32)
    >>> distances
    array([[0., 1., 2., 3., 2., 1., 0.]])
    """
    labels_out, distances, _ = _propagate(image, labels, mask, weight, exact=exact)
    return labels_out, distances


def _propagate(image, labels, mask=None, weight=0.05, *, exact=True):
    """:func:`propagate`, also returning the backend's info dict (queue size, fallbacks)."""
    ns = namespace_for(image, labels, mask, names=("image", "labels", "mask"))
    labels = check_labels(labels, ns, "labels")
    image = check_image(image, ns, "image", shape=labels.shape, shape_of="labels")
    mask = check_mask(mask, ns, labels.shape, shape_of="labels", allow_integer=True)
    weight = check_nonnegative(weight, "weight")
    if not isinstance(exact, (bool, np.bool_)):
        raise TypeError(f"exact must be True or False, got {exact!r}")

    xp = ns.xp
    seeds, back = _compact_labels(labels, ns)
    image64 = xp.ascontiguousarray(image, dtype=xp.float64)
    if ns.target == "cpu":
        from ._propagate_cpu import propagate_cpu

        out, distances, info = propagate_cpu(image64, seeds, mask, weight)
    else:
        from ._propagate_gpu import propagate_gpu

        out, distances, info = propagate_gpu(ns, image64, seeds, mask, weight, exact=bool(exact))

    labelled = labels > 0
    if back is None:
        out_dtype = np.int32 if np.dtype(labels.dtype).itemsize < 4 or labels.dtype == np.int32 \
            else np.int64
        out = out.astype(out_dtype, copy=False)
        out[labelled] = labels[labelled]
    else:
        out = back[out].astype(np.int64)
        out[labelled] = labels[labelled].astype(np.int64)
    return out, distances, info
