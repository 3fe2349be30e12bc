"""Local maxima within objects: parity with centrosome's is_local_maximum, CPU and GPU kernels."""

import numpy as np
import pytest
from conftest import require_reference
from scipy import ndimage as ndi

from pyhcs._backend import namespace_for
from pyhcs.segmentation._maxima import footprint_offsets, local_maxima


def disk(radius):
    y, x = np.mgrid[-radius : radius + 1, -radius : radius + 1]
    return x * x + y * y <= radius * radius + 0.5


def cases(n, seed):
    rng = np.random.default_rng(seed)
    for trial in range(n):
        shape = tuple(int(s) for s in rng.integers(1, 30, 2))
        # Few levels: plateaus and equal neighbours in other objects are common.
        image = np.round(rng.random(shape) * 4) / 4
        labels, _ = ndi.label(rng.random(shape) > 0.3)
        radius = int(rng.integers(1, 4))
        footprint = disk(radius) if trial % 2 else np.ones((2 * radius + 1,) * 2, bool)
        yield image, labels, footprint


def test_matches_centrosome():
    is_local_maximum = require_reference("centrosome.cpmorphology").is_local_maximum
    for image, labels, footprint in cases(150, 0):
        expected = is_local_maximum(image, labels, footprint)
        np.testing.assert_array_equal(local_maxima(image, labels, footprint, namespace_for(image)), expected)


@pytest.mark.cudasim
def test_gpu_kernel_equals_cpu(gpu_path):
    def run(image, labels, footprint):
        return local_maxima(image, labels, footprint, namespace_for(image, labels))

    for image, labels, footprint in cases(6, 1):
        image, labels = image[:10, :10], labels[:10, :10]
        expected = local_maxima(image, labels, footprint, namespace_for(image))
        np.testing.assert_array_equal(gpu_path(run, image, labels, footprint), expected)


def test_footprint_offsets():
    np.testing.assert_array_equal(footprint_offsets(np.ones((1, 1), bool)).shape, (0, 2))
    assert len(footprint_offsets(np.ones((3, 3), bool))) == 8
    # every true element but the centre, nearest first (the test's early exit)
    disk = np.add.outer(np.arange(-4, 5) ** 2, np.arange(-3, 4) ** 2) <= 10
    offsets = footprint_offsets(disk)
    assert len(offsets) == disk.sum() - 1 and len({tuple(o) for o in offsets}) == len(offsets)
    assert disk[offsets[:, 0] + 4, offsets[:, 1] + 3].all()
    assert (np.diff((offsets.astype(int) ** 2).sum(axis=1)) >= 0).all()
    with pytest.raises(ValueError, match="footprint"):
        footprint_offsets(np.ones((2, 3), bool))
