"""GPU kernel for the minimum enclosing circle: per-object column extremes (numba CUDA).

CellProfiler's circle depends on an object only through its convex hull, and the hull only
through the topmost and bottommost pixel of every column the object occupies. Two launches of
one kernel reduce a slot image on the device to those *column extremes* (~300 KB for a 2048 x
2048 field with 2,000 nuclei, against 16 MB for the label image); the host then builds the
hulls and circles from them in C++ (``pyhcs._core.minimum_enclosing_circle_from_extremes``):

1. ``extremes=False``: the first and last column of every object (``bounds``);
2. ``extremes=True``: the first and last row of every object in each of its columns
   (``table``, object o's column c at ``offset[o - 1] + c - bounds[0, o]``).

Objects are numbered 1..n through ``object_of_slot`` (0: not measured). A work item walks a
segment of one column (adjacent work items read adjacent columns, so reads coalesce) and
flushes one atomic min and one atomic max (int32) per vertical run of one object.
"""

from __future__ import annotations

from numba import cuda, int32, int64

from .._backend import gpu_kernel

SEGMENT = 64  # pixels of a column walked by one work item


@cuda.jit(device=True)
def _flush(obj, column, start, stop, extremes, bounds, offset, table):
    if extremes:
        k = offset[obj - 1] + int64(column - bounds[0, obj])
        cuda.atomic.min(table, (0, k), int32(start))
        cuda.atomic.max(table, (1, k), int32(stop))
    else:
        cuda.atomic.min(bounds, (0, obj), int32(column))
        cuda.atomic.max(bounds, (1, obj), int32(column))


@gpu_kernel("void(int32[:, ::1], int32[::1], boolean, int32[:, ::1], int64[::1], int32[:, ::1])")
def column_runs_gpu(ids, object_of_slot, extremes, bounds, offset, table):
    """Min/max-reduce the vertical runs of every object o = 1..n.

    ``extremes`` False: ``bounds`` (2, n + 1) gets the first (atomic min, initialised to
    INT32_MAX) and last (atomic max, initialised to -1) column of every object; ``offset``
    and ``table`` are unused. True: ``table`` (2, offset[n]) likewise gets the first and last
    row of object o in column c at ``offset[o - 1] + c - bounds[0, o]``.
    """
    height = ids.shape[0]
    width = ids.shape[1]
    segments = (height + SEGMENT - 1) // SEGMENT
    n_work = segments * width
    for work in range(cuda.grid(1), n_work, cuda.gridsize(1)):
        segment = work // width
        c = work - segment * width
        begin = segment * SEGMENT
        end = min(height, begin + SEGMENT)
        slot = int32(0)
        obj = int32(0)
        start = begin
        for r in range(begin, end):
            s = ids[r, c]
            if s != slot:
                if obj != 0:
                    _flush(obj, c, start, r - 1, extremes, bounds, offset, table)
                slot = s
                obj = object_of_slot[s] if s != 0 else int32(0)
                start = r
        if obj != 0:
            _flush(obj, c, start, end - 1, extremes, bounds, offset, table)
