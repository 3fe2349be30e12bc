"""Segmentation: seeded propagation of nuclei into cells, nucleus and cell identification.

numpy in -> CPU, numpy out; cupy in -> GPU, cupy out.
"""

from .propagate import propagate

__all__ = ["propagate"]
