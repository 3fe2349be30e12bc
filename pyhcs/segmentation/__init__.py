"""Segmentation: seeded propagation of nuclei into cells, nucleus and cell identification.

numpy in -> CPU, numpy out; cupy in -> GPU, cupy out.
"""

from .identify import identify_primary, identify_secondary, identify_tertiary
from .propagate import propagate

__all__ = ["identify_primary", "identify_secondary", "identify_tertiary", "propagate"]
