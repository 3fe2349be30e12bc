"""CellProfiler's minimum enclosing circle (C++) against centrosome, on a synthetic field."""

from __future__ import annotations

import numpy as np
from harness import Case


def cases(field, device: str) -> list[Case]:
    """``field`` is a pyhcs.datasets.SyntheticField (2048x2048, ~2,000 nuclei by default)."""
    from pyhcs.features import minimum_enclosing_circle

    labels = field.nuclei
    index = np.arange(1, int(labels.max()) + 1)

    def reference():
        from centrosome.cpmorphology import minimum_enclosing_circle as centrosome_circle

        return centrosome_circle(labels, index)

    return [
        Case(
            family="geometry",
            name=f"minimum enclosing circle, {index.size} nuclei (host C++)",
            pyhcs=lambda: minimum_enclosing_circle(labels, index),
            reference=reference,
            reference_name="centrosome",
            device="cpu",
        )
    ]
