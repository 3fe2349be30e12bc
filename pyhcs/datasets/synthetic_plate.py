"""Synthetic plates: treated wells, controls, a platemap with the truth, ground-truth labels.

Every well gets a :class:`Treatment` that multiplies chosen :class:`PhenotypeParams` (nucleus
size and shape, chromatin texture, DNA and Actin intensity, cell spread) and the number of
cells per field by known factors. The plate holds negative-control wells (``DMSO``, no effect),
positive-control wells (``POS``, a strong effect on all of them) and compound wells
(``CMPD-001`` ... with ``replicates`` wells each, each compound shifting one to three
parameters by a factor drawn from the seed). The platemap CSV records every well's treatment,
control type and the true parameter values the fields were rendered with.

Field ``f`` (0-based) of the well at row ``r``, column ``c`` is
``synthetic_field(shape, n, derive_seed(seed, r, c, f), phenotype=<well's phenotype>)``: the
output is deterministic for a seed, the same in every format, and the fields of one well differ.
"""

from __future__ import annotations

import dataclasses
import math
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from .plate_writer import FORMATS, LAYOUTS, PlateWriter, write_json
from .synthetic import (
    CHANNEL_NAMES,
    ImagingParams,
    PhenotypeParams,
    SyntheticField,
    _check_int,
    _check_shape,
    derive_seed,
    synthetic_field,
)

__all__ = [
    "Treatment",
    "SyntheticPlate",
    "synthetic_plate",
    "plate_treatments",
    "EFFECT_PARAMETERS",
    "PLATE_FORMATS",
]

#: What a treatment can change: PhenotypeParams fields, plus ``n_nuclei`` (cells per field).
EFFECT_PARAMETERS = ("nucleus_radius", "nucleus_eccentricity", "texture_contrast",
                     "texture_scale", "dna_intensity", "actin_intensity", "cell_radius",
                     "n_nuclei")

#: Plate sizes: wells -> (rows, columns).
PLATE_FORMATS = {96: (8, 12), 384: (16, 24), 1536: (32, 48)}

_POSITIVE_EFFECTS = {"nucleus_radius": 1.3, "nucleus_eccentricity": 0.6,
                     "texture_contrast": 1.6, "actin_intensity": 0.5, "cell_radius": 1.25,
                     "n_nuclei": 0.6}


@dataclass(frozen=True)
class Treatment:
    """A perturbation: multiplicative ``effects`` on :data:`EFFECT_PARAMETERS`.

    ``control`` is ``"negative"``, ``"positive"`` or ``"treatment"``.
    """

    name: str
    control: str = "treatment"
    effects: dict[str, float] = field(default_factory=dict)

    def __post_init__(self):
        unknown = set(self.effects) - set(EFFECT_PARAMETERS)
        if unknown:
            raise ValueError(f"Treatment.effects: unknown parameter(s) {sorted(unknown)}; "
                             f"expected some of {EFFECT_PARAMETERS}")
        if self.control not in ("negative", "positive", "treatment"):
            raise ValueError("Treatment.control must be 'negative', 'positive' or "
                             f"'treatment', got {self.control!r}")

    def apply(self, phenotype: PhenotypeParams, n_nuclei: int) -> tuple[PhenotypeParams, int]:
        """The well's phenotype and cells per field under this treatment (kept in range)."""
        values = {}
        for name, factor in self.effects.items():
            if name != "n_nuclei":
                values[name] = getattr(phenotype, name) * float(factor)
        if "nucleus_eccentricity" in values:
            values["nucleus_eccentricity"] = min(values["nucleus_eccentricity"], 0.95)
        if "texture_contrast" in values:
            values["texture_contrast"] = min(values["texture_contrast"], 2.0)
        for name in ("dna_intensity", "actin_intensity"):
            if name in values:
                values[name] = min(values[name], 60000.0)
        radius = values.get("nucleus_radius", phenotype.nucleus_radius)
        cell = values.get("cell_radius", phenotype.cell_radius)
        if cell <= 1.2 * radius:
            values["cell_radius"] = 1.2 * radius
        n = int(round(n_nuclei * float(self.effects.get("n_nuclei", 1.0))))
        return replace(phenotype, **values), max(n, 0)


def plate_treatments(n_wells: int, *, replicates: int = 2, seed: int = 0) -> list[Treatment]:
    """One :class:`Treatment` per well, in well order.

    ``max(2, n_wells // 8)`` negative and ``max(1, n_wells // 16)`` positive controls, spread
    evenly over the wells; the other wells hold compounds, ``replicates`` wells each. A plate of
    one well is a negative control; of two, one negative and one positive.
    """
    n_wells = _check_int("n_wells", n_wells, 1)
    replicates = _check_int("replicates", replicates, 1)
    negative = Treatment("DMSO", "negative")
    positive = Treatment("POS", "positive", dict(_POSITIVE_EFFECTS))
    if n_wells == 1:
        return [negative]
    if n_wells == 2:
        return [negative, positive]
    n_neg = max(2, n_wells // 8)
    n_pos = max(1, n_wells // 16)
    while n_neg + n_pos > n_wells:
        n_neg -= 1
    n_controls = n_neg + n_pos
    slots = np.unique(np.round(np.linspace(0, n_wells - 1, n_controls)).astype(int))
    # interleave: positives at evenly spread control slots
    kinds = sorted([((i + 0.5) / n_neg, 0) for i in range(n_neg)] +
                   [((j + 0.5) / n_pos, 1) for j in range(n_pos)])
    out: list[Treatment | None] = [None] * n_wells
    for slot, (_, kind) in zip(slots, kinds):
        out[slot] = positive if kind else negative
    rng = np.random.default_rng(derive_seed(seed, 7))
    compound_wells = [i for i, t in enumerate(out) if t is None]
    compounds: list[Treatment] = []
    choices = [p for p in EFFECT_PARAMETERS]
    for k in range(math.ceil(len(compound_wells) / replicates)):
        chosen = rng.choice(len(choices), size=int(rng.integers(1, 4)), replace=False)
        effects = {}
        for c in sorted(chosen):
            factor = float(np.clip(np.exp(rng.normal(0.0, 0.3)), 0.55, 1.8))
            if abs(math.log(factor)) < 0.1:  # a compound always does something measurable
                factor = 1.15 if factor >= 1 else 1 / 1.15
            effects[choices[c]] = round(factor, 4)
        compounds.append(Treatment(f"CMPD-{k + 1:03d}", "treatment", effects))
    for j, i in enumerate(compound_wells):
        out[i] = compounds[j // replicates]
    return [t for t in out if t is not None]


@dataclass(frozen=True, eq=False)
class SyntheticPlate:
    """What :func:`synthetic_plate` wrote.

    Attributes
    ----------
    root : pathlib.Path
        The output folder.
    source : pathlib.Path
        What :func:`pyhcs.plate.open_plate` opens (the OME-Zarr plate, or the image folder).
    platemap : pathlib.Path
        The platemap CSV: ``well``, ``treatment``, ``control_type`` and the true
        :data:`EFFECT_PARAMETERS` values of every well.
    truth : pandas.DataFrame
        The platemap, indexed by well.
    wells : tuple of str
    sites : tuple
        The sites of every well as the format numbers them (0-based in Zarr, 1-based in TIFF).
    """

    root: Path
    source: Path
    platemap: Path
    format: str
    layout: str | None
    name: str
    wells: tuple[str, ...]
    sites: tuple
    shape: tuple[int, int]
    channel_names: tuple[str, ...]
    truth: Any
    seed: int
    imaging: ImagingParams
    _params: dict = field(repr=False, default_factory=dict)

    def field(self, well: str, site) -> SyntheticField:
        """Render again the field written at ``(well, site)`` (identical arrays)."""
        from ..plate import normalize_well

        well = normalize_well(well)
        if well not in self._params:
            raise ValueError(f"well {well!r} is not on this synthetic plate")
        if site not in self.sites:
            raise ValueError(f"site {site!r} is not one of {self.sites}")
        index = self.sites.index(site)
        phenotype, n, (row, column) = self._params[well]
        return _render(self.shape, n, derive_seed(self.seed, row, column, index), phenotype,
                       self.imaging)


#: Plates of at least this many fields are rendered in worker processes, smaller ones in threads.
_PROCESS_JOBS = 96


def _render(shape, n, field_seed, phenotype, imaging) -> SyntheticField:
    """One plate field; a crowded field places fewer nuclei, silently (the platemap holds the
    number asked for, the labels the number placed)."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return synthetic_field(shape, n, field_seed, phenotype=phenotype, imaging=imaging)


def _render_field(task, job):
    """Render one field and write its files (in a worker thread or process)."""
    spec, shape, seed, imaging = task
    well, index, phenotype, n, (row, column) = job
    f = _render(shape, n, derive_seed(seed, row, column, index), phenotype, imaging)
    records = PlateWriter.attach(spec).write_files(well, index, f.image,
                                                   {"nuclei": f.nuclei, "cells": f.cells})
    return well, index, records


def synthetic_plate(out, n_wells: int = 96, n_fields: int = 2, *, format: str = "zarr",
                    layout: str = "operetta", shape=(512, 512), n_nuclei: int | None = None,
                    seed: int = 0, phenotype: PhenotypeParams | None = None,
                    imaging: ImagingParams | None = None, treatments=None,
                    replicates: int = 2, plate_format: int | None = None,
                    name: str = "SYNTH", ngff_version: str = "0.5",
                    overwrite: bool = False, workers: int | None = None) -> SyntheticPlate:
    """Write a synthetic plate with treated wells, controls, a platemap and ground truth.

    Parameters
    ----------
    out : str or os.PathLike
        Output folder (created). It holds ``platemap.csv``, ``synthetic_plate.json`` (the
        arguments) and the plate: ``plate.ome.zarr`` (labels inside each field's image), or
        ``Images/`` (Operetta) / ``images/`` (ImageXpress) with ``ground_truth/`` beside it.
    n_wells : int, default 96
        Wells, filled row-major from ``A01`` on a plate of ``plate_format`` wells.
    n_fields : int, default 2
        Fields per well.
    format : {"zarr", "tiff"}
    layout : {"operetta", "imagexpress"}
        The TIFF naming (ignored for Zarr).
    shape : (int, int), default (512, 512)
        Field size (H, W).
    n_nuclei : int, optional
        Cells per untreated field; by default the density of 1,500 per 2048 x 2048 field.
    seed : int
        Base seed: the same seed gives the same plate.
    phenotype, imaging : PhenotypeParams, ImagingParams, optional
        The untreated phenotype and the acquisition model.
    treatments : sequence of Treatment, optional
        One per well; by default :func:`plate_treatments` (``replicates`` per compound).
    plate_format : {96, 384, 1536}, optional
        The plate size; by default the smallest that holds ``n_wells``.
    name : str
        The plate's name.
    ngff_version : {"0.5", "0.4"}
        For Zarr: NGFF 0.5 on Zarr v3, or 0.4 on Zarr v2.
    overwrite : bool
        Replace an existing plate in ``out``.
    workers : int, optional
        Threads (plates of fewer than 96 fields) or processes rendering fields (default: the
        number of CPUs).

    Returns
    -------
    SyntheticPlate

    Examples
    --------
    >>> import tempfile
    >>> synth = synthetic_plate(tempfile.mkdtemp(), n_wells=4, n_fields=1, shape=(64, 64))
    >>> list(synth.truth["treatment"])
    ['DMSO', 'CMPD-001', 'POS', 'DMSO']
    """
    import pandas as pd

    from ..plate import well_name

    n_wells = _check_int("n_wells", n_wells, 1)
    n_fields = _check_int("n_fields", n_fields, 1)
    shape = _check_shape(shape)
    seed = _check_int("seed", seed, 0)
    if format not in FORMATS:
        raise ValueError(f"format must be one of {FORMATS}, got {format!r}")
    if format == "tiff" and layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {LAYOUTS}, got {layout!r}")
    if plate_format is None:
        plate_format = next((n for n in PLATE_FORMATS if n >= n_wells), None)
        if plate_format is None:
            raise ValueError(f"n_wells must be at most 1536, got {n_wells}")
    if plate_format not in PLATE_FORMATS:
        raise ValueError(f"plate_format must be one of {tuple(PLATE_FORMATS)}, got "
                         f"{plate_format!r}")
    if n_wells > plate_format:
        raise ValueError(f"n_wells ({n_wells}) does not fit a {plate_format}-well plate")
    if n_nuclei is None:
        n_nuclei = max(1, int(round(1500 * shape[0] * shape[1] / 2048 ** 2)))
    n_nuclei = _check_int("n_nuclei", n_nuclei, 0)
    phenotype = PhenotypeParams() if phenotype is None else phenotype
    imaging = ImagingParams() if imaging is None else imaging
    if not isinstance(phenotype, PhenotypeParams):
        raise TypeError(f"phenotype must be a PhenotypeParams, got {type(phenotype).__name__}")
    if not isinstance(imaging, ImagingParams):
        raise TypeError(f"imaging must be an ImagingParams, got {type(imaging).__name__}")
    if treatments is None:
        treatments = plate_treatments(n_wells, replicates=replicates, seed=seed)
    treatments = list(treatments)
    if len(treatments) != n_wells or not all(isinstance(t, Treatment) for t in treatments):
        raise ValueError(f"treatments must be {n_wells} Treatment objects, one per well")
    workers = (os.cpu_count() or 1) if workers is None else _check_int("workers", workers, 1)

    root = Path(out)
    if root.exists() and not root.is_dir():
        raise NotADirectoryError(f"out {root} exists and is not a folder")
    rows, columns = PLATE_FORMATS[plate_format]
    positions = [(r, c) for r in range(1, rows + 1) for c in range(1, columns + 1)][:n_wells]
    wells = tuple(well_name(r, c) for r, c in positions)
    if format == "zarr":
        source = root / "plate.ome.zarr"
        sites = tuple(range(n_fields))
    else:
        source = root / ("Images" if layout == "operetta" else "images")
        sites = tuple(range(1, n_fields + 1))
    platemap_path = root / "platemap.csv"
    if not overwrite and (source.exists() or platemap_path.exists()):
        raise FileExistsError(f"out {root} already holds a plate; pass overwrite=True "
                              "(--overwrite) to replace it")
    root.mkdir(parents=True, exist_ok=True)
    if overwrite and (root / "ground_truth").exists():
        import shutil

        shutil.rmtree(root / "ground_truth")
    writer = PlateWriter(source, CHANNEL_NAMES, format=format, layout=layout, name=name,
                         ngff_version=ngff_version, plate_rows=rows, plate_columns=columns,
                         overwrite=overwrite)

    params = {}
    records = []
    for well, position, treatment in zip(wells, positions, treatments):
        well_pheno, n = treatment.apply(phenotype, n_nuclei)
        params[well] = (well_pheno, n, position)
        record = {"well": well, "treatment": treatment.name, "control_type": treatment.control}
        for p in EFFECT_PARAMETERS:
            record[p] = n if p == "n_nuclei" else getattr(well_pheno, p)
        records.append(record)

    jobs = [(well, index, *params[well]) for well in wells for index in range(n_fields)]
    task = (writer.spec, shape, seed, imaging)
    if workers > 1 and len(jobs) >= _PROCESS_JOBS:
        # Rendering and zarr's Python-level work hold the GIL: processes use every core.
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor
        from itertools import repeat

        context = multiprocessing.get_context("forkserver" if os.name == "posix" else "spawn")
        with ProcessPoolExecutor(workers, mp_context=context) as pool:
            for well, index, written in pool.map(_render_field, repeat(task), jobs,
                                                 chunksize=8):
                writer.register(well, index, written)
    else:
        with ThreadPoolExecutor(workers) as pool:
            for well, index, written in pool.map(lambda job: _render_field(task, job), jobs):
                writer.register(well, index, written)
    writer.close()
    truth = pd.DataFrame.from_records(records)
    truth.to_csv(platemap_path, index=False)
    write_json(root / "synthetic_plate.json", {
        "generator": "pyhcs.datasets.synthetic_plate", "name": name, "format": format,
        "layout": layout if format == "tiff" else None, "ngff_version": ngff_version,
        "n_wells": n_wells, "n_fields": n_fields, "plate_format": plate_format,
        "shape": list(shape), "n_nuclei": n_nuclei, "seed": seed,
        "seed_derivation": "field f of the well at (row, column) uses "
                           "derive_seed(seed, row, column, f)",
        "phenotype": dataclasses.asdict(phenotype), "imaging": dataclasses.asdict(imaging),
        "treatments": {t.name: {"control": t.control, "effects": t.effects}
                       for t in treatments},
    })
    return SyntheticPlate(root=root, source=source, platemap=platemap_path, format=format,
                          layout=layout if format == "tiff" else None, name=name, wells=wells,
                          sites=sites, shape=shape, channel_names=CHANNEL_NAMES,
                          truth=truth.set_index("well"), seed=seed, imaging=imaging,
                          _params=params)
