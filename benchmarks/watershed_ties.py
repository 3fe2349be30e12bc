"""How often the GPU watershed's tie certificate sends a field to the CPU flooding.

The GPU path of every seeded watershed in segmentation (IdentifyPrimaryObjects' declumping,
IdentifySecondaryObjects' ``watershed_*`` methods) is :func:`pyhcs.segmentation._watershed_gpu.
watershed_gpu`: a parallel solver whose result is exact where its certificate flags no pixel,
else recomputed on the CPU from host copies. This script captures those watersheds' inputs on
synthetic fields (16-bit) and on domain-randomised fields (a quarter of them 8-bit content),
runs the solver's CPU proxy (:func:`fixed_point_cpu`, the same fixed points and certificate),
checks its certified labels against the CPU flooding, and reports per watershed the flagged
pixels, the fraction of calls with any flag, and the share of the mask's pixels that the GPU
path would flood again on the CPU (the connected components holding a flagged pixel).

Run: ``python benchmarks/watershed_ties.py [--fields 4] [--size 512]`` (a few minutes).
"""

from __future__ import annotations

import argparse
from collections import defaultdict

import numpy as np

from pyhcs import _core
from pyhcs.datasets import synthetic_field
from pyhcs.datasets.randomized import random_field
from pyhcs.segmentation import identify
from pyhcs.segmentation._watershed_gpu import fixed_point_cpu

CALLS = {
    "primary, shape declump": ("primary", dict(declump="shape", watershed_method="shape")),
    "primary, intensity declump": ("primary", dict(declump="intensity",
                                                   watershed_method="intensity")),
    "secondary, watershed_image": ("secondary", dict(method="watershed_image")),
    "secondary, watershed_gradient": ("secondary", dict(method="watershed_gradient")),
}


def captured_inputs(dna, actin, kind, kwargs):
    """The (surface, markers, mask, rule) of every watershed one call makes (CPU path)."""
    captured = []
    original = identify._watershed

    def capture(ns, surface, markers, mask, rule, components=None):
        captured.append((np.asarray(surface), np.asarray(markers), np.asarray(mask), rule))
        return original(ns, surface, markers, mask, rule, components)

    identify._watershed = capture
    try:
        if kind == "primary":
            identify.identify_primary(dna, exclude_border=False, **kwargs)
        else:
            identify._watershed = original
            nuclei = identify.identify_primary(dna, exclude_border=False)
            identify._watershed = capture
            identify.identify_secondary(actin, nuclei, **kwargs)
    finally:
        identify._watershed = original
    return captured


def fields(n_fields, size):
    for seed in range(n_fields):
        field = synthetic_field((size, size), n_nuclei=max(1, size * size * 300 // 1024**2),
                                seed=seed)
        yield "synthetic 16-bit", field.image[0], field.image[1]
        sample = random_field(1000 + seed, (size, size))
        yield ("randomised 8-bit" if sample.eight_bit else "randomised 16-bit"), sample.dna, \
            sample.field.image[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fields", type=int, default=4)
    parser.add_argument("--size", type=int, default=512)
    args = parser.parse_args()
    from scipy import ndimage

    # calls, calls with a flag, flagged pixels, re-flooded pixels, mask pixels
    rows = defaultdict(lambda: [0, 0, 0, 0, 0])
    for source, dna, actin in fields(args.fields, args.size):
        for name, (kind, kwargs) in CALLS.items():
            for surface, markers, mask, rule in captured_inputs(dna, actin, kind, kwargs):
                labels, flags = fixed_point_cpu(surface, markers, mask, 2)
                flagged = int(flags.sum())
                components, _ = ndimage.label(mask, np.ones((3, 3), bool))
                repaired = int(np.isin(components, np.unique(components[flags])).sum())
                if flagged == 0:
                    expected = _core.watershed(
                        np.ascontiguousarray(surface, np.float64),
                        np.ascontiguousarray(np.where(mask, markers, 0), np.int32),
                        np.ascontiguousarray(mask).view(np.uint8), 2, rule == "skimage")
                    if not np.array_equal(labels, expected):
                        raise AssertionError(f"certified but different: {source}, {name}")
                row = rows[(source, name)]
                row[0] += 1
                row[1] += flagged > 0
                row[2] += flagged
                row[3] += repaired if flagged else 0
                row[4] += int(mask.sum())
    print(f"{args.fields} fields of each source, {args.size}x{args.size}")
    print(f"{'source':>18} {'watershed':>30} {'calls':>6} {'any flag':>9} "
          f"{'flagged px':>11} {'re-flooded':>11}")
    for (source, name), (calls, any_flag, flagged, repaired, pixels) in sorted(rows.items()):
        print(f"{source:>18} {name:>30} {calls:>6} {any_flag / calls:>9.0%} {flagged:>11} "
              f"{repaired / max(pixels, 1):>11.2%}")
    print("re-flooded: the share of the watersheds' mask pixels in components with a flag")


if __name__ == "__main__":
    main()
