"""label_components: scipy.ndimage.label's labels and numbering, 4- and 8-connected."""

import numpy as np
import pytest
from scipy import ndimage as ndi

from pyhcs._backend import namespace_for
from pyhcs.segmentation._label import label_components

STRUCTURES = {1: ndi.generate_binary_structure(2, 1), 2: ndi.generate_binary_structure(2, 2)}


def assert_same_as_scipy(foreground, connectivity):
    labels, count = label_components(foreground, namespace_for(foreground), connectivity)
    expected, expected_count = ndi.label(foreground, structure=STRUCTURES[connectivity])
    assert labels.dtype == np.int32 and isinstance(count, int)
    assert count == expected_count
    np.testing.assert_array_equal(labels, expected)


@pytest.mark.parametrize("connectivity", [1, 2])
def test_random_images_equal_scipy(connectivity):
    rng = np.random.default_rng(connectivity)
    for _ in range(600):
        shape = tuple(int(s) for s in rng.integers(1, 40, 2))
        assert_same_as_scipy(rng.random(shape) < rng.random(), connectivity)


@pytest.mark.parametrize("connectivity", [1, 2])
def test_shapes_that_merge_late_equal_scipy(connectivity):
    """U shapes, spirals and diagonal chains: components whose provisional labels meet only
    rows later, and the worst-case number of provisional labels (a checkerboard)."""
    u = np.zeros((9, 11), bool)
    u[1:8, 1] = u[1:8, 9] = u[7, 1:10] = True
    u[1:6, 4:7] = True
    diagonal = np.eye(12, dtype=bool) | np.eye(12, k=3, dtype=bool)[:, ::-1]
    checkerboard = (np.add.outer(np.arange(15), np.arange(17)) % 2).astype(bool)
    spiral = np.zeros((13, 13), bool)
    spiral[1, 1:12] = spiral[1:12, 11] = spiral[11, 1:12] = spiral[3:12, 1] = True
    spiral[3, 1:10] = spiral[3:10, 9] = spiral[9, 3:10] = spiral[5:10, 3] = True
    for image in (u, diagonal, checkerboard, ~checkerboard, spiral, ~spiral,
                  np.zeros((4, 5), bool), np.ones((4, 5), bool), np.ones((1, 7), bool),
                  np.ones((7, 1), bool), np.zeros((0, 3), bool)):
        assert_same_as_scipy(image, connectivity)


def test_integer_input_is_foreground_where_nonzero():
    image = np.array([[0, 3, 0], [2, 0, 0], [0, 0, 5]], np.int64)
    assert_same_as_scipy(image != 0, 1)
    labels, count = label_components(image, namespace_for(image), 2)
    assert count == 2 and labels[0, 1] == labels[1, 0] == 1 and labels[2, 2] == 2


def test_array_path_equals_cpu_path():
    """The other devices' path (their ndimage.label, here scipy's behind a simulated CUDA
    namespace) returns what the CPU kernel returns, int32 and count included."""
    from pyhcs._backend import Namespace

    array_ns = Namespace(np, "cuda", simulated=True)
    assert array_ns.target != "cpu"
    rng = np.random.default_rng(9)
    for _ in range(40):
        foreground = rng.random(tuple(int(s) for s in rng.integers(1, 30, 2))) < 0.5
        for connectivity in (1, 2):
            got, n = label_components(foreground, array_ns, connectivity)
            expected, m = label_components(foreground, namespace_for(foreground), connectivity)
            assert n == m and isinstance(n, int)
            np.testing.assert_array_equal(got, expected)
            assert got.dtype == np.int32
