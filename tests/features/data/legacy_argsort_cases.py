"""Inputs of the numpy 1.26 fixtures (``numpy126_argsort.npz``, ``cellprofiler5_circles.npz``).

Regenerate the fixture with the Python of CellProfiler 5's environment (numpy 1.26, as
``../shared/tools/cellprofiler/`` installs it)::

    ~/.cache/cellprofiler-headless/cp-venv/bin/python tests/features/data/legacy_argsort_cases.py

It stores ``values.argsort()`` of every case, computed by that numpy, and CellProfiler 5's
minimum enclosing circles (centriole) of a tie-heavy disc field (``cellprofiler5_circles.npz``).
"""

import os

import numpy as np

LENGTHS = (1, 2, 3, 5, 16, 17, 18, 19, 31, 33, 64, 100, 129, 257, 1000, 3001)


def cases():
    """(name, float64 values) pairs: ties of every density, NaN, sorted and reversed runs."""
    out = []
    for seed, n in enumerate(LENGTHS):
        rng = np.random.default_rng(seed)
        for levels in (2, 5, 50):
            out.append((f"n{n}_levels{levels}", rng.integers(0, levels, n).astype(np.float64)))
        values = rng.integers(0, 7, n).astype(np.float64)
        values[rng.random(n) < 0.1] = np.nan
        out.append((f"n{n}_nan", values))
        out.append((f"n{n}_equal", np.full(n, 0.5)))
        out.append((f"n{n}_reversed", np.repeat(np.arange(n // 3 + 1)[::-1], 3)[:n] * 1.0))
        out.append((f"n{n}_angles", np.round(rng.uniform(0, np.pi, n), 2)))
    return out




CIRCLE_FIELD = dict(shape=(512, 512), n=1200, seed=0, radius=(2.0, 12.0))


def circle_field():
    """Tie-heavy discs (tests/cases.py disc_field): the circles' ties depend on the sort."""
    import sys

    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
    from cases import disc_field

    return disc_field(CIRCLE_FIELD["shape"], CIRCLE_FIELD["n"], seed=CIRCLE_FIELD["seed"],
                      radius=CIRCLE_FIELD["radius"])


def write_circles(here):
    """CellProfiler 5's minimum enclosing circles (centriole on numpy 1.26) of circle_field."""
    from centriole.cpmorphology import minimum_enclosing_circle

    labels = circle_field()
    index = np.unique(labels[labels > 0])
    centers, radii = minimum_enclosing_circle(labels, index)
    np.savez_compressed(os.path.join(here, "cellprofiler5_circles.npz"), numpy=np.__version__,
                        index=index, centers=centers, radii=radii)


if __name__ == "__main__":
    here = os.path.dirname(os.path.abspath(__file__))
    perms = {name: values.argsort().astype(np.int32) for name, values in cases()}
    np.savez_compressed(os.path.join(here, "numpy126_argsort.npz"), numpy=np.__version__, **perms)
    write_circles(here)
    print(f"numpy {np.__version__}: {len(perms)} argsort cases, circles")
