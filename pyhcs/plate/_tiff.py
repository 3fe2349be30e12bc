"""Fields stored as image files: one file (or one page of a file) per channel and z/t plane.

Used by the Opera/Operetta, ImageXpress, pattern (any TIFF folder) and LoadData readers. TIFF is
decoded by tifffile straight into the caller's buffer; before any pixel is decoded, every page's
shape and dtype are checked against the plate and its strips or tiles against the file's size,
so a truncated file fails instead of being padded with zeros. Other image files that a LoadData
CSV may name (PNG, JPEG) go through imageio.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ._errors import FieldReadError
from ._plate import Backend, FieldLayout, FieldRecord

__all__ = ["Plane", "TiffBackend", "TIFF_SUFFIXES"]

TIFF_SUFFIXES = (".tif", ".tiff")


@dataclass(frozen=True)
class Plane:
    """One 2-D image: ``path`` and, for a multi-page file, the 0-based ``page``.

    ``page=None`` means the whole file: every page of it is a z/t plane of the channel.
    """

    path: str
    page: int | None = None


def _is_tiff(path: str) -> bool:
    return path.lower().endswith(TIFF_SUFFIXES)


def _check_page(page, path: str, file_size: int, record: FieldRecord,
                layout: FieldLayout | None) -> None:
    shape = tuple(int(s) for s in page.shape)
    if len(shape) != 2:
        raise FieldReadError(record.well, record.site, path,
                             f"page {page.index} has shape {shape}; expected a 2-D gray image")
    if layout is not None:
        if shape != layout.shape:
            raise FieldReadError(record.well, record.site, path,
                                 f"shape {shape} differs from the plate's {layout.shape}")
        if np.dtype(page.dtype) != layout.dtype:
            raise FieldReadError(record.well, record.site, path,
                                 f"dtype {np.dtype(page.dtype)} differs from the plate's "
                                 f"{layout.dtype}")
    ends = [int(o) + int(n) for o, n in zip(page.dataoffsets, page.databytecounts)]
    if not ends or max(ends) > file_size or min(int(n) for n in page.databytecounts) == 0:
        raise FieldReadError(record.well, record.site, path,
                             f"truncated file: page {page.index} needs {max(ends or [0])} bytes, "
                             f"the file has {file_size}")


class TiffBackend(Backend):
    """Fields whose ``record.data`` is, per source channel, a tuple of :class:`Plane`."""

    def _planes(self, record: FieldRecord, channel: int) -> tuple[Plane, ...]:
        planes = record.data[channel]
        if not planes:
            raise FieldReadError(record.well, record.site, None,
                                 f"no image file for channel {channel + 1}")
        return planes

    def probe(self, record: FieldRecord) -> FieldLayout:
        layouts = []
        for channel in range(len(record.data)):
            n_planes = 0
            shape = dtype = None
            for plane in self._planes(record, channel):
                pages = self._open(record, plane, probe=True)
                for s, d in pages:
                    if shape is None:
                        shape, dtype = s, d
                    elif (s, d) != (shape, dtype):
                        raise FieldReadError(record.well, record.site, plane.path,
                                             f"planes differ in shape or dtype: {s} {d} after "
                                             f"{shape} {dtype}")
                    n_planes += 1
            layouts.append(FieldLayout(shape, np.dtype(dtype), n_planes))
        first = layouts[0]
        for channel, layout in enumerate(layouts[1:], start=1):
            if (layout.shape, layout.dtype) != (first.shape, first.dtype):
                raise FieldReadError(record.well, record.site,
                                     record.data[channel][0].path,
                                     f"channel {channel + 1} is {layout.shape} {layout.dtype}, "
                                     f"channel 1 is {first.shape} {first.dtype}")
        return FieldLayout(first.shape, first.dtype, max(lay.planes for lay in layouts))

    def _open(self, record: FieldRecord, plane: Plane, *, probe: bool = False,
              layout: FieldLayout | None = None, out: np.ndarray | None = None,
              projection: str | None = None, accumulate: bool = False):
        """Probe (list of (shape, dtype) per page) or decode ``plane`` into ``out``.

        With ``accumulate`` (a later plane of a max projection) ``out`` already holds the
        maximum of the earlier planes and this one is folded in.
        """
        path = plane.path
        try:
            file_size = os.path.getsize(path)
        except OSError as exc:
            raise FieldReadError(record.well, record.site, path,
                                 f"file missing or unreadable ({exc.strerror or exc})") from None
        if not _is_tiff(path):
            return self._open_other(record, plane, probe, layout, out, accumulate)
        import tifffile

        try:
            tif = tifffile.TiffFile(path)
        except Exception as exc:
            raise FieldReadError(record.well, record.site, path,
                                 f"not a readable TIFF ({type(exc).__name__}: {exc})") from None
        with tif:
            pages = tif.pages
            n_pages = len(pages)
            if plane.page is not None:
                if plane.page >= n_pages:
                    raise FieldReadError(record.well, record.site, path,
                                         f"page {plane.page} asked, the file has {n_pages}")
                indices = [plane.page]
            else:
                indices = list(range(n_pages))
            if probe:
                found = []
                for i in indices:
                    page = pages[i]
                    _check_page(page, path, file_size, record, None)
                    found.append((tuple(int(s) for s in page.shape), np.dtype(page.dtype)))
                return found
            if len(indices) > 1 and projection is None:
                raise FieldReadError(record.well, record.site, path,
                                     f"{len(indices)} pages (z/t planes) but no projection")
            for k, i in enumerate(indices):
                page = pages[i]
                _check_page(page, path, file_size, record, layout)
                if k == 0 and not accumulate:
                    page.asarray(out=out)
                else:
                    np.maximum(out, page.asarray(), out=out)
        return None

    def _open_other(self, record, plane, probe, layout, out, accumulate):
        import imageio.v3 as iio

        try:
            data = np.asarray(iio.imread(plane.path))
        except Exception as exc:
            raise FieldReadError(record.well, record.site, plane.path,
                                 f"cannot decode ({type(exc).__name__}: {exc})") from None
        if data.ndim != 2:
            raise FieldReadError(record.well, record.site, plane.path,
                                 f"shape {data.shape}; expected a 2-D gray image")
        if probe:
            return [(tuple(data.shape), data.dtype)]
        if tuple(data.shape) != layout.shape or data.dtype != layout.dtype:
            raise FieldReadError(record.well, record.site, plane.path,
                                 f"{data.shape} {data.dtype} differs from the plate's "
                                 f"{layout.shape} {layout.dtype}")
        if accumulate:
            np.maximum(out, data, out=out)
        else:
            out[...] = data
        return None

    def read(self, record: FieldRecord, channels: Sequence[int], layout: FieldLayout,
             projection: str | None, out: np.ndarray) -> None:
        for c, channel in enumerate(channels):
            planes = self._planes(record, channel)
            if len(planes) > 1 and projection is None:
                raise FieldReadError(record.well, record.site, planes[0].path,
                                     f"{len(planes)} z/t planes but no projection")
            for k, plane in enumerate(planes):
                self._open(record, plane, layout=layout, out=out[c], projection=projection,
                           accumulate=k > 0)

    def locate(self, record, channels):
        return {i: tuple(p.path if p.page is None else f"{p.path}[{p.page}]"
                         for p in (record.data[i] or ()))
                for i in channels}

