"""Folders of TIFF files: Opera Phenix / Operetta (Harmony export), ImageXpress, any pattern.

Each reader turns file names into ``(well, site, channel, z/t plane)`` and hands the list to
:func:`build_tiff_plate`, which groups files into fields, orders channels and planes, and marks
a field with a channel missing as unreadable (so the plate opens and only that field fails).

Naming
------
Opera Phenix / Operetta
    ``r01c01f01p01-ch1sk1fk1fl1.tiff``: row, column, field (site), plane (z), channel, and
    ``sk`` the time point. Channel names, the plate name and the pixel size come from the
    export's index XML (``Index.idx.xml``, ``Index.xml`` or ``Index.ref.xml``) when it is there;
    otherwise the channels are ``ch1`` ... ``chN``.
ImageXpress (MetaXpress)
    ``<prefix>_<well>_s<site>_w<channel><uuid>.tif`` inside optional ``TimePoint_N`` and
    ``ZStep_N`` folders; ``_s`` is absent for one site and ``_w`` for one wavelength;
    thumbnails (``_thumb``) are not images of the plate. Channel names come from the plate's
    ``.HTD`` file (``WaveName1`` ...) or from the MetaMorph metadata of the TIFFs, else
    ``w1`` ... ``wN``.
Any folder (``pattern=``)
    A regular expression with named groups ``well`` (or ``row`` and ``column``), ``site`` and
    ``channel``, optionally ``plane`` (z) and ``timepoint``. It is matched against each file's
    name, or, when the pattern contains ``/``, against the file's path relative to the folder.
    Files that do not match are listed in :attr:`Plate.ignored`, never read.

Several z or t planes per channel are refused unless ``projection="max"`` is asked.
"""

from __future__ import annotations

import os
import re
import xml.etree.ElementTree as ET
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path

from ._errors import PlateError
from ._plate import FieldRecord, Plate, distinct_names
from ._tiff import Plane, TiffBackend
from ._wells import normalize_well, row_number, well_name

__all__ = [
    "OPERETTA_NAME",
    "IMAGEXPRESS_NAME",
    "INDEX_XML_NAMES",
    "find_index_xml",
    "open_operetta",
    "open_imagexpress",
    "open_pattern",
    "list_files",
]

OPERETTA_NAME = re.compile(
    r"r(?P<row>\d+)c(?P<column>\d+)f(?P<site>\d+)p(?P<plane>\d+)-ch(?P<channel>\d+)"
    r"sk(?P<timepoint>\d+)fk\d+fl\d+\.tiff?", re.IGNORECASE)
IMAGEXPRESS_NAME = re.compile(
    r"(?P<prefix>.+?)_(?P<well>[A-Za-z]{1,2}\d{1,3})(?:_s(?P<site>\d+))?(?:_w(?P<channel>\d+))?"
    r"(?P<uuid>[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12})?"
    r"\.tiff?", re.IGNORECASE)
_IMAGEXPRESS_FOLDER = re.compile(r"(TimePoint|ZStep)_(\d+)", re.IGNORECASE)
INDEX_XML_NAMES = ("Index.idx.xml", "Index.xml", "Index.ref.xml")
_IMAGE_SUFFIXES = (".tif", ".tiff", ".png", ".jpg", ".jpeg", ".bmp")


def list_files(root: Path) -> list[str]:
    """Every file under ``root`` as a POSIX path relative to it, sorted, hidden files skipped."""
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        rel = Path(dirpath).relative_to(root)
        for name in sorted(filenames):
            if not name.startswith("."):
                found.append((rel / name).as_posix())
    return found


def _natural(value: str):
    return (0, int(value), "") if value.isdigit() else (1, 0, value)


def _site(value: str | None) -> int | str:
    if value is None:
        return 1
    return int(value) if value.isdigit() else value


class _Match:
    __slots__ = ("well", "site", "channel", "z", "t", "path")

    def __init__(self, well, site, channel, z, t, path):
        self.well, self.site, self.channel, self.z, self.t, self.path = (
            well, site, channel, z, t, path)


def build_tiff_plate(*, root: Path, matches: list[_Match], channel_names: dict[str, str],
                     ignored: list[str], name: str, format: str, pixel_size=None,
                     **plate_kwargs) -> Plate:
    """Group per-file matches into fields and make the :class:`Plate`.

    ``channel_names`` maps a file's channel key to the channel's name (keys not in it keep the
    key as the name).
    """
    if not matches:
        raise PlateError(f"{root}: no image files of the {format} layout found")
    keys = sorted({m.channel for m in matches}, key=_natural)
    names = distinct_names([channel_names.get(k, k) for k in keys], keys)
    position = {k: i for i, k in enumerate(keys)}
    fields: dict[tuple[str, object], list[list[tuple]]] = {}
    for m in matches:
        planes = fields.setdefault((m.well, m.site), [[] for _ in keys])[position[m.channel]]
        planes.append(((m.t, m.z), m.path))
    records = []
    for (well, site), per_channel in fields.items():
        data = []
        missing = []
        for key, channel, planes in zip(keys, names, per_channel):
            planes.sort(key=lambda p: p[0])
            order = [p[0] for p in planes]
            if len(set(order)) != len(order):
                dupes = [p[1] for p in planes if order.count(p[0]) > 1]
                raise PlateError(f"{root}: well {well} site {site} channel {key} has two files "
                                 f"for one plane: {dupes[:4]}")
            data.append(tuple(Plane(str(root / p[1])) for p in planes))
            if not planes:
                missing.append(channel)
        why = None
        if missing:
            why = (f"no image file for channel(s) {', '.join(missing)} (the plate's channels "
                   f"are {', '.join(names)})")
        records.append(FieldRecord(well, site, tuple(data), missing=why))
    return Plate(name=name, format=format, source=root, records=records, channel_names=names,
                 backend=TiffBackend(), pixel_size=pixel_size, ignored=ignored,
                 **plate_kwargs)


# ------------------------------------------------------------------------- Opera / Operetta
def find_index_xml(root: Path) -> Path | None:
    """The Harmony export's index XML in ``root`` or ``root/Images``, if any."""
    for folder in (root, root / "Images"):
        for name in INDEX_XML_NAMES:
            candidate = folder / name
            if candidate.is_file():
                return candidate
    return None


def _strip_namespaces(tree: ET.Element) -> ET.Element:
    for element in tree.iter():
        if isinstance(element.tag, str) and "}" in element.tag:
            element.tag = element.tag.split("}", 1)[1]
    return tree


_LENGTH_TO_UM = {"m": 1e6, "mm": 1e3, "um": 1.0, "µm": 1.0, "nm": 1e-3}


def _parse_index_xml(path: Path) -> tuple[dict[str, str], str | None, tuple | None]:
    """Channel names by channel id, the plate name and the pixel size (um) of a Harmony index."""
    try:
        root = _strip_namespaces(ET.parse(path).getroot())
    except (ET.ParseError, OSError) as exc:
        raise PlateError(f"{path}: cannot parse the Harmony index XML ({exc})") from None
    names: dict[str, str] = {}
    pixel = None
    for entry in root.iter("Entry"):
        cid = entry.get("ChannelID")
        cname = entry.findtext("ChannelName")
        if cid and cname and cid not in names:
            names[cid] = cname.strip()
        if pixel is None and entry.find("ImageResolutionX") is not None:
            pixel = _resolution(entry)
    for image in root.iter("Image"):
        cid = image.findtext("ChannelID")
        cname = image.findtext("ChannelName")
        if cid and cname and cid.strip() not in names:
            names[cid.strip()] = cname.strip()
        if pixel is None and image.find("ImageResolutionX") is not None:
            pixel = _resolution(image)
    plate_name = None
    for plate in root.iter("Plate"):
        plate_name = (plate.findtext("Name") or plate.findtext("PlateID") or "").strip() or None
        if plate_name:
            break
    return names, plate_name, pixel


def _resolution(element: ET.Element):
    try:
        values = []
        for tag in ("ImageResolutionY", "ImageResolutionX"):
            node = element.find(tag)
            if node is None:
                node = element.find("ImageResolutionX")
            unit = (node.get("Unit") or "m").strip()
            values.append(float(node.text) * _LENGTH_TO_UM.get(unit, 1e6))
        return tuple(values)
    except (TypeError, ValueError):
        return None


def open_operetta(root: Path, **plate_kwargs) -> Plate:
    """Open an Opera Phenix / Operetta (Harmony) export folder."""
    index = find_index_xml(root)
    channel_names: dict[str, str] = {}
    plate_name = pixel = None
    image_dir = root
    if index is not None:
        channel_names, plate_name, pixel = _parse_index_xml(index)
        image_dir = index.parent
    elif (root / "Images").is_dir():
        image_dir = root / "Images"
    matches, ignored = [], []
    for rel in list_files(image_dir):
        m = OPERETTA_NAME.fullmatch(Path(rel).name)
        if m is None:
            if index is None or (image_dir / rel) != index:
                ignored.append(rel)
            continue
        key = str(int(m["channel"]))
        matches.append(_Match(well_name(int(m["row"]), int(m["column"])), int(m["site"]),
                              key, int(m["plane"]), int(m["timepoint"]), rel))
    names = {k: channel_names.get(k, f"ch{k}") for k in {m.channel for m in matches}}
    return build_tiff_plate(root=image_dir, matches=matches, channel_names=names,
                            ignored=ignored, name=plate_name or root.name, format="operetta",
                            pixel_size=pixel, **plate_kwargs)


# ------------------------------------------------------------------------- ImageXpress
def _parse_htd(path: Path) -> dict[str, str]:
    """``WaveName<n>`` entries of a MetaXpress ``.HTD`` plate file: channel key -> name."""
    names = {}
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return names
    for m in re.finditer(r'^"WaveName(\d+)"\s*,\s*"([^"]*)"', text, re.MULTILINE):
        if m.group(2).strip():
            names[m.group(1)] = m.group(2).strip()
    return names


def _metaseries_channel(path: Path) -> tuple[str | None, tuple | None]:
    """Illumination setting and pixel size recorded by MetaMorph in a TIFF, if any."""
    import tifffile

    try:
        with tifffile.TiffFile(path) as tif:
            meta = tif.metaseries_metadata if tif.is_metaseries else None
    except Exception:
        return None, None
    if not meta:
        return None, None
    info = meta.get("PlaneInfo", {})
    name = info.get("_IllumSetting_") or None
    try:
        pixel = (float(info["spatial-calibration-y"]), float(info["spatial-calibration-x"]))
    except (KeyError, TypeError, ValueError):
        pixel = None
    return (str(name).strip() or None) if name else None, pixel


def open_imagexpress(root: Path, **plate_kwargs) -> Plate:
    """Open an ImageXpress (MetaXpress) export folder."""
    matches, ignored, prefixes = [], [], defaultdict(int)
    htd = None
    for rel in list_files(root):
        parts = rel.split("/")
        filename = parts[-1]
        if filename.lower().endswith(".htd"):
            htd = htd or root / rel
            continue
        m = IMAGEXPRESS_NAME.fullmatch(filename)
        if m is None or "_thumb" in filename.lower():
            ignored.append(rel)
            continue
        t = z = 1
        for folder in parts[:-1]:
            fm = _IMAGEXPRESS_FOLDER.fullmatch(folder)
            if fm:
                if fm.group(1).lower() == "timepoint":
                    t = int(fm.group(2))
                else:
                    z = int(fm.group(2))
        prefixes[m["prefix"]] += 1
        key = str(int(m["channel"])) if m["channel"] else "1"
        matches.append(_Match(normalize_well(m["well"]), _site(m["site"]), key, z, t, rel))
    if len(prefixes) > 1:
        raise PlateError(f"{root}: files of several ImageXpress plates (prefixes "
                         f"{sorted(prefixes)}); open each plate's folder on its own")
    channel_names = _parse_htd(htd) if htd is not None else {}
    pixel = None
    keys = sorted({m.channel for m in matches}, key=_natural)
    first_site = {}
    for m in matches:
        first_site.setdefault(m.channel, m)
    for key in keys:
        name, px = _metaseries_channel(root / first_site[key].path)
        pixel = pixel or px
        if key not in channel_names and name:
            channel_names[key] = name
    names = {k: channel_names.get(k, f"w{k}") for k in keys}
    plate_name = next(iter(prefixes), root.name)
    return build_tiff_plate(root=root, matches=matches, channel_names=names, ignored=ignored,
                            name=plate_name, format="imagexpress", pixel_size=pixel,
                            **plate_kwargs)


# ------------------------------------------------------------------------- any folder
def compile_pattern(pattern) -> re.Pattern:
    """Compile and check a ``pattern=`` regular expression (see the module docstring)."""
    if isinstance(pattern, re.Pattern):
        regex = pattern
    elif isinstance(pattern, str):
        try:
            regex = re.compile(pattern)
        except re.error as exc:
            raise ValueError(f"pattern is not a valid regular expression: {exc}") from None
    else:
        raise TypeError(f"pattern must be a regular expression string, got "
                        f"{type(pattern).__name__}")
    groups = set(regex.groupindex)
    has_well = "well" in groups
    has_rc = {"row", "column"} <= groups
    missing = []
    if not (has_well or has_rc):
        missing.append("well (or row and column)")
    for group in ("site", "channel"):
        if group not in groups:
            missing.append(group)
    if missing:
        raise ValueError(f"pattern needs the named group(s) {', '.join(missing)}, e.g. "
                         r"'(?P<well>[A-P]\d{2})_s(?P<site>\d+)_(?P<channel>\w+)\.tif'; got "
                         f"{regex.pattern!r}")
    return regex


def _pattern_well(m: re.Match) -> str:
    groups = m.groupdict()
    if groups.get("well") is not None:
        return normalize_well(groups["well"])
    row, column = groups["row"], groups["column"]
    r = int(row) if row.isdigit() else row_number(row)
    return well_name(r, int(column))


def open_pattern(root: Path, pattern, **plate_kwargs) -> Plate:
    """Open any folder of image files whose names ``pattern`` describes."""
    regex = compile_pattern(pattern)
    on_path = "/" in regex.pattern
    matches, ignored = [], []
    for rel in list_files(root):
        text = rel if on_path else rel.rsplit("/", 1)[-1]
        m = regex.fullmatch(text)
        if m is None or not rel.lower().endswith(_IMAGE_SUFFIXES):
            ignored.append(rel)
            continue
        try:
            well = _pattern_well(m)
        except ValueError as exc:
            raise PlateError(f"{root / rel}: pattern matched but {exc}") from None
        groups = m.groupdict()
        z = groups.get("plane") or "0"
        t = groups.get("timepoint") or "0"
        matches.append(_Match(well, _site(groups["site"]), groups["channel"], _natural(z),
                              _natural(t), rel))
    if not matches:
        raise PlateError(f"{root}: no file matches pattern {regex.pattern!r} "
                         f"(files there: {_examples(ignored)})")
    return build_tiff_plate(root=root, matches=matches, channel_names={}, ignored=ignored,
                            name=root.name, format="tiff", **plate_kwargs)


def _examples(files: Iterable[str], n: int = 5) -> str:
    files = list(files)
    if not files:
        return "none"
    shown = ", ".join(files[:n])
    return shown + (f", ... ({len(files)} in all)" if len(files) > n else "")
