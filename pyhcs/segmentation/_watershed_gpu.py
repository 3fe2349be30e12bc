r"""GPU backend of the seeded watershed: a parallel minimax solver with a tie certificate.

Problem
-------
scikit-image's watershed (``_core.watershed``, the CPU path) floods from the markers by a
priority queue of (value, age). A popped pixel gives its label to every unlabelled neighbour in
the mask and pushes it: with its own value (scikit-image <= 0.25.1, ``rule="cellprofiler"``) or
with the larger of its value and the popped pixel's (0.25.2 and later, ``rule="skimage"``).

Both rules pop the pixels in non-decreasing order of their *flood level*

.. math::

    F(p) = \min_{\pi:\ m \to p} \max_{x \in \pi} v(x),

the smallest, over the 8- (or 4-) connected paths inside the mask from a marker :math:`m` to
:math:`p`, of the largest value on the path, the marker's own included (a marker waits in the
queue until the flood reaches its value; a pixel pushed below the level pops at once, at that
level). A pixel takes the label of the neighbour that pops first, so of a neighbour with the
smallest :math:`F`. :math:`F` is the least fixed point of

.. math::

    F(m) = v(m) \text{ at markers}, \qquad
    F(p) = \max\bigl(v(p),\ \min_{q \in N(p)} F(q)\bigr) \text{ elsewhere in the mask},

which any order of improving updates reaches; min and max are exact, so :math:`F` is exact.

Solver
------
The values in the mask are replaced by their ranks (``unique`` / ``searchsorted``: the same
order and the same ties). Markers hold their rank and label and never change. Two monotone
relaxations, each launched until a launch changes nothing, run in place over the mask's other
pixels (each pixel written by one thread only):

1. the levels: :math:`F(p) \leftarrow \max(\mathrm{rank}(p), \min_q F(q))` from "unreached";
2. the labels: :math:`\ell(p) \leftarrow \min \{\ell(q) : F(q) = \min_{q'} F(q')\}` over the
   neighbours, from "unknown" (a label travels only along edges to a neighbour of smallest
   level, so every label is a marker's).

Tie certificate
---------------
A reached non-marker pixel is *flagged* when its neighbours of the smallest :math:`F` do not
all carry its label. If no pixel is flagged, the labels are scikit-image's: by induction over
the pop order, a pixel's first popped neighbour is one of smallest :math:`F`, whose label is
right, and they all carry the pixel's label. The argument stays inside one connected
component of the mask, so a component without a flagged pixel is right whatever the others
hold. Values that are distinct almost surely (CellProfiler's shape declumping adds
tie-breaking noise) are never flagged; quantised surfaces (an 8-bit image's ``1 - image``) can
be, and then the components that hold a flagged pixel are flooded again by the sequential CPU
path, on host copies of their bounding box (``repaired`` in the info).
"""

from __future__ import annotations

import numpy as np
from numba import cuda

from .._backend import Namespace, gpu_kernel, kernel_array, launch_config, to_numpy

__all__ = ["watershed_gpu", "fixed_point_cpu"]

UNREACHED = np.int64(np.iinfo(np.int64).max)  # level of pixels no marker reaches (yet)
UNKNOWN = np.int64(np.iinfo(np.int64).max)  # label not known (yet)
LAUNCHES_PER_CHECK = 4  # relaxation launches between two convergence read-backs


@cuda.jit(device=True)
def _neighbour(k):
    """scikit-image's neighbour order: up, left, right, down, then the diagonals."""
    if k == 0:
        return -1, 0
    if k == 1:
        return 0, -1
    if k == 2:
        return 0, 1
    if k == 3:
        return 1, 0
    if k == 4:
        return -1, -1
    if k == 5:
        return -1, 1
    if k == 6:
        return 1, -1
    return 1, 1


@cuda.jit(device=True)
def _lowest_level(level, r, c, n_neighbours):
    """The smallest level among the reached neighbours of (r, c) (UNREACHED if none)."""
    height = level.shape[0]
    width = level.shape[1]
    lowest = UNREACHED
    for k in range(n_neighbours):
        dr, dc = _neighbour(k)
        rq = r + dr
        cq = c + dc
        if 0 <= rq < height and 0 <= cq < width and level[rq, cq] < lowest:
            lowest = level[rq, cq]
    return lowest


@cuda.jit(device=True)
def _visit(pixels, i, level, n_neighbours):
    """The row, column and lowest neighbour level of the i-th listed pixel."""
    r = pixels[i] // level.shape[1]
    c = pixels[i] - r * level.shape[1]
    return r, c, _lowest_level(level, r, c, n_neighbours)


@gpu_kernel("void(int64[::1], int64[::1], int64[:, ::1], int32, int32[::1], int32)")
def _levels_gpu(pixels, ranks, level, n_neighbours, changed, slot):
    for i in range(cuda.grid(1), pixels.shape[0], cuda.gridsize(1)):
        r, c, lowest = _visit(pixels, i, level, n_neighbours)
        if lowest == UNREACHED:
            continue
        candidate = max(ranks[i], lowest)
        if candidate < level[r, c]:
            level[r, c] = candidate
            changed[slot] = 1


@cuda.jit(device=True)
def _lowest_labels(level, labels, r, c, n_neighbours, lowest):
    """The smallest and the largest label among the neighbours of (r, c) at level ``lowest``."""
    height = level.shape[0]
    width = level.shape[1]
    smallest = UNKNOWN
    largest = -UNKNOWN
    for k in range(n_neighbours):
        dr, dc = _neighbour(k)
        rq = r + dr
        cq = c + dc
        if 0 <= rq < height and 0 <= cq < width and level[rq, cq] == lowest:
            smallest = min(smallest, labels[rq, cq])
            largest = max(largest, labels[rq, cq])
    return smallest, largest


@gpu_kernel("void(int64[::1], int64[:, ::1], int64[:, ::1], int32, int32[::1], int32)")
def _labels_gpu(pixels, level, labels, n_neighbours, changed, slot):
    for i in range(cuda.grid(1), pixels.shape[0], cuda.gridsize(1)):
        r, c, lowest = _visit(pixels, i, level, n_neighbours)
        if lowest == UNREACHED:
            continue
        smallest, _ = _lowest_labels(level, labels, r, c, n_neighbours, lowest)
        if smallest < labels[r, c]:
            labels[r, c] = smallest
            changed[slot] = 1


@gpu_kernel("void(int64[::1], int64[:, ::1], int64[:, ::1], int32, uint8[:, ::1])")
def _certificate_gpu(pixels, level, labels, n_neighbours, flags):
    for i in range(cuda.grid(1), pixels.shape[0], cuda.gridsize(1)):
        r, c, lowest = _visit(pixels, i, level, n_neighbours)
        if lowest == UNREACHED:
            continue
        own = labels[r, c]
        smallest, largest = _lowest_labels(level, labels, r, c, n_neighbours, lowest)
        if own == UNKNOWN or smallest != own or largest != own:
            flags[r, c] = 1


def watershed_gpu(ns: Namespace, surface, markers, mask, connectivity: int = 2,
                  rule: str = "cellprofiler"):
    """``skimage.segmentation.watershed(surface, markers, connectivity, mask=mask)`` on the
    device, exact (see the module docstring).

    Parameters
    ----------
    ns : Namespace
        ``target == "cuda"``; ``ns.xp`` is cupy on a GPU, numpy under the simulator.
    surface : ndarray of float, shape (H, W)
    markers : ndarray of int, shape (H, W)
        >= 0 (0 = unlabelled), below 2**32; markers outside the mask are dropped.
    mask : ndarray of bool, shape (H, W)
    connectivity : {1, 2}
    rule : {"cellprofiler", "skimage"}
        scikit-image's flooding rule up to 0.25.1 or since 0.25.2 (the CPU path's); where
        the certificate holds both give the same labels.

    Returns
    -------
    labels : ndarray of int32, shape (H, W), on the device
    info : dict
        ``launches``, ``checks``, ``pixels`` (mask pixels relaxed), ``flagged`` (pixels the
        certificate flags), ``repaired`` (mask pixels the CPU path re-flooded: the components
        holding a flagged pixel), ``fell_back`` (the CPU path flooded the whole image: NaN in
        the mask, or two markers of one value in a flagged component).
    """
    xp = ns.xp
    height, width = markers.shape
    surface = xp.asarray(surface, dtype=xp.float64)
    mask = xp.asarray(mask, dtype=bool)
    markers = xp.where(mask, markers, 0).astype(xp.int64)
    info = dict(launches=0, checks=0, pixels=0, flagged=0, repaired=0, fell_back=False)
    pixels = xp.flatnonzero(mask & (markers == 0)).astype(xp.int64)
    info["pixels"] = int(pixels.size)
    values = surface[mask]
    if bool(xp.isnan(values).any()):
        return _fall_back(ns, surface, markers, mask, connectivity, rule, info)
    ranks = xp.searchsorted(xp.unique(values), surface).astype(xp.int64)
    seeded = markers != 0
    level = xp.where(seeded, ranks, UNREACHED).astype(xp.int64)
    labels = xp.where(seeded, markers, UNKNOWN).astype(xp.int64)
    if pixels.size == 0:
        return xp.where(seeded, markers, 0).astype(xp.int32), info

    n_neighbours = np.int32(8 if connectivity == 2 else 4)
    k_pixels, k_level, k_labels = (kernel_array(ns, a) for a in (pixels, level, labels))
    k_ranks = kernel_array(ns, ranks.ravel()[pixels])
    blocks, threads = launch_config(pixels.size)
    _until_fixed(ns, info, lambda changed, slot: _levels_gpu[blocks, threads](
        k_pixels, k_ranks, k_level, n_neighbours, changed, slot))
    _until_fixed(ns, info, lambda changed, slot: _labels_gpu[blocks, threads](
        k_pixels, k_level, k_labels, n_neighbours, changed, slot))
    flags = xp.zeros((height, width), dtype=xp.uint8)
    _certificate_gpu[blocks, threads](k_pixels, k_level, k_labels, n_neighbours,
                                      kernel_array(ns, flags))
    out = xp.where(level == UNREACHED, 0, labels).astype(xp.int32)
    info["flagged"] = int(xp.count_nonzero(flags))
    if info["flagged"]:
        return _repair(ns, out, flags, surface, markers, mask, connectivity, rule, info)
    return out, info


def _repair(ns, out, flags, surface, markers, mask, connectivity, rule, info):
    """Floods the mask's connected components that hold a flagged pixel with the CPU path, on
    host copies of their bounding box, and keeps the certified labels of the others.

    Components flood independently (a pop relaxes only its own component), and a component's
    pops keep their order when it floods alone unless two of its markers share a value (all
    markers have age 0, so the heap's shape would order them): then the whole image floods
    on the CPU. ``info["repaired"]``: the pixels re-flooded."""
    xp = ns.xp
    structure = np.ones((3, 3), bool) if connectivity == 2 else None
    components, _ = ns.ndimage.label(mask, structure=structure)
    bad = xp.unique(components[flags != 0])
    region = xp.isin(components, bad)
    seeded = region & (markers != 0)
    keys = to_numpy(xp.stack([components[seeded].astype(xp.float64), surface[seeded]]))
    if np.unique(keys, axis=1).shape[1] < keys.shape[1]:  # two markers, one value, one component
        return _fall_back(ns, surface, markers, mask, connectivity, rule, info)
    rows, cols = (to_numpy(v) for v in xp.nonzero(region))
    box = (slice(int(rows.min()), int(rows.max()) + 1),
           slice(int(cols.min()), int(cols.max()) + 1))
    region_box = region[box]
    labels = _core_watershed(surface[box], xp.where(region_box, markers[box], 0), region_box,
                             connectivity, rule)
    out[box] = xp.where(region_box, xp.asarray(labels), out[box])
    info["repaired"] = int(region_box.sum())
    return out, info


def _until_fixed(ns: Namespace, info: dict, launch) -> None:
    """Launches ``launch(changed, slot)`` until one changes nothing (a monotone relaxation
    over at most ``info["pixels"]`` pixels reaches its fixed point in fewer launches)."""
    changed = ns.xp.zeros(LAUNCHES_PER_CHECK, dtype=ns.xp.int32)
    k_changed = kernel_array(ns, changed)
    max_launches = info["launches"] + 2 * info["pixels"] + 16
    while True:
        changed[...] = 0
        for slot in range(LAUNCHES_PER_CHECK):
            launch(k_changed, np.int32(slot))
            info["launches"] += 1
        info["checks"] += 1
        if not to_numpy(changed).all():
            return
        if info["launches"] > max_launches:  # pragma: no cover - monotone, cannot happen
            raise RuntimeError("watershed_gpu did not converge")


def _core_watershed(surface, markers, mask, connectivity, rule):
    """The sequential CPU flooding (``pyhcs._core.watershed``) of host copies."""
    from .. import _core

    return _core.watershed(
        np.ascontiguousarray(to_numpy(surface), dtype=np.float64),
        np.ascontiguousarray(to_numpy(markers), dtype=np.int32),
        np.ascontiguousarray(to_numpy(mask), dtype=bool).view(np.uint8),
        int(connectivity), rule == "skimage",
    )


def _fall_back(ns, surface, markers, mask, connectivity, rule, info):
    """The whole image flooded by the CPU path on host copies (NaN, or equal marker values
    in a flagged component)."""
    info["fell_back"] = True
    info["repaired"] = int(to_numpy(mask).sum())
    return ns.xp.asarray(_core_watershed(surface, markers, mask, connectivity, rule)), info


def _shifted(a, dr, dc, fill):
    """``a[r + dr, c + dc]`` at every (r, c), ``fill`` beyond the edge."""
    out = np.full(a.shape, fill, a.dtype)
    h, w = a.shape
    out[max(0, -dr):h - max(0, dr), max(0, -dc):w - max(0, dc)] = \
        a[max(0, dr):h - max(0, -dr), max(0, dc):w - max(0, -dc)]
    return out


def fixed_point_cpu(surface, markers, mask, connectivity: int = 2):
    """The solver's two relaxations and its certificate in vectorised numpy (Jacobi sweeps to
    the same fixed points): ``(labels int32, flags bool)``. The CPU proxy that measures the
    certificate on images too large for the simulator (tests, ``benchmarks/watershed_ties.py``).
    """
    big = np.iinfo(np.int64).max
    offsets = [(-1, 0), (0, -1), (0, 1), (1, 0), (-1, -1), (-1, 1), (1, -1), (1, 1)]
    offsets = offsets[: 8 if connectivity == 2 else 4]
    markers = np.where(mask, markers, 0).astype(np.int64)
    ranks = np.searchsorted(np.unique(surface[mask]), surface)
    free = mask & (markers == 0)
    level = np.where(markers != 0, ranks, big)
    while True:
        lowest = np.min([_shifted(level, dr, dc, big) for dr, dc in offsets], axis=0)
        new = np.where(free & (lowest < big), np.maximum(ranks, lowest), level)
        new = np.minimum(new, level)
        if (new == level).all():
            break
        level = new
    lowest = np.min([_shifted(level, dr, dc, big) for dr, dc in offsets], axis=0)
    labels = np.where(markers != 0, markers, big)
    while True:
        best = labels.copy()
        for dr, dc in offsets:
            at_lowest = _shifted(level, dr, dc, big) == lowest
            best = np.where(free & at_lowest, np.minimum(best, _shifted(labels, dr, dc, big)),
                            best)
        if (best == labels).all():
            break
        labels = best
    reached = free & (lowest < big)
    split = reached & (labels == big)
    for dr, dc in offsets:
        at_lowest = _shifted(level, dr, dc, big) == lowest
        split |= reached & at_lowest & (_shifted(labels, dr, dc, big) != labels)
    return np.where(level < big, labels, 0).astype(np.int32), split
