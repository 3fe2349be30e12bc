r"""Per-pixel and per-object arithmetic of :func:`pyhcs.features.size_shape`, one Python source
compiled for the CPU (``numba.njit``) and the GPU (``numba.cuda.jit(device=True)``).

Everything here works on the *slot image* ``ids`` (int32, 0 = background, one slot per label):
two pixels belong to the same object exactly when their slots are equal, and a pixel outside
the image belongs to no object. Every function is exact integer arithmetic except
:func:`object_sums`, whose float64 sums run sequentially over the object's pixels in raster
order with explicit ``mul``/``add`` (round-to-nearest intrinsics on the GPU, which would
otherwise contract them into fused multiply-adds), so both devices give the same bits.

Radii: the distance transform of scipy on an object's crop padded by one zero pixel
(CellProfiler's MaximumRadius/MeanRadius/MedianRadius) is, at every pixel :math:`p` of
object :math:`L`, the distance to the nearest pixel of the padded image that is not in
:math:`L`; clamping any farther pixel onto the pad ring only brings it closer, so the crop
changes nothing and one image-wide transform serves all objects. It is separable
(:math:`d^2(p) = \min_{c'} (c - c')^2 + g_L(r, c')^2`, :math:`g_L` the vertical distance to the
nearest non-:math:`L` pixel in column :math:`c'`, 0 where :math:`(r, c')` is not in :math:`L`),
and along a row only the run of :math:`L` around :math:`p` and the first pixel past either
end can attain the minimum.
"""

from __future__ import annotations

import math

from . import _intensity_math

#: Per-object sums written by :func:`object_sums`, in this column order.
SUM_NAMES = (
    ("Perimeter", "EulerNumber", "MaximumRadius", "MeanRadius", "MedianRadius")
    + tuple(f"SpatialMoment_{p}_{q}" for p in range(3) for q in range(4))
    + tuple(f"CentralMoment_{p}_{q}" for p in range(4) for q in range(4))
)
N_SUMS = len(SUM_NAMES)
_PW_BLOCK = 128  # numpy's pairwise-summation leaf size
_PW_STACK = 64
_CODES = 50  # perimeter codes 0..49 (1 + 2 * 4 + 10 * 4 at most)


def build(device, mul, add, fma):
    """The device functions, compiled with ``device``; ``mul``/``add``/``fma`` round once."""
    # The median radius takes intensity's quickselect (x[lo:k] <= x[k] <= x[k + 1:hi], with a
    # heapsort fallback that bounds the worst case).
    select = _intensity_math.compile_with(device, mul, add).select

    @device
    def same(ids, r, c, slot):
        height = ids.shape[0]
        width = ids.shape[1]
        if r < 0 or r >= height or c < 0 or c >= width:
            return False
        return ids[r, c] == slot

    @device
    def column_gap(ids, r, c):
        """Rows from (r, c) to the nearest pixel of its column in another object (or off the
        image), for a pixel of an object: the first pass of the distance transform."""
        slot = ids[r, c]
        height = ids.shape[0]
        k = 1
        while True:
            if r - k < 0 or ids[r - k, c] != slot:
                return k
            if r + k >= height or ids[r + k, c] != slot:
                return k
            k += 1

    @device
    def row_distance2(ids, gap, r, c):
        """Squared distance from (r, c) to the nearest pixel not in its object (second pass)."""
        slot = ids[r, c]
        width = ids.shape[1]
        g = gap[r, c]
        best = g * g
        for side in range(2):
            step = 1 if side == 0 else -1
            k = 1
            while k * k < best:
                cc = c + step * k
                if cc < 0 or cc >= width or ids[r, cc] != slot:
                    best = min(best, k * k)
                    break
                g = gap[r, cc]
                best = min(best, k * k + g * g)
                k += 1
        return best

    @device
    def pairwise_sum(values, start, n, stack_start, stack_n, stack_stage, partial):
        """numpy's pairwise sum of ``values[start:start + n]``.

        numpy sums a contiguous float64 vector in blocks of 128 (8 interleaved accumulators
        folded ((r0+r1)+(r2+r3))+((r4+r5)+(r6+r7)), then the leftover sequentially; fewer than 8
        values: sequentially from 0) and splits longer vectors at half rounded down to a
        multiple of 8; the recursion runs here on an explicit stack.
        """
        top = 0
        stack_start[0] = start
        stack_n[0] = n
        stack_stage[0] = 0
        depth = 0  # partial sums on the value stack
        while top >= 0:
            s = stack_start[top]
            m = stack_n[top]
            if m <= _PW_BLOCK:
                if m < 8:
                    total = 0.0
                    for k in range(m):
                        total = add(total, values[s + k])
                else:
                    r0 = values[s]
                    r1 = values[s + 1]
                    r2 = values[s + 2]
                    r3 = values[s + 3]
                    r4 = values[s + 4]
                    r5 = values[s + 5]
                    r6 = values[s + 6]
                    r7 = values[s + 7]
                    i = 8
                    while i < m - (m % 8):
                        r0 = add(r0, values[s + i])
                        r1 = add(r1, values[s + i + 1])
                        r2 = add(r2, values[s + i + 2])
                        r3 = add(r3, values[s + i + 3])
                        r4 = add(r4, values[s + i + 4])
                        r5 = add(r5, values[s + i + 5])
                        r6 = add(r6, values[s + i + 6])
                        r7 = add(r7, values[s + i + 7])
                        i += 8
                    total = add(add(add(r0, r1), add(r2, r3)), add(add(r4, r5), add(r6, r7)))
                    while i < m:
                        total = add(total, values[s + i])
                        i += 1
                partial[depth] = total
                depth += 1
                top -= 1
                continue
            half = m // 2
            half -= half % 8
            stage = stack_stage[top]
            if stage == 0:
                stack_stage[top] = 1
                top += 1
                stack_start[top] = s
                stack_n[top] = half
                stack_stage[top] = 0
            elif stage == 1:
                stack_stage[top] = 2
                top += 1
                stack_start[top] = s + half
                stack_n[top] = m - half
                stack_stage[top] = 0
            else:
                depth -= 1
                right = partial[depth]
                depth -= 1
                partial[depth] = add(partial[depth], right)
                depth += 1
                top -= 1
        return partial[0]

    @device
    def neighbourhood(ids, r, c, slot):
        """Bit 3 * (dr + 1) + (dc + 1) set where (r + dr, c + dc) is in the object, |d| <= 1."""
        bits = 0
        for dr in range(-1, 2):
            for dc in range(-1, 2):
                if same(ids, r + dr, c + dc, slot):
                    bits |= 1 << (3 * (dr + 1) + (dc + 1))
        return bits

    @device
    def bit(bits, dr, dc):
        return (bits >> (3 * (dr + 1) + (dc + 1))) & 1

    @device
    def border_code(ids, r, c, slot, bits):
        """skimage perimeter's code of a border pixel: 1 + 2 (border 4-neighbours) + 10 (border
        diagonal neighbours); a neighbour is border when in the object with a 4-neighbour
        outside it (reads the 5 x 5 neighbourhood)."""
        code = 1
        for dr in range(-1, 2):
            for dc in range(-1, 2):
                if (dr == 0 and dc == 0) or bit(bits, dr, dc) == 0:
                    continue
                inside = True
                for k in range(4):
                    er = dr + (1 if k == 0 else (-1 if k == 1 else 0))
                    ec = dc + (1 if k == 2 else (-1 if k == 3 else 0))
                    if er >= -1 and er <= 1 and ec >= -1 and ec <= 1:
                        member = bit(bits, er, ec) == 1
                    else:
                        member = same(ids, r + er, c + ec, slot)
                    if not member:
                        inside = False
                        break
                if not inside:
                    code += 2 if dr == 0 or dc == 0 else 10
        return code

    @device
    def object_sums(ids, dist2, d_r0, d_c0, pixels, start, n, r0, c0, ybar, xbar, out, row,
                    values, histogram, stack_start, stack_n, stack_stage, partial):
        """Every per-pixel sum of one object (slot ``ids`` of its first pixel) into
        ``out[row, :]``, in :data:`SUM_NAMES` order.

        ``dist2[r - d_r0, c - d_c0]``: the squared distance transform at (r, c) (the whole image,
        or the object's crop);
        ``pixels[start:start + n]``: the object's flat pixel indices in raster order;
        ``(r0, c0)``: its bounding-box corner; ``(ybar, xbar)``: its centroid in that frame;
        ``values[start:start + n]``: scratch (float64); ``histogram``: float64 scratch of
        :data:`_CODES` (the perimeter codes' counts). Moments sum each row's column powers
        first, then the rows (sequentially, raster order).
        """
        width = ids.shape[1]
        first = pixels[start]
        slot = ids[first // width, first - (first // width) * width]
        for t in range(_CODES):
            histogram[t] = 0.0
        q1 = 0
        q3 = 0
        qd = 0
        max_d2 = 0
        for t in range(N_SUMS):
            out[row, t] = 0.0
        row_of_run = -1
        # per row: sum x^q and sum dx^q over the row's pixels (q = 0..3); reset per row
        sx0 = sx1 = sx2 = sx3 = sd0 = sd1 = sd2 = sd3 = 0.0
        for t in range(start, start + n + 1):
            if t < start + n:
                p = pixels[t]
                r = p // width
                c = p - r * width
            else:
                r = -2  # flush the last row
                c = 0
            if r != row_of_run:
                if row_of_run >= 0:
                    y = float(row_of_run - r0)
                    dy = y - ybar
                    ypow = 1.0
                    dyp = 1.0
                    for pp in range(4):
                        if pp < 3:
                            k = 5 + 4 * pp
                            out[row, k] = add(out[row, k], mul(ypow, sx0))
                            out[row, k + 1] = add(out[row, k + 1], mul(ypow, sx1))
                            out[row, k + 2] = add(out[row, k + 2], mul(ypow, sx2))
                            out[row, k + 3] = add(out[row, k + 3], mul(ypow, sx3))
                        k = 17 + 4 * pp
                        out[row, k] = add(out[row, k], mul(dyp, sd0))
                        out[row, k + 1] = add(out[row, k + 1], mul(dyp, sd1))
                        out[row, k + 2] = add(out[row, k + 2], mul(dyp, sd2))
                        out[row, k + 3] = add(out[row, k + 3], mul(dyp, sd3))
                        ypow = mul(ypow, y)
                        dyp = mul(dyp, dy)
                if t == start + n:
                    break
                row_of_run = r
                sx0 = sx1 = sx2 = sx3 = sd0 = sd1 = sd2 = sd3 = 0.0
            x = float(c - c0)
            dx = x - xbar
            dx2 = mul(dx, dx)
            sx0 = add(sx0, 1.0)
            sx1 = add(sx1, x)
            sx2 = add(sx2, mul(x, x))
            sx3 = add(sx3, mul(mul(x, x), x))
            sd0 = add(sd0, 1.0)
            sd1 = add(sd1, dx)
            sd2 = add(sd2, dx2)
            sd3 = add(sd3, mul(dx2, dx))
            d2 = dist2[r - d_r0, c - d_c0]
            if d2 > max_d2:
                max_d2 = d2
            values[t] = math.sqrt(float(d2))
            if d2 > 2:  # no pixel outside within distance sqrt(2): its 3 x 3 all in, interior
                continue
            bits = neighbourhood(ids, r, c, slot)
            if bits == 511:  # interior: no border code, every 2 x 2 window full
                continue
            # Euler number: every 2 x 2 window is classified once, by its first object pixel
            for a in range(2):
                for b in range(2):
                    in00 = bit(bits, a - 1, b - 1) == 1
                    in01 = bit(bits, a - 1, b) == 1
                    in10 = bit(bits, a, b - 1) == 1
                    in11 = bit(bits, a, b) == 1
                    position = (1 - a) * 2 + (1 - b)  # p's place in the window
                    if (position > 0 and in00) or (position > 1 and in01) or (
                            position > 2 and in10):
                        continue
                    count = int(in00) + int(in01) + int(in10) + int(in11)
                    if count == 1:
                        q1 += 1
                    elif count == 3:
                        q3 += 1
                    elif count == 2 and in00 == in11:
                        qd += 1
            if bit(bits, -1, 0) and bit(bits, 1, 0) and bit(bits, 0, -1) and bit(bits, 0, 1):
                continue  # not a border pixel: its code has no weight
            histogram[border_code(ids, r, c, slot, bits)] += 1.0
        sqrt2 = math.sqrt(2.0)
        diagonal = (1.0 + sqrt2) / 2.0
        # skimage's histogram @ weights, in the summation order of OpenBLAS's ddot (SkylakeX)
        h = histogram
        s1 = add(add(add(fma(h[33], sqrt2, h[5]), mul(h[13], diagonal)),
                     add(h[17], mul(h[21], sqrt2))), h[25])
        s3 = add(add(add(h[7], h[15]), mul(h[23], diagonal)), h[27])
        out[row, 0] = add(s1, s3)
        out[row, 1] = float((q1 - q3 - 2 * qd) // 4)
        out[row, 2] = math.sqrt(float(max_d2))
        total = pairwise_sum(values, start, n, stack_start, stack_n, stack_stage, partial)
        out[row, 3] = total / float(n)
        middle = (n - 1) // 2
        median = select(values, start, start + n, start + middle)
        if n % 2 == 0:
            above = values[start + middle + 1]
            for t in range(start + middle + 2, start + n):
                above = min(above, values[t])
            median = (median + above) / 2.0
        out[row, 4] = median

    return column_gap, row_distance2, pairwise_sum, object_sums
