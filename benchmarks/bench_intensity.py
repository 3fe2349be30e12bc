"""intensity (MeasureObjectIntensity) against cp_measure get_intensity, default and numba."""

from __future__ import annotations

import warnings

import numpy as np
from harness import Case, on_device


def _cp_measure_intensity(labels, image, accelerator):
    """cp_measure's intensity function as its accelerator dispatches it (CellProfiler's
    quantiles, ``legacy=True``); the previous accelerator is restored afterwards.

    ``cp_measure.core.measureobjectintensity.get_intensity`` itself is always the default
    (numpy) one: only ``cp_measure.bulk`` dispatches to the numba module.
    """
    import cp_measure
    from cp_measure.bulk import get_core_measurements

    previous = cp_measure._ACCELERATOR
    cp_measure.set_accelerator(accelerator)
    try:
        get_intensity = get_core_measurements(legacy=True)["intensity"]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return get_intensity(labels, image)
    finally:
        cp_measure.set_accelerator(previous)


def cases(field, device: str) -> list[Case]:
    """``field`` is a pyhcs.datasets.SyntheticField (2048x2048, ~2,000 nuclei by default)."""
    from pyhcs.features import ObjectIndex, intensity_array

    # the image as CellProfiler loads it: uint16 / 65535 in float32
    image = (field.image[0].astype(np.float32) / np.float32(65535.0)).astype(np.float32)
    result = []
    for compartment, labels in (("nuclei", field.nuclei), ("cells", field.cells)):
        n = int(labels.max())
        labels_on, image_on = on_device(device, labels, image)
        for accelerator in (None, "numba"):
            result.append(Case(
                family="intensity",
                name=f"{labels.shape[0]}x{labels.shape[1]} float32, {n} {compartment}",
                pyhcs=lambda labels_on=labels_on, image_on=image_on: intensity_array(
                    image_on, ObjectIndex(labels_on)),
                reference=lambda labels=labels, accelerator=accelerator: _cp_measure_intensity(
                    labels, image, accelerator),
                reference_name=f"cp_measure get_intensity ({accelerator or 'default'})",
                device=device,
                repeat=3,
                warmup=1,
            ))
    return result
