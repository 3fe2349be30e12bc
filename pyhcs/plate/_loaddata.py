"""CellProfiler LoadData CSVs, as JUMP Cell Painting's ``load_data.csv``.

One row per field (image set). For every channel ``X`` the CSV has ``FileName_X`` and
``PathName_X`` (and optionally ``Frame_X``, the 0-based page of a multi-page file, as
CellProfiler's LoadData reads it); ``Metadata_Well`` and ``Metadata_Site`` place the row on the
plate and ``Metadata_Plate`` names it. Channel names and their order come from the CSV's
``FileName_`` columns. A relative ``PathName`` is relative to the CSV's folder.

A channel whose file (and frame) is the same on every row (JUMP's
``load_data_with_illum.csv`` lists the plate's illumination functions ``FileName_IllumDNA`` ...
that way) is a per-plate image, not a channel of the fields: it is left out and listed in
:attr:`Plate.ignored`.
"""

from __future__ import annotations

import math
from pathlib import Path

from ._errors import PlateError
from ._plate import FieldRecord, Plate
from ._tiff import Plane, TiffBackend
from ._wells import normalize_well

__all__ = ["open_loaddata", "REQUIRED_COLUMNS"]

REQUIRED_COLUMNS = ("Metadata_Well", "Metadata_Site")


def _blank(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or \
        str(value).strip() == ""


def _site_value(value, csv: Path, row: int):
    if _blank(value):
        raise PlateError(f"{csv}: row {row + 2} has no Metadata_Site")
    if isinstance(value, float) and value.is_integer():
        return int(value)
    text = str(value).strip()
    return int(text) if text.isdigit() else text


def open_loaddata(csv: Path, **plate_kwargs) -> Plate:
    """Open a plate described by a CellProfiler LoadData CSV."""
    import pandas as pd

    try:
        table = pd.read_csv(csv, dtype=str, keep_default_na=False)
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise PlateError(f"{csv}: cannot read the CSV ({exc})") from None
    columns = list(table.columns)
    channels = [c[len("FileName_"):] for c in columns if c.startswith("FileName_")]
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    missing += [f"PathName_{ch}" for ch in channels if f"PathName_{ch}" not in columns]
    if not channels:
        missing.append("FileName_<Channel>")
    if missing:
        raise PlateError(
            f"{csv}: not a LoadData CSV: missing column(s) {', '.join(missing)}; a LoadData CSV "
            "has FileName_<Channel> and PathName_<Channel> for every channel, Metadata_Well and "
            f"Metadata_Site (and Metadata_Plate); found columns {columns[:12]}"
            + (" ..." if len(columns) > 12 else ""))
    if table.empty:
        raise PlateError(f"{csv}: the LoadData CSV has no rows")
    plates = sorted(set(table["Metadata_Plate"])) if "Metadata_Plate" in columns else []
    if len(plates) > 1:
        raise PlateError(f"{csv}: rows of {len(plates)} plates ({plates[:5]}); write one "
                         "LoadData CSV per plate")
    base = csv.parent

    def path_of(row, channel) -> str | None:
        name, folder = row[f"FileName_{channel}"], row[f"PathName_{channel}"]
        if _blank(name):
            return None
        folder_path = Path(folder) if not _blank(folder) else Path(".")
        if not folder_path.is_absolute():
            folder_path = base / folder_path
        return str(folder_path / str(name).strip())

    rows = table.to_dict("records")
    constant = []
    if len(rows) > 1:
        for ch in channels:
            values = {(r[f"FileName_{ch}"], r[f"PathName_{ch}"], r.get(f"Frame_{ch}"))
                      for r in rows}
            if len(values) == 1:
                constant.append(ch)
    field_channels = [ch for ch in channels if ch not in constant]
    if not field_channels:
        raise PlateError(f"{csv}: every channel names the same file on every row")
    records = []
    for i, row in enumerate(rows):
        if _blank(row["Metadata_Well"]):
            raise PlateError(f"{csv}: row {i + 2} has no Metadata_Well")
        try:
            well = normalize_well(str(row["Metadata_Well"]))
        except ValueError as exc:
            raise PlateError(f"{csv}: row {i + 2}: {exc}") from None
        site = _site_value(row["Metadata_Site"], csv, i)
        data, absent = [], []
        for ch in field_channels:
            path = path_of(row, ch)
            if path is None:
                data.append(())
                absent.append(ch)
                continue
            frame = row.get(f"Frame_{ch}")
            page = None if _blank(frame) else int(float(frame))
            data.append((Plane(path, page),))
        why = f"no file for channel(s) {', '.join(absent)} in the CSV" if absent else None
        records.append(FieldRecord(well, site, tuple(data), missing=why))
    ignored = [path_of(rows[0], ch) or f"FileName_{ch}" for ch in constant]
    name = plates[0] if plates else csv.stem
    return Plate(name=name, format="loaddata", source=csv, records=records,
                 channel_names=field_channels, backend=TiffBackend(),
                 ignored=ignored, **plate_kwargs)
