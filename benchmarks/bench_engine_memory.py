"""Peak host memory of the plate engine does not grow with the plate.

Runs ``pyhcs.plate.run`` on a 96-well and a 384-well synthetic plate (small fields, one per
well) in fresh processes and reports each run's peak resident set size (``ru_maxrss``): of the
process that runs the engine and, with worker processes (``--processes``, default ``auto``),
of the largest worker. The engine keeps a bounded pool of field buffers and writes each well
when it is finished, so the two plates' peaks should be about equal::

    python benchmarks/bench_engine_memory.py [--size 128] [--fields 1] [--processes auto|N]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

_CHILD = """
import json, resource, sys, time
from pyhcs.plate import open_plate, run
plate = open_plate(sys.argv[1])
start = time.perf_counter()
processes = sys.argv[4] if sys.argv[4] == "auto" else int(sys.argv[4])
summary = run(plate, out=sys.argv[2], progress=False, device=sys.argv[3], processes=processes)
peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
worker_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
manifest = json.load(open(sys.argv[2] + "/run.json"))
print(json.dumps({"fields": summary.fields, "cells": summary.cells, "seconds":
                  time.perf_counter() - start, "peak_rss_mib": peak_kib / 1024,
                  "worker_peak_rss_mib": worker_kib / 1024,
                  "processes": manifest["runs"][-1]["processes"]}))
"""


def measure(n_wells: int, size: int, fields: int, device: str, root: Path,
            processes: str = "auto") -> dict:
    from pyhcs.datasets import synthetic_plate

    synth = synthetic_plate(root / f"plate{n_wells}", n_wells=n_wells, n_fields=fields,
                            shape=(size, size), seed=1, format="tiff")
    done = subprocess.run([sys.executable, "-c", _CHILD, str(synth.source),
                           str(root / f"out{n_wells}"), device, processes],
                          check=True, capture_output=True, text=True)
    return {"wells": n_wells, **json.loads(done.stdout.strip().splitlines()[-1])}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--fields", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--processes", default="auto")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="pyhcs-mem-") as tmp:
        # a first, small run fills numba's cache, so neither measured process compiles
        # (compiling alone takes a few hundred MiB)
        measure(2, args.size, 1, args.device, Path(tmp))
        rows = [measure(n, args.size, args.fields, args.device, Path(tmp), args.processes)
                for n in (96, 384)]
    print(f"{'wells':>6}{'fields':>8}{'cells':>8}{'seconds':>9}{'processes':>10}"
          f"{'peak RSS MiB':>14}{'worker peak':>13}")
    for row in rows:
        worker = f"{row['worker_peak_rss_mib']:>13.0f}" if row["processes"] > 1 else f"{'-':>13}"
        print(f"{row['wells']:>6}{row['fields']:>8}{row['cells']:>8}{row['seconds']:>9.1f}"
              f"{row['processes']:>10}{row['peak_rss_mib']:>14.0f}{worker}")
    growth = rows[1]["peak_rss_mib"] / rows[0]["peak_rss_mib"]
    print(f"peak RSS 384 / 96 wells (engine process): {growth:.2f}")
    if rows[0]["processes"] > 1 and rows[1]["processes"] > 1:
        worker_growth = rows[1]["worker_peak_rss_mib"] / rows[0]["worker_peak_rss_mib"]
        print(f"peak RSS 384 / 96 wells (largest worker): {worker_growth:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
