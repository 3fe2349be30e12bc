"""Sliding-histogram median kernels shared by the CPU (numba ``njit``) and GPU (numba CUDA).

Both median filters of :mod:`pyhcs.illumination` are rank filters over a footprint that is
symmetric left-right and given row by row: ``halfw[dy + R]`` is the half width of the
footprint's row at vertical offset ``dy`` (``-R <= dy <= R``), i.e. the row covers the columns
``x - halfw .. x + halfw``. One work item is a run of columns ``x0 .. x1 - 1`` of one image row:
the histogram of the window at ``x0`` is built pixel by pixel, then the window slides right
one column at a time (``2 R + 1`` removals and additions per pixel, O(R) rather than O(R**2)),
and at the end the histogram of the last window is removed again so that the caller's
histogram buffers are all zeros for the next item (no O(bins) clearing).

Histograms are two-level: ``fine[v]`` counts value ``v``, ``coarse[v >> shift]`` counts the
values of a block of ``1 << shift`` values, so a query scans at most ``n_blocks + block``
bins. Counts are exact int32; the query rules below reproduce the references' integer
arithmetic, including centrosome's 16-bit bins.

Query rules
-----------
``RULE_CENTROSOME`` (``shift`` must be 4: 16 blocks of 16 of the 256 uint8 levels)
    ``k = (count * percent + 50) // 100`` in uint32 arithmetic, minus one when positive; the
    result is the value ``v`` at 0-based position ``k`` of the sorted window values, found as
    centrosome finds it: over the blocks, then within the block, with every bin read modulo
    2**16 (centrosome keeps its window histogram in uint16 bins), and 0 when the window holds
    no pixel.
``RULE_UPPER_MEDIAN`` (scikit-image's rank median; ``shift`` 8)
    the smallest ``v`` whose cumulative count exceeds half the window's population
    (``2 * cum > count``): the middle value for an odd count, the upper of the two middle
    values for an even one; 0 for an empty window.
"""

from __future__ import annotations

RULE_CENTROSOME = 0
RULE_UPPER_MEDIAN = 1
#: size of the coarse (block) histogram every kernel allocates
MAX_BLOCKS = 256


def make_functions(jit):
    """The shared device/CPU functions, compiled with ``jit`` (``njit`` or a CUDA device jit)."""

    @jit
    def query_centrosome(fine, coarse, count, percent):
        if count == 0:
            return 0
        k = ((count * percent + 50) & 0xFFFFFFFF) // 100
        if k > 0:
            k -= 1
        acc = 0
        block = 0
        while block < 16:
            acc += coarse[block] & 0xFFFF
            if acc > k:
                break
            block += 1
        if block == 16:  # not found: the last block is searched
            block = 15
        acc -= coarse[block] & 0xFFFF
        for v in range(block * 16, block * 16 + 16):
            acc += fine[v] & 0xFFFF
            if acc > k:
                return v
        return 0

    @jit
    def query_upper_median(fine, coarse, count, n_bins):
        if count == 0:
            return 0
        n_blocks = (n_bins + 255) >> 8
        acc = 0
        block = 0
        while block < n_blocks:
            c = coarse[block]
            if 2 * (acc + c) > count:
                break
            acc += c
            block += 1
        if block == n_blocks:
            return 0
        end = min(n_bins, (block + 1) << 8)
        for v in range(block << 8, end):
            acc += fine[v]
            if 2 * acc > count:
                return v
        return 0

    @jit
    def window(values, mask, use_mask, halfw, radius, y, x, sign, shift, fine, coarse):
        """Add (sign 1) or remove (sign -1) every pixel of the window centred at (y, x)."""
        height = values.shape[0]
        width = values.shape[1]
        count = 0
        for dy in range(-radius, radius + 1):
            yy = y + dy
            if yy < 0 or yy >= height:
                continue
            w = halfw[dy + radius]
            lo = max(x - w, 0)
            hi = min(x + w, width - 1)
            for xx in range(lo, hi + 1):
                if use_mask and mask[yy, xx] == 0:
                    continue
                v = values[yy, xx]
                fine[v] += sign
                coarse[v >> shift] += sign
                count += 1
        return count

    @jit
    def median_run(values, mask, use_mask, halfw, rule, percent, n_bins, shift, y, x0, x1,
                   fine, coarse, out):
        """Filter the pixels (y, x0 .. x1 - 1); leaves ``fine`` and ``coarse`` as it found them."""
        if x0 >= x1:
            return
        height = values.shape[0]
        width = values.shape[1]
        radius = (halfw.shape[0] - 1) // 2
        count = window(values, mask, use_mask, halfw, radius, y, x0, 1, shift, fine, coarse)
        for x in range(x0, x1):
            if x > x0:
                for dy in range(-radius, radius + 1):
                    yy = y + dy
                    if yy < 0 or yy >= height:
                        continue
                    w = halfw[dy + radius]
                    xr = x - 1 - w
                    if xr >= 0 and (not use_mask or mask[yy, xr] != 0):
                        v = values[yy, xr]
                        fine[v] -= 1
                        coarse[v >> shift] -= 1
                        count -= 1
                    xa = x + w
                    if xa < width and (not use_mask or mask[yy, xa] != 0):
                        v = values[yy, xa]
                        fine[v] += 1
                        coarse[v >> shift] += 1
                        count += 1
            if rule == RULE_CENTROSOME:
                out[y, x] = query_centrosome(fine, coarse, count, percent)
            else:
                out[y, x] = query_upper_median(fine, coarse, count, n_bins)
        window(values, mask, use_mask, halfw, radius, y, x1 - 1, -1, shift, fine, coarse)

    return median_run
