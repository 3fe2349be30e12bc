"""``open_plate``: recognise a plate's format and open it."""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

from ._errors import PlateError
from ._omezarr import is_zarr_group, open_ome_zarr, open_ome_zarr_image, read_zarr_attrs
from ._plate import Plate
from ._vendor import (
    IMAGEXPRESS_NAME,
    OPERETTA_NAME,
    find_index_xml,
    list_files,
    open_imagexpress,
    open_operetta,
    open_pattern,
)

__all__ = ["open_plate", "FORMATS", "detect_format"]

FORMATS = ("auto", "ome-zarr", "ome-zarr-image", "operetta", "imagexpress", "tiff", "loaddata")


def _zarr_plate_children(root: Path) -> list[Path]:
    found = []
    for child in sorted(root.iterdir()):
        if child.is_dir() and is_zarr_group(child):
            try:
                if "plate" in read_zarr_attrs(child)[0]:
                    found.append(child)
            except PlateError:
                continue
    return found


def detect_format(source: Path, pattern=None) -> tuple[str, Path]:
    """``(format, path to open)`` for ``source``, or a :class:`PlateError` saying what was found.

    A folder holding exactly one OME-Zarr plate (``pyhcs synth --format zarr`` writes
    ``PLATE/plate.ome.zarr`` beside its platemap) opens that plate.
    """
    if source.is_file():
        if source.suffix.lower() in (".csv", ".tsv"):
            return "loaddata", source
        raise PlateError(f"{source}: a file that is not a LoadData CSV; a plate is a folder "
                         "(vendor TIFF export, OME-Zarr plate) or a LoadData .csv")
    if is_zarr_group(source):
        return "ome-zarr", source
    if pattern is not None:
        return "tiff", source
    if find_index_xml(source) is not None:
        return "operetta", source
    files = list_files(source)
    if not files:
        children = _zarr_plate_children(source)
        if len(children) == 1:
            return "ome-zarr", children[0]
        raise PlateError(f"{source}: an empty folder; expected plate images (an OME-Zarr "
                         "plate, an Opera/Operetta or ImageXpress export, or TIFF files with "
                         "pattern=)")
    names = [f.rsplit("/", 1)[-1] for f in files]
    operetta = sum(1 for n in names if OPERETTA_NAME.fullmatch(n))
    imagexpress = sum(1 for n in names if IMAGEXPRESS_NAME.fullmatch(n) and "_thumb" not in n)
    imagexpress += sum(1 for n in names if n.lower().endswith(".htd"))
    children = _zarr_plate_children(source)
    kinds = {k: n for k, n in (("operetta", operetta), ("imagexpress", imagexpress),
                               ("ome-zarr", len(children))) if n}
    if len(kinds) == 1:
        kind = next(iter(kinds))
        if kind != "ome-zarr":
            return kind, source
        if len(children) == 1:
            return "ome-zarr", children[0]
        raise PlateError(f"{source}: {len(children)} OME-Zarr plates "
                         f"({', '.join(c.name for c in children)}); open one of them")
    suffixes = Counter(Path(n).suffix.lower() or "(none)" for n in names)
    found = ", ".join(f"{n} {s}" for s, n in suffixes.most_common(6))
    csvs = [f for f in files if f.lower().endswith(".csv")]
    hint = f"; pass a LoadData CSV itself as the source ({csvs[0]})" if csvs else ""
    if len(kinds) > 1:
        raise PlateError(f"{source}: ambiguous layout: files named like "
                         + " and ".join(f"{k} ({n})" for k, n in kinds.items())
                         + "; pass format= to choose")
    raise PlateError(
        f"{source}: unrecognised plate layout: found {len(files)} file(s) ({found}), e.g. "
        f"{', '.join(files[:3])}; none named as Opera/Operetta (r01c01f01p01-ch1sk1fk1fl1.tiff) "
        "or ImageXpress (<plate>_A01_s1_w1.tif) exports, and no OME-Zarr plate. For another "
        "naming, pass pattern= with the groups well (or row and column), site and channel"
        + hint)


def open_plate(source, *, format: str = "auto", pattern=None, channels=None, platemap=None,
               projection: str | None = None, acquisition=None) -> Plate:
    """Open a plate of any supported format for reading one field at a time.

    Parameters
    ----------
    source : str or os.PathLike
        An OME-Zarr plate (NGFF 0.4 on Zarr v2 or 0.5 on Zarr v3), an Opera Phenix / Operetta
        (Harmony) export folder, an ImageXpress export folder, any folder of TIFF files (with
        ``pattern``), or a CellProfiler LoadData CSV.
    format : {"auto", "ome-zarr", "ome-zarr-image", "operetta", "imagexpress", "tiff", \
"loaddata"}
        ``"auto"`` recognises OME-Zarr, Opera/Operetta, ImageXpress and LoadData from the path;
        ``"tiff"`` needs ``pattern``; ``"ome-zarr-image"`` opens one OME-Zarr image without plate
        metadata as a plate of one well (``A01``) and one field (site 0).
    pattern : str or re.Pattern, optional
        For any folder of image files: a regular expression with named groups ``well`` (or
        ``row`` and ``column``), ``site`` and ``channel``, optionally ``plane`` and
        ``timepoint``, matched against each file name (against the relative path when it
        contains ``/``). Non-matching files are listed in :attr:`Plate.ignored`.
    channels : dict or list of str, optional
        ``{"DNA": "ch1", "Actin": "ch2"}`` names plate channels by role (reads return the
        roles in this order, and only them); a list selects and orders channels by their plate
        names. Every name must be on the plate.
    platemap : str, os.PathLike or pandas.DataFrame, optional
        A CSV with a well column and any others (treatment, compound, concentration, control
        type); they become per-well ``Metadata_*`` values (:meth:`Plate.metadata`). Every
        platemap well must be on the plate.
    projection : {None, "max"}
        Fields with several z or t planes per channel are refused unless ``"max"``: a
        maximum-intensity projection over all planes.
    acquisition : optional
        For OME-Zarr plates with several acquisitions: read only the fields of this
        acquisition id.

    Returns
    -------
    Plate

    Raises
    ------
    FileNotFoundError
        ``source`` does not exist.
    PlateError
        The layout is unrecognised, ambiguous or incomplete; the message lists what was found.
    ValueError, TypeError
        A bad ``format``, ``pattern``, ``channels``, ``projection`` or ``acquisition``.

    Examples
    --------
    >>> import tempfile
    >>> from pyhcs.datasets import synthetic_plate
    >>> folder = tempfile.mkdtemp()
    >>> synth = synthetic_plate(folder, n_wells=2, n_fields=2, shape=(64, 64), seed=0)
    >>> plate = open_plate(synth.source, platemap=synth.platemap)
    >>> plate.wells, plate.sites("A01"), plate.channels
    (('A01', 'A02'), (0, 1), ('DNA', 'Actin'))
    >>> plate.read("A01", 1).shape
    (2, 64, 64)
    """
    if format not in FORMATS:
        raise ValueError(f"format must be one of {FORMATS}, got {format!r}")
    if not isinstance(source, (str, os.PathLike)):
        raise TypeError(f"source must be a path, got {type(source).__name__}")
    path = Path(source).expanduser()
    if not path.exists():
        raise FileNotFoundError(f"plate source {path} does not exist")
    if format == "tiff" and pattern is None:
        raise ValueError("format='tiff' needs pattern= (named groups well or row and column, "
                         "site, channel)")
    if pattern is not None and format not in ("auto", "tiff"):
        raise ValueError(f"pattern= is for format='tiff' (any TIFF folder), not {format!r}")
    if format == "auto":
        format, path = detect_format(path, pattern)
    if format != "loaddata" and not path.is_dir():
        raise PlateError(f"{path}: format {format!r} needs a folder")
    kwargs = dict(channels=channels, platemap=platemap, projection=projection)
    if acquisition is not None and format != "ome-zarr":
        raise ValueError(f"acquisition= is for OME-Zarr plates, not {format!r}")
    if format == "ome-zarr":
        return open_ome_zarr(path, acquisition=acquisition, **kwargs)
    if format == "ome-zarr-image":
        return open_ome_zarr_image(path, **kwargs)
    if format == "operetta":
        return open_operetta(path, **kwargs)
    if format == "imagexpress":
        return open_imagexpress(path, **kwargs)
    if format == "tiff":
        return open_pattern(path, pattern, **kwargs)
    from ._loaddata import open_loaddata

    if not path.is_file():
        raise PlateError(f"{path}: format 'loaddata' needs a LoadData CSV file")
    return open_loaddata(path, **kwargs)
