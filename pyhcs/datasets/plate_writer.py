"""Write plates in the layouts :func:`pyhcs.plate.open_plate` reads.

:class:`PlateWriter` writes fields one at a time (from many threads at once if wanted) and, on
:meth:`PlateWriter.close`, the plate-level metadata:

``format="zarr"``
    An OME-Zarr HCS plate, NGFF 0.5 on Zarr v3 (default) or 0.4 on Zarr v2:
    ``<root>/<row>/<column>/<field>/0`` holds the ``(C, H, W)`` image (one chunk per channel
    and up to 1024 x 1024 pixels, Zarr's default Zstd codec), with ``multiscales`` (one level,
    the pixel size as its scale) and ``omero`` channel labels; ground-truth label images go to
    the image's ``labels/<name>`` (NGFF image-label, axes ``cyx`` with one channel).
``format="tiff", layout="operetta"``
    A Harmony export: ``<root>/r01c01f01p01-ch1sk1fk1fl1.tiff`` ... and ``Index.idx.xml``
    (channel names, pixel size, plate name); labels in ``<root>/../ground_truth``.
``format="tiff", layout="imagexpress"``
    A MetaXpress export: ``<root>/TimePoint_1/<plate>_A01_s1_w1<UUID>.tif`` ... and
    ``<root>/<plate>.HTD`` (wave names); labels in ``<root>/../ground_truth``.
"""

from __future__ import annotations

import json
import os
import threading
import uuid
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np

from .synthetic import _label_dtype

__all__ = ["PlateWriter", "FORMATS", "LAYOUTS", "NGFF_VERSIONS"]

FORMATS = ("zarr", "tiff")
LAYOUTS = ("operetta", "imagexpress")
NGFF_VERSIONS = ("0.4", "0.5")


def _well_parts(well: str) -> tuple[int, int, str, str]:
    from ..plate import normalize_well, well_position

    name = normalize_well(well)
    row, column = well_position(name)
    letters = name.rstrip("0123456789")
    return row, column, letters, str(column)


class PlateWriter:
    """Write a plate field by field.

    Parameters
    ----------
    root : str or os.PathLike
        The plate to write: the ``.zarr`` folder, or the image folder of a TIFF layout. It must
        not exist yet unless ``overwrite``.
    channel_names : sequence of str
        Channel names, in the order of axis 0 of every image.
    format : {"zarr", "tiff"}
    layout : {"operetta", "imagexpress"}
        The TIFF naming (ignored for Zarr).
    name : str
        The plate's name (written in the plate metadata, the ImageXpress file prefix).
    ngff_version : {"0.5", "0.4"}
        OME-NGFF version of a Zarr plate: 0.5 writes Zarr v3, 0.4 Zarr v2.
    pixel_size : float
        Pixel size in micrometres, written where the layout records it.
    plate_rows, plate_columns : int
        The plate's size (8 x 12, 16 x 24, 32 x 48), written in its metadata.
    overwrite : bool
        Replace an existing ``root``.
    """

    def __init__(self, root, channel_names, *, format="zarr", layout="operetta", name="PLATE",
                 ngff_version="0.5", pixel_size=0.65, plate_rows=16, plate_columns=24,
                 overwrite=False):
        if format not in FORMATS:
            raise ValueError(f"format must be one of {FORMATS}, got {format!r}")
        if format == "tiff" and layout not in LAYOUTS:
            raise ValueError(f"layout must be one of {LAYOUTS}, got {layout!r}")
        if ngff_version not in NGFF_VERSIONS:
            raise ValueError(f"ngff_version must be one of {NGFF_VERSIONS}, got "
                             f"{ngff_version!r}")
        if not isinstance(name, str) or not name or not all(c.isalnum() or c in "-"
                                                            for c in name):
            raise ValueError(f"name must be letters, digits and '-', got {name!r}")
        if not tuple(channel_names):
            raise ValueError("channel_names must name at least one channel")
        self._setup(dict(root=root, channel_names=channel_names, format=format, layout=layout,
                         name=name, ngff_version=ngff_version, pixel_size=pixel_size,
                         plate_rows=plate_rows, plate_columns=plate_columns))
        if self.root.exists():
            if not overwrite:
                raise FileExistsError(f"root {self.root} exists; pass overwrite=True "
                                      "(--overwrite) to replace it")
            import shutil

            shutil.rmtree(self.root)
        self.root.mkdir(parents=True)
        if format == "tiff":
            self.truth_dir.mkdir(parents=True, exist_ok=True)

    # ----------------------------------------------------------------- fields
    def write_field(self, well: str, field: int, image: np.ndarray,
                    labels: dict[str, np.ndarray] | None = None) -> None:
        """Write one field: ``image`` ``(C, H, W)``; ``field`` is 0-based (site ``field + 1``
        in the vendor layouts, path ``str(field)`` in Zarr); ``labels`` maps a name
        (``"nuclei"``, ``"cells"``) to an ``(H, W)`` label image. Thread-safe."""
        self.register(well, field, self.write_files(well, field, image, labels))

    def write_files(self, well: str, field: int, image: np.ndarray,
                    labels: dict[str, np.ndarray] | None = None) -> list[dict]:
        """Write one field's files only, touching no shared state (so a worker process can
        do it); return the records to pass to :meth:`register` in the writing process."""
        image = np.asarray(image)
        if image.ndim != 3 or image.shape[0] != len(self.channel_names):
            raise ValueError(f"image must be (C, H, W) with C = {len(self.channel_names)}, got "
                             f"shape {image.shape}")
        row, column, letters, column_text = _well_parts(well)
        if self.format == "zarr":
            return self._write_zarr(letters, column_text, field, image, labels or {})
        if self.layout == "operetta":
            return self._write_operetta(row, column, field, image, labels or {})
        return self._write_imagexpress(letters, column, field, image, labels or {})

    def register(self, well: str, field: int, records: list[dict]) -> None:
        """Record a field written by :meth:`write_files` for the plate metadata."""
        _, _, letters, column_text = _well_parts(well)
        with self._lock:
            self._fields.setdefault(f"{letters}/{column_text}", []).append(int(field))
            self._images.extend(records)

    @property
    def spec(self) -> dict:
        """The arguments that make an equal writer in another process (:meth:`attach`)."""
        return dict(root=str(self.root), channel_names=self.channel_names, format=self.format,
                    layout=self.layout, name=self.name, ngff_version=self.ngff_version,
                    pixel_size=self.pixel_size, plate_rows=self.plate_rows,
                    plate_columns=self.plate_columns)

    @classmethod
    def attach(cls, spec: dict) -> "PlateWriter":
        """A writer for :meth:`write_files` into a plate another writer created."""
        writer = cls.__new__(cls)
        writer._setup(spec)
        return writer

    def _setup(self, spec: dict) -> None:
        self.root = Path(spec["root"])
        self.channel_names = tuple(str(c) for c in spec["channel_names"])
        self.format, self.layout, self.name = spec["format"], spec["layout"], spec["name"]
        self.ngff_version = spec["ngff_version"]
        self.pixel_size = float(spec["pixel_size"])
        self.plate_rows, self.plate_columns = int(spec["plate_rows"]), int(spec["plate_columns"])
        self._zarr_format = 3 if self.ngff_version == "0.5" else 2
        self.truth_dir = self.root.parent / "ground_truth"
        self._lock = threading.Lock()
        self._fields: dict[str, list[int]] = {}
        self._images: list[dict] = []

    def _ome(self, attrs: dict) -> dict:
        if self.ngff_version == "0.5":
            return {"ome": {"version": "0.5", **attrs}}
        return {key: ({**value, "version": "0.4"} if key in ("plate", "well") else value)
                for key, value in attrs.items()}

    def _multiscales(self, axes: str, name: str) -> list[dict]:
        kinds = {"c": "channel", "y": "space", "x": "space"}
        ms = {
            "name": name,
            "axes": [{"name": a, "type": kinds[a], **({"unit": "micrometer"} if a in "yx"
                                                      else {})} for a in axes],
            "datasets": [{"path": "0", "coordinateTransformations": [
                {"type": "scale", "scale": [1.0, self.pixel_size, self.pixel_size]}]}],
        }
        if self.ngff_version == "0.4":
            ms["version"] = "0.4"
        return [ms]

    def _group(self, path: Path, attrs: dict) -> None:
        """Write a Zarr group's metadata (v3 ``zarr.json``; v2 ``.zgroup`` and ``.zattrs``).

        Group metadata is a small JSON document; writing it directly costs one file write,
        against several store round trips through zarr's API for every group.
        """
        path.mkdir(parents=True, exist_ok=True)
        if self._zarr_format == 3:
            write_json(path / "zarr.json", {"zarr_format": 3, "node_type": "group",
                                            "attributes": attrs})
        else:
            write_json(path / ".zgroup", {"zarr_format": 2})
            write_json(path / ".zattrs", attrs)

    def _zarr_array(self, path: Path, data: np.ndarray) -> None:
        import zarr

        chunks = (1, min(data.shape[1], 1024), min(data.shape[2], 1024))
        kwargs = {}
        if self._zarr_format == 2:
            kwargs["chunk_key_encoding"] = {"name": "v2", "separator": "/"}
        zarr.create_array(store=str(path), data=data, chunks=chunks,
                          zarr_format=self._zarr_format, **kwargs)

    def _write_zarr(self, row, column, field, image, labels):
        group = self.root / row / column / str(field)
        group.mkdir(parents=True)
        self._zarr_array(group / "0", image)
        attrs = {"multiscales": self._multiscales("cyx", "image"),
                 "omero": {"channels": [{"label": c, "active": True, "coefficient": 1.0,
                                         "family": "linear", "inverted": False,
                                         "window": {"start": 0, "end": 65535, "min": 0,
                                                    "max": 65535}} for c in self.channel_names]}}
        self._group(group, self._ome(attrs))
        if labels:
            self._group(group / "labels", self._ome({"labels": list(labels)}))
            for name, lab in labels.items():
                self._zarr_array(group / "labels" / name / "0",
                                 np.asarray(lab).astype(np.uint32)[None])
                self._group(group / "labels" / name, self._ome({
                    "multiscales": self._multiscales("cyx", name),
                    "image-label": {"version": self.ngff_version, "source": {"image": "../../"}},
                }))
        return []

    def _write_operetta(self, row, column, field, image, labels):
        import tifffile

        stem = f"r{row:02d}c{column:02d}f{field + 1:02d}"
        records = []
        for c in range(image.shape[0]):
            url = f"{stem}p01-ch{c + 1}sk1fk1fl1.tiff"
            tifffile.imwrite(self.root / url, image[c], photometric="minisblack")
            records.append({"URL": url, "Row": row, "Col": column, "FieldID": field + 1,
                            "ChannelID": c + 1})
        for name, lab in labels.items():
            lab = np.asarray(lab)
            tifffile.imwrite(self.truth_dir / f"{stem}-{name}.tiff",
                             lab.astype(_label_dtype(lab)), photometric="minisblack")
        return records

    def _write_imagexpress(self, letters, column, field, image, labels):
        import tifffile

        folder = self.root / "TimePoint_1"
        folder.mkdir(exist_ok=True)
        records: list[dict] = []
        well = f"{letters}{column:02d}"
        for c in range(image.shape[0]):
            tag = uuid.uuid5(uuid.NAMESPACE_URL, f"{self.name}/{well}/{field}/{c}")
            path = folder / f"{self.name}_{well}_s{field + 1}_w{c + 1}{str(tag).upper()}.tif"
            tifffile.imwrite(path, image[c], photometric="minisblack")
        for name, lab in labels.items():
            lab = np.asarray(lab)
            tifffile.imwrite(self.truth_dir / f"{well}_s{field + 1}_{name}.tif",
                             lab.astype(_label_dtype(lab)), photometric="minisblack")
        return records

    # ----------------------------------------------------------------- plate metadata
    def close(self) -> Path:
        """Write the plate-level metadata; return the path that ``open_plate`` opens."""
        if self.format == "zarr":
            self._close_zarr()
        elif self.layout == "operetta":
            self._close_operetta()
        else:
            self._close_imagexpress()
        return self.root

    def _close_zarr(self):
        from ..plate import well_position

        wells = sorted(self._fields, key=lambda p: well_position(p))
        rows = sorted({p.split("/")[0] for p in wells}, key=lambda r: well_position(r + "1"))
        columns = sorted({p.split("/")[1] for p in wells}, key=int)
        plate = {
            "name": self.name,
            "rows": [{"name": r} for r in rows],
            "columns": [{"name": c} for c in columns],
            "wells": [{"path": p, "rowIndex": rows.index(p.split("/")[0]),
                       "columnIndex": columns.index(p.split("/")[1])} for p in wells],
            "acquisitions": [{"id": 0, "name": self.name}],
            "field_count": max(len(f) for f in self._fields.values()) if self._fields else 0,
        }
        for row in rows:
            self._group(self.root / row, {})
        for path, fields in self._fields.items():
            self._group(self.root / path, self._ome({"well": {"images": [
                {"path": str(f), "acquisition": 0} for f in sorted(fields)]}}))
        self._group(self.root, self._ome({"plate": plate}))

    def _close_operetta(self):
        ns = "http://www.perkinelmer.com/PEHH/HarmonyV5"
        top = ET.Element("EvaluationInputData", {"xmlns": ns, "Version": "2"})
        ET.SubElement(top, "User").text = "pyhcs"
        plates = ET.SubElement(ET.SubElement(top, "Plates"), "Plate")
        for tag, text in (("PlateID", self.name), ("Name", self.name),
                          ("PlateRows", self.plate_rows), ("PlateColumns", self.plate_columns)):
            ET.SubElement(plates, tag).text = str(text)
        entries = ET.SubElement(ET.SubElement(top, "Maps"), "Map")
        metres = f"{self.pixel_size * 1e-6:.6E}"
        for c, channel in enumerate(self.channel_names):
            entry = ET.SubElement(entries, "Entry", {"ChannelID": str(c + 1)})
            ET.SubElement(entry, "ChannelName").text = channel
            ET.SubElement(entry, "ImageResolutionX", {"Unit": "m"}).text = metres
            ET.SubElement(entry, "ImageResolutionY", {"Unit": "m"}).text = metres
        images = ET.SubElement(top, "Images")
        for image in sorted(self._images, key=lambda i: i["URL"]):
            node = ET.SubElement(images, "Image", {"Version": "1"})
            ET.SubElement(node, "id").text = image["URL"].rsplit(".", 1)[0]
            for tag in ("URL", "Row", "Col", "FieldID"):
                ET.SubElement(node, tag).text = str(image[tag])
            ET.SubElement(node, "PlaneID").text = "1"
            ET.SubElement(node, "TimepointID").text = "1"
            ET.SubElement(node, "ChannelID").text = str(image["ChannelID"])
            ET.SubElement(node, "ChannelName").text = self.channel_names[image["ChannelID"] - 1]
        ET.ElementTree(top).write(self.root / "Index.idx.xml", encoding="utf-8",
                                  xml_declaration=True)

    def _close_imagexpress(self):
        sites = max(len(f) for f in self._fields.values()) if self._fields else 1
        lines = ['"HTSInfoFile", Version 1.0', f'"Description", "{self.name} (pyhcs)"',
                 '"TimePoints", 1', f'"XWells", {self.plate_columns}',
                 f'"YWells", {self.plate_rows}', '"Sites", TRUE', f'"XSites", {sites}',
                 '"YSites", 1', '"Waves", TRUE', f'"NWavelengths", {len(self.channel_names)}']
        lines += [f'"WaveName{c + 1}", "{name}"' for c, name in enumerate(self.channel_names)]
        lines.append('"EndFile"')
        (self.root / f"{self.name}.HTD").write_text("\r\n".join(lines) + "\r\n")


def write_json(path: Path, data) -> None:
    """Write ``data`` as indented JSON, atomically (temporary name, then rename)."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=2, default=str)
        fh.write("\n")
    os.replace(tmp, path)
