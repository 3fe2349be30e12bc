r"""GPU backend of :func:`pyhcs.segmentation.propagate`: a tiled parallel shortest-path solver.

Problem
-------
Every pixel inside the mask holds a pair :math:`(d, \ell)`: a distance and a label. Seeds
(labelled pixels inside the mask) hold :math:`(0, \text{label})` and never change; every other
mask pixel ("free") starts at :math:`(+\infty, \ell_{\max})`; pixels outside the mask never hold
anything (:math:`+\infty`) and are never relaxed. The solver computes the least fixed point of

.. math::

    (d, \ell)(q) = \min_{p \in N_8(q),\ d(p) < \infty}
        \bigl(d(p) \oplus c(p, q),\ \ell(p)\bigr) \quad \text{for every free } q,

where the minimum is lexicographic (smaller distance first, then the smaller label: the tie
rule "smaller (d, label) wins"), :math:`\oplus` is the float64 addition and
:math:`c(p, q) = \sqrt{D^2 + m w^2}` is centrosome's edge cost (:mod:`.propagate`) computed with
centrosome's exact operation order. The edge cost is symmetric bit for bit (:math:`|a-b| = |b-a|`
and the window is summed in the same order from either end), so it is computed once per
undirected edge: four float64 planes (east, south, south-east, south-west neighbour of each
pixel) filled by one kernel before the solve.

Rounding is monotone, so :math:`(d, \ell) \mapsto (d \oplus c, \ell)` preserves the
lexicographic order and any sequence of *strictly improving* relaxations applied until none
applies ends at the same least fixed point, whatever the order (Jacobi, Gauss-Seidel or
chaotic). Its distances are those of centrosome's priority queue (reference.md section 4); its
labels differ only where candidates tie within an ulp (see the tie certificate below).

Solver: tiles in shared memory, double-buffered globally
-------------------------------------------------------
- The image is cut into ``TILE x TILE`` tiles (32 x 32 on a GPU; 8 x 8 under the simulator so
  that the tiny test images still have several tiles). One thread block handles a tile: it loads
  the tile's :math:`(d, \ell)` plus a one-pixel halo into shared memory and relaxes the tile's
  free pixels until nothing changes in the tile, in Gauss-Seidel order over the four colour
  classes :math:`(r \bmod 2, c \bmod 2)`, forward and backward alternately. Two pixels of one
  colour are never 8-neighbours, so a pixel is never written while a neighbour reads it (no
  torn :math:`(d, \ell)` pairs) and one ``syncthreads`` per colour orders the phases. A
  geodesic path crosses a whole tile in one launch.
- Across tiles the pairs are double-buffered: a launch reads buffer A (tile and halo) and
  writes buffer B, the next launch the reverse. A block never reads a pair another block is
  writing. Distances and labels live in separate arrays, so in-place global updates could let a
  block read a new distance with an old label, a pair below the fixed point.
- Active tiles: each launch records which tiles changed. A tile is processed only when it or one
  of its 8 neighbour tiles changed in the previous launch; a skipped tile's output equals its
  input in both buffers (it did not change during the last two launches), so skipping is exact.
  All tiles are active in the first launch.
- Convergence: each launch sets its own slot of a small device flag array when any tile changed;
  the host reads the array back every ``LAUNCHES_PER_CHECK`` launches and stops at the first
  launch that changed nothing (the fixed point: every tile converged against unchanged halos).

Floating point
--------------
Products and sums go through ``dmul_rn``/``dadd_rn`` on the GPU, so the compiler cannot fuse
:math:`D \cdot D + m w^2` into a multiply-add; ``math.sqrt`` compiles to the correctly rounded
``sqrt.rn.f64``; absolute values and differences are exact IEEE operations. :math:`m w^2` is
:math:`(m \cdot w) \cdot w` computed on the host in float64, as centrosome computes it. Every
cost and every distance is therefore bit-identical to the C++ path.

Tie certificate (``exact=True``)
--------------------------------
After convergence one kernel examines every reached free pixel :math:`q` with distance
:math:`m = d(q)` and label :math:`\ell(q)`. A candidate :math:`d(p) \oplus c(p, q)` is *near*
when it is at most :math:`m + 2^{-50} m` (4 to 8 ulp above :math:`m`; centrosome's queue keys
drop the lowest mantissa bit, i.e. cannot tell apart values 1 ulp apart). :math:`q` is flagged
when

(A) a near candidate carries a label other than :math:`\ell(q)`, or
(B) a near candidate differs from :math:`m` while a near candidate's source :math:`p` has
    :math:`m \le d(p) + 2^{-50} d(p)` (an edge whose cost vanishes next to the distance: only
    with ``weight`` 0 or absurdly large distances).

If no pixel is flagged, the result equals centrosome's. Sketch, by induction over centrosome's
pop order: the popped pixels so far hold the fixed point's values. When :math:`q` is popped,
take the fixed point's shortest chain to :math:`q`; its first unpopped pixel :math:`x` has an
entry with a key at most that of :math:`d(x) \le m`, so :math:`q`'s key is at most key(m); if
the chain's last predecessor was not yet popped, all of :math:`d(x)`, the predecessor's
distance, :math:`m` and :math:`q`'s stored distance share one key, which (B) excludes.
So :math:`q` stores :math:`m`, and its label is that of an entry of key :math:`\mathrm{key}(m)`,
i.e. of a near candidate, whose label is :math:`\ell(q)` by (A). Hence flags need not propagate
downstream: a pixel whose label came through a flagged pixel is only wrong if the flagged one
is, and any flag sends the *whole* image to the sequential algorithm (``propagate_cpu`` on
host copies), the resolution the reference validated. Continuous images are (almost) never
flagged; quantised and flat images often are.

CPU proxy
---------
The per-pixel functions (edge cost, relaxation, certificate) are one Python source compiled
both with ``numba.njit`` and ``numba.cuda.jit(device=True)``. :func:`fixed_point_cpu` runs the
same relaxation to its (unique) fixed point with sequential raster sweeps, which is how the tie
rates of the fast path are measured on images too large for the simulator
(``benchmarks/propagate_ties.py``).
"""

from __future__ import annotations

import math

import numpy as np
from numba import cuda, float64, int32, njit, uint8

from .. import _gpu_rounding as rounding
from .. import _numba_cache
from .._backend import (
    Namespace,
    gpu_kernel,
    kernel_array,
    launch_config,
    simulator_enabled,
    to_numpy,
)

_numba_cache.register()

__all__ = ["propagate_gpu", "fixed_point_cpu", "TILE"]

TILE = 8 if simulator_enabled() else 32  # pixels per tile side (even)
HALO = TILE + 2  # tile plus a one-pixel halo on each side
HALF = TILE // 2  # pixels per colour class and tile row
MAX_INNER = TILE * TILE  # safety bound on the Gauss-Seidel rounds of one tile in one launch
LAUNCHES_PER_CHECK = 4  # tile passes launched between two convergence read-backs
THREADS = 256  # threads per block on a GPU: one pixel per colour class of a 32 x 32 tile
NO_LABEL = np.iinfo(np.int32).max  # label of pixels not reached (yet)
INF = math.inf
NEAR = 2.0**-50  # relative width of "near the minimum" in the certificate (4 to 8 ulp)
TINY = 4e-323  # 8 subnormal steps: "near" around 0
E, S, SE, SW = 0, 1, 2, 3  # cost planes: edge to (r, c+1), (r+1, c), (r+1, c+1), (r+1, c-1)


def _build(device, mul, add):
    """The per-pixel functions, compiled with ``device`` (njit or cuda.jit(device=True))."""

    @device
    def clamp(v, hi):
        return min(max(v, 0), hi)

    @device
    def edge_cost(image, r1, c1, r2, c2, mww):
        """centrosome's cost between (r1, c1) and (r2, c2); ``mww`` = (m * w) * w."""
        height = image.shape[0]
        width = image.shape[1]
        total = 0.0
        for di in range(-1, 2):
            a = clamp(r1 + di, height - 1)
            b = clamp(r2 + di, height - 1)
            for dj in range(-1, 2):
                v1 = image[a, clamp(c1 + dj, width - 1)]
                total += abs(v1 - image[b, clamp(c2 + dj, width - 1)])
        return math.sqrt(add(mul(total, total), mww))

    @device
    def offset(k):
        """The k-th 8-neighbour offset in centrosome's order (row -1..1 outer, col inner)."""
        kk = k + 1 if k >= 4 else k
        return kk // 3 - 1, kk % 3 - 1

    @device
    def stored_cost(costs, r, c, di, dj):
        """Cost of the edge between (r, c) and (r + di, c + dj), from the four planes."""
        if di == 0:
            return costs[E, r, c + min(dj, 0)]
        if di < 0:  # stored at the upper end, (r - 1, c + dj), pointing down to (+1, -dj)
            r = r - 1
            c = c + dj
            dj = -dj
        if dj == 0:
            return costs[S, r, c]
        if dj > 0:
            return costs[SE, r, c]
        return costs[SW, r, c]

    @device
    def fill_costs(image, costs, r, c, ww1, ww2):
        height = image.shape[0]
        width = image.shape[1]
        zero = float64(0.0)
        costs[E, r, c] = edge_cost(image, r, c, r, c + 1, ww1) if c + 1 < width else zero
        down = r + 1 < height
        costs[S, r, c] = edge_cost(image, r, c, r + 1, c, ww1) if down else zero
        costs[SE, r, c] = (
            edge_cost(image, r, c, r + 1, c + 1, ww2) if down and c + 1 < width else zero
        )
        costs[SW, r, c] = edge_cost(image, r, c, r + 1, c - 1, ww2) if down and c > 0 else zero

    @device
    def relax(dv, lv, base_r, base_c, costs, r, c, height, width):
        """The smallest (d, label) over (r, c)'s own pair and its neighbours' candidates.

        ``dv``/``lv`` hold pixel (i, j) at [i - base_r, j - base_c] (a shared-memory tile or
        the whole image); ``costs`` is indexed by image coordinates.
        """
        best_d = dv[r - base_r, c - base_c]
        best_l = lv[r - base_r, c - base_c]
        for k in range(8):
            di, dj = offset(k)
            rp = r + di
            cp = c + dj
            if rp < 0 or rp >= height or cp < 0 or cp >= width:
                continue
            dp = dv[rp - base_r, cp - base_c]
            if not dp < INF:
                continue
            cand = add(dp, stored_cost(costs, r, c, di, dj))
            lp = lv[rp - base_r, cp - base_c]
            if cand < best_d or (cand == best_d and lp < best_l):
                best_d = cand
                best_l = lp
        return best_d, best_l

    @device
    def near_limit(x):
        return add(add(x, mul(x, NEAR)), TINY)

    @device
    def certify(dv, lv, costs, r, c, height, width):
        """True when the tie certificate flags free, reached pixel (r, c) (conditions A, B)."""
        m = dv[r, c]
        label = lv[r, c]
        limit = near_limit(m)
        off_minimum = False
        flat_edge = False
        for k in range(8):
            di, dj = offset(k)
            rp = r + di
            cp = c + dj
            if rp < 0 or rp >= height or cp < 0 or cp >= width:
                continue
            dp = dv[rp, cp]
            if not dp < INF:
                continue
            cand = add(dp, stored_cost(costs, r, c, di, dj))
            if cand > limit:
                continue
            if lv[rp, cp] != label:
                return True  # (A)
            if cand != m:
                off_minimum = True
            if m <= near_limit(dp):
                flat_edge = True
        return off_minimum and flat_edge  # (B)

    return fill_costs, relax, certify


# -- GPU kernels ---------------------------------------------------------------------------------

_fill_costs_dev, _relax_dev, _certify_dev = _build(cuda.jit(device=True), rounding.mul, rounding.add)


@gpu_kernel("void(float64[:, ::1], float64, float64, float64[:, :, ::1])")
def edge_costs_gpu(image, ww1, ww2, costs):
    """``costs[k, r, c]``: cost of the edge from (r, c) to its E, S, SE, SW neighbour."""
    height = image.shape[0]
    width = image.shape[1]
    for p in range(cuda.grid(1), height * width, cuda.gridsize(1)):
        r = p // width
        _fill_costs_dev(image, costs, r, p - r * width, ww1, ww2)


@gpu_kernel(
    "void(float64[:, ::1], int32[:, ::1], float64[:, ::1], int32[:, ::1], uint8[:, ::1],"
    " float64[:, :, ::1], int32[:, ::1], int32[:, ::1], int32[::1], int64)"
)
def tile_pass_gpu(d_in, l_in, d_out, l_out, free, costs, active_in, active_out, changed, slot):
    """One pass over the active tiles: read (d_in, l_in), relax each tile to its local fixed
    point, write (d_out, l_out). ``active_out[tile]`` = 1 where the tile changed, and
    ``changed[slot]`` = 1 when any did. One block per tile (block-stride loop over tiles)."""
    height = d_in.shape[0]
    width = d_in.shape[1]
    tiles_r = active_in.shape[0]
    tiles_c = active_in.shape[1]
    ds = cuda.shared.array((HALO, HALO), float64)
    ls = cuda.shared.array((HALO, HALO), int32)
    fs = cuda.shared.array((TILE, TILE), uint8)
    tid = cuda.threadIdx.x
    n_threads = cuda.blockDim.x
    for tile in range(cuda.blockIdx.x, tiles_r * tiles_c, cuda.gridDim.x):
        tr = tile // tiles_c
        tc = tile - tr * tiles_c
        active = 0
        for a in range(max(tr - 1, 0), min(tr + 2, tiles_r)):
            for b in range(max(tc - 1, 0), min(tc + 2, tiles_c)):
                active |= active_in[a, b]
        if active == 0:  # the same decision in every thread of the block
            if tid == 0:
                active_out[tr, tc] = 0
            continue
        base_r = tr * TILE - 1  # image coordinates of shared [0, 0]
        base_c = tc * TILE - 1
        for k in range(tid, HALO * HALO, n_threads):
            i = k // HALO
            j = k - i * HALO
            r = base_r + i
            c = base_c + j
            if r >= 0 and r < height and c >= 0 and c < width:
                ds[i, j] = d_in[r, c]
                ls[i, j] = l_in[r, c]
            else:
                ds[i, j] = INF
                ls[i, j] = NO_LABEL
        for k in range(tid, TILE * TILE, n_threads):
            i = k // TILE
            j = k - i * TILE
            r = base_r + 1 + i
            c = base_c + 1 + j
            fs[i, j] = free[r, c] if r < height and c < width else uint8(0)
        cuda.syncthreads()
        tile_changed = 0
        for sweep in range(MAX_INNER):
            updated = 0
            for step in range(4):
                colour = step if sweep % 2 == 0 else 3 - step  # alternate the sweep direction
                ci = colour // 2
                cj = colour - 2 * ci
                for k in range(tid, HALF * HALF, n_threads):
                    i = 2 * (k // HALF) + ci
                    j = 2 * (k % HALF) + cj
                    if fs[i, j] != 0:
                        bd, bl = _relax_dev(
                            ds, ls, base_r, base_c, costs, base_r + 1 + i, base_c + 1 + j,
                            height, width,
                        )
                        if bd != ds[i + 1, j + 1] or bl != ls[i + 1, j + 1]:
                            ds[i + 1, j + 1] = bd
                            ls[i + 1, j + 1] = bl
                            updated = 1
                cuda.syncthreads()
            if cuda.syncthreads_or(updated) == 0:
                break
            tile_changed = 1
        for k in range(tid, TILE * TILE, n_threads):
            i = k // TILE
            j = k - i * TILE
            r = base_r + 1 + i
            c = base_c + 1 + j
            if r < height and c < width:
                d_out[r, c] = ds[i + 1, j + 1]
                l_out[r, c] = ls[i + 1, j + 1]
        if tid == 0:
            active_out[tr, tc] = tile_changed
            if tile_changed != 0:
                changed[slot] = 1
        cuda.syncthreads()  # the next tile reuses the shared arrays


@gpu_kernel(
    "void(float64[:, ::1], int32[:, ::1], uint8[:, ::1], float64[:, :, ::1], uint8[:, ::1])"
)
def certificate_gpu(dist, lab, free, costs, flags):
    """``flags[r, c]`` = 1 where the tie certificate flags a free, reached pixel, else 0."""
    height = dist.shape[0]
    width = dist.shape[1]
    for p in range(cuda.grid(1), height * width, cuda.gridsize(1)):
        r = p // width
        c = p - r * width
        flag = uint8(0)
        if free[r, c] != 0 and dist[r, c] < INF:
            if _certify_dev(dist, lab, costs, r, c, height, width):
                flag = uint8(1)
        flags[r, c] = flag


# -- the same update rule on the CPU (tie-rate measurement, large-image tests) -----------------


@njit(cache=True)
def _mul_cpu(a, b):
    return a * b


@njit(cache=True)
def _add_cpu(a, b):
    return a + b


_fill_costs_cpu, _relax_cpu, _certify_cpu = _build(njit(cache=True), _mul_cpu, _add_cpu)


@njit(cache=True)
def _edge_costs_cpu(image, ww1, ww2, costs):
    for r in range(image.shape[0]):
        for c in range(image.shape[1]):
            _fill_costs_cpu(image, costs, r, c, ww1, ww2)


@njit(cache=True)
def _sweep_cpu(dist, lab, free, costs, backward):
    height, width = dist.shape
    updated = False
    for k in range(height * width):
        p = height * width - 1 - k if backward else k
        r = p // width
        c = p - r * width
        if free[r, c] == 0:
            continue
        bd, bl = _relax_cpu(dist, lab, 0, 0, costs, r, c, height, width)
        if bd != dist[r, c] or bl != lab[r, c]:
            dist[r, c] = bd
            lab[r, c] = bl
            updated = True
    return updated


@njit(cache=True)
def _certificate_cpu(dist, lab, free, costs, flags):
    height, width = dist.shape
    for r in range(height):
        for c in range(width):
            flags[r, c] = 0
            if free[r, c] != 0 and dist[r, c] < INF:
                if _certify_cpu(dist, lab, costs, r, c, height, width):
                    flags[r, c] = 1


def _initial_state(xp, labels, mask):
    seed = mask & (labels > 0)
    free = (mask & (labels == 0)).astype(xp.uint8)
    dist = xp.where(seed, 0.0, INF).astype(xp.float64)
    lab = xp.where(seed, labels, NO_LABEL).astype(xp.int32)
    return free, dist, lab


def _host_weights(weight: float) -> tuple[float, float]:
    """(m * w) * w for m = 1 and 2, in float64 as centrosome computes them."""
    w = float(weight)
    return (1.0 * w) * w, (2.0 * w) * w


def _finish(xp, labels, dist, lab):
    reached = dist < INF
    labels_out = xp.where(reached, lab, 0).astype(xp.int32)
    distances = xp.where(labels > 0, 0.0, xp.where(reached, dist, -1.0)).astype(xp.float64)
    return labels_out, distances


def fixed_point_cpu(image, labels, mask, weight):
    """The GPU solver's result computed on the CPU with the same per-pixel functions.

    Sequential raster sweeps (forward, backward, ...) of the same relaxation until nothing
    changes; the fixed point is unique, so this is the GPU path's ``exact=False`` output.

    Returns
    -------
    labels_out, distances : as :func:`propagate_gpu` (numpy)
    flags : ndarray of uint8, the tie certificate
    sweeps : int
    """
    image = np.ascontiguousarray(image, dtype=np.float64)
    labels = np.ascontiguousarray(labels, dtype=np.int32)
    mask = np.asarray(mask, dtype=bool)
    free, dist, lab = _initial_state(np, labels, mask)
    costs = np.zeros((4,) + image.shape, dtype=np.float64)
    ww1, ww2 = _host_weights(weight)
    _edge_costs_cpu(image, ww1, ww2, costs)
    sweeps = 0
    while True:
        updated = _sweep_cpu(dist, lab, free, costs, sweeps % 2 == 1)
        sweeps += 1
        if not updated:
            break
    flags = np.zeros(image.shape, dtype=np.uint8)
    _certificate_cpu(dist, lab, free, costs, flags)
    labels_out, distances = _finish(np, labels, dist, lab)
    return labels_out, distances, flags, sweeps


# -- launcher ------------------------------------------------------------------------------------


def propagate_gpu(ns: Namespace, image, labels, mask, weight, *, exact, certify=None):
    """centrosome's propagation by the tiled parallel solver.

    Parameters
    ----------
    ns : Namespace
        ``target == "cuda"``; ``ns.xp`` is cupy on a GPU, numpy under the simulator.
    image : ndarray of float64, shape (H, W), C-contiguous
    labels : ndarray of int32, shape (H, W), >= 0
    mask : ndarray of bool, shape (H, W)
    weight : float, >= 0
    exact : bool
        Run the tie certificate and, when it flags any pixel, recompute the whole image with
        the sequential algorithm (:func:`._propagate_cpu.propagate_cpu`) on host copies.
    certify : bool, optional
        Run the certificate (default: ``exact``). ``certify=True, exact=False`` reports the
        flags without falling back (tests and tie-rate measurements).

    Returns
    -------
    labels_out : ndarray of int32, shape (H, W)
        0 where no seed reached and at labelled pixels outside the mask.
    distances : ndarray of float64, shape (H, W)
        0 at every labelled pixel, -1 where no seed reached.
    info : dict
        ``backend`` ("cuda"), ``exact``, ``simulated``, ``tile``, ``launches`` (tile passes),
        ``checks`` (convergence read-backs), ``flagged`` (pixels flagged by the certificate,
        None when not run), ``flags`` (the uint8 flag image when run), ``fell_back``.
    """
    xp = ns.xp
    certify = bool(exact) if certify is None else bool(certify)
    height, width = labels.shape
    info = dict(backend="cuda", exact=bool(exact), simulated=bool(ns.simulated), tile=TILE,
                launches=0, checks=0, flagged=None, fell_back=False)
    if height * width == 0:
        return xp.zeros(labels.shape, xp.int32), xp.zeros(labels.shape, xp.float64), info

    free, dist_a, lab_a = _initial_state(xp, labels, mask)
    dist_b = dist_a.copy()
    lab_b = lab_a.copy()
    costs = xp.zeros((4, height, width), dtype=xp.float64)
    tiles = (-(-height // TILE), -(-width // TILE))
    active_a = xp.ones(tiles, dtype=xp.int32)
    active_b = xp.zeros(tiles, dtype=xp.int32)
    changed = xp.zeros(LAUNCHES_PER_CHECK, dtype=xp.int32)
    k_image, k_free, k_costs, k_changed = (
        kernel_array(ns, a) for a in (image, free, costs, changed)
    )
    states = ((dist_a, lab_a), (dist_b, lab_b))
    views = [[kernel_array(ns, a) for a in (dist_a, lab_a, active_a)],
             [kernel_array(ns, a) for a in (dist_b, lab_b, active_b)]]

    ww1, ww2 = _host_weights(weight)
    blocks, threads = launch_config(height * width)
    edge_costs_gpu[blocks, threads](k_image, ww1, ww2, k_costs)

    n_tiles = tiles[0] * tiles[1]
    tile_blocks = launch_config(n_tiles, 1)[0]
    tile_threads = launch_config(THREADS, THREADS)[1]  # THREADS on a GPU, 4 when simulated
    max_launches = 2 * height * width + 16  # never reached: a fixed point comes long before
    current = 0  # index of the state the next launch reads
    while True:
        changed[...] = 0
        for slot in range(LAUNCHES_PER_CHECK):
            d_in, l_in, act_in = views[current]
            d_out, l_out, act_out = views[1 - current]
            tile_pass_gpu[tile_blocks, tile_threads](
                d_in, l_in, d_out, l_out, k_free, k_costs, act_in, act_out, k_changed, slot
            )
            current = 1 - current
            info["launches"] += 1
        info["checks"] += 1
        if not to_numpy(changed).all():  # a launch changed nothing: both states are final
            break
        if info["launches"] > max_launches:  # pragma: no cover - monotone, cannot happen
            raise RuntimeError("propagate_gpu did not converge")
    dist, lab = states[current]

    if certify:
        flags = xp.zeros((height, width), dtype=xp.uint8)
        certificate_gpu[blocks, threads](
            kernel_array(ns, dist), kernel_array(ns, lab), k_free, k_costs,
            kernel_array(ns, flags),
        )
        info["flagged"] = int(xp.count_nonzero(flags))
        info["flags"] = flags

    if exact and info["flagged"]:
        from ._propagate_cpu import propagate_cpu

        labels_out, distances, cpu_info = propagate_cpu(
            to_numpy(image), to_numpy(labels), to_numpy(mask), weight
        )
        info["fell_back"] = True
        info["cpu"] = cpu_info
        return xp.asarray(labels_out), xp.asarray(distances), info

    labels_out, distances = _finish(xp, labels, dist, lab)
    return labels_out, distances, info
