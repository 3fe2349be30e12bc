r"""Per-pixel and per-object arithmetic of :func:`pyhcs.features.granularity`, one Python
source compiled for the CPU (``numba.njit``) and the GPU (CUDA device functions) by
:func:`compile_with`.

Every floating-point step is the reference's, in its order: bilinear samples are scipy's
``map_coordinates(order=1, mode="constant")`` (:func:`bilinear`), morphology is an exact min
or max over the footprint with scipy's ``"reflect"`` border (:func:`morph_pixel`), and each
object's sums run sequentially over its pixels in raster order with explicit ``mul``/``add``
(round-to-nearest intrinsics on the GPU, where the compiler would otherwise fuse them), so
both devices give the same bits.
"""

from __future__ import annotations

import math

from ._compile import compile_shared

_EPS = 2.220446049250313e-16  # numpy.finfo(float).eps, CellProfiler's floor of a start mean


def _plain_mul(a, b):
    return a * b


def _plain_add(a, b):
    return a + b


# the plain-Python arithmetic; compile_with() rebinds both for each device
_mul = _plain_mul
_add = _plain_add


def reflect_index(i, n):
    """scipy's ``"reflect"`` border (``d c b a | a b c d | d c b a``), repeated with period
    ``2 n`` so that offsets larger than the image stay defined."""
    period = 2 * n
    i = i % period
    if i < 0:
        i += period
    if i >= n:
        i = period - 1 - i
    return i


def bilinear(image, y, x):
    """scipy ``map_coordinates(image, [[y], [x]], order=1, mode="constant", cval=0)`` in
    float64: 0 outside ``[0, h - 1] x [0, w - 1]``; else, with :math:`y_0 = \\lfloor y
    \\rfloor`, :math:`t_y = y - y_0` (likewise x), the corners (0, 0), (0, 1), (1, 0), (1, 1)
    added in that order from 0 as ``(image[y0 + a, x0 + c] * wy[a]) * wx[c]``,
    ``wy = (1 - t_y, t_y)``. A corner past the last row or column only occurs with weight 0
    and reads the last one."""
    h = image.shape[0]
    w = image.shape[1]
    if y < 0.0 or y > h - 1 or x < 0.0 or x > w - 1:
        return 0.0
    y0 = int(math.floor(y))
    x0 = int(math.floor(x))
    ty = y - y0
    tx = x - x0
    y1 = min(y0 + 1, h - 1)
    x1 = min(x0 + 1, w - 1)
    wy0 = 1.0 - ty
    wx0 = 1.0 - tx
    value = 0.0
    value = _add(value, _mul(_mul(image[y0, x0], wy0), wx0))
    value = _add(value, _mul(_mul(image[y0, x1], wy0), tx))
    value = _add(value, _mul(_mul(image[y1, x0], ty), wx0))
    value = _add(value, _mul(_mul(image[y1, x1], ty), tx))
    return value


def morph_pixel(image, mask, i, j, dy, dx, reach, take_max):
    """The minimum (``take_max`` False) or maximum of ``image * mask`` over the footprint
    offsets ``(dy[k], dx[k])`` (all within ``reach`` of the centre) around ``(i, j)``,
    reflected at the borders: scipy's ``grey_erosion`` / ``grey_dilation`` of CellProfiler's
    masked image (pixels outside the uint8 ``mask`` read as 0)."""
    h = image.shape[0]
    w = image.shape[1]
    best = image[i, j] if mask[i, j] != 0 else 0.0  # the centre is in every footprint
    interior = i >= reach and i < h - reach and j >= reach and j < w - reach
    for k in range(dy.shape[0]):
        r = i + dy[k]
        c = j + dx[k]
        if not interior:
            r = reflect_index(r, h)
            c = reflect_index(c, w)
        value = image[r, c] if mask[r, c] != 0 else 0.0
        if take_max:
            if value > best:
                best = value
        elif value < best:
            best = value
    return best


def cross_erosion(image, mask, i, j):
    """:func:`morph_pixel`'s minimum over the 4-neighbour cross: a neighbour off the image
    reflects onto the pixel itself, so only the centre and the neighbours inside count."""
    h = image.shape[0]
    w = image.shape[1]
    best = image[i, j] if mask[i, j] != 0 else 0.0
    if i > 0:
        value = image[i - 1, j] if mask[i - 1, j] != 0 else 0.0
        if value < best:
            best = value
    if i < h - 1:
        value = image[i + 1, j] if mask[i + 1, j] != 0 else 0.0
        if value < best:
            best = value
    if j > 0:
        value = image[i, j - 1] if mask[i, j - 1] != 0 else 0.0
        if value < best:
            best = value
    if j < w - 1:
        value = image[i, j + 1] if mask[i, j + 1] != 0 else 0.0
        if value < best:
            best = value
    return best


def object_spectrum(row, slot, offsets, pixels, width, original, mask, row_y0, row_ty,
                    col_x0, col_tx, stack, round32, sums, out):
    """Granularity spectrum of one object (slot ``slot``) into ``out[row, :]``.

    For the unmasked pixels :math:`p` of the object (CSR ``pixels[offsets[slot]:offsets[slot
    + 1]]``, raster order), sequentially: :math:`m_0 = \\sum I_0(p) / n` and, for every step
    :math:`g`, :math:`m_g = \\sum U_g(p) / n` with :math:`U_g(p)` the bilinear sample of
    ``stack[g]`` at the pixel's restored coordinate (``row_y0``/``row_ty``: the floor and
    fraction per image row, ``row_y0 < 0`` outside the grid, where :math:`U_g = 0`; likewise
    per column), rounded to float32 when ``round32`` (CellProfiler restores a float32 image).
    Then ``out[row, g - 1] = (m_{g-1} - m_g) * 100 / max(m_0, eps)``. ``sums`` is this row's
    scratch (``stack.shape[0]`` floats). No unmasked pixel: NaN.
    """
    n_steps = stack.shape[0]
    h = stack.shape[1]
    w = stack.shape[2]
    for g in range(n_steps):
        sums[g] = 0.0
    total = 0.0
    count = 0
    for k in range(offsets[slot], offsets[slot + 1]):
        p = pixels[k]
        if mask[p] == 0:
            continue
        count += 1
        total = _add(total, float(original[p]))
        i = p // width
        j = p - i * width
        y0 = row_y0[i]
        x0 = col_x0[j]
        if y0 < 0 or x0 < 0:
            continue  # restored outside the grid: U = 0 adds nothing
        ty = row_ty[i]
        tx = col_tx[j]
        y1 = min(y0 + 1, h - 1)
        x1 = min(x0 + 1, w - 1)
        wy0 = 1.0 - ty
        wx0 = 1.0 - tx
        for g in range(n_steps):
            value = 0.0
            value = _add(value, _mul(_mul(stack[g, y0, x0], wy0), wx0))
            value = _add(value, _mul(_mul(stack[g, y0, x1], wy0), tx))
            value = _add(value, _mul(_mul(stack[g, y1, x0], ty), wx0))
            value = _add(value, _mul(_mul(stack[g, y1, x1], ty), tx))
            if round32:
                value = float(_to_float32(value))
            sums[g] = _add(sums[g], value)
    if count == 0:
        for g in range(n_steps):
            out[row, g] = math.nan
        return
    previous = total / count
    start = max(previous, _EPS)
    for g in range(n_steps):
        current = sums[g] / count
        out[row, g] = _mul(_add(previous, -current), 100.0) / start
        previous = current


def leaf_sum(values, start, length):
    """numpy's pairwise sum of ``values[start:start + length]`` (``length <= 128``) in the
    values' precision: fewer than 8 values sequentially from 0, else 8 interleaved
    accumulators folded ``((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))`` and the rest
    added in order."""
    s = start
    m = length
    if m < 8:
        total = values[s] - values[s]  # a zero of the values' type
        for q in range(m):
            total += values[s + q]
        return total
    r0 = values[s]
    r1 = values[s + 1]
    r2 = values[s + 2]
    r3 = values[s + 3]
    r4 = values[s + 4]
    r5 = values[s + 5]
    r6 = values[s + 6]
    r7 = values[s + 7]
    q = 8
    while q < m - (m % 8):
        r0 += values[s + q]
        r1 += values[s + q + 1]
        r2 += values[s + q + 2]
        r3 += values[s + q + 3]
        r4 += values[s + q + 4]
        r5 += values[s + q + 5]
        r6 += values[s + q + 6]
        r7 += values[s + q + 7]
        q += 8
    total = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    while q < m:
        total += values[s + q]
        q += 1
    return total


def combine_leaves(leaves, program, stack):
    """The sum of ``leaves`` in the order of the postfix ``program`` (``k >= 0`` pushes leaf
    ``k``, ``-1`` replaces the top two by their sum, left first); ``stack`` is scratch."""
    top = 0
    for step in range(program.shape[0]):
        op = program[step]
        if op >= 0:
            stack[top] = leaves[op]
            top += 1
        else:
            stack[top - 2] = stack[top - 2] + stack[top - 1]
            top -= 1
    return stack[0]


def _plain_to_float32(value):
    import numpy as np

    return np.float32(value)


_to_float32 = _plain_to_float32

_SHARED = ("reflect_index", "bilinear", "morph_pixel", "cross_erosion", "object_spectrum",
           "leaf_sum", "combine_leaves")


def compile_with(decorator, mul, add, to_float32):
    """Compile the shared helpers with ``decorator`` (``numba.njit`` or a CUDA device jit);
    ``mul``/``add`` round once, ``to_float32`` rounds a float64 to the nearest float32."""
    return compile_shared(globals(), _SHARED, decorator,
                          {"_mul": mul, "_add": add, "_to_float32": to_float32})
