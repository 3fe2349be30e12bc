"""A benchmark worker: process_field on fields from an .npz (channels named on the command
line), on cue (bench_pipeline's
CellProfiler-style throughput case: N such processes, one thread each).

Protocol on stdin/stdout, one line each: after loading and one warm-up pass over the fields
(compiling every kernel) it prints ``ready``; each ``go`` it answers with the wall seconds of one
pass over all the fields; ``quit`` (or end of input) ends it. The parent sets the thread counts
(``NUMBA_NUM_THREADS``, ``OMP_NUM_THREADS``) in the environment.
"""

from __future__ import annotations

import sys
import time

import numpy as np


def main(path: str, channels: list[str]) -> None:
    from pyhcs.plate import process_field

    with np.load(path) as data:
        fields = [data[name] for name in sorted(data.files)]

    def one_pass() -> float:
        start = time.perf_counter()
        for image in fields:
            process_field(image, channels=channels)
        return time.perf_counter() - start

    one_pass()
    print("ready", flush=True)
    for line in sys.stdin:
        if line.strip() != "go":
            break
        print(f"{one_pass():.9f}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
