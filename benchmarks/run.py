"""Run the benchmarks: ``python benchmarks/run.py [--device cpu|cuda] [--only FAMILY ...]``.

Prints one table of pyhcs against the reference, timed in the same run (median of repeats,
warm-up and JIT compilation excluded). ``--json PATH`` also writes the rows as JSON.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import format_table, run_case, to_json  # noqa: E402

#: benchmark modules, one per kernel family; each has ``cases(field, device) -> list[Case]``
FAMILIES = {
    "regionprops": "bench_regionprops",
    "size_shape": "bench_size_shape",
    "intensity": "bench_intensity",
    "granularity": "bench_granularity",
    "neighbors": "bench_neighbors",
    "geometry": "bench_geometry",
    "texture": "bench_texture",
    "hog": "bench_hog",
    "zernike": "bench_zernike",
    "propagate": "bench_propagate",
    "pixel": "bench_pixel",
    "segmentation": "bench_segmentation",
    "plate_io": "bench_plate_io",
    "pipeline": "bench_pipeline",
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--only", nargs="*", choices=sorted(FAMILIES), default=None)
    parser.add_argument("--size", type=int, default=2048, help="field side in pixels")
    parser.add_argument("--nuclei", type=int, default=2000)
    parser.add_argument("--no-reference", action="store_true", help="time pyhcs only")
    parser.add_argument("--json", default=None, help="also write the rows to this file")
    args = parser.parse_args(argv)

    from pyhcs.datasets import synthetic_field

    start = time.perf_counter()
    field = synthetic_field((args.size, args.size), n_nuclei=args.nuclei, seed=0)
    print(
        f"synthetic field {args.size}x{args.size}: {int(field.nuclei.max())} nuclei "
        f"in {time.perf_counter() - start:.2f} s"
    )
    results, failures = [], []
    for family in args.only or FAMILIES:
        try:  # one broken family must not hide the others (e.g. on the GPU check machine)
            module = importlib.import_module(FAMILIES[family])
            for case in module.cases(field, args.device):
                results.append(run_case(case, with_reference=not args.no_reference))
                # one line as each case ends, so a run cut short by a time limit still reports
                print(f"done {case.family}: {case.name}: {case.pyhcs_s * 1e3:.2f} ms, "
                      f"reference {case.reference_s * 1e3:.2f} ms", flush=True)
        except Exception as exc:
            failures.append(f"{family}: {type(exc).__name__}: {exc}")
    print(format_table(results))
    for failure in failures:
        print(f"FAILED {failure}")
    if args.json:
        with open(args.json, "w") as handle:
            handle.write(to_json(results))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
