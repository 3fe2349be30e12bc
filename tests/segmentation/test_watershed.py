"""The seeded watershed kernel (``pyhcs._core.watershed``): scikit-image's flooding, bit for bit,
in both of its rules (scikit-image 0.24.0's, which CellProfiler 5 runs, and 0.25.2+'s)."""

import numpy as np
import pytest
import skimage
from packaging.version import Version
from skimage.segmentation import watershed as skimage_watershed

from pyhcs import _core

#: whether the installed scikit-image raises a pushed pixel's priority to its parent's
INSTALLED_RISING = Version(skimage.__version__) >= Version("0.25.2")


def run(image, markers, mask, connectivity, rising):
    return _core.watershed(np.ascontiguousarray(image, dtype=np.float64),
                           np.ascontiguousarray(markers, dtype=np.int32),
                           np.ascontiguousarray(mask, dtype=bool).view(np.uint8),
                           connectivity, rising)


def random_case(rng, trial):
    shape = tuple(int(s) for s in rng.integers(1, 28, 2))
    kind = trial % 5
    if kind == 0:
        image = rng.random(shape)
    elif kind == 1:
        image = rng.integers(0, 3, shape) / 2.0  # plateaus and ties everywhere
    elif kind == 2:
        image = np.zeros(shape)
    elif kind == 3:
        image = rng.integers(0, 50, shape) / 7.0
    else:  # a smooth landscape with saddles between basins
        yy, xx = np.mgrid[: shape[0], : shape[1]]
        image = np.sin(yy / 3.0) * np.cos(xx / 4.0) + 0.01 * rng.integers(0, 3, shape)
    markers = np.zeros(shape, np.int32)
    for _ in range(int(rng.integers(0, 10))):
        markers[rng.integers(0, shape[0]), rng.integers(0, shape[1])] = rng.integers(1, 6)
    mask = rng.random(shape) > 0.2 if trial % 3 else np.ones(shape, bool)
    return image, markers, mask


@pytest.mark.parametrize("connectivity", [1, 2])
def test_equals_the_installed_scikit_image(connectivity):
    """Markers sharing values (the heap's own order decides), markers outside the mask (dropped),
    labels repeated over several markers, empty marker sets, 1 x N images."""
    rng = np.random.default_rng(connectivity)
    differ = 0
    for trial in range(600):
        image, markers, mask = random_case(rng, trial)
        expected = skimage_watershed(image, markers=markers, connectivity=connectivity, mask=mask)
        got = run(image, markers, mask, connectivity, INSTALLED_RISING)
        np.testing.assert_array_equal(got, expected)
        other = run(image, markers, mask, connectivity, not INSTALLED_RISING)
        differ += not np.array_equal(other, expected)
    assert differ > 0  # the cases do tell the two rules apart


def test_cellprofiler_rule_on_a_traced_example():
    """Markers 2 (row 1) and 3 (row 2) on value 1, marker 1 (row 3) on value 0; all three have
    age 0, so the heap's order decides: [1, 2, 3] after the pushes (1 sifts up past 2), then
    1 pops and claims (2, 1) at value 1 and (3, 0) at value 0; (3, 0) pops; the heap then pops
    3 before 2 (the last entry moved to the root is 3's). 3 claims (1, 1) at value 0, which
    pops next and claims (0, 1) and (0, 0) before 2 ever pops (scikit-image 0.24.0). With the
    rising rule (0.25.2+) (1, 1) enters at 3's value 1 and age 4 and 2 pops first."""
    image = np.array([[0, 1], [1, 0], [1, 1], [0, 0]], np.float64)
    markers = np.array([[0, 0], [2, 0], [3, 0], [0, 1]], np.int32)
    mask = np.ones(image.shape, bool)
    np.testing.assert_array_equal(run(image, markers, mask, 2, False),
                                  [[3, 3], [2, 3], [3, 1], [1, 1]])
    np.testing.assert_array_equal(run(image, markers, mask, 2, True),
                                  [[2, 2], [2, 3], [3, 1], [1, 1]])


def test_the_rules_agree_when_flooding_only_climbs():
    """Markers at the single minimum of each basin of a bowl landscape: no pixel is ever lower
    than the pixel it is reached from, so both rules are the installed scikit-image."""
    yy, xx = np.mgrid[:40, :50]
    image = np.minimum(np.hypot(yy - 10, xx - 12), np.hypot(yy - 28, xx - 35)) ** 2
    markers = np.zeros(image.shape, np.int32)
    markers[10, 12], markers[28, 35] = 1, 2
    expected = skimage_watershed(image, markers=markers, connectivity=2)
    for rising in (False, True):
        np.testing.assert_array_equal(run(image, markers, np.ones(image.shape, bool), 2, rising),
                                      expected)


def test_no_markers_and_empty_images():
    assert (run(np.zeros((3, 4)), np.zeros((3, 4)), np.ones((3, 4), bool), 2, False) == 0).all()
    assert run(np.zeros((0, 4)), np.zeros((0, 4)), np.ones((0, 4), bool), 1, True).shape == (0, 4)


def test_bad_arguments():
    image, markers, mask = np.zeros((3, 4)), np.zeros((3, 4), np.int32), np.ones((3, 4), np.uint8)
    with pytest.raises(ValueError, match="connectivity"):
        _core.watershed(image, markers, mask, 3, False)
    with pytest.raises(ValueError, match="same shape"):
        _core.watershed(image, markers[:2], mask, 2, False)
    with pytest.raises(ValueError, match="2-D"):
        _core.watershed(image.ravel(), markers.ravel(), mask.ravel(), 2, False)


def run_components(image, markers, mask, connectivity, rising, n_threads):
    from scipy import ndimage

    mask = np.ascontiguousarray(mask, dtype=bool)
    structure = ndimage.generate_binary_structure(2, connectivity)
    components, count = ndimage.label(mask, structure)
    return _core.watershed_components(np.ascontiguousarray(image, dtype=np.float64),
                                      np.ascontiguousarray(markers, dtype=np.int32),
                                      mask.view(np.uint8), connectivity, rising,
                                      components.astype(np.int32), count, n_threads)


def walled_case(rng, trial):
    """Masks cut into many components by walls; values distinct (the split is certified) or,
    every fourth trial, quantised (markers may share values: the global flooding runs)."""
    shape = tuple(int(s) for s in rng.integers(4, 40, 2))
    image = rng.random(shape) if trial % 4 else rng.integers(0, 4, shape) / 3.0
    mask = rng.random(shape) > 0.1
    mask[rng.integers(0, shape[0], 3), :] = False
    mask[:, rng.integers(0, shape[1], 3)] = False
    markers = np.zeros(shape, np.int32)
    for _ in range(int(rng.integers(1, 25))):
        markers[rng.integers(0, shape[0]), rng.integers(0, shape[1])] = rng.integers(1, 9)
    return image, markers, mask


@pytest.mark.parametrize("n_threads", [1, 2, 3])
@pytest.mark.parametrize("connectivity", [1, 2])
def test_components_flood_as_the_whole_image(connectivity, n_threads):
    """Each component of the mask flooded on its own equals scikit-image's flooding of the
    whole image, in both rules, whether the split is certified or falls back."""
    rng = np.random.default_rng(10 * connectivity + n_threads)
    paths = set()
    for trial in range(400):
        case = random_case(rng, trial) if trial % 2 else walled_case(rng, trial)
        image, markers, mask = case
        for rising in (False, True):
            got, info = run_components(image, markers, mask, connectivity, rising, n_threads)
            np.testing.assert_array_equal(got, run(image, markers, mask, connectivity, rising))
            paths.add(info["per_component"])
            if info["per_component"]:
                assert info["components"] >= (1 if (markers[mask] != 0).any() else 0)
        expected = skimage_watershed(image, markers=markers, connectivity=connectivity, mask=mask)
        got, _ = run_components(image, markers, mask, connectivity, INSTALLED_RISING, n_threads)
        np.testing.assert_array_equal(got, expected)
    assert paths == {True, False}


def test_components_certificate():
    """Two markers of equal value in one component (the heap's shape orders them), or NaN in
    the mask: the global flooding runs; distinct marker values, or equal values in different
    components: each component floods on its own."""
    image = np.array([[0, 1], [1, 0], [1, 1], [0, 0]], np.float64)  # the traced example
    markers = np.array([[0, 0], [2, 0], [3, 0], [0, 1]], np.int32)
    mask = np.ones(image.shape, bool)
    for rising in (False, True):
        got, info = run_components(image, markers, mask, 2, rising, 1)
        assert not info["per_component"]
        np.testing.assert_array_equal(got, run(image, markers, mask, 2, rising))
    # the same values on both sides of a wall: one marker per component
    wide = np.zeros((4, 5))
    wide[:, 2] = 5.0
    wall = wide != 5.0
    two = np.zeros((4, 5), np.int32)
    two[0, 0], two[3, 4] = 1, 2
    got, info = run_components(wide, two, wall, 2, False, 2)
    assert info["per_component"] and info["components"] == 2
    np.testing.assert_array_equal(got, run(wide, two, wall, 2, False))
    nan = wide.copy()
    nan[1, 1] = np.nan
    got, info = run_components(nan, two, wall, 2, False, 2)
    assert not info["per_component"]
    np.testing.assert_array_equal(got, run(nan, two, wall, 2, False))


def test_components_bad_arguments():
    image, markers, mask = np.zeros((3, 4)), np.zeros((3, 4), np.int32), np.ones((3, 4), np.uint8)
    components = np.ones((3, 4), np.int32)
    with pytest.raises(ValueError, match="components"):
        _core.watershed_components(image, markers, mask, 2, False, components[:2], 1)
    with pytest.raises(ValueError, match="n_components"):
        _core.watershed_components(image, markers, mask, 2, False, components, -1)
    with pytest.raises(ValueError, match="connectivity"):
        _core.watershed_components(image, markers, mask, 0, False, components, 1)
