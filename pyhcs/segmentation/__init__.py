"""Segmentation: seeded propagation of nuclei into cells, nucleus and cell identification.

numpy in -> CPU, numpy out; cupy in -> GPU, cupy out.
"""

from .identify import identify_primary, identify_secondary, identify_tertiary
from ._scale import estimate_diameter, size_range_for_diameter
from .propagate import propagate

__all__ = [
    "estimate_diameter",
    "identify_primary",
    "identify_secondary",
    "identify_tertiary",
    "propagate",
    "size_range_for_diameter",
]
