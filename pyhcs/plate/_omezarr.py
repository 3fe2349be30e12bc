"""OME-Zarr HCS plates: OME-NGFF 0.4 (Zarr v2) and 0.5 (Zarr v3).

Read with **zarr-python** (3.x) itself. The NGFF plate, well, multiscales and omero metadata
are small JSON documents that this module parses; the pixels are one Zarr array per field (the
full-resolution level of its multiscale image), which zarr decodes with its maintained codecs
(Blosc, Zstd, ...) for both Zarr formats. ome-zarr-py, iohub and ngff-zarr were considered: all
three sit on zarr-python and add what a plate reader does not need here (dask graphs per
image, pydantic models, writers); going through zarr directly keeps one read per field with no
task graph, reads straight into the caller's buffer (``out=``, pinned memory for the GPU), is
safe from many threads (zarr's synchronous API runs on its own event loop), and keeps the
dependency set small. ome-zarr-py is used by the tests to write plates that this reader must
open.

Layout read
-----------
- Plate group: ``plate`` (0.4: in ``.zattrs``; 0.5: under ``ome`` in ``zarr.json``) with
  ``rows``, ``columns``, ``wells`` (``path``, ``rowIndex``, ``columnIndex``), optional
  ``acquisitions`` and ``name``. Wells missing from the list (sparse plates) are simply absent.
- Well group: ``well.images``, each ``path`` (the field, used as the site: ``0``, ``1``, ...)
  and optional ``acquisition``.
- Field image: ``multiscales[0]``: ``axes`` and ``datasets[0]`` (full resolution) with its
  ``scale`` (the pixel size, with the axes' units); channel names from ``omero.channels[].label``
  (``ch1`` ... where absent).
- Axes ``t``/``z`` of length 1 are squeezed; longer ones need ``projection="max"``.

Chunks that are absent from the store read as the array's fill value, as the Zarr
specification defines (zarr does not write chunks that hold only the fill value); a chunk that
is present but cannot be decoded raises :class:`FieldReadError`.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ._errors import FieldReadError, PlateError
from ._plate import Backend, FieldLayout, FieldRecord, Plate, distinct_names
from ._wells import normalize_well, well_name

__all__ = ["open_ome_zarr", "open_ome_zarr_image", "read_zarr_attrs", "is_zarr_group"]

_UNIT_TO_UM = {
    "micrometer": 1.0, "micron": 1.0, "um": 1.0, "µm": 1.0,
    "nanometer": 1e-3, "nm": 1e-3, "millimeter": 1e3, "mm": 1e3, "meter": 1e6, "m": 1e6,
    "centimeter": 1e4, "angstrom": 1e-4,
}


def is_zarr_group(path: Path) -> bool:
    """True when ``path`` is a Zarr v2 or v3 group or array on disk."""
    return path.is_dir() and any((path / n).is_file()
                                 for n in ("zarr.json", ".zgroup", ".zattrs", ".zarray"))


def read_zarr_attrs(path: Path) -> tuple[dict[str, Any], int]:
    """The NGFF attributes of the group at ``path`` and its Zarr format (2 or 3).

    NGFF 0.5 keeps them under ``attributes.ome`` of ``zarr.json``; 0.4 in ``.zattrs``. The
    0.5 ``ome`` dictionary is returned flattened, as 0.4 writes it.
    """
    v3 = path / "zarr.json"
    if v3.is_file():
        try:
            meta = json.loads(v3.read_text())
        except (OSError, ValueError) as exc:
            raise PlateError(f"{v3}: unreadable Zarr metadata ({exc})") from None
        attrs = dict(meta.get("attributes") or {})
        ome = attrs.pop("ome", None)
        if isinstance(ome, dict):
            attrs = {**attrs, **ome}
        return attrs, 3
    v2 = path / ".zattrs"
    if v2.is_file():
        try:
            return json.loads(v2.read_text()), 2
        except (OSError, ValueError) as exc:
            raise PlateError(f"{v2}: unreadable Zarr attributes ({exc})") from None
    if (path / ".zgroup").is_file() or (path / ".zarray").is_file():
        return {}, 2
    raise PlateError(f"{path}: not a Zarr group (no zarr.json or .zattrs)")


def _axis_names(multiscale: dict, ndim_hint: int | None = None) -> list[str]:
    axes = multiscale.get("axes")
    if axes is None:  # NGFF 0.1-0.3 wrote no axes: always t, c, z, y, x
        names = ["t", "c", "z", "y", "x"]
        return names[-ndim_hint:] if ndim_hint else names
    return [(a["name"] if isinstance(a, dict) else str(a)).lower() for a in axes]


def _pixel_size(multiscale: dict) -> tuple[float, float] | None:
    axes = multiscale.get("axes") or []
    datasets = multiscale.get("datasets") or []
    if not datasets or not axes or not all(isinstance(a, dict) for a in axes):
        return None
    names = [a["name"].lower() for a in axes]
    if "y" not in names or "x" not in names:
        return None
    scale = None
    for transform in datasets[0].get("coordinateTransformations") or []:
        if transform.get("type") == "scale":
            scale = transform.get("scale")
    if not scale or len(scale) != len(names):
        return None
    out = []
    for axis in ("y", "x"):
        unit = str(axes[names.index(axis)].get("unit") or "").lower()
        if unit not in _UNIT_TO_UM:
            return None
        out.append(float(scale[names.index(axis)]) * _UNIT_TO_UM[unit])
    return (out[0], out[1])


#: Open field arrays kept per plate (the oldest is dropped first); reopening one costs two
#: small JSON reads.
_OPEN_ARRAYS = 64


class _ImageInfo:
    """The full-resolution array of one field image and how its axes map to (C, planes, Y, X)."""

    def __init__(self, array, axes: list[str], channel_labels: list[str], path: Path):
        self.array = array
        self.axes = axes
        self.path = path
        self.channel_labels = channel_labels
        shape = tuple(int(s) for s in array.shape)
        if len(axes) != len(shape):
            raise ValueError(f"{len(axes)} axes {axes} for an array of shape {shape}")
        if axes[-2:] != ["y", "x"]:
            raise ValueError(f"axes {axes}: the last two must be y and x")
        self.sizes = dict(zip(axes, shape))
        self.n_channels = self.sizes.get("c", 1)
        self.plane_axes = [a for a in axes[:-2] if a != "c"]
        self.planes = int(np.prod([self.sizes[a] for a in self.plane_axes] or [1]))

    @property
    def layout(self) -> FieldLayout:
        return FieldLayout((self.sizes["y"], self.sizes["x"]), np.dtype(self.array.dtype),
                           self.planes)


class OmeZarrBackend(Backend):
    """Fields whose ``record.data`` is the image group's path relative to the plate."""

    def __init__(self, root: Path):
        self.root = root
        self._info: dict[str, _ImageInfo] = {}
        self._lock = threading.Lock()
        self.n_channels: int | None = None  # the plate's, once its first field is known

    def __getstate__(self):  # picklable (worker processes): no lock, no open arrays
        state = dict(self.__dict__)
        state["_info"], state["_lock"] = {}, None
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def info(self, record: FieldRecord) -> _ImageInfo:
        key = record.data
        info = self._info.get(key)
        if info is not None:
            return info
        import zarr

        path = self.root / key if key else self.root
        try:
            attrs, _ = read_zarr_attrs(path)
            multiscales = attrs.get("multiscales")
            if not multiscales:
                raise ValueError("no multiscales metadata")
            multiscale = multiscales[0]
            dataset = multiscale["datasets"][0]["path"]
            array = zarr.open_array(str(path / dataset), mode="r")
            axes = _axis_names(multiscale, array.ndim)
            labels = [str(ch.get("label") or "") for ch in
                      (attrs.get("omero") or {}).get("channels") or []]
            info = _ImageInfo(array, axes, labels, path / dataset)
        except FieldReadError:
            raise
        except Exception as exc:
            raise FieldReadError(record.well, record.site, path,
                                 f"not a readable OME-Zarr image ({type(exc).__name__}: {exc})"
                                 ) from None
        with self._lock:
            info = self._info.setdefault(key, info)
            if len(self._info) > _OPEN_ARRAYS:  # bounded host memory on any plate size
                del self._info[next(iter(self._info))]
        return info

    def probe(self, record: FieldRecord) -> FieldLayout:
        return self.info(record).layout

    def channel_names(self, record: FieldRecord) -> list[str]:
        info = self.info(record)
        labels = info.channel_labels if len(info.channel_labels) == info.n_channels else []
        names = [label or f"ch{i + 1}" for i, label in enumerate(labels)] or \
            [f"ch{i + 1}" for i in range(info.n_channels)]
        return distinct_names(names, range(1, len(names) + 1))

    def read(self, record: FieldRecord, channels: Sequence[int], layout: FieldLayout,
             projection: str | None, out: np.ndarray) -> None:
        info = self.info(record)
        where = info.path
        if info.layout.shape != layout.shape:
            raise FieldReadError(record.well, record.site, where,
                                 f"shape {info.layout.shape} differs from the plate's "
                                 f"{layout.shape}")
        if info.layout.dtype != layout.dtype:
            raise FieldReadError(record.well, record.site, where,
                                 f"dtype {info.layout.dtype} differs from the plate's "
                                 f"{layout.dtype}")
        if self.n_channels is not None and info.n_channels != self.n_channels:
            raise FieldReadError(record.well, record.site, where,
                                 f"{info.n_channels} channel(s), the plate has "
                                 f"{self.n_channels}")
        if info.planes > 1 and projection is None:
            raise FieldReadError(record.well, record.site, where,
                                 f"{info.planes} z/t planes but no projection")
        try:
            self._read(info, list(channels), layout, out)
        except Exception as exc:
            raise FieldReadError(record.well, record.site, where,
                                 f"cannot decode ({type(exc).__name__}: {exc})") from exc

    def _read(self, info: _ImageInfo, channels: list[int], layout: FieldLayout,
              out: np.ndarray) -> None:
        from zarr.core.buffer.cpu import NDBuffer

        contiguous = channels == list(range(channels[0], channels[0] + len(channels)))
        if info.planes == 1 and contiguous and "c" in info.axes:
            # one selection for all channels: zarr decodes every chunk of the field at once
            selection = self._selection(info, slice(channels[0], channels[0] + len(channels)))
            info.array.get_basic_selection(selection, out=NDBuffer.from_numpy_array(out))
            return
        for c, channel in enumerate(channels):
            selection = self._selection(info, channel)
            if info.planes == 1:
                info.array.get_basic_selection(selection,
                                               out=NDBuffer.from_numpy_array(out[c]))
            else:
                stack = np.asarray(info.array.get_basic_selection(selection))
                np.max(stack.reshape(-1, *layout.shape), axis=0, out=out[c])

    @staticmethod
    def _selection(info: _ImageInfo, channel) -> tuple:
        """Index of ``channel`` (an int or a slice) with singleton t/z dropped, y and x whole."""
        selection = []
        for axis in info.axes:
            if axis == "c":
                selection.append(channel)
            elif axis in ("y", "x"):
                selection.append(slice(None))
            else:
                selection.append(0 if info.sizes[axis] == 1 else slice(None))
        return tuple(selection)

    def locate(self, record, channels):
        info = self.info(record)
        return {i: (f"{info.path}[c={i}]" if info.n_channels > 1 else str(info.path),)
                for i in channels}

    def describe_storage(self) -> str:
        info = next(iter(self._info.values()), None)
        if info is None:
            return ""
        array = info.array
        codecs = ", ".join(type(c).__name__ for c in getattr(array, "compressors", ()) or ())
        return (f"Zarr v{array.metadata.zarr_format}, axes {''.join(info.axes)}, chunks "
                f"{tuple(array.chunks)}, compressors {codecs or 'none'}")


def _well_from_indices(rows: list, columns: list, well: dict) -> str:
    try:
        row_name = str(rows[int(well["rowIndex"])]["name"])
        column_name = str(columns[int(well["columnIndex"])]["name"])
    except (KeyError, IndexError, TypeError, ValueError):
        row_name, _, column_name = str(well["path"]).partition("/")
    if row_name.isdigit():
        return well_name(int(row_name), int(column_name))
    return normalize_well(f"{row_name}{column_name}")


def open_ome_zarr(root: Path, *, acquisition=None, **plate_kwargs) -> Plate:
    """Open an OME-Zarr HCS plate (NGFF 0.4 or 0.5)."""
    attrs, zarr_format = read_zarr_attrs(root)
    plate = attrs.get("plate")
    if plate is None:
        if "multiscales" in attrs:
            raise PlateError(
                f"{root}: an OME-Zarr image with no plate metadata; to analyse it as a plate "
                "of one well with one field, open it with open_plate(path, "
                "format='ome-zarr-image')")
        if "well" in attrs:
            raise PlateError(f"{root}: an OME-Zarr well, not a plate; open the plate, "
                             f"{root.parent.parent}")
        raise PlateError(f"{root}: a Zarr group without OME-NGFF plate metadata "
                         "(expected 'plate' with rows, columns and wells)")
    try:
        rows, columns, wells = plate["rows"], plate["columns"], plate["wells"]
    except (KeyError, TypeError):
        raise PlateError(f"{root}: plate metadata lacks rows, columns or wells") from None
    acquisitions = {}
    for acq in plate.get("acquisitions") or []:
        if isinstance(acq, dict) and "id" in acq:
            acquisitions[acq["id"]] = str(acq.get("name") or "")
    if acquisition is not None and acquisitions and acquisition not in acquisitions:
        raise ValueError(f"acquisition {acquisition!r} is not on the plate {root}; its "
                         f"acquisitions are {list(acquisitions)}")
    records = []
    for well in wells:
        try:
            name = _well_from_indices(rows, columns, well)
            well_path = str(well["path"])
        except (KeyError, ValueError) as exc:
            raise PlateError(f"{root}: bad well entry {well!r} ({exc})") from None
        well_dir = root / well_path
        if not is_zarr_group(well_dir):
            continue  # listed in the plate but never written: nothing to read
        well_attrs, _ = read_zarr_attrs(well_dir)
        images = (well_attrs.get("well") or {}).get("images") or []
        for image in images:
            acq = image.get("acquisition")
            if acquisition is not None and acq != acquisition:
                continue
            path = str(image["path"])
            site = int(path) if path.isdigit() else path
            records.append(FieldRecord(name, site, f"{well_path}/{path}", acquisition=acq))
    if not records:
        raise PlateError(f"{root}: the plate lists {len(wells)} well(s) but no field images")
    backend = OmeZarrBackend(root)
    first = records[0]
    try:
        channel_names = backend.channel_names(first)
        backend.n_channels = len(channel_names)
        pixel = _pixel_size(read_zarr_attrs(root / first.data)[0]["multiscales"][0])
    except (FieldReadError, KeyError, IndexError) as exc:
        raise PlateError(f"{root}: cannot read the first field: {exc}") from None
    used = {r.acquisition for r in records}
    acquisitions = {k: v for k, v in acquisitions.items() if k in used}
    return Plate(name=plate.get("name") or root.name.split(".")[0], format="ome-zarr",
                 source=root, records=records, channel_names=channel_names, backend=backend,
                 pixel_size=pixel, acquisitions=acquisitions, **plate_kwargs)


def open_ome_zarr_image(root: Path, **plate_kwargs) -> Plate:
    """Open one OME-Zarr image (no plate metadata) as a plate of one well (A01), one field (0)."""
    attrs, _ = read_zarr_attrs(root)
    if "multiscales" not in attrs:
        raise PlateError(f"{root}: not an OME-Zarr image (no multiscales metadata)")
    record = FieldRecord("A01", 0, "")
    backend = OmeZarrBackend(root)
    try:
        channel_names = backend.channel_names(record)
    except FieldReadError as exc:
        raise PlateError(str(exc)) from None
    backend.n_channels = len(channel_names)
    return Plate(name=root.name.split(".")[0], format="ome-zarr-image", source=root,
                 records=[record], channel_names=channel_names, backend=backend,
                 pixel_size=_pixel_size(attrs["multiscales"][0]), **plate_kwargs)
