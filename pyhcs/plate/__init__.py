"""Plates: open real plates of any common format and read them one field at a time.

:func:`open_plate` recognises and opens

- OME-Zarr HCS plates, OME-NGFF 0.4 (Zarr v2) and 0.5 (Zarr v3);
- Opera Phenix / Operetta (Harmony) exports, ``r01c01f01p01-ch1sk1fk1fl1.tiff``;
- ImageXpress exports, ``<plate>_A01_s1_w1<uuid>.tif`` in ``TimePoint_N`` / ``ZStep_N``;
- any folder of TIFF files, through a ``pattern=`` regular expression;
- CellProfiler LoadData CSVs (``FileName_<Channel>``, ``PathName_<Channel>``,
  ``Metadata_Well``, ``Metadata_Site``), as JUMP Cell Painting's ``load_data.csv``;

and gives a :class:`Plate`: its wells in plate order (named ``A01`` whatever the format
writes), the sites of each well, the channels, the field shape and dtype, the pixel size, where
each image lives, and :meth:`Plate.read`, which returns one field as a ``(C, H, W)`` array,
reads only that field, can fill a caller's buffer (``out=``) and is safe from many threads.
A field that cannot be read raises :class:`FieldReadError` naming the well, site, file and
cause; it never returns wrong pixels. ``pyhcs info PLATE`` prints :meth:`Plate.describe`.

This package is the only one that knows about plates, wells and files; the kernels never
import it.
"""

from ._engine import RunSummary, illumination_functions, run
from ._errors import FieldReadError, PlateError
from ._open import FORMATS, detect_format, open_plate
from ._pipeline import Pipeline
from ._plate import Plate
from ._platemap import read_platemap
from ._process import FieldResult, measure_objects, process_field, to_intensity
from ._wells import normalize_well, well_name, well_position

__all__ = [
    "FORMATS",
    "FieldResult",
    "FieldReadError",
    "Pipeline",
    "Plate",
    "PlateError",
    "RunSummary",
    "detect_format",
    "illumination_functions",
    "measure_objects",
    "normalize_well",
    "open_plate",
    "process_field",
    "read_platemap",
    "run",
    "to_intensity",
    "well_name",
    "well_position",
]
