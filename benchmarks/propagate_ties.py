"""Tie rate of the GPU propagation's fast path (``exact=False``) and of its tie certificate.

The GPU solver's result is the unique fixed point of its update rule, which
:func:`pyhcs.segmentation._propagate_gpu.fixed_point_cpu` computes on the CPU with the same
per-pixel functions (the GPU kernels compile the same Python source). So this script measures,
without a GPU, on images too large for the CUDA simulator: how many labels the fast path gives
differently from the sequential algorithm (= centrosome), whether its distances are
bit-identical, and how many pixels the certificate flags (any flag -> ``exact=True`` falls back
to the sequential algorithm on the whole image).

    python benchmarks/propagate_ties.py [--sizes 512 1024] [--weights 0 0.05 0.5 1]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from scipy import ndimage as ndi


def images(size: int, rng: np.random.Generator):
    """(kind, image, seeds, mask) for one size."""
    from pyhcs.datasets import synthetic_field

    shape = (size, size)
    n_seeds = max(4, size * size // 2048)  # ~2,000 seeds on 2048 x 2048
    seeds = np.zeros(shape, np.int32)
    rr = rng.integers(0, size, n_seeds)
    cc = rng.integers(0, size, n_seeds)
    seeds[rr, cc] = rng.permutation(n_seeds) + 1
    smooth = ndi.gaussian_filter(rng.random(shape), 3.0)
    smooth = (smooth - smooth.min()) / np.ptp(smooth)
    full = np.ones(shape, bool)
    yield "continuous (uniform noise)", rng.random(shape), seeds, full
    yield "continuous (smoothed noise)", smooth, seeds, full
    yield "uint16 (smoothed noise / 65535)", np.round(smooth * 65535) / 65535, seeds, full
    yield "uint8 (smoothed noise / 255)", np.round(smooth * 255) / 255, seeds, full
    yield "quantised (integers 0..3 / 3)", rng.integers(0, 4, shape) / 3.0, seeds, full
    yield "flat", np.full(shape, 0.5), seeds, full
    field = synthetic_field(shape, n_nuclei=max(4, n_seeds // 2), seed=size)
    actin = field.image[1] / 65535.0
    from skimage.filters import threshold_li

    mask = actin > threshold_li(actin)
    yield "synthetic field (Actin, nuclei, Li mask)", actin, field.nuclei, mask


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[512, 1024])
    parser.add_argument("--weights", type=float, nargs="+", default=[0.0, 0.05, 0.5, 1.0])
    args = parser.parse_args(argv)

    from pyhcs.segmentation._propagate_cpu import propagate_cpu
    from pyhcs.segmentation._propagate_gpu import fixed_point_cpu

    rng = np.random.default_rng(0)
    print(f"{'image':<42} {'size':>9} {'weight':>6} {'differing/total':>18} {'rate':>9}"
          f" {'dist':>5} {'flagged':>8} {'sweeps':>6}")
    for size in args.sizes:
        for kind, image, seeds, mask in images(size, rng):
            image = np.ascontiguousarray(image, np.float64)
            for weight in args.weights:
                start = time.perf_counter()
                cpu_labels, cpu_dist, _ = propagate_cpu(image, seeds, mask, weight)
                cpu_s = time.perf_counter() - start
                start = time.perf_counter()
                labels, dist, flags, sweeps = fixed_point_cpu(image, seeds, mask, weight)
                proxy_s = time.perf_counter() - start
                differing = int((labels != cpu_labels).sum())
                same_dist = np.array_equal(dist.view(np.uint64), cpu_dist.view(np.uint64))
                total = image.size
                flagged = int(flags.sum())
                missed = differing > 0 and flagged == 0
                print(f"{kind:<42} {size:>4}x{size:<4} {weight:>6} {differing:>8}/{total:<9}"
                      f" {differing / total:>9.2e} {'same' if same_dist else 'DIFF':>5}"
                      f" {flagged:>8} {sweeps:>6}"
                      f"{'  CERTIFICATE MISSED' if missed else ''}"
                      f"  (cpu {cpu_s:.2f} s, proxy {proxy_s:.2f} s)", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
