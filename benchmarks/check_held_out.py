"""Nucleus segmentation on appearances outside the training ranges (held-out factors).

For every factor of :data:`pyhcs.datasets.randomized.FACTORS`, and for the training ranges
("none"), ``--fields`` domain-randomised fields (:func:`pyhcs.datasets.randomized.random_field`)
with that factor drawn from its held-out range, the others from their training ranges. Each
field is segmented by ``identify_primary(method=..., diameter="auto", exclude_border=False)``
with ``method="threshold"`` and ``"fcn"`` (the shipped model), and by ``"threshold"`` with
CellProfiler's default size range; the table gives the object F1 at IoU 0.5 against the
generator's nuclei (true positives pooled over the fields of a row).

Run: ``python benchmarks/check_held_out.py [--fields 6] [--size 512]`` (a few minutes).
"""

from __future__ import annotations

import argparse
import time


from pyhcs.datasets.randomized import FACTORS, random_field
from pyhcs.segmentation import identify_primary
from pyhcs.segmentation._matching import match_objects

METHODS = {
    "threshold (10, 40)": {"method": "threshold"},
    "threshold auto": {"method": "threshold", "diameter": "auto"},
    "fcn auto": {"method": "fcn", "diameter": "auto"},
}


def score(factors: tuple[str, ...], fields: int, size: int, seed: int, model=None,
          methods: dict | None = None) -> dict[str, float]:
    """Pooled F1 of each method over ``fields`` fields with ``factors`` held out (``model``:
    the fcn model, the shipped one when None)."""
    methods = METHODS if methods is None else methods
    counts = {name: [0, 0, 0] for name in methods}
    for i in range(fields):
        sample = random_field(seed + i, (size, size), held_out=factors)
        for name, kwargs in methods.items():
            if kwargs["method"] == "fcn" and model is not None:
                kwargs = {**kwargs, "model": model}
            labels = identify_primary(sample.dna, exclude_border=False, **kwargs)
            m = match_objects(sample.field.nuclei, labels)
            counts[name][0] += m.true_positives
            counts[name][1] += m.n_true
            counts[name][2] += m.n_pred
    return {name: 2 * tp / max(nt + npred, 1) for name, (tp, nt, npred) in counts.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fields", type=int, default=6)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--seed", type=int, default=50_000)
    parser.add_argument("--model", default=None, help="a saved model (pyhcs.pixel.save) "
                        "instead of the shipped one")
    args = parser.parse_args()
    model = None
    if args.model is not None:
        from pyhcs.pixel import load

        model = load(args.model)
    print(f"{args.fields} fields of {args.size}x{args.size} per row; object F1 at IoU 0.5")
    print(f"{'held out':>14} " + " ".join(f"{name:>18}" for name in METHODS) + "   seconds")
    rows = [()] + [(factor,) for factor in FACTORS]
    worst = {name: 1.0 for name in METHODS}
    for k, factors in enumerate(rows):
        start = time.perf_counter()
        f1 = score(factors, args.fields, args.size, args.seed + 1000 * k, model=model)
        if factors:
            worst = {name: min(worst[name], f1[name]) for name in METHODS}
        print(f"{(factors[0] if factors else 'none'):>14} "
              + " ".join(f"{f1[name]:>18.3f}" for name in METHODS)
              + f"   {time.perf_counter() - start:>7.1f}", flush=True)
    print(f"{'worst held out':>14} " + " ".join(f"{worst[name]:>18.3f}" for name in METHODS))


if __name__ == "__main__":
    main()
