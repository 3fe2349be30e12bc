"""Per-pixel and per-object arithmetic of MeasureObjectNeighbors, one source for both devices.

:func:`build` turns the functions below into numba ``@njit`` functions (CPU) or
``@cuda.jit(device=True)`` functions (GPU). The distances go through the ``mul`` and ``add``
they are given: plain ``*`` and ``+`` on the CPU (LLVM does not fuse them) and the
round-to-nearest intrinsics on the GPU, whose compiler would otherwise contract
``dy * dy + dx * dx`` into a fused multiply-add; so both devices compare exactly the distances
CellProfiler sorts.

Disks are given as *half-width tables*: ``half[dy + R]`` is the largest ``|dx|`` with
``(dy, dx)`` in the disk, for ``dy = -R..R`` (``R = half.shape[0] // 2``), clipped to the
image by the launcher. ``S_d`` (``dy^2 + dx^2 <= d^2``, centrosome's ``strel_disk(d)``) and
``S_{d+0.5}`` (``dy^2 + dx^2 <= d^2 + d``, ``strel_disk(d + 0.5)``) are both such tables.

Pairs ``(a, b)`` of object numbers are encoded as the int64 key ``a * stride + b``.
"""

from __future__ import annotations

import math

from numba import int64

#: Distinct pairs remembered per row segment; later ones are emitted again (duplicates are
#: removed by the launcher's unique), so the cache size changes the work, never the result.
PAIR_CACHE = 32


def build(mul, add, device):
    """Compile the helpers with the given ``mul``/``add`` and decorator."""

    @device
    def is_outline(labels, r, c, a):
        """centrosome's outline: a labelled pixel on the image border or with an 8-neighbour
        of another value."""
        height = labels.shape[0]
        width = labels.shape[1]
        if r == 0 or c == 0 or r == height - 1 or c == width - 1:
            return True
        for rr in range(r - 1, r + 2):
            for cc in range(c - 1, c + 2):
                if labels[rr, cc] != a:
                    return True
        return False

    @device
    def touches(labels, r, c, a, half):
        """Whether a pixel of another object (not 0, not ``a``) lies in the disk around
        ``(r, c)``."""
        height = labels.shape[0]
        width = labels.shape[1]
        radius = half.shape[0] // 2
        for dy in range(max(-radius, -r), min(radius, height - 1 - r) + 1):
            h = half[dy + radius]
            rr = r + dy
            for cc in range(max(c - h, 0), min(c + h, width - 1) + 1):
                b = labels[rr, cc]
                if b != 0 and b != a:
                    return True
        return False

    @device
    def segment_pairs(labels, neighbor_labels, edge, r, c_begin, c_end, half, stride, cache,
                      emit, keys, start):
        """Pairs (own object, other object) of the row segment ``r, c_begin:c_end``.

        For every pixel of object ``a`` in the segment marked touching in ``edge`` (2: an
        outline pixel with another object within the touching disk) and every offset of the
        pair disk, the object ``b`` of ``neighbor_labels`` there (not 0, not ``a``) makes a
        pair. The pixel of ``a`` closest to any other pixel is an outline pixel, and a pixel
        whose touching disk (which holds the pair disk) meets no other object of ``labels``
        meets none of ``neighbor_labels`` either (a labelled pixel there has the same label in
        both), so these pixels find every pair the full dilation finds. Pairs already met in
        the segment (up to ``cache.shape[0]`` remembered) are skipped. Returns the number of
        pairs; with ``emit`` they are written to ``keys[start:start + count]``.
        """
        r = int64(r)
        height = labels.shape[0]
        width = labels.shape[1]
        radius = half.shape[0] // 2
        capacity = cache.shape[0]
        n_cache = 0
        count = 0
        for c in range(c_begin, c_end):
            if edge[r, c] != 2:
                continue
            a = labels[r, c]
            for dy in range(max(-radius, -r), min(radius, height - 1 - r) + 1):
                h = half[dy + radius]
                rr = r + dy
                for cc in range(max(c - h, 0), min(c + h, width - 1) + 1):
                    b = neighbor_labels[rr, cc]
                    if b == 0 or b == a:
                        continue
                    key = int64(a) * int64(stride) + int64(b)
                    seen = False
                    for k in range(n_cache):
                        if cache[k] == key:
                            seen = True
                            break
                    if seen:
                        continue
                    if n_cache < capacity:
                        cache[n_cache] = key
                        n_cache += 1
                    if emit:
                        keys[start + count] = key
                    count += 1
        return count

    @device
    def nearest_three(i, o_r, o_c, n_r, n_c, order):
        """Positions 0, 1, 2 of a stable sort of ``sqrt((o_r[i] - n_r)^2 + (o_c[i] - n_c)^2)``.

        Written to ``order[i, 0:3]`` (-1 where there are fewer objects). Distances are
        compared after the square root, as CellProfiler sorts them; equal distances keep the
        lower index first.
        """
        inf = math.inf
        d0 = inf
        d1 = inf
        d2 = inf
        j0 = -1
        j1 = -1
        j2 = -1
        for j in range(n_r.shape[0]):
            dy = o_r[i] - n_r[j]
            dx = o_c[i] - n_c[j]
            d = math.sqrt(add(mul(dy, dy), mul(dx, dx)))
            if j2 < 0 or d < d2:
                if j1 < 0 or d < d1:
                    d2 = d1
                    j2 = j1
                    if j0 < 0 or d < d0:
                        d1 = d0
                        j1 = j0
                        d0 = d
                        j0 = j
                    else:
                        d1 = d
                        j1 = j
                else:
                    d2 = d
                    j2 = j
        order[i, 0] = j0
        order[i, 1] = j1
        order[i, 2] = j2

    @device
    def expand_column(numbers, nearest_row, c):
        """``nearest_row[:, c]``: the row of the labelled pixel of column ``c`` nearest to each
        row, the upper one of two at equal distance; -1 in a column without any."""
        height = numbers.shape[0]
        last = -1
        for r in range(height):
            if numbers[r, c] != 0:
                last = r
            nearest_row[r, c] = last
        below = -1
        for r in range(height - 1, -1, -1):
            if numbers[r, c] != 0:
                below = r
            above = nearest_row[r, c]
            if below >= 0 and (above < 0 or below - r < r - above):
                nearest_row[r, c] = below

    @device
    def expand_row(numbers, nearest_row, r, site_c, site_r2, site_number, expanded):
        """``expanded[r, :]``: the number of the nearest labelled pixel of every pixel of row
        ``r``, from the column sites ``(nearest_row[r, w], w)``, as scipy's feature transform
        picks it (see :func:`pyhcs.features._neighbors_cpu.expand_labels_cpu`).
        ``site_c``, ``site_r2`` and ``site_number`` (int32, int64, int32; at least W each)
        hold the lower envelope's sites: column, squared row offset, number."""
        width = numbers.shape[1]
        top = -1
        for w in range(width):
            w_row = nearest_row[r, w]
            if w_row < 0:
                continue  # no labelled pixel in this column
            w_r2 = (int64(w_row) - r) * (int64(w_row) - r)
            while top >= 1:
                a = int64(site_c[top]) - site_c[top - 1]
                b = w - int64(site_c[top])
                c = a + b
                if c * site_r2[top] - b * site_r2[top - 1] - a * w_r2 - a * b * c <= 0:
                    break
                top -= 1
            top += 1
            site_c[top] = w
            site_r2[top] = w_r2
            site_number[top] = numbers[w_row, w]
        k = 0
        for x in range(width):
            gap = int64(site_c[k]) - x
            best = gap * gap + site_r2[k]
            while k < top:
                gap = int64(site_c[k + 1]) - x
                d = gap * gap + site_r2[k + 1]
                if best <= d:
                    break
                best = d
                k += 1
            expanded[r, x] = site_number[k]

    return is_outline, touches, segment_pairs, nearest_three, expand_column, expand_row
