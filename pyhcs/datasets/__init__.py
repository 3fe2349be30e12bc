"""Synthetic high-content-screening data with ground truth.

:func:`synthetic_field` renders one two-channel field (``DNA``, ``Actin``; uint16, shape
(C, H, W), channel-first) with its nucleus and cell label images; :class:`PhenotypeParams` and
:class:`ImagingParams` are the frozen parameter objects that control it, and
:func:`write_synthetic_fields` writes fields as TIFF files with a JSON manifest (the ``pyhcs
synth`` command). :func:`synthetic_plate` writes a whole plate (OME-Zarr, or Opera/Operetta or
ImageXpress TIFF) whose wells carry treatments with known effects, with controls, a platemap of
the truth and ground-truth labels (``pyhcs synth PLATE --wells N``); :class:`PlateWriter`
writes any plate in those layouts.
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
from .plate_writer import PlateWriter
from .synthetic_plate import (
    EFFECT_PARAMETERS,
    SyntheticPlate,
    Treatment,
    plate_treatments,
    synthetic_plate,
)

__all__ = [
    "CHANNEL_NAMES",
    "EFFECT_PARAMETERS",
    "PlateWriter",
    "SyntheticPlate",
    "Treatment",
    "plate_treatments",
    "synthetic_plate",
    "ImagingParams",
    "PhenotypeParams",
    "SyntheticField",
    "derive_seed",
    "synthetic_field",
    "write_synthetic_fields",
]
