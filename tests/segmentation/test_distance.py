"""The parallel exact Euclidean distance transform equals scipy's bit for bit."""

import numpy as np
import pytest
from scipy import ndimage as ndi

from pyhcs.segmentation._distance import distance_transform_edt_cpu


def _masks():
    rng = np.random.default_rng(7)
    for t in range(60):
        shape = tuple(int(v) for v in rng.integers(1, 70, 2))
        density = rng.choice([0.02, 0.3, 0.7, 0.98, 0.999])
        yield rng.random(shape) < density
    blobs = ndi.gaussian_filter(rng.standard_normal((300, 257)), 6) > 0
    yield blobs
    yield ~blobs
    one = np.ones((40, 90), bool)
    one[39, 0] = False  # a single background pixel in a corner: long distances
    yield one
    yield np.zeros((5, 6), bool)
    yield np.ones((4, 7), bool)  # no background: scipy's own answer
    yield np.ones((1, 1), bool)
    line = np.ones((1, 50), bool)
    line[0, 17] = False
    yield line
    yield line.T.copy()


@pytest.mark.parametrize("k", range(len(list(_masks()))))
def test_equals_scipy(k):
    mask = list(_masks())[k]
    expected = ndi.distance_transform_edt(mask)
    got = distance_transform_edt_cpu(mask)
    assert got.dtype == expected.dtype == np.float64
    np.testing.assert_array_equal(got, expected)


def test_large_field_with_ties():
    """Many equidistant background pixels (a lattice) and a 1024-wide field."""
    mask = np.ones((512, 1024), bool)
    mask[::37, ::41] = False
    mask[200:260, 300:700] = True
    np.testing.assert_array_equal(distance_transform_edt_cpu(mask),
                                  ndi.distance_transform_edt(mask))
