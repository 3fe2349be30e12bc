"""HOG per-pixel and per-block math, written once and compiled for both kernel sets.

The plain Python functions here are compiled with ``numba.njit`` by :mod:`._hog_cpu` and with
``numba.cuda.jit(device=True)`` by :mod:`._hog_gpu` (and run as Python by the CUDA simulator),
so the CPU kernels, the GPU kernels and the simulator share every arithmetic step. Every value
is an explicit float64 or float32 so that numba (numba's typing rules) and the simulator
(NumPy's rules) round identically.

Arithmetic follows ``skimage.feature.hog`` (scikit-image 0.26) step by step:

- gradients in the working dtype (float32 results are float32-rounded differences);
- the channel of largest gradient magnitude in the working dtype, first on ties, NaN first;
- magnitude ``hypot(g_col, g_row)`` and orientation ``rad2deg(arctan2(g_row, g_col)) % 180``
  in float64; the float32 running totals get the C library's ``hypot`` bit for bit, mostly
  through a cheaper square root whose error provably cannot change the float32 result
  (``vote``);
- bin ``i`` holds ``edge(i) <= theta < edge(i + 1)`` with ``edge(i) = (180 / n) * i`` in float64;
  a NaN orientation (NaN gradients, from ``transform_sqrt`` of negative pixels) votes into
  every bin, because scikit-image's two exclusion tests are both false for NaN. Pixels farther
  than 1e-12 rad from every edge are binned without arctan2 (cross products with the edge
  directions, ``fast_bin``), the others from the orientation: special gradients exactly as
  NumPy gives them, the rest from arctan2 (the CPU launcher passes NumPy's own, see
  ``pyhcs.features.hog._cells_cpu``);
- block sums reproduce NumPy's pairwise summation of a contiguous array bit for bit.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np
from numba import float32, float64, int64

#: degrees per radian, as ``numpy.rad2deg`` multiplies
RAD2DEG = 180.0 / math.pi
EPS = 1e-5
EPS2 = EPS**2

#: block normalisation codes
BLOCK_NORMS = {"L1": 0, "L1-sqrt": 1, "L2": 2, "L2-Hys": 3}
#: orientations handled by one GPU thread (its local accumulator size)
ORIENTATION_CHUNK = 32
#: depth of the explicit stack that evaluates NumPy's pairwise-summation tree
PAIRWISE_STACK = 64


def _numpy_orientation(g_row: float, g_col: float) -> float:
    value = np.rad2deg(np.arctan2(np.float64(g_row), np.float64(g_col))) % 180
    return float(value)


# Exactly diagonal gradients (|g_row| == |g_col|) are common on integer images and sit exactly
# on a bin edge for 4, 8, 12, ... orientations. NumPy may use a vectorised arctan2 that differs
# from the C library (and from CUDA) by an ulp, so these four orientations are taken from NumPy
# itself; NumPy returns the same value for every magnitude.
THETA_PP = _numpy_orientation(1.0, 1.0)
THETA_NN = _numpy_orientation(-1.0, -1.0)
THETA_PN = _numpy_orientation(1.0, -1.0)
THETA_NP = _numpy_orientation(-1.0, 1.0)


def edge_directions(n_orient: int) -> np.ndarray:
    """(n_orient + 1, 2) float64: cos and sin of every bin edge ``(180 / n) * k`` degrees."""
    per180 = 180.0 / n_orient
    angles = [math.radians(per180 * k) for k in range(n_orient + 1)]
    return np.array([[math.cos(a), math.sin(a)] for a in angles], dtype=np.float64)


#: a pixel whose orientation is within this many radians (relative to |g_row| + |g_col|) of a
#: bin edge, 0 or 180 degrees takes the exact arctan2 path; elsewhere every arctan2 accurate to
#: a few ulps (1e-15 rad) puts it in the same bin as the cross-product test
EDGE_MARGIN = 1e-12
#: relative slack (2**-48) around sqrt(x**2 + y**2) that surely holds the C library's hypot
VOTE_SLACK = 2.0**-48
#: up to this many orientations the edges are tested one by one (no branches), else bisected
LINEAR_SEARCH_MAX = 24
#: gradients outside this range take the exact path (products could underflow or overflow)
TINY = 1e-280
HUGE = 1e280


class PixelFunctions(NamedTuple):
    hog_gradient: Any
    fast_bin: Any
    special_orientation: Any
    atan2_orientation: Any
    theta_bin: Any
    vote: Any


def make_pixel_functions(jit):
    """The per-pixel functions compiled with ``jit`` (``njit`` or ``cuda.jit(device=True)``).

    Returns a :class:`PixelFunctions`. A kernel bins a pixel with ``fast_bin`` and, where it
    gives -2, with ``theta_bin`` of ``special_orientation`` or, where that is -1.0, of an
    arctan2 orientation (``atan2_orientation``, or NumPy's own, computed on the host).
    """

    def channel_magnitude(gr, gc, is_f32):
        # numpy.hypot of one channel's gradients in the working dtype, as float64. float32:
        # products of float32 values are exact in float64 (a fused multiply-add gives the same
        # sum), the float64 square root is correctly rounded and rounding it to float32 is then
        # exact, which equals numpy.hypot on float32 bit for bit.
        if is_f32:
            return float64(float32(math.sqrt(gr * gr + gc * gc)))
        return math.hypot(gr, gc)

    channel_magnitude = jit(channel_magnitude)

    def hog_gradient(image, n, r, c, height, width, n_channels, is_f32):
        """Gradients ``(g_row, g_col)`` of pixel (r, c) of image n, as float64.

        ``image`` is (N, H, W, C) of any real dtype; values are read as float64 and, when
        ``is_f32``, differences and channel magnitudes are rounded to float32 as scikit-image
        computes them on a float32 working image.
        """
        g_row = float64(0.0)
        g_col = float64(0.0)
        best = float64(0.0)
        for ch in range(n_channels):
            gr = float64(0.0)
            gc = float64(0.0)
            if r > 0 and r < height - 1:
                gr = float64(image[n, r + 1, c, ch]) - float64(image[n, r - 1, c, ch])
            if c > 0 and c < width - 1:
                gc = float64(image[n, r, c + 1, ch]) - float64(image[n, r, c - 1, ch])
            if is_f32:
                gr = float64(float32(gr))
                gc = float64(float32(gc))
            if ch == 0:
                g_row = gr
                g_col = gc
                if n_channels > 1:
                    best = channel_magnitude(gr, gc, is_f32)
            else:
                key = channel_magnitude(gr, gc, is_f32)
                # numpy.argmax: the first maximum, and the first NaN wins over everything
                if best == best and (key > best or key != key):
                    best = key
                    g_row = gr
                    g_col = gc
        return g_row, g_col

    def special_orientation(g_row, g_col):
        """The orientation of gradients that need no arctan2 (NaN, zero, axis-aligned or
        diagonal ones), exactly as NumPy computes it; -1.0 for every other gradient."""
        if g_row != g_row or g_col != g_col:
            return float64(math.nan)
        if g_row == 0.0:
            return float64(0.0)  # atan2 gives +-0 or +-pi: 0 after the remainder
        if g_col == 0.0:
            return float64(90.0)  # +-pi/2 times RAD2DEG rounds to +-90 exactly
        if g_row == g_col:
            return THETA_PP if g_row > 0.0 else THETA_NN
        if g_row == -g_col:
            return THETA_PN if g_row > 0.0 else THETA_NP
        return float64(-1.0)

    special_orientation = jit(special_orientation)

    def atan2_orientation(g_row, g_col):
        """``rad2deg(arctan2(g_row, g_col)) % 180`` with this target's arctan2."""
        theta = math.atan2(g_row, g_col) * RAD2DEG
        # numpy.remainder(theta, 180): a tiny negative angle becomes exactly 180.0.
        # |theta| <= 180 (pi times RAD2DEG rounds to 180.0), so fmod(theta, 180) is theta
        # itself below 180 and the exact difference theta -+ 180 from there (Sterbenz).
        if theta >= 180.0:
            theta = theta - 180.0
        elif theta <= -180.0:
            theta = theta + 180.0
        if theta != 0.0:
            if theta < 0.0:
                theta += 180.0
        else:
            theta = float64(0.0)
        return theta

    atan2_orientation = jit(atan2_orientation)

    def theta_bin(theta, per180, n_orient):
        """The bin of orientation ``theta`` as scikit-image tests it: -1 for none (theta
        past the last edge), n_orient for every bin (NaN)."""
        if theta != theta:
            return int64(n_orient)
        b = int64(theta / per180)
        if b > n_orient - 1:
            b = int64(n_orient - 1)
        if b < 0:
            b = int64(0)
        while b > 0 and theta < per180 * float64(b):
            b -= 1
        while b < n_orient - 1 and theta >= per180 * float64(b + 1):
            b += 1
        if theta < per180 * float64(b) or theta >= per180 * float64(b + 1):
            return int64(-1)
        return b

    theta_bin = jit(theta_bin)

    def fast_bin(g_row, g_col, directions, n_orient):
        """Orientation bin without arctan2, or ``-2`` where the orientation must decide.

        Fold the gradient into the upper half plane and locate it between the bin edges by
        the signs of its cross products with the edge directions. A pixel within EDGE_MARGIN
        of an edge, of 0 or of 180 degrees, or with special gradients (zero, diagonal, NaN,
        tiny or huge) is left to the exact path. Branch-free up to LINEAR_SEARCH_MAX
        orientations (the sign of g_row is random: branches cost more than arithmetic here),
        a bisection above.
        """
        sign = float64(1.0) if g_row >= 0.0 else float64(-1.0)
        x = g_col * sign
        y = g_row * sign
        scale = abs(x) + y
        threshold = EDGE_MARGIN * scale
        regular = (y > threshold) & (scale > TINY) & (scale < HUGE) & (abs(x) != y)
        if n_orient <= LINEAR_SEARCH_MAX:
            count = int64(0)
            near = False
            for k in range(1, n_orient):
                cross = directions[k, 0] * y - directions[k, 1] * x
                count += int64(cross > 0.0)
                near = near | (abs(cross) <= threshold)
            if regular and not near:
                return count
            return int64(-2)
        if not regular:
            return int64(-2)
        lo = int64(0)
        hi = int64(n_orient - 1)
        while lo < hi:
            mid = (lo + hi + 1) // 2
            cross = directions[mid, 0] * y - directions[mid, 1] * x
            if abs(cross) <= threshold:
                return int64(-2)
            if cross > 0.0:
                lo = mid
            else:
                hi = mid - 1
        return lo

    def vote(total, g_col, g_row):
        """``float32(float64(total) + hypot(g_col, g_row))``, scikit-image's float32 running
        total, with the C library's ``hypot``, mostly without calling it.

        ``h = sqrt(g_col**2 + g_row**2)`` is within 2.0001 u of the true magnitude
        (u = 2**-53) and the C library's ``hypot`` within 1 ulp (2 u), so the library's value
        lies in ``[h - h * 2**-48, h + h * 2**-48]`` (rounding of the bounds included). Both
        roundings are monotone: when both ends of that interval give the same float32 total,
        so does the library's value. Otherwise (about 1e-7 of the pixels), and for gradients
        whose squares could over- or underflow, or NaN, ``hypot`` is called.
        """
        if g_col == 0.0 and g_row == 0.0:
            return total  # float32(total + 0.0) is total
        a_col = abs(g_col)
        a_row = abs(g_row)
        # (every comparison is false for NaN: NaN goes to hypot)
        if a_col < 1e150 and a_row < 1e150 and (a_col > 1e-140 or a_row > 1e-140):
            h = math.sqrt(g_col * g_col + g_row * g_row)
            slack = h * VOTE_SLACK
            low = float32(float64(total) + (h - slack))
            high = float32(float64(total) + (h + slack))
            if low == high:
                return low
        return float32(float64(total) + math.hypot(g_col, g_row))

    return PixelFunctions(
        jit(hog_gradient), jit(fast_bin), special_orientation, atan2_orientation, theta_bin,
        jit(vote),
    )


def make_block_functions(jit, mul):
    """``normalize_block`` compiled with ``jit``, using ``mul(a, b)`` for products that are summed.

    On the GPU ``mul`` is a round-to-nearest multiply intrinsic, so the compiler cannot fuse
    the square into the following addition (scikit-image rounds both).
    """

    def take(hist, n, row0, col0, i, m, row_length, kind, den):
        # the block value at row i, offset m (a row of the block is contiguous in ``hist``,
        # (N, n_cells_row, n_cells_col * n_orient)), transformed for the sum of kind 0 (|v|),
        # 1 (v^2) or 2 (min(v / den, 0.2)^2); and the cursor moved to the next value in
        # (cell row, cell col, orientation) order, without an integer division
        v = float64(hist[n, row0 + i, col0 + m])
        m += 1
        if m == row_length:
            m = 0
            i += 1
        if kind == 0:
            return abs(v), i, m
        if kind == 1:
            return mul(v, v), i, m
        w = v / den
        if w > 0.2:
            w = float64(0.2)
        return mul(w, w), i, m

    take = jit(take)

    def block_leaf(hist, n, br, bc, lo, count, b_col, n_orient, kind, den):
        # numpy's pairwise_sum of values lo .. lo + count - 1 (count <= 128): eight
        # interleaved partial sums, read in increasing order
        row_length = b_col * n_orient
        col0 = bc * n_orient
        i = lo // row_length
        m = lo - i * row_length
        if count < 8:
            res = float64(0.0)
            for _ in range(count):
                v, i, m = take(hist, n, br, col0, i, m, row_length, kind, den)
                res += v
            return res
        r0, i, m = take(hist, n, br, col0, i, m, row_length, kind, den)
        r1, i, m = take(hist, n, br, col0, i, m, row_length, kind, den)
        r2, i, m = take(hist, n, br, col0, i, m, row_length, kind, den)
        r3, i, m = take(hist, n, br, col0, i, m, row_length, kind, den)
        r4, i, m = take(hist, n, br, col0, i, m, row_length, kind, den)
        r5, i, m = take(hist, n, br, col0, i, m, row_length, kind, den)
        r6, i, m = take(hist, n, br, col0, i, m, row_length, kind, den)
        r7, i, m = take(hist, n, br, col0, i, m, row_length, kind, den)
        stop = count - count % 8
        k = 8
        while k < stop:
            v, i, m = take(hist, n, br, col0, i, m, row_length, kind, den)
            r0 += v
            v, i, m = take(hist, n, br, col0, i, m, row_length, kind, den)
            r1 += v
            v, i, m = take(hist, n, br, col0, i, m, row_length, kind, den)
            r2 += v
            v, i, m = take(hist, n, br, col0, i, m, row_length, kind, den)
            r3 += v
            v, i, m = take(hist, n, br, col0, i, m, row_length, kind, den)
            r4 += v
            v, i, m = take(hist, n, br, col0, i, m, row_length, kind, den)
            r5 += v
            v, i, m = take(hist, n, br, col0, i, m, row_length, kind, den)
            r6 += v
            v, i, m = take(hist, n, br, col0, i, m, row_length, kind, den)
            r7 += v
            k += 8
        res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
        while k < count:
            v, i, m = take(hist, n, br, col0, i, m, row_length, kind, den)
            res += v
            k += 1
        return res

    block_leaf = jit(block_leaf)

    def block_sum(hist, n, br, bc, length, b_col, n_orient, kind, den, nodes, values):
        """``numpy.sum`` of the transformed block (``0.0 + pairwise_sum``), bit for bit.

        NumPy splits a run longer than 128 into halves rounded down to a multiple of 8; the
        tree is walked with an explicit stack: ``nodes`` (PAIRWISE_STACK, 3) int64 rows of
        (start, count, stage) and ``values`` (PAIRWISE_STACK,) float64 partial sums.
        """
        if length <= 128:
            return 0.0 + block_leaf(hist, n, br, bc, 0, length, b_col, n_orient, kind, den)
        top = 0
        n_values = 0
        nodes[0, 0] = 0
        nodes[0, 1] = length
        nodes[0, 2] = 0
        while top >= 0:
            lo = nodes[top, 0]
            count = nodes[top, 1]
            if count <= 128:
                values[n_values] = block_leaf(
                    hist, n, br, bc, lo, count, b_col, n_orient, kind, den
                )
                n_values += 1
                top -= 1
                continue
            half = count // 2
            half -= half % 8
            stage = nodes[top, 2]
            if stage == 0:
                nodes[top, 2] = 1
                top += 1
                nodes[top, 0] = lo
                nodes[top, 1] = half
                nodes[top, 2] = 0
            elif stage == 1:
                nodes[top, 2] = 2
                top += 1
                nodes[top, 0] = lo + half
                nodes[top, 1] = count - half
                nodes[top, 2] = 0
            else:
                right = values[n_values - 1]
                left = values[n_values - 2]
                n_values -= 1
                values[n_values - 1] = left + right
                top -= 1
        return 0.0 + values[0]

    block_sum = jit(block_sum)

    def normalize_block(hist, n, br, bc, b_row, b_col, n_orient, method, out, nodes, values):
        """Normalise block ``(br, bc)`` of image ``n`` into ``out[n, br, bc]`` (any float dtype).

        ``hist`` is (N, n_cells_row, n_cells_col * n_orient) and ``out`` is
        (N, n_blocks_row, n_blocks_col, b_row, b_col * n_orient): views of the 4-D cell
        histograms and the 6-D blocks.

        L1: v / (sum|v| + eps); L1-sqrt: sqrt of L1; L2: v / sqrt(sum v^2 + eps^2);
        L2-Hys: L2, clipped at 0.2, then L2 again; eps = 1e-5, all in float64.
        """
        length = b_row * b_col * n_orient
        den = float64(1.0)
        den2 = float64(1.0)
        if method <= 1:
            den = block_sum(hist, n, br, bc, length, b_col, n_orient, 0, den, nodes, values) + EPS
        else:
            den = math.sqrt(
                block_sum(hist, n, br, bc, length, b_col, n_orient, 1, den, nodes, values) + EPS2
            )
            if method == 3:
                den2 = math.sqrt(
                    block_sum(hist, n, br, bc, length, b_col, n_orient, 2, den, nodes, values)
                    + EPS2
                )
        row_length = b_col * n_orient
        for i in range(b_row):
            for m in range(row_length):
                v = float64(hist[n, br + i, bc * n_orient + m]) / den
                if method == 1:
                    v = math.sqrt(v)
                elif method == 3:
                    if v > 0.2:
                        v = float64(0.2)
                    v = v / den2
                out[n, br, bc, i, m] = v

    return jit(normalize_block)
