"""Platemaps: a CSV (or DataFrame) with a well column and any per-well annotations.

The well column is the first of ``well``, ``Metadata_Well``, ``well_position``, ``WellName``,
``well_name``, ``Well`` (case-insensitive) that the table has. Every other column becomes a
per-well ``Metadata_<column>`` value (a column already called ``Metadata_...`` keeps its name),
as pycytominer's platemap annotation names them. A platemap's own plate or well columns never
override the plate's ``Metadata_Plate`` and ``Metadata_Well``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from ._errors import PlateError
from ._wells import normalize_well

__all__ = ["read_platemap", "WELL_COLUMNS"]

WELL_COLUMNS = ("well", "metadata_well", "well_position", "wellname", "well_name")
_RESERVED = ("Metadata_Plate", "Metadata_Well")


def read_platemap(platemap, wells: Sequence[str], *, plate_source=None):
    """Read a platemap and index it by normalised well.

    Parameters
    ----------
    platemap : str, os.PathLike or pandas.DataFrame
        A CSV file (``.tsv``/``.txt``: tab-separated) or a table.
    wells : sequence of str
        The plate's wells; every platemap well must be one of them.
    plate_source : path, optional
        Named in error messages.

    Returns
    -------
    pandas.DataFrame
        One row per platemap well, indexed by well (``A01``), columns ``Metadata_*``.

    Raises
    ------
    PlateError
        No well column, a well that is not a well name, a well listed twice, or wells that are
        not on the plate (all of them listed).
    """
    import pandas as pd

    if isinstance(platemap, pd.DataFrame):
        table, where = platemap.copy(), "platemap"
    elif isinstance(platemap, (str, os.PathLike)):
        where = Path(platemap)
        if not where.is_file():
            raise FileNotFoundError(f"platemap {where} does not exist")
        sep = "\t" if where.suffix.lower() in (".tsv", ".txt") else ","
        try:
            table = pd.read_csv(where, sep=sep)
        except (OSError, ValueError, pd.errors.ParserError) as exc:
            raise PlateError(f"platemap {where}: cannot read it ({exc})") from None
    else:
        raise TypeError(f"platemap must be a CSV path or a pandas DataFrame, got "
                        f"{type(platemap).__name__}")
    lower = {str(c).lower(): c for c in table.columns}
    well_column = next((lower[c] for c in WELL_COLUMNS if c in lower), None)
    if well_column is None:
        raise PlateError(f"platemap {where}: no well column; expected one of "
                         f"{', '.join(WELL_COLUMNS)} (any case), found {list(table.columns)}")
    names = []
    for i, value in enumerate(table[well_column]):
        try:
            names.append(normalize_well(str(value)))
        except ValueError as exc:
            raise PlateError(f"platemap {where}: row {i + 2}: {exc}") from None
    table.index = pd.Index(names, name="well")
    table = table.drop(columns=[well_column])
    dupes = sorted(set(table.index[table.index.duplicated()]))
    if dupes:
        raise PlateError(f"platemap {where}: well(s) listed more than once: {dupes[:10]}")
    on_plate = set(wells)
    off = [w for w in table.index if w not in on_plate]
    if off:
        raise PlateError(
            f"platemap {where}: {len(off)} well(s) not on the plate {plate_source or ''}: "
            f"{off[:10]}{' ...' if len(off) > 10 else ''} (the plate has {len(wells)} wells)")
    renamed = {c: (str(c) if str(c).startswith("Metadata_") else f"Metadata_{c}")
               for c in table.columns}
    table = table.rename(columns=renamed)
    table = table.drop(columns=[c for c in _RESERVED if c in table.columns])
    return table
