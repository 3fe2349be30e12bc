"""Per-object and per-image measurements.

numpy in -> CPU kernels, numpy out; cupy in -> GPU kernels, cupy out.
"""

from .regionprops import PROPERTIES, regionprops_table

__all__ = ["regionprops_table", "PROPERTIES"]
