"""Well names: one spelling for every format.

Plates name wells in many ways: ``A1``, ``A01``, ``a01``, ``A/1`` (OME-Zarr paths), ``A_1``,
``r01c01`` (Opera/Operetta), ``R1C1``. pyhcs writes every well as its row letters followed by a
two-digit column, ``A01`` ... ``P24`` ... ``AF48``: rows 1-26 are ``A``-``Z``, rows 27-52 are
``AA``-``AZ`` (a 1536-well plate has 32 rows, ``A``-``AF``), and columns above 99 keep all their
digits. Plate order is row-major: by row, then by column.
"""

from __future__ import annotations

import re

__all__ = ["normalize_well", "well_name", "well_position", "row_letters", "row_number"]

_LETTERS_COLUMN = re.compile(r"^\s*([A-Za-z]{1,2})[\s/_\-]*0*(\d{1,3})\s*$")
_ROW_COLUMN_NUMBERS = re.compile(r"^\s*[Rr]0*(\d{1,3})\s*[-_]?\s*[Cc]0*(\d{1,3})\s*$")


def row_letters(row: int) -> str:
    """Row letters of the 1-based ``row``: 1 -> ``A``, 26 -> ``Z``, 27 -> ``AA``, 32 -> ``AF``.

    >>> [row_letters(r) for r in (1, 16, 27, 32)]
    ['A', 'P', 'AA', 'AF']
    """
    if isinstance(row, bool) or not isinstance(row, int) or not 1 <= row <= 702:
        raise ValueError(f"row must be an integer in [1, 702], got {row!r}")
    first, second = divmod(row - 1, 26)
    if first == 0:
        return chr(ord("A") + second)
    return chr(ord("A") + first - 1) + chr(ord("A") + second)


def row_number(letters: str) -> int:
    """1-based row of ``letters`` (case-insensitive): ``A`` -> 1, ``AF`` -> 32.

    >>> row_number("p"), row_number("AF")
    (16, 32)
    """
    if not isinstance(letters, str) or not re.fullmatch(r"[A-Za-z]{1,2}", letters):
        raise ValueError(f"letters must be one or two row letters, got {letters!r}")
    letters = letters.upper()
    if len(letters) == 1:
        return ord(letters) - ord("A") + 1
    return (ord(letters[0]) - ord("A") + 1) * 26 + ord(letters[1]) - ord("A") + 1


def well_name(row: int, column: int) -> str:
    """The normalised name of the well at 1-based ``row`` and ``column``.

    >>> well_name(1, 1), well_name(16, 24), well_name(32, 48)
    ('A01', 'P24', 'AF48')
    """
    if isinstance(column, bool) or not isinstance(column, int) or not 1 <= column <= 999:
        raise ValueError(f"column must be an integer in [1, 999], got {column!r}")
    return f"{row_letters(row)}{column:02d}"


def well_position(well: str) -> tuple[int, int]:
    """``(row, column)``, both 1-based, of a well name in any accepted spelling.

    >>> well_position("B03"), well_position("r02c03"), well_position("AF/48")
    ((2, 3), (2, 3), (32, 48))
    """
    if not isinstance(well, str):
        raise TypeError(f"well must be a string such as 'A01', got {type(well).__name__} {well!r}")
    m = _LETTERS_COLUMN.match(well)
    if m:
        row, column = row_number(m.group(1)), int(m.group(2))
    else:
        m = _ROW_COLUMN_NUMBERS.match(well)
        if not m:
            raise ValueError(
                f"well {well!r} is not a well name; expected row letters and a column number "
                "('A01', 'A1', 'A/1', 'AF48') or row and column numbers ('r01c01')"
            )
        row, column = int(m.group(1)), int(m.group(2))
    if row < 1 or column < 1:
        raise ValueError(f"well {well!r} has a row or column 0; rows and columns start at 1")
    return row, column


def normalize_well(well: str) -> str:
    """The normalised name (``A01``, ``P24``, ``AF48``) of a well written in any accepted way.

    Parameters
    ----------
    well : str
        ``A1``, ``A01``, ``a01``, ``A/1``, ``A_1``, ``A-01``, ``r01c01``, ``R1C1``.

    Returns
    -------
    str
        Row letters (upper case) and the column with at least two digits.

    Raises
    ------
    ValueError
        When ``well`` is not a well name, naming it.

    Examples
    --------
    >>> [normalize_well(w) for w in ("A1", "a/01", "r16c24", "AF48")]
    ['A01', 'A01', 'P24', 'AF48']
    """
    return well_name(*well_position(well))
