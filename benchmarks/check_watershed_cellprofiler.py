"""Compare pyhcs's watershed kernel with the scikit-image that CellProfiler 5 runs (0.24.0).

scikit-image changed its flooding rule in 0.25.2 (a pushed pixel's priority is raised to that
of the pixel it was reached from); CellProfiler 5 pins 0.24.0, whose rule is pyhcs's default
(``watershed_rule="cellprofiler"``). The project's tests check the other rule against the
installed scikit-image; this script checks the CellProfiler rule against
``skimage.segmentation.watershed`` in CellProfiler's own venv, on random tie-heavy images
(plateaus, equal-valued markers, markers outside the mask, both connectivities) and on the
declumping surfaces of synthetic fields, and reports how many cases the two rules tell apart.

Run with the project's venv: ``python benchmarks/check_watershed_cellprofiler.py``.
Skips (exit 0, one line) when CellProfiler is not installed.
"""

from __future__ import annotations

import argparse
import sys
import textwrap
from pathlib import Path

import numpy as np

_HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(_HERE))
sys.path.insert(0, str(_HERE.parent / "tests" / "segmentation"))
import cellprofiler_ref as cp

_DRIVER = textwrap.dedent(
    '''
    import sys
    import numpy as np
    import skimage
    from skimage.segmentation import watershed

    cases = np.load(sys.argv[1])
    out = {"version": np.array(skimage.__version__)}
    names = sorted({name.split("|")[0] for name in cases.files})
    for name in names:
        connectivity = int(cases[name + "|connectivity"])
        out[name] = watershed(cases[name + "|image"], markers=cases[name + "|markers"],
                              connectivity=connectivity, mask=cases[name + "|mask"])
    np.savez(sys.argv[2], **out)
    '''
)


def random_cases(n: int, seed: int = 0) -> dict[str, np.ndarray]:
    """The project test's random tie-heavy cases (``tests/segmentation/test_watershed.py``)."""
    from test_watershed import random_case

    rng = np.random.default_rng(seed)
    cases = {}
    for k in range(n):
        image, markers, mask = random_case(rng, k)
        name = f"random{k:04d}"
        cases.update({f"{name}|image": image, f"{name}|markers": markers,
                      f"{name}|mask": mask, f"{name}|connectivity": np.array(1 + k % 2)})
    return cases


def field_cases(n_fields: int, size: int) -> dict[str, np.ndarray]:
    """The declumping watershed's inputs of ``identify_primary`` (shape and intensity methods)
    on synthetic fields, captured as pyhcs passes them to the kernel."""
    import pyhcs.segmentation.identify as identify
    from pyhcs.datasets import synthetic_field

    captured = []
    original = identify._watershed

    def capture(ns, surface, markers, mask, rule, components=None):
        captured.append((np.asarray(surface), np.asarray(markers), np.asarray(mask)))
        return original(ns, surface, markers, mask, rule, components)

    identify._watershed = capture
    try:
        for seed in range(n_fields):
            field = synthetic_field((size, size), n_nuclei=size * size * 300 // 1024**2, seed=seed)
            for method in ("shape", "intensity"):
                identify.identify_primary(field.image[0], declump=method, watershed_method=method,
                                          size_range=(10, 40))
    finally:
        identify._watershed = original
    cases = {}
    for k, (surface, markers, mask) in enumerate(captured):
        name = f"field{k:02d}"
        cases.update({f"{name}|image": surface, f"{name}|markers": markers.astype(np.int32),
                      f"{name}|mask": mask, f"{name}|connectivity": np.array(2)})
    return cases


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--random", type=int, default=2000, help="random cases")
    parser.add_argument("--fields", type=int, default=2)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--workdir", default=None, help="where the temporary folder goes")
    args = parser.parse_args(argv)
    if cp.skipped():
        return 0
    from pyhcs import _core
    from pyhcs._backend import Namespace
    from pyhcs.segmentation._label import label_components

    cases = {**random_cases(args.random), **field_cases(args.fields, args.size)}
    reference = cp.run_driver(_DRIVER, cases, workdir=args.workdir)
    names = sorted({name.split("|")[0] for name in cases})
    # cases, equal, rules differ, per-component flooding equal, certified per component
    counts = {"random": [0, 0, 0, 0, 0], "field": [0, 0, 0, 0, 0]}
    for name in names:
        inputs = (cases[name + "|image"].astype(np.float64), cases[name + "|markers"],
                  cases[name + "|mask"].astype(bool).view(np.uint8),
                  int(cases[name + "|connectivity"]))
        cellprofiler_rule = _core.watershed(*inputs, False)
        rising_rule = _core.watershed(*inputs, True)
        row = counts["random" if name.startswith("random") else "field"]
        row[0] += 1
        row[1] += bool(np.array_equal(cellprofiler_rule, reference[name]))
        row[2] += not np.array_equal(cellprofiler_rule, rising_rule)
        components, count = label_components(cases[name + "|mask"].astype(bool),
                                             Namespace(np, "cpu"), inputs[3])
        split, info = _core.watershed_components(*inputs, False, components, count)
        row[3] += bool(np.array_equal(split, reference[name]))
        row[4] += bool(info["per_component"])
    print(f"scikit-image in CellProfiler's venv: {reference['version']}")
    print(f"{'cases':<8} {'compared':>9} {'equal':>7} {'rules differ':>13} "
          f"{'per-component equal':>20} {'(certified)':>12}")
    for kind, (n, equal, differ, split_equal, certified) in counts.items():
        print(f"{kind:<8} {n:>9} {equal:>7} {differ:>13} {split_equal:>20} {certified:>12}")
    return 0 if all(row[1] == row[0] and row[3] == row[0] for row in counts.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
