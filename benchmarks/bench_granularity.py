"""granularity (MeasureGranularity) against cp_measure get_granularity (CellProfiler's
defaults: subsampling 0.25 and 0.25, radius 10, 16 steps)."""

from __future__ import annotations

import warnings

import numpy as np
from harness import Case, on_device


def _cp_measure_granularity(labels, image):
    from cp_measure.core.measuregranularity import get_granularity

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return get_granularity(labels, image)


def cases(field, device: str) -> list[Case]:
    """``field`` is a pyhcs.datasets.SyntheticField (2048x2048, ~2,000 nuclei by default).

    pyhcs's time is the whole call: the image's spectrum and the objects' means (the
    spectrum is shared by every label set of a channel in a pipeline; cp_measure recomputes
    it per call). Labels are relabelled 1..N first, as cp_measure needs them.
    """
    from pyhcs.features import ObjectIndex, granularity_spectrum

    image = (field.image[0].astype(np.float32) / np.float32(65535.0)).astype(np.float32)
    result = []
    for compartment, labels in (("nuclei", field.nuclei), ("cells", field.cells)):
        present = np.unique(labels)
        lut = np.zeros(int(present.max()) + 1, np.int32)
        lut[present] = np.arange(present.size, dtype=np.int32)
        labels = lut[labels]
        n = int(labels.max())
        labels_on, image_on = on_device(device, labels, image)
        result.append(Case(
            family="granularity",
            name=f"{labels.shape[0]}x{labels.shape[1]} float32, {n} {compartment}",
            pyhcs=lambda labels_on=labels_on, image_on=image_on: granularity_spectrum(
                image_on, reference="cp_measure").objects(ObjectIndex(labels_on)),
            reference=lambda labels=labels: _cp_measure_granularity(labels, image),
            reference_name="cp_measure get_granularity",
            device=device,
            repeat=3,
            warmup=1,
        ))
    return result
