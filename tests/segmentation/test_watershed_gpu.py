"""The GPU path of the seeded watershed: the parallel minimax solver, its tie certificate and
the fallback, under the CUDA simulator (on cupy arrays in the GPU check).

Every result is compared with the sequential CPU flooding (``pyhcs._core.watershed``, itself
tested against scikit-image in both of its flooding rules): continuous surfaces must be
certified (no pixel flagged, no fallback) and equal to both rules; quantised surfaces may be
flagged, their flagged components flooded again on the CPU, and are equal to the rule asked
for either way.
"""

import numpy as np
import pytest

from pyhcs import _core
from pyhcs._backend import namespace_for
from pyhcs.segmentation._watershed_gpu import fixed_point_cpu, watershed_gpu

pytestmark = pytest.mark.cudasim


def cpu(surface, markers, mask, connectivity, rule):
    return _core.watershed(np.ascontiguousarray(surface, np.float64),
                           np.ascontiguousarray(np.where(mask, markers, 0), np.int32),
                           np.ascontiguousarray(mask).view(np.uint8), connectivity,
                           rule == "skimage")


def solve(surface, markers, mask, connectivity, rule):
    ns = namespace_for(surface, markers, mask)
    return watershed_gpu(ns, surface, markers, mask, connectivity, rule)


def case(rng, kind, trial):
    shape = tuple(int(s) for s in rng.integers(3, 18, 2))
    if kind == "continuous":
        surface = rng.random(shape)
    else:  # few levels: plateaus and ties between basins
        surface = rng.integers(0, 3, shape) / 2.0
    mask = rng.random(shape) > (0.1 if trial % 2 else 0.35)
    markers = np.zeros(shape, np.int32)
    n = int(rng.integers(1, 6))
    for label in range(1, n + 1):
        markers[rng.integers(shape[0]), rng.integers(shape[1])] = label
    return surface, markers, mask


@pytest.mark.parametrize("connectivity", [1, 2])
def test_continuous_surfaces_are_certified_and_equal_both_rules(gpu_path, connectivity):
    rng = np.random.default_rng(connectivity)
    for trial in range(12):
        surface, markers, mask = case(rng, "continuous", trial)
        expected = cpu(surface, markers, mask, connectivity, "cellprofiler")
        np.testing.assert_array_equal(
            expected, cpu(surface, markers, mask, connectivity, "skimage"))
        for rule in ("cellprofiler", "skimage"):
            labels, info = gpu_path(solve, surface, markers, mask, connectivity, rule)
            assert info["flagged"] == 0 and not info["fell_back"], (trial, info)
            np.testing.assert_array_equal(labels, expected, err_msg=f"trial {trial}")


@pytest.mark.parametrize("rule", ["cellprofiler", "skimage"])
def test_quantised_surfaces_equal_the_rule_asked_for(gpu_path, rule):
    rng = np.random.default_rng(5 if rule == "skimage" else 6)
    outcomes = set()
    for trial in range(14):
        surface, markers, mask = case(rng, "quantised", trial)
        labels, info = gpu_path(solve, surface, markers, mask, 2, rule)
        np.testing.assert_array_equal(labels, cpu(surface, markers, mask, 2, rule),
                                      err_msg=f"trial {trial}")
        assert (info["repaired"] > 0) == (info["flagged"] > 0)
        outcomes.add(info["flagged"] > 0)
    assert outcomes == {True, False}  # both the certified path and the repair ran


def test_nan_markers_out_of_mask_and_empty_inputs(gpu_path):
    rng = np.random.default_rng(9)
    surface, markers, mask = case(rng, "continuous", 1)
    markers[~mask] = 7  # dropped: outside the mask
    labels, info = gpu_path(solve, surface, markers, mask, 2, "cellprofiler")
    np.testing.assert_array_equal(labels, cpu(surface, markers, mask, 2, "cellprofiler"))
    nan = surface.copy()
    nan[mask.nonzero()[0][0], mask.nonzero()[1][0]] = np.nan
    labels, info = gpu_path(solve, nan, markers, mask, 2, "cellprofiler")
    assert info["fell_back"]
    np.testing.assert_array_equal(labels, cpu(nan, markers, mask, 2, "cellprofiler"))
    none = np.zeros_like(markers)
    labels, info = gpu_path(solve, surface, none, mask, 2, "cellprofiler")
    assert not labels.any() and labels.dtype == np.int32
    empty = np.zeros(mask.shape, bool)
    labels, _ = gpu_path(solve, surface, markers, empty, 2, "cellprofiler")
    assert not labels.any()


@pytest.mark.parametrize("connectivity", [1, 2])
def test_certified_solutions_equal_both_rules_on_many_images(connectivity):
    """The certificate's soundness on hundreds of larger images (the CPU proxy): wherever no
    pixel is flagged, the solution is each rule's flooding; continuous surfaces never flag."""
    rng = np.random.default_rng(20 + connectivity)
    certified = 0
    for trial in range(150):
        shape = tuple(int(s) for s in rng.integers(10, 60, 2))
        kind = trial % 3
        surface = (rng.random(shape) if kind == 0 else
                   rng.integers(0, 6 if kind == 1 else 40, shape) / 5.0)
        mask = rng.random(shape) > 0.2
        markers = np.zeros(shape, np.int32)
        for label in range(1, int(rng.integers(2, 12))):
            markers[rng.integers(shape[0]), rng.integers(shape[1])] = label
        labels, flags = fixed_point_cpu(surface, markers, mask, connectivity)
        flagged = int(flags.sum())
        if kind == 0:
            assert flagged == 0, trial
        if flagged == 0:
            certified += 1
            for rule in ("cellprofiler", "skimage"):
                np.testing.assert_array_equal(
                    labels, cpu(surface, markers, mask, connectivity, rule),
                    err_msg=f"trial {trial} {rule}")
    assert certified > 50


def test_only_flagged_components_are_flooded_again(gpu_path):
    """Two components split by a wall: the continuous one keeps its certified labels, the flat
    one (its two basins tie everywhere) is flooded again on the CPU; with two markers of one
    value in the flagged component the whole image floods on the CPU."""
    rng = np.random.default_rng(3)
    surface = rng.random((7, 11))
    surface[:, 6:] = 0.5
    mask = np.ones(surface.shape, bool)
    mask[:, 5] = False
    markers = np.zeros(surface.shape, np.int32)
    markers[1, 1], markers[5, 3] = 1, 2
    markers[0, 6], markers[6, 10] = 3, 4
    surface[0, 6], surface[6, 10] = 0.2, 0.3
    for rule in ("cellprofiler", "skimage"):
        labels, info = gpu_path(solve, surface, markers, mask, 2, rule)
        np.testing.assert_array_equal(labels, cpu(surface, markers, mask, 2, rule))
        assert info["flagged"] > 0 and not info["fell_back"]
        assert info["repaired"] == mask[:, 6:].sum()
    surface[6, 10] = 0.2  # markers 3 and 4 now share a value
    labels, info = gpu_path(solve, surface, markers, mask, 2, "cellprofiler")
    np.testing.assert_array_equal(labels, cpu(surface, markers, mask, 2, "cellprofiler"))
    assert info["fell_back"] and info["repaired"] == mask.sum()
