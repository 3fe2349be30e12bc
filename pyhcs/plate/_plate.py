"""The :class:`Plate`: wells, sites, channels and one-field reads, whatever the file format.

A plate is a list of fields ``(well, site)`` in plate order and a *backend* that knows where the
pixels of each field live and how to decode them (TIFF files, or a Zarr array). The format
readers (``_vendor``, ``_loaddata``, ``_omezarr``) only build that list and the backend; every
check that a read is sound (shape, dtype, missing channel, truncated file) and the channel
selection, projection and ``out=`` handling are the same for all formats and live here.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ._errors import FieldReadError, PlateError
from ._wells import well_position

__all__ = ["Plate", "FieldRecord", "FieldLayout", "Site"]

#: A site as its format numbers it: 1-based vendor field numbers, OME-Zarr field paths.
Site = int | str

PROJECTIONS = (None, "max")

#: How many fields ``Plate`` tries at most to learn the plate's shape and dtype.
_PROBE_FIELDS = 16



@dataclasses.dataclass(frozen=True)
class FieldLayout:
    """What one field holds before channel selection: ``planes`` z/t planes of ``(H, W)``."""

    shape: tuple[int, int]
    dtype: np.dtype
    planes: int = 1


@dataclasses.dataclass
class FieldRecord:
    """One field of a plate, as a format reader found it.

    ``data`` is the backend's handle (file names per channel and plane, or a Zarr path);
    ``missing`` says why the field cannot be read at all (for example a channel without a file),
    so that the plate still opens and the read of just this field fails.
    """

    well: str
    site: Site
    data: Any
    acquisition: Any = None
    missing: str | None = None


def _plate_layout(backend: Backend, complete: list, source) -> tuple[FieldLayout, FieldRecord]:
    """The plate's field layout: the most common among its first, middle and last fields.

    A field whose headers cannot be read is passed over (the next one is tried, up to
    ``_PROBE_FIELDS``), so one broken or odd file fails only its own field later.
    """
    spread = sorted({0, len(complete) // 2, len(complete) - 1})
    order = spread + [i for i in range(1, min(len(complete), _PROBE_FIELDS)) if i not in spread]
    found: list[tuple[FieldLayout, FieldRecord]] = []
    errors = []
    for i in order:
        try:
            found.append((backend.probe(complete[i]), complete[i]))
        except FieldReadError as exc:
            errors.append(exc)
        if len(found) == len(spread):
            break
    if not found:
        raise PlateError(f"{source}: none of the {len(errors)} fields tried can be read; the "
                         f"first: {errors[0]}") from errors[0]
    layouts = [layout for layout, _ in found]
    best = max(layouts, key=layouts.count)  # ties: the earliest in plate order
    return best, next(record for layout, record in found if layout == best)


class Backend:
    """How a format locates and decodes fields (subclassed per storage kind)."""

    def probe(self, record: FieldRecord) -> FieldLayout:  # pragma: no cover - interface
        raise NotImplementedError

    def read(self, record: FieldRecord, channels: Sequence[int], layout: FieldLayout,
             projection: str | None, out: np.ndarray) -> None:  # pragma: no cover
        raise NotImplementedError

    def locate(self, record: FieldRecord, channels: Sequence[int]) -> dict[int, tuple[str, ...]]:
        raise NotImplementedError  # pragma: no cover

    def describe_storage(self) -> str:
        return ""


def distinct_names(names: Sequence[str], keys: Sequence[Any]) -> list[str]:
    """``names``, with ``_<key>`` appended to every name that two channels share."""
    return [n if list(names).count(n) == 1 else f"{n}_{k}" for n, k in zip(names, keys)]


def _site_key(site: Site) -> tuple[int, Any]:
    return (0, site) if isinstance(site, int) else (1, str(site))


class Plate:
    """An opened plate: wells, sites, channels, and thread-safe reads of one field at a time.

    Made by :func:`pyhcs.plate.open_plate`; read it field by field with :meth:`read`.

    Attributes
    ----------
    name : str
        The plate's name (from the format's metadata, else the folder name).
    format : str
        ``"ome-zarr"``, ``"ome-zarr-image"``, ``"operetta"``, ``"imagexpress"``, ``"tiff"``
        (a folder read through ``pattern=``) or ``"loaddata"``.
    source : pathlib.Path
        What was opened.
    wells : tuple of str
        Wells with at least one field, in plate order (row-major), named ``A01``.
    channels : tuple of str
        Channel names in the order :meth:`read` returns them (after ``channels=`` selection).
    shape : tuple of int
        ``(H, W)`` of every field (the most common of the first, middle and last fields; a field
        of another shape fails to read).
    dtype : numpy.dtype
        The pixel type of every field.
    pixel_size : tuple of float or None
        ``(y, x)`` in micrometres where the format records it, else None.
    ignored : tuple of str
        Files under the source that were not taken as images of the plate.
    platemap : pandas.DataFrame or None
        The platemap's ``Metadata_*`` columns indexed by well, when one was given.
    """

    def __init__(
        self,
        *,
        name: str,
        format: str,
        source: Path,
        records: Sequence[FieldRecord],
        channel_names: Sequence[str],
        backend: Backend,
        channels: Sequence[str] | Mapping[str, str] | None = None,
        projection: str | None = None,
        pixel_size: tuple[float, float] | None = None,
        ignored: Sequence[str] = (),
        acquisitions: Mapping[Any, str] | None = None,
        platemap: Any = None,
    ):
        if projection not in PROJECTIONS:
            raise ValueError(f"projection must be None or 'max', got {projection!r}")
        if not records:
            raise PlateError(f"{source}: no fields found")
        self.name = str(name)
        self.format = format
        self.source = Path(source)
        self.pixel_size = pixel_size
        self.ignored = tuple(ignored)
        self.acquisitions = dict(acquisitions or {})
        self.projection = projection
        self._backend = backend
        self._source_channels = tuple(str(c) for c in channel_names)
        self._channel_index, self.channels = _select_channels(
            self._source_channels, channels, self.source)

        ordered = sorted(records, key=lambda r: (well_position(r.well), _site_key(r.site),
                                                 str(r.acquisition)))
        self._records: dict[tuple[str, Site], FieldRecord] = {}
        self._sites: dict[str, list[Site]] = {}
        for record in ordered:
            key = (record.well, record.site)
            if key in self._records:
                raise PlateError(
                    f"{source}: well {record.well} site {record.site!r} appears twice "
                    f"(acquisitions {self._records[key].acquisition!r} and "
                    f"{record.acquisition!r}); choose one with acquisition="
                )
            self._records[key] = record
            self._sites.setdefault(record.well, []).append(record.site)
        self.wells = tuple(self._sites)

        complete = [r for r in ordered if r.missing is None]
        if not complete:
            raise PlateError(f"{source}: no field has all its channels ({ordered[0].missing})")
        self._layout, first = _plate_layout(backend, complete, source)
        if self._layout.planes > 1 and projection is None:
            raise PlateError(
                f"{source}: field {first.well} site {first.site} has {self._layout.planes} z/t "
                "planes per channel; pyhcs analyses 2-D fields: pass projection='max' for a "
                "maximum-intensity projection"
            )
        self.shape = self._layout.shape
        self.dtype = np.dtype(self._layout.dtype)
        self.platemap = None
        if platemap is not None:
            from ._platemap import read_platemap

            self.platemap = read_platemap(platemap, self.wells, plate_source=self.source)

    # ---------------------------------------------------------------- container protocol
    def __len__(self) -> int:
        return len(self._records)

    def __iter__(self) -> Iterator[tuple[str, Site]]:
        return iter(self._records)

    def __contains__(self, key) -> bool:
        return key in self._records

    def __repr__(self) -> str:
        return (f"<Plate {self.name!r} ({self.format}): {len(self.wells)} wells, {len(self)} "
                f"fields, channels {list(self.channels)}, {self.shape[0]}x{self.shape[1]} "
                f"{self.dtype}>")

    # ---------------------------------------------------------------- lookups
    def sites(self, well: str) -> tuple[Site, ...]:
        """The sites of ``well`` in order, numbered as the format numbers them."""
        return tuple(self._sites[self._well(well)])

    @property
    def fields(self) -> tuple[tuple[str, Site], ...]:
        """Every ``(well, site)`` in plate order (what iterating the plate gives)."""
        return tuple(self._records)

    @property
    def field_shape(self) -> tuple[int, int, int]:
        """``(C, H, W)``: the shape :meth:`read` returns."""
        return (len(self.channels), *self.shape)

    @property
    def field_nbytes(self) -> int:
        """Bytes of one field as :meth:`read` returns it."""
        return int(math.prod(self.field_shape)) * self.dtype.itemsize

    @property
    def incomplete(self) -> tuple[tuple[str, Site, str], ...]:
        """``(well, site, why)`` of every field that is known to be unreadable (a missing
        channel file, for example); reading one raises :class:`FieldReadError`."""
        return tuple((r.well, r.site, r.missing) for r in self._records.values()
                     if r.missing is not None)

    def acquisition(self, well: str, site: Site):
        """The acquisition id of a field (OME-Zarr plates with several acquisitions), or None."""
        return self._record(well, site).acquisition

    def metadata(self, well: str) -> dict[str, Any]:
        """``Metadata_Plate``, ``Metadata_Well`` and the platemap's ``Metadata_*`` of ``well``."""
        well = self._well(well)
        out: dict[str, Any] = {"Metadata_Plate": self.name, "Metadata_Well": well}
        if self.platemap is not None and well in self.platemap.index:
            out.update(self.platemap.loc[well].to_dict())
        return out

    def locate(self, well: str, site: Site) -> dict[str, tuple[str, ...]]:
        """Where one field lives: channel name -> the files (or Zarr array) holding it.

        A channel with several z/t planes lists one entry per plane.
        """
        record = self._record(well, site)
        found = self._backend.locate(record, self._channel_index)
        return {name: found.get(i, ()) for name, i in zip(self.channels, self._channel_index)}

    def _well(self, well: str) -> str:
        from ._wells import normalize_well

        try:
            name = normalize_well(well)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"well: {exc}") from None
        if name not in self._sites:
            raise ValueError(f"well {well!r} is not on plate {self.name!r} "
                             f"(it has {_summarise(self.wells)})")
        return name

    def _record(self, well: str, site: Site) -> FieldRecord:
        name = self._well(well)
        record = self._records.get((name, site))
        if record is None and isinstance(site, str) and site.isdigit():
            record = self._records.get((name, int(site)))
        if record is None and isinstance(site, (int, np.integer)):
            record = self._records.get((name, str(int(site))))
        if record is None:
            raise ValueError(f"site {site!r} is not a site of well {name} "
                             f"(its sites are {list(self._sites[name])})")
        return record

    # ---------------------------------------------------------------- reading
    def read(self, well: str, site: Site, *, out: np.ndarray | None = None) -> np.ndarray:
        """Read one field as a ``(C, H, W)`` array of :attr:`dtype`, channels in
        :attr:`channels` order.

        Only that field's data is read. Safe to call from many threads at once (every call
        opens its own file handles and shares no buffers).

        Parameters
        ----------
        well : str
            The well, in any spelling :func:`normalize_well` accepts.
        site : int or str
            One of :meth:`sites` of that well.
        out : numpy.ndarray, optional
            A C-contiguous, writable ``(C, H, W)`` array of :attr:`dtype` to fill (for example
            pinned host memory); it is returned.

        Returns
        -------
        numpy.ndarray, shape (C, H, W)

        Raises
        ------
        FieldReadError
            The field cannot be read: a missing or truncated file, a decode error, a missing
            channel, a shape or dtype that differs from :attr:`shape` / :attr:`dtype`. Nothing
            is returned then; ``out`` may have been partly written.
        ValueError
            ``well`` or ``site`` is not on the plate, or ``out`` has the wrong shape or dtype.
        """
        record = self._record(well, site)
        out = self._check_out(out)
        if record.missing is not None:
            raise FieldReadError(record.well, record.site, None, record.missing)
        try:
            self._backend.read(record, self._channel_index, self._layout, self.projection, out)
        except FieldReadError:
            raise
        except MemoryError:
            raise
        except Exception as exc:  # any decoder's error becomes one the engine can record
            raise FieldReadError(record.well, record.site, None,
                                 f"{type(exc).__name__}: {exc}") from exc
        return out

    def _check_out(self, out):
        shape = self.field_shape
        if out is None:
            return np.empty(shape, dtype=self.dtype)
        if not isinstance(out, np.ndarray):
            raise TypeError(f"out must be a numpy array, got {type(out).__name__}")
        if out.shape != shape or out.dtype != self.dtype:
            raise ValueError(f"out must have shape {shape} and dtype {self.dtype}, "
                             f"got shape {out.shape} and dtype {out.dtype}")
        if not out.flags.c_contiguous or not out.flags.writeable:
            raise ValueError("out must be C-contiguous and writable")
        return out

    # ---------------------------------------------------------------- summary
    def describe(self) -> str:
        """A one-screen summary: wells, sites, channels, field shape, dtype, format, size."""
        n_sites = sorted({len(s) for s in self._sites.values()})
        sites = (str(n_sites[0]) if len(n_sites) == 1 else f"{n_sites[0]}-{n_sites[-1]}")
        total = len(self) * self.field_nbytes
        lines = [
            f"plate     {self.name}",
            f"format    {self.format}  ({self.source})",
            f"wells     {len(self.wells)}  ({_summarise(self.wells)}), "
            f"{_span(self.wells)}",
            f"sites     {sites} per well, {len(self)} fields",
            f"channels  {len(self.channels)}: " + ", ".join(
                name if name == src else f"{name}={src}"
                for name, src in zip(self.channels,
                                     (self._source_channels[i] for i in self._channel_index))),
            f"field     {' x '.join(map(str, self.field_shape))} (C x H x W) {self.dtype}, "
            f"{_bytes(self.field_nbytes)}",
            "pixel     " + (f"{self.pixel_size[0]:.4g} x {self.pixel_size[1]:.4g} um"
                             if self.pixel_size else "size not recorded"),
            f"total     {_bytes(total)}",
        ]
        if self._layout.planes > 1:
            lines.append(f"planes    {self._layout.planes} per channel, {self.projection} "
                         "projection")
        if self.acquisitions:
            lines.append("acquisitions  " + ", ".join(
                f"{k}: {v}" if v else str(k) for k, v in self.acquisitions.items()))
        storage = self._backend.describe_storage()
        if storage:
            lines.append(f"storage   {storage}")
        if self.platemap is not None:
            cols = [c for c in self.platemap.columns]
            lines.append(f"platemap  {len(self.platemap)} wells; " + ", ".join(cols))
        bad = self.incomplete
        if bad:
            shown = "; ".join(f"{w} site {s}: {why}" for w, s, why in bad[:3])
            more = f" (and {len(bad) - 3} more)" if len(bad) > 3 else ""
            lines.append(f"unreadable {len(bad)} field(s): {shown}{more}")
        if self.ignored:
            shown = ", ".join(self.ignored[:3])
            more = f", ... ({len(self.ignored)} in all)" if len(self.ignored) > 3 else ""
            lines.append(f"ignored   {len(self.ignored)} file(s) not part of the plate: "
                         f"{shown}{more}")
        return "\n".join(lines)


def _select_channels(available: tuple[str, ...], channels, source) -> tuple[tuple[int, ...],
                                                                             tuple[str, ...]]:
    """Indices into ``available`` and the names :meth:`Plate.read` gives them."""
    if channels is None:
        return tuple(range(len(available))), available
    if isinstance(channels, str):
        channels = [channels]
    if isinstance(channels, Mapping):
        roles = [str(k) for k in channels]
        wanted = [str(v) for v in channels.values()]
    elif isinstance(channels, Sequence):
        wanted = [str(v) for v in channels]
        roles = list(wanted)
    else:
        raise TypeError("channels must be a mapping of role to plate channel "
                        f"(e.g. {{'DNA': 'ch1'}}) or a list of channel names, got "
                        f"{type(channels).__name__}")
    if not wanted:
        raise ValueError("channels must name at least one channel")
    unknown = [w for w in wanted if w not in available]
    if unknown:
        raise ValueError(f"channels: {unknown} not on the plate {source}; its channels are "
                         f"{list(available)}")
    for kind, names in (("channel", wanted), ("role", roles)):
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"channels: {kind} {dupes} given more than once")
    return tuple(available.index(w) for w in wanted), tuple(roles)


def _summarise(wells: Sequence[str]) -> str:
    if not wells:
        return "none"
    if len(wells) <= 4:
        return ", ".join(wells)
    return f"{wells[0]}, {wells[1]}, ..., {wells[-1]}"


def _span(wells: Sequence[str]) -> str:
    from ._wells import row_letters

    rows = [well_position(w)[0] for w in wells]
    cols = [well_position(w)[1] for w in wells]
    return (f"rows {row_letters(min(rows))}-{row_letters(max(rows))}, "
            f"columns {min(cols)}-{max(cols)}")


def _bytes(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{n} B"
        n /= 1024
    return f"{n} B"  # pragma: no cover
