"""How well ``estimate_diameter`` and ``identify_primary(diameter="auto")`` do across scales.

Two sets of generator fields (``pyhcs.datasets.synthetic_field``):

- ``moderate``: nucleus radius 4-60 pixels, the generator's other defaults (texture and PSF
  scaled with the radius, 20 % coverage);
- ``broad``: radius log-uniform in 4-60 and domain randomisation: eccentricity 0-0.85,
  texture contrast 0-0.8, clustering 0-0.9 with overlaps up to 0.3, DNA brightness 100-8000,
  gain 1-20 (shot noise), illumination falloff 0-0.7, background 20-600, a third of the
  fields quantised to 8 bits.

The error is ``estimate / truth``, the truth the median equivalent diameter of the nuclei that
do not touch the border. For the ``moderate`` fields the table also gives ``identify_primary``'s
object F1 (IoU 0.5, ``exclude_border=False``) with CellProfiler's default size range (10, 40),
with ``diameter="auto"`` and with the true diameter.

Real images: where CellProfiler is installed (``../shared/tools/cellprofiler``), its
ExampleFly DAPI fields (8-bit Drosophila Kc167 nuclei, whose example pipeline sets the size
range (10, 40) by hand) are estimated too, with the object count and median equivalent
diameter of ``identify_primary`` under (10, 40), ``diameter="auto"`` and the fcn model. They
have no ground truth, so no F1.

Run: ``python benchmarks/check_diameter.py [--fields N] [--size 1024]`` (a few minutes).
"""

from __future__ import annotations

import argparse
import time
import warnings
from dataclasses import replace

import numpy as np

from pyhcs.datasets.synthetic import ImagingParams, PhenotypeParams, synthetic_field
from pyhcs.segmentation import estimate_diameter, identify_primary
from pyhcs.segmentation._matching import match_objects


def true_diameter(nuclei: np.ndarray) -> float:
    edge = np.unique(np.concatenate([nuclei[0], nuclei[-1], nuclei[:, 0], nuclei[:, -1]]))
    areas = np.bincount(nuclei.ravel())
    inner = np.setdiff1d(np.arange(1, areas.size), edge)
    return float(np.median(2 * np.sqrt(areas[inner] / np.pi))) if inner.size else float("nan")


def render(size, radius, coverage, seed, phenotype=None, imaging=None):
    n = max(5, int(coverage * size * size / (np.pi * radius * radius)))
    p = replace(PhenotypeParams(), nucleus_radius=radius, cell_radius=3 * radius,
                texture_scale=1.5 * max(1.0, radius / 9), **(phenotype or {}))
    im = replace(ImagingParams(), psf_sigma=max(1.0, radius / 9), **(imaging or {}))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return synthetic_field((size, size), n, seed=seed, phenotype=p, imaging=im)


def moderate(size: int):
    print(f"moderate fields, {size}x{size}")
    print(f"{'radius':>6} {'truth':>6} {'estimate':>8} {'ratio':>6} {'ms':>5}  "
          f"{'F1 (10,40)':>10} {'F1 auto':>8} {'F1 true d':>9}")
    ratios = []
    for radius in (4, 6, 9, 14, 20, 27, 40, 60):
        field = render(size, float(radius), 0.2, seed=radius)
        dna = field.channel("DNA")
        truth = true_diameter(field.nuclei)
        start = time.perf_counter()
        estimate = estimate_diameter(dna)
        ms = 1e3 * (time.perf_counter() - start)
        ratios.append(estimate / truth)
        f1 = [match_objects(field.nuclei, identify_primary(dna, exclude_border=False, **kw)).f1
              for kw in ({}, {"diameter": "auto"}, {"diameter": truth})]
        print(f"{radius:>6} {truth:>6.1f} {estimate:>8.1f} {estimate / truth:>6.2f} {ms:>5.0f}  "
              f"{f1[0]:>10.2f} {f1[1]:>8.2f} {f1[2]:>9.2f}")
    summarise(ratios)


def broad(size: int, count: int):
    print(f"\nbroad (domain-randomised) fields, {count} of at most {size}x{size}")
    rng = np.random.default_rng(1)
    ratios, by_radius, records = [], {}, []
    for i in range(count):
        side = int(rng.choice([size // 2, size]))
        radius = float(np.exp(rng.uniform(np.log(4), np.log(60))))
        phenotype = {
            "nucleus_eccentricity": float(rng.uniform(0, 0.85)),
            "nucleus_radius_cv": float(rng.uniform(0.05, 0.35)),
            "texture_contrast": float(rng.uniform(0, 0.8)),
            "cluster_fraction": float(rng.uniform(0, 0.9)),
            "cluster_size": float(rng.uniform(2, 10)),
            "nucleus_overlap": float(rng.uniform(0, 0.3)),
            "dna_intensity": float(np.exp(rng.uniform(np.log(100), np.log(8000)))),
            "dna_intensity_cv": float(rng.uniform(0.1, 0.6)),
        }
        imaging = {"gain": float(np.exp(rng.uniform(0, np.log(20)))),
                   "illumination_falloff": float(rng.uniform(0, 0.7)),
                   "background": float(rng.uniform(20, 600))}
        field = render(side, radius, float(rng.uniform(0.05, 0.4)), 1000 + i, phenotype,
                       imaging)
        dna = field.channel("DNA")
        eight_bit = bool(rng.random() < 0.3)
        if eight_bit:
            scale = 230.0 / max(1.0, float(np.percentile(dna, 99.9)))
            dna = np.clip(dna * scale, 0, 255).astype(np.uint8)
        ratio = estimate_diameter(dna) / true_diameter(field.nuclei)
        ratios.append(ratio)
        records.append((ratio, radius, side, field.n_nuclei, phenotype, imaging, eight_bit))
        band = "4-8" if radius < 8 else "8-16" if radius < 16 else "16-32" if radius < 32 else \
            "32-60"
        by_radius.setdefault(band, []).append(ratio)
    for band in ("4-8", "8-16", "16-32", "32-60"):
        values = np.array(by_radius.get(band, []))
        if values.size:
            found = values[np.isfinite(values)]
            print(f"  radius {band:>5}: {values.size:>3} fields, median ratio "
                  f"{np.median(found):.2f}, within 25 % "
                  f"{np.mean(np.abs(np.log(found)) < np.log(1.25)):.0%}, no estimate "
                  f"{values.size - found.size}")
    summarise(ratios)
    print("  worst fields:")
    worst = sorted(records, key=lambda r: -abs(np.log(r[0])) if np.isfinite(r[0]) else -np.inf)
    for ratio, radius, side, n, p, im, eight_bit in worst[:6]:
        print(f"    ratio {ratio:.2f}: radius {radius:.1f}, {side}^2, {n} nuclei, texture "
              f"{p['texture_contrast']:.2f}, clustered {p['cluster_fraction']:.2f} (overlap "
              f"{p['nucleus_overlap']:.2f}), DNA {p['dna_intensity']:.0f}, gain {im['gain']:.1f}, "
              f"falloff {im['illumination_falloff']:.2f}, background {im['background']:.0f}"
              f"{', 8-bit' if eight_bit else ''}")


def real_examples() -> None:
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import tifffile
    from cellprofiler_ref import CP_VENV

    files = sorted(CP_VENV.glob("lib/python*/site-packages/cellprofiler/data/examples/"
                                "ExampleFly/images/*_D.TIF"))
    if not files:
        print("\nCellProfiler's ExampleFly images: not installed, skipped")
        return
    print("\nCellProfiler ExampleFly DAPI fields (real, 8-bit): objects / median diameter")
    print(f"{'field':>16} {'estimate':>8}  {'(10, 40)':>14} {'auto':>14} {'fcn auto':>14}")
    for path in files:
        image = tifffile.imread(path)
        cells = []
        for kwargs in ({}, {"diameter": "auto"}, {"method": "fcn", "diameter": "auto"}):
            labels = identify_primary(image, exclude_border=False, **kwargs)
            areas = np.bincount(labels.ravel())[1:]
            cells.append(f"{labels.max():>5} / {np.median(2 * np.sqrt(areas / np.pi)):>5.1f}")
        print(f"{path.name:>16} {estimate_diameter(image):>8.1f}  "
              + " ".join(f"{c:>14}" for c in cells))


def summarise(ratios):
    r = np.array(ratios, float)
    ok = np.isfinite(r)
    log = np.log(r[ok])
    print(f"  all: median ratio {np.median(r[ok]):.3f}, sd of log ratio {log.std():.3f}, "
          f"within 25 % {np.mean(np.abs(log) < np.log(1.25)):.0%}, range "
          f"{r[ok].min():.2f}-{r[ok].max():.2f}, no estimate {int((~ok).sum())}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--fields", type=int, default=60)
    args = parser.parse_args()
    estimate_diameter(np.random.default_rng(0).random((64, 64)))  # compile
    moderate(args.size)
    broad(args.size, args.fields)
    real_examples()


if __name__ == "__main__":
    main()
