"""neighbors (MeasureObjectNeighbors) against cp_measure's measureobjectneighbors.

``cases(field, device)`` follows the other bench modules (harness.Case); run directly, it times
the three methods on the anchor field of the wave-2 spec (section 15: 2048 x 2048, 2,000
non-overlapping discs, radius N(15, 2) clipped to 8..22, >= 1 px apart) and prints the ratios::

    python benchmarks/bench_neighbors.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import Case, format_table, on_device, run_case

SETTINGS = (("adjacent", "Adjacent", 5), ("expand", "Expand until adjacent", 5),
            ("within", "Within a specified distance", 5))


def disc_field(shape=(2048, 2048), n=2000, seed=0) -> np.ndarray:
    """Non-overlapping discs (rejection sampling, >= 1 px gap), labels 1..n in placement
    order."""
    rng = np.random.default_rng(seed)
    labels = np.zeros(shape, np.int32)
    k = 0
    while k < n:
        radius = float(np.clip(rng.normal(15, 2), 8, 22))
        r, c = rng.uniform(0, shape[0]), rng.uniform(0, shape[1])
        reach = int(np.ceil(radius)) + 2
        r0, r1 = max(int(r) - reach, 0), min(int(r) + reach + 1, shape[0])
        c0, c1 = max(int(c) - reach, 0), min(int(c) + reach + 1, shape[1])
        yy, xx = np.mgrid[r0:r1, c0:c1]
        dist2 = (yy - r) ** 2 + (xx - c) ** 2
        if labels[r0:r1, c0:c1][dist2 <= (radius + 1.5) ** 2].any():
            continue
        k += 1
        window = labels[r0:r1, c0:c1]
        window[dist2 <= radius * radius] = k
    return labels


def cases(field, device: str) -> list[Case]:
    """``field`` is a pyhcs.datasets.SyntheticField or a label image."""
    from pyhcs.features.neighbors import neighbors

    labels = np.ascontiguousarray(getattr(field, "nuclei", field), dtype=np.int32)
    (labels_on,) = on_device(device, labels)
    # cp_measure needs labels 1..N without gaps (as its bulk API's sanitize makes them)
    present, inverse = np.unique(labels, return_inverse=True)
    contiguous = (inverse.reshape(labels.shape) + (present[0] != 0)).astype(np.int32)

    def reference(method):
        from cp_measure.multimask.measureobjectneighbors import measureobjectneighbors

        return lambda: measureobjectneighbors(contiguous, contiguous, distance_method=method,
                                              distance=5)

    n = int(contiguous.max())
    return [
        Case(
            family="neighbors",
            name=f"{labels.shape[0]}x{labels.shape[1]}, {n} objects, {ours}",
            pyhcs=lambda ours=ours, d=distance: neighbors(labels_on, method=ours, distance=d),
            reference=reference(theirs),
            reference_name="cp_measure neighbors",
            device=device,
            repeat=3,
            warmup=1,
        )
        for ours, theirs, distance in SETTINGS
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    args = parser.parse_args()
    labels = disc_field()
    results = []
    for case in cases(labels, args.device):
        case.repeat = args.repeat
        results.append(run_case(case))
    print(format_table(results))


if __name__ == "__main__":
    main()
