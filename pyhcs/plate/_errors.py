"""Errors raised by plate I/O."""

from __future__ import annotations

__all__ = ["PlateError", "FieldReadError"]


class PlateError(ValueError):
    """A plate source that cannot be opened: unrecognised layout, missing metadata, bad CSV.

    The message names the path and says what was expected and what was found.
    """


class FieldReadError(OSError):
    """One field of a plate could not be read.

    Raised by :meth:`pyhcs.plate.Plate.read` instead of ever returning wrong pixels: a missing
    or truncated file, a decode error, a missing channel, or a shape or dtype that differs from
    the rest of the plate.

    Attributes
    ----------
    well : str
        The well, normalised (``A01``).
    site : int or str
        The site as the format numbers it.
    path : str or None
        The file (or Zarr array) that failed, when one is known.
    cause : str
        What went wrong, in words.
    """

    def __init__(self, well: str, site, path, cause: str):
        self.well = well
        self.site = site
        self.path = None if path is None else str(path)
        self.cause = cause
        where = f" ({self.path})" if self.path else ""
        super().__init__(f"cannot read well {well} site {site}{where}: {cause}")

    def __reduce__(self):
        return (type(self), (self.well, self.site, self.path, self.cause))
