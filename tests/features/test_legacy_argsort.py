"""CellProfiler 5's tie order: numpy 1.26's argsort, and the circles it gives.

The fixtures were computed by CellProfiler 5's own environment (numpy 1.26.4, centriole), see
``tests/features/data/legacy_argsort_cases.py``.
"""

import os
import sys

import numpy as np

from pyhcs.features import minimum_enclosing_circle
from pyhcs.features._legacy_argsort import _heapsort, legacy_argsort

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")
sys.path.insert(0, DATA)
from legacy_argsort_cases import cases, circle_field  # noqa: E402

sys.path.remove(DATA)


def test_equals_numpy_1_26_argsort():
    expected = np.load(os.path.join(DATA, "numpy126_argsort.npz"))
    assert str(expected["numpy"]).startswith("1.26")
    differs_from_installed = 0
    for name, values in cases():
        np.testing.assert_array_equal(legacy_argsort(values), expected[name], err_msg=name)
        differs_from_installed += not np.array_equal(values.argsort(), expected[name])
    # the fixture must be able to fail: with numpy 2, most tied cases sort differently
    if int(np.__version__.split(".")[0]) >= 2:
        assert differs_from_installed > 20


def test_sorts():
    rng = np.random.default_rng(3)
    for n in (0, 1, 2, 15, 16, 17, 500, 4000):
        values = rng.integers(0, 9, n).astype(np.float64)
        values[rng.random(n) < 0.05] = np.nan
        order = legacy_argsort(values)
        assert sorted(order) == list(range(n))
        np.testing.assert_array_equal(values[order], np.sort(values))
        heap = np.arange(n, dtype=np.int64)  # the fallback past the depth limit sorts too
        _heapsort(values, heap, 0, n)
        np.testing.assert_array_equal(values[heap], np.sort(values))


def test_circles_equal_cellprofiler_5(monkeypatch):
    """CellProfiler 5's circles of a tie-heavy field, bit for bit; numpy 2's own order moves
    some of them by an ulp (enough to move a rim pixel in or out of a Zernike disk).

    The fixture's CellProfiler ran numpy 1.26 whose ``arccos`` was the C library's ``acos``
    (no AVX-512 there): pyhcs reproduces it with that arc cosine. The default arc cosine is
    the installed numpy's loop (centrosome's under the installed numpy); on machines where it
    is the C library's too, the default circles equal the fixture as well.
    """
    from pyhcs import _core
    from pyhcs.features import geometry

    expected = np.load(os.path.join(DATA, "cellprofiler5_circles.npz"))
    labels = circle_field()
    x = geometry._acos_check_values()
    default_is_libm = np.array_equal(np.arccos(x), _core._acos_with_loop(x, 0, 0))
    centers, radii = minimum_enclosing_circle(labels, expected["index"])
    if default_is_libm:
        np.testing.assert_array_equal(centers, expected["centers"])
        assert np.array_equal(radii.view(np.uint64), expected["radii"].view(np.uint64))
    with monkeypatch.context() as patch:
        patch.setattr(geometry, "_acos_kernel", lambda: (0, 0))  # the C library's acos
        centers, radii = minimum_enclosing_circle(labels, expected["index"])
        np.testing.assert_array_equal(centers, expected["centers"])
        assert np.array_equal(radii.view(np.uint64), expected["radii"].view(np.uint64))
        if int(np.__version__.split(".")[0]) >= 2:
            patch.setattr(geometry, "_reference_argsort", lambda values: values.argsort())
            _, installed = minimum_enclosing_circle(labels, expected["index"])
            assert (installed != expected["radii"]).any()
