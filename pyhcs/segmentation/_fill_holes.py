"""CellProfiler's hole filling for label images (``centrosome.cpmorphology.fill_labeled_holes``).

The rule, on the graph of 4-connected regions (the objects, and the background split into
4-connected components):

- a region touching the image edge is *not a hole*; so is a region whose area is at least
  ``max_hole_area`` (CellProfiler's ``size_fn``, used by IdentifyPrimaryObjects);
- an object next to a non-hole background region is not a hole;
- any region next to two different non-hole objects is not a hole.

Every other region is a hole and takes the label of the one non-hole object it touches (0 when
it touches none). A first walk marks the non-hole regions from the edge inwards; a second walk
passes labels on to regions the first walk did not reach, in the same order as centrosome so
that the result is identical. The pixel work (labelling the background, listing the pairs of
touching regions, the final lookup) runs on the array's device; the walk over the region graph
is small and runs on the host (numba).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from .. import _numba_cache
from .._backend import Namespace, to_numpy
from ._label import _label_cpu

__all__ = ["fill_labeled_holes", "relabel_consecutive"]

_FOUR_CONNECTED = np.array([[0, 1, 0], [1, 1, 1], [0, 1, 0]], dtype=bool)


_numba_cache.register()  # cached kernels are invalidated by any pyhcs source change


@njit(cache=True)
def _walk(first, neighbours, is_not_hole, adjacent, stack, n_stack, n_objects):  # pragma: no cover
    """The two walks over the region graph (CSR ``first``/``neighbours``), in place."""
    # Walk 1: from the regions known not to be holes, mark the others that are not.
    while n_stack > 0:
        n_stack -= 1
        node = stack[n_stack]
        for k in range(first[node], first[node + 1]):
            other = neighbours[k]
            if is_not_hole[other]:
                continue
            if node <= n_objects:
                # an object: the first non-hole object a region touches is remembered; a
                # second, different one makes the region a non-hole
                if adjacent[other] == 0:
                    adjacent[other] = node
                    continue
                if adjacent[other] == node:
                    continue
            elif other > n_objects:
                # background next to background: nothing to learn
                continue
            is_not_hole[other] = 1
            stack[n_stack] = other
            n_stack += 1
    # Walk 2: from the holes that touch a non-hole object, pass that object on to the regions
    # nested inside them (objects inside holes, holes inside those objects, ...).
    n_stack = 0
    for node in range(is_not_hole.shape[0]):
        if is_not_hole[node] == 0 and adjacent[node] != 0:
            stack[n_stack] = node
            n_stack += 1
    while n_stack > 0:
        n_stack -= 1
        node = stack[n_stack]
        for k in range(first[node], first[node + 1]):
            other = neighbours[k]
            if adjacent[other] == 0:
                adjacent[other] = adjacent[node]
                stack[n_stack] = other
                n_stack += 1


@njit(inline="always")
def _node(labels, blabels, r, c, n_objects):  # pragma: no cover
    """Region id of a pixel: its object, or n_objects + 1 + its background component."""
    value = np.int64(labels[r, c])
    if value != 0:
        return value
    b = np.int64(blabels[r, c])
    return b + n_objects + 1 if b != 0 else 0


@njit(inline="always")
def _put_pair(keys, q, write, a, b, n_nodes):  # pragma: no cover
    """Both keys of the pair (a, b) at ``keys[q]``, ``keys[q + 1]`` if ``write``; returns q + 2."""
    if write:
        keys[q] = a * n_nodes + b
        keys[q + 1] = b * n_nodes + a
    return q + 2


@njit(inline="always")
def _row_pair_keys(labels, blabels, r, n_objects, n_nodes, keys, q, write):  # pragma: no cover
    """The pair keys of row ``r`` (with its right and lower neighbours) from ``keys[q]`` on,
    written only if ``write``; returns the position after them. A pair equal to the previous
    one of the same direction in the row is left out: along a boundary the same two regions
    meet pixel after pixel, and the graph needs each pair once."""
    height, width = labels.shape
    last_right = -1
    last_down = -1
    here = _node(labels, blabels, r, 0, n_objects)
    for c in range(width):
        right = _node(labels, blabels, r, c + 1, n_objects) if c + 1 < width else here
        if right != here and here * n_nodes + right != last_right:
            q = _put_pair(keys, q, write, here, right, n_nodes)
            last_right = here * n_nodes + right
        down = _node(labels, blabels, r + 1, c, n_objects) if r + 1 < height else here
        if down != here and here * n_nodes + down != last_down:
            q = _put_pair(keys, q, write, here, down, n_nodes)
            last_down = here * n_nodes + down
        here = right
    return q


@njit(parallel=True, cache=True)
def _pair_keys_cpu(labels, blabels, n_objects, n_nodes):  # pragma: no cover
    """``a * n_nodes + b`` for every 4-connected pixel pair of different regions, both ways
    (with repeats across rows): the region graph's edges, without an int64 copy of the
    image."""
    height = labels.shape[0]
    per_row = np.zeros(height + 1, np.int64)
    nothing = np.empty(0, np.int64)
    for r in prange(height):
        per_row[r + 1] = _row_pair_keys(labels, blabels, r, n_objects, n_nodes, nothing, 0,
                                        False)
    for r in range(height):
        per_row[r + 1] += per_row[r]
    keys = np.empty(per_row[height], np.int64)
    for r in prange(height):
        _row_pair_keys(labels, blabels, r, n_objects, n_nodes, keys, per_row[r], True)
    return keys


@njit(cache=True)
def _edge_nodes_and_areas_cpu(labels, blabels, n_objects, n_nodes, with_areas):  # pragma: no cover
    """The region ids on the image border (with repeats), and every region's pixel count."""
    height, width = labels.shape
    edge = np.empty(2 * (height + width), np.int64)
    q = 0
    for c in range(width):
        edge[q] = _node(labels, blabels, 0, c, n_objects)
        edge[q + 1] = _node(labels, blabels, height - 1, c, n_objects)
        q += 2
    for r in range(height):
        edge[q] = _node(labels, blabels, r, 0, n_objects)
        edge[q + 1] = _node(labels, blabels, r, width - 1, n_objects)
        q += 2
    areas = np.zeros(n_nodes if with_areas else 1, np.int64)
    if with_areas:
        for r in range(height):
            for c in range(width):
                areas[_node(labels, blabels, r, c, n_objects)] += 1
    return edge[:q], areas


@njit(parallel=True, cache=True)
def _apply_lookup_cpu(labels, blabels, n_objects, lookup, mask, use_mask, out):  # pragma: no cover
    height, width = labels.shape
    for r in prange(height):
        for c in range(width):
            if use_mask and not mask[r, c]:
                out[r, c] = labels[r, c]
            else:
                out[r, c] = lookup[_node(labels, blabels, r, c, n_objects)]


def _hole_lookup(edge, keys, areas, n_nodes, n_objects, max_hole_area):
    """Region id -> filled label, from the region graph (host arrays).

    ``edge``: the distinct region ids on the image border; ``keys``: the sorted distinct
    ``a * n_nodes + b`` of touching regions, both ways; ``areas()``: every region's pixel
    count (asked for only with ``max_hole_area``).
    """
    is_not_hole = np.zeros(n_nodes, np.uint8)
    edge = edge[edge != 0]
    is_not_hole[edge] = 1
    stack = np.zeros(n_nodes + 1, np.int64)
    stack[: edge.size] = edge
    n_stack = int(edge.size)
    adjacent = np.zeros(n_nodes, np.int64)
    if keys.size:
        source, target = keys // n_nodes, keys % n_nodes
        first = np.zeros(n_nodes + 1, np.int64)
        np.cumsum(np.bincount(source, minlength=n_nodes), out=first[1:])
        if max_hole_area is not None:
            sizes = areas()
            large = np.flatnonzero((sizes >= max_hole_area) & (sizes > 0) & (is_not_hole == 0))
            large = large[large > 0]
            is_not_hole[large] = 1
            stack[n_stack : n_stack + large.size] = large
            n_stack += int(large.size)
        _walk(first, target.astype(np.int64), is_not_hole, adjacent, stack, n_stack, n_objects)
    lookup = np.arange(n_nodes, dtype=np.int64)
    lookup[n_objects + 1 :] = 0
    holes = is_not_hole == 0
    lookup[holes] = adjacent[holes]
    return lookup


@njit(cache=True)
def _fill_binary_holes_cpu(foreground, blabels, count, limited, max_hole_area):  # pragma: no cover
    """``foreground`` with every 4-connected background component filled that touches no
    image edge and, if ``limited``, has fewer than ``max_hole_area`` pixels."""
    height, width = foreground.shape
    areas = np.zeros(count + 1, np.int64)
    for r in range(height):
        for c in range(width):
            areas[blabels[r, c]] += 1
    fill = np.zeros(count + 1, np.bool_)
    for b in range(1, count + 1):
        fill[b] = not limited or areas[b] < max_hole_area
    for c in range(width):
        fill[blabels[0, c]] = False
        fill[blabels[height - 1, c]] = False
    for r in range(height):
        fill[blabels[r, 0]] = False
        fill[blabels[r, width - 1]] = False
    out = np.empty((height, width), np.bool_)
    for r in range(height):
        for c in range(width):
            out[r, c] = foreground[r, c] or fill[blabels[r, c]]
    return out


def _fill_holes_cpu(labels, mask, max_hole_area):
    """The CPU form of :func:`fill_labeled_holes`: the same graph, built in three passes over
    the pixels without any image-sized temporary but the background's labels.

    A boolean image without ``mask`` is one object, and there the walk has one answer: with
    any foreground, the object touches the edge or a background region that does (the
    background's component on the edge meets the foreground), so it is not a hole, and every
    other background region, which meets only the object, is a hole unless it is too large.
    That case skips the graph."""
    labels = np.ascontiguousarray(labels)
    if labels.dtype == np.bool_ and mask is None:
        blabels, count = _label_cpu(~labels, False)
        limited = max_hole_area is not None
        return _fill_binary_holes_cpu(labels, blabels, count, limited,
                                      float(max_hole_area) if limited else 0.0)
    background = labels == 0
    if mask is not None:
        background &= mask
    blabels, count = _label_cpu(background, False)
    n_objects = int(labels.max()) if labels.size else 0
    n_nodes = n_objects + int(count) + 2
    edge, areas = _edge_nodes_and_areas_cpu(labels, blabels, n_objects, n_nodes,
                                            max_hole_area is not None)
    keys = np.unique(_pair_keys_cpu(labels, blabels, n_objects, n_nodes))
    lookup = _hole_lookup(np.unique(edge), keys, lambda: areas, n_nodes, n_objects,
                          max_hole_area)
    out = np.empty(labels.shape, labels.dtype)
    use_mask = mask is not None
    mask_array = np.ascontiguousarray(mask) if use_mask else np.zeros((1, 1), np.bool_)
    _apply_lookup_cpu(labels, blabels, n_objects, lookup.astype(labels.dtype), mask_array,
                      use_mask, out)
    return out


def fill_labeled_holes(labels, ns: Namespace, mask=None, max_hole_area: float | None = None):
    """Fill the holes of a label image as ``centrosome.cpmorphology.fill_labeled_holes`` does.

    Parameters
    ----------
    labels : ndarray of int or bool, shape (H, W)
        Objects > 0 (a boolean image is one object).
    ns : Namespace
        Where ``labels`` lives.
    mask : ndarray of bool, optional
        Only these pixels may change (CellProfiler passes ``labels == 0`` so that objects are
        never relabelled). None: every pixel may change, so an object enclosed by another one
        with no background between them merges into it.
    max_hole_area : float, optional
        Regions of at least this many pixels are never holes (centrosome's ``size_fn``
        returning False for them).

    Returns
    -------
    ndarray, shape (H, W), the dtype of ``labels``
    """
    if ns.target == "cpu" and labels.ndim == 2 and labels.size:
        return _fill_holes_cpu(labels, mask, max_hole_area)
    xp, ndi = ns.xp, ns.ndimage
    if labels.dtype == xp.bool_ and mask is None and labels.ndim == 2 and labels.size:
        return _fill_binary_holes(labels, ns, max_hole_area)
    dtype = labels.dtype
    values = labels.astype(xp.int64)
    background = values == 0
    if mask is not None:
        background &= mask
    blabels, count = ndi.label(background, structure=_FOUR_CONNECTED)
    count = int(count)
    n_objects = int(values.max()) if values.size else 0
    values = xp.where(blabels != 0, blabels.astype(xp.int64) + n_objects + 1, values)
    n_nodes = n_objects + count + 2  # node ids 0 .. n_objects + count + 1

    edge = xp.concatenate([values[0, :], values[:, 0], values[-1, :], values[:, -1]])
    # Every pair of 4-connected pixels with different region ids, both ways, without repeats.
    a = xp.concatenate([values[:-1, :].ravel(), values[:, :-1].ravel()])
    b = xp.concatenate([values[1:, :].ravel(), values[:, 1:].ravel()])
    differ = a != b
    a, b = a[differ], b[differ]
    keys = to_numpy(xp.unique(xp.concatenate([a * n_nodes + b, b * n_nodes + a])))
    lookup = _hole_lookup(to_numpy(xp.unique(edge)), keys,
                          lambda: to_numpy(xp.bincount(values.ravel(), minlength=n_nodes)),
                          n_nodes, n_objects, max_hole_area)
    lookup = xp.asarray(lookup)
    if mask is not None:
        filled = xp.where(mask, lookup[values], labels.astype(xp.int64))
    else:
        filled = lookup[values]
    return filled.astype(dtype)


def _fill_binary_holes(foreground, ns: Namespace, max_hole_area: float | None):
    """The graph-free form for a boolean image without mask (see :func:`_fill_holes_cpu`), on
    the array's device: every 4-connected background component that touches no image edge
    (and, with ``max_hole_area``, has fewer pixels) is filled. Nothing but the component count
    leaves the device."""
    xp, ndi = ns.xp, ns.ndimage
    blabels, count = ndi.label(~foreground, structure=_FOUR_CONNECTED)
    count = int(count)
    if count == 0:
        return foreground.copy()
    if max_hole_area is None:
        fill = xp.ones(count + 1, xp.bool_)
    else:
        fill = xp.bincount(blabels.ravel(), minlength=count + 1) < max_hole_area
    fill[0] = False
    for edge in (blabels[0, :], blabels[-1, :], blabels[:, 0], blabels[:, -1]):
        fill[edge] = False
    return foreground | fill[blabels]


@njit(cache=True)
def _present_cpu(labels, n_values):  # pragma: no cover
    """Whether each value 0..n_values - 1 occurs in ``labels`` (any integer array, values in
    range)."""
    seen = np.zeros(n_values, np.bool_)
    for value in labels.ravel():
        seen[value] = True
    return seen


def relabel_consecutive(labels, ns: Namespace):
    """Renumber the labels present 1..n in their order (``centrosome.cpmorphology.relabel``)."""
    xp = ns.xp
    top = int(labels.max()) if labels.size else 0
    if ns.target == "cpu" and 0 < top <= 2 * labels.size and int(labels.min()) >= 0:
        present = np.flatnonzero(_present_cpu(np.ascontiguousarray(labels), top + 1))
    else:
        present = xp.unique(labels)
    present = present[present != 0]
    if present.size == 0:
        return xp.zeros(labels.shape, xp.int32), 0
    if int(present[-1]) <= 2 * labels.size:  # a lookup table no larger than the image
        lookup = xp.zeros(int(present[-1]) + 1, xp.int32)
        lookup[present] = xp.arange(1, present.size + 1, dtype=xp.int32)
        return lookup[labels], int(present.size)
    ranks = (xp.searchsorted(present, labels) + 1).astype(xp.int32)  # huge, sparse labels
    return xp.where(labels == 0, 0, ranks).astype(xp.int32), int(present.size)
