"""Synthetic high-content-screening data with ground truth.

:func:`synthetic_field` renders one two-channel field (``DNA``, ``Actin``; uint16, shape
(C, H, W), channel-first) with its nucleus and cell label images; :class:`PhenotypeParams` and
:class:`ImagingParams` are the frozen parameter objects that control it, and
:func:`write_synthetic_fields` writes fields as TIFF files with a JSON manifest (the ``pyhcs
synth`` command).
"""

from .synthetic import (
    CHANNEL_NAMES,
    ImagingParams,
    PhenotypeParams,
    SyntheticField,
    derive_seed,
    synthetic_field,
    write_synthetic_fields,
)

__all__ = [
    "CHANNEL_NAMES",
    "ImagingParams",
    "PhenotypeParams",
    "SyntheticField",
    "derive_seed",
    "synthetic_field",
    "write_synthetic_fields",
]
