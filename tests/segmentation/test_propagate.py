"""propagate (CPU): bit-for-bit parity with centrosome.propagate, the cost function, bad input.

centrosome's result depends on the exact order in which its array heap pops equal-distance
entries, so every comparison here is exact: identical labels and identical distance bits.
"""

import math

import numpy as np
import pytest
from cases import random_ellipses
from conftest import require_reference

from pyhcs.segmentation import propagate

WEIGHTS = (0.0, 0.05, 0.5, 1.0, 10.0)


def reference_propagate(image, labels, mask, weight):
    return require_reference("centrosome.propagate").propagate(image, labels, mask, weight)


def assert_same(image, labels, mask, weight):
    expected_labels, expected_distances = reference_propagate(image, labels, mask, weight)
    got_labels, got_distances = propagate(image, labels, mask, weight)
    np.testing.assert_array_equal(got_labels, expected_labels)
    assert got_distances.dtype == np.float64
    # Bit patterns, so that -0.0 / 0.0 and the last ulp count too.
    np.testing.assert_array_equal(got_distances.view(np.int64), expected_distances.view(np.int64))


def random_image(rng, shape, kind):
    if kind == "continuous":
        return rng.random(shape)
    if kind == "quantised":  # few levels: many exactly equal path costs
        return rng.integers(0, 4, shape) / 3.0
    if kind == "uint16":  # what CellProfiler loads: counts / 65535
        return rng.integers(0, 400, shape).astype(np.uint16) / 65535.0
    if kind == "float32":  # CellProfiler's float32 images, passed as float64
        return (rng.integers(0, 400, shape).astype(np.float32) / np.float32(65535)).astype(np.float64)
    if kind == "flat":
        return np.full(shape, 0.25)
    raise ValueError(kind)


def random_seeds(rng, shape, n):
    labels = np.zeros(shape, np.int32)
    for _ in range(n):
        # Labels repeat and skip values: a label may own several separate seeds.
        labels[rng.integers(0, shape[0]), rng.integers(0, shape[1])] = rng.integers(1, 9)
    return labels


@pytest.mark.parametrize("kind", ["continuous", "quantised", "uint16", "float32", "flat"])
def test_random_images_match_centrosome(kind):
    rng = np.random.default_rng(sum(map(ord, kind)))
    for trial in range(120):
        shape = tuple(int(s) for s in rng.integers(1, 24, 2))
        image = random_image(rng, shape, kind)
        labels = random_seeds(rng, shape, int(rng.integers(0, 7)))
        mask = rng.random(shape) > 0.25 if trial % 3 else np.ones(shape, bool)
        assert_same(image, labels, mask, WEIGHTS[trial % len(WEIGHTS)])


@pytest.mark.parametrize("weight", WEIGHTS)
def test_object_seeds_match_centrosome(weight):
    labels = random_ellipses((96, 80), 12, seed=3, max_radius=6.0)
    rng = np.random.default_rng(7)
    smooth = np.cumsum(np.cumsum(rng.random((96, 80)), axis=0), axis=1)
    image = smooth / smooth.max()
    mask = image > 0.05
    assert_same(image, labels, mask, weight)
    assert_same(np.round(image * 20) / 20, labels, mask, weight)


def test_synthetic_field_matches_centrosome():
    from pyhcs.datasets import synthetic_field

    field = synthetic_field((256, 256), n_nuclei=30, seed=11)
    image = field.image[1] / 65535.0
    mask = image > np.percentile(image, 35)
    for weight in (0.05, 1.0):
        assert_same(image, field.nuclei, mask, weight)


def test_costs_of_very_different_sizes_match_centrosome():
    """The second phase's bands are a fraction of the median edge cost: a mostly flat image
    with a few huge steps puts distances more than 4e18 bands out (one clamped band, ordered
    by its heap alone), a few tiny steps put many pushes into the band being popped."""
    rng = np.random.default_rng(12)
    for trial in range(40):
        shape = tuple(int(s) for s in rng.integers(8, 40, 2))
        image = np.full(shape, 0.5)
        steps = rng.random(shape) < 0.05
        image[steps] += (1e18 if trial % 2 else 1e-9) * rng.random(int(steps.sum()))
        labels = random_seeds(rng, shape, int(rng.integers(1, 6)))
        for weight in (0.0, 0.05):
            assert_same(image, labels, np.ones(shape, bool), weight)


def test_image_dtypes_are_promoted_to_float64():
    rng = np.random.default_rng(1)
    labels = random_seeds(rng, (20, 20), 5)
    mask = np.ones((20, 20), bool)
    image16 = rng.integers(0, 60000, (20, 20)).astype(np.uint16)
    image32 = rng.random((20, 20)).astype(np.float32)
    for image in (image16, image32, image16 > 30000):
        assert_same(image, labels, mask, 0.5)


def test_seeds_outside_the_mask_keep_their_label_but_do_not_spread():
    image = np.zeros((5, 6))
    labels = np.zeros((5, 6), np.int32)
    labels[0, 0] = 1  # outside the mask
    labels[4, 5] = 2
    mask = np.ones((5, 6), bool)
    mask[0, 0] = False
    out, distances = propagate(image, labels, mask, 1.0)
    assert out[0, 0] == 1 and distances[0, 0] == 0
    assert set(np.unique(out[mask])) == {2}
    assert_same(image, labels, mask, 1.0)


def walled_mask(rng, shape):
    """A random mask cut by full walls into several 8-connected regions (or none, by chance)."""
    mask = rng.random(shape) > 0.15
    for _ in range(int(rng.integers(0, 4))):
        if rng.random() < 0.5:
            mask[int(rng.integers(0, shape[0])), :] = False
        else:
            mask[:, int(rng.integers(0, shape[1]))] = False
    return mask


@pytest.mark.parametrize("n_threads", [1, 2, 3])
def test_second_phase_on_any_number_of_threads_matches_centrosome(n_threads):
    """After the seeds, the C++ kernel switches from centrosome's array heap to band queues, one
    per connected region of the mask, run in parallel: exact for every thread count, with
    regions of very different sizes, stale entries and all weights (0 included)."""
    from pyhcs.segmentation._propagate_cpu import propagate_cpu

    rng = np.random.default_rng(40 + n_threads)
    queues, reads = set(), set()
    for trial in range(100):
        shape = tuple(int(s) for s in rng.integers(2, 40, 2))
        image = random_image(rng, shape,
                             ("continuous", "quantised", "uint16", "float32", "flat")[trial % 5])
        labels = random_seeds(rng, shape, int(rng.integers(1, 12)))
        mask = walled_mask(rng, shape)
        weight = WEIGHTS[trial % len(WEIGHTS)]
        expected_labels, expected_distances = reference_propagate(image, labels, mask, weight)
        got_labels, got_distances, info = propagate_cpu(image, labels, mask, weight, n_threads)
        got_labels[labels > 0] = labels[labels > 0]  # the wrapper's step
        np.testing.assert_array_equal(got_labels, expected_labels)
        np.testing.assert_array_equal(got_distances.view(np.int64),
                                      expected_distances.view(np.int64))
        queues.add(info["phase2"])
        reads.add(info["image_reads"])
        if info["phase2"] == "band_components":
            assert info["components"] >= 1
    assert {"none", "band_components"} <= queues
    assert reads == {"float32", "float64"}  # both copies of the image (values float32 holds)


def test_field_regions_on_two_threads_match_one_thread():
    from pyhcs.datasets import synthetic_field
    from pyhcs.segmentation._propagate_cpu import propagate_cpu

    field = synthetic_field((192, 192), n_nuclei=24, seed=5)
    image = field.image[1] / 65535.0
    mask = image > np.percentile(image, 50)
    one = propagate_cpu(image, field.nuclei, mask, 0.05, 1)
    two = propagate_cpu(image, field.nuclei, mask, 0.05, 2)
    assert two[2]["phase2"] == "band_components" and two[2]["components"] > 1
    np.testing.assert_array_equal(one[0], two[0])
    np.testing.assert_array_equal(one[1].view(np.int64), two[1].view(np.int64))
    assert (one[2]["pushes"], one[2]["pops"]) == (two[2]["pushes"], two[2]["pops"])


def test_unreached_pixels_are_label_0_distance_minus_1():
    image = np.random.default_rng(0).random((6, 9))
    labels = np.zeros((6, 9), np.int32)
    labels[2, 1] = 4
    mask = np.ones((6, 9), bool)
    mask[:, 4] = False  # a wall: columns 5.. are unreachable
    out, distances = propagate(image, labels, mask, 0.05)
    assert (out[:, 5:] == 0).all() and (distances[:, 5:] == -1).all()
    assert (out[:, :4] == 4).all() and (distances[:, :4] >= 0).all()
    assert (out[:, 4] == 0).all() and (distances[:, 4] == -1).all()
    assert_same(image, labels, mask, 0.05)


def test_no_seeds_and_empty_images():
    out, distances = propagate(np.ones((4, 4)), np.zeros((4, 4), np.int32), None, 0.05)
    assert (out == 0).all() and (distances == -1).all()
    out, distances = propagate(np.ones((0, 4)), np.zeros((0, 4), np.int32), None, 0.05)
    assert out.shape == distances.shape == (0, 4)


def test_mask_none_means_everywhere():
    rng = np.random.default_rng(5)
    image, labels = rng.random((12, 10)), random_seeds(rng, (12, 10), 4)
    expected = propagate(image, labels, np.ones((12, 10), bool), 0.3)
    got = propagate(image, labels, None, 0.3)
    for e, g in zip(expected, got):
        np.testing.assert_array_equal(e, g)


# ------------------------------------------------------------------ the cost function, pinned


def one_row_distances(row, seed_col, weight):
    """Distances along a single row from one seed, from the cost formula (independent code).

    In a 1-row image the clamped 3x3 window reads the same row three times, so
    D(c, c+1) = 3 * sum_{dj=-1..1} |I(c+dj) - I(c+1+dj)| with clamped columns.
    """
    n = len(row)
    at = lambda c: row[min(max(c, 0), n - 1)]  # noqa: E731
    distances = [0.0] * n
    for step in (1, -1):
        c = seed_col
        while 0 <= c + step < n:
            a, b = c, c + step
            total = 0.0
            for _ in range(3):
                for dj in (-1, 0, 1):
                    total += abs(at(a + dj) - at(b + dj))
            distances[b] = distances[a] + math.sqrt(total * total + 1 * weight * weight)
            c = b
    return distances


def test_step_image_pins_the_cost():
    row = np.array([0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0, 1.0])
    labels = np.zeros((1, 8), np.int32)
    labels[0, 0] = 1
    out, distances = propagate(row[None, :], labels, None, 0.5)
    assert (out == 1).all()
    np.testing.assert_array_equal(distances[0], one_row_distances(list(row), 0, 0.5))
    # The figures of reference.md section 4: 0, 0.5, 3.5414, 6.5828, 9.6241 at columns 0..4.
    np.testing.assert_allclose(distances[0, :5], [0, 0.5, 3.5414, 6.5828, 9.6241], atol=1e-4)
    assert_same(row[None, :], labels, np.ones((1, 8), bool), 0.5)


@pytest.mark.parametrize("weight", [0.0, 0.05, 2.0])
def test_one_row_random_matches_the_formula(weight):
    rng = np.random.default_rng(int(weight * 100))
    row = rng.random(15)
    labels = np.zeros((1, 15), np.int32)
    labels[0, 6] = 3
    _, distances = propagate(row[None, :], labels, None, weight)
    np.testing.assert_array_equal(distances[0], one_row_distances(list(row), 6, weight))


def test_diagonal_steps_cost_twice_the_spatial_term():
    # Flat image: D = 0, so a step costs w * sqrt(m): 1 orthogonally, sqrt(2) diagonally.
    labels = np.zeros((3, 3), np.int32)
    labels[1, 1] = 1
    _, distances = propagate(np.zeros((3, 3)), labels, None, 1.0)
    expected = np.array([[math.sqrt(2), 1, math.sqrt(2)], [1, 0, 1], [math.sqrt(2), 1, math.sqrt(2)]])
    np.testing.assert_array_equal(distances, expected)


def test_flat_row_tie_goes_to_the_first_popped_seed():
    out, _ = propagate(np.zeros((1, 7)), np.array([[1, 0, 0, 0, 0, 0, 2]], np.int32), None, 1.0)
    np.testing.assert_array_equal(out, [[1, 1, 1, 1, 2, 2, 2]])


def test_unheapified_queue_start_decides_ties():
    # The seeds start in raster order, not label order: a heapified queue would give 3 1 1 1 2.
    labels = np.array([[3, 0, 1, 0, 2]], np.int32)
    out, _ = propagate(np.zeros((1, 5)), labels, None, 1.0)
    np.testing.assert_array_equal(out, [[3, 3, 1, 1, 2]])
    assert_same(np.zeros((1, 5)), labels, np.ones((1, 5), bool), 1.0)


# ------------------------------------------------------------------------ labels and dtypes


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.int16, np.int32, np.uint32, np.int64])
def test_label_dtypes(dtype):
    rng = np.random.default_rng(2)
    image = rng.random((16, 16))
    labels = random_seeds(rng, (16, 16), 6)
    out, distances = propagate(image, labels.astype(dtype), None, 0.1)
    expected_labels, expected_distances = reference_propagate(image, labels, np.ones((16, 16), bool), 0.1)
    np.testing.assert_array_equal(out, expected_labels)
    np.testing.assert_array_equal(distances, expected_distances)
    assert out.dtype == (np.int32 if np.dtype(dtype).itemsize < 4 or dtype == np.int32 else np.int64)


def test_labels_beyond_int32_keep_their_values_and_order():
    # Ties are broken by label order; ranks keep that order, so the result maps back exactly.
    rng = np.random.default_rng(9)
    image = rng.integers(0, 3, (18, 18)) / 2.0
    small = random_seeds(rng, (18, 18), 8)
    huge = np.where(small > 0, small.astype(np.int64) * 2**40 + 17, 0)
    expected_labels, expected_distances = reference_propagate(image, small, np.ones((18, 18), bool), 0.5)
    out, distances = propagate(image, huge, None, 0.5)
    assert out.dtype == np.int64
    np.testing.assert_array_equal(out, np.where(expected_labels > 0, expected_labels.astype(np.int64) * 2**40 + 17, 0))
    np.testing.assert_array_equal(distances, expected_distances)
    # No background pixel at all.
    full = np.full((3, 3), 2**40, np.int64)
    out, distances = propagate(np.zeros((3, 3)), full, None, 0.5)
    assert (out == 2**40).all() and (distances == 0).all()


# ------------------------------------------------------------------------------- bad input


def test_bad_input():
    image = np.zeros((4, 5))
    labels = np.zeros((4, 5), np.int32)
    mask = np.ones((4, 5), bool)
    with pytest.raises(TypeError, match="labels"):
        propagate(image, labels.astype(float), mask)
    with pytest.raises(TypeError, match="labels"):
        propagate(image, labels.astype(bool), mask)
    with pytest.raises(ValueError, match="labels.*negative"):
        propagate(image, labels - 1, mask)
    with pytest.raises(ValueError, match="mask has shape"):
        propagate(image, labels, np.ones((5, 4), bool))
    with pytest.raises(TypeError, match="mask"):
        propagate(image, labels, mask.astype(float))
    with pytest.raises(ValueError, match="image has shape"):
        propagate(np.zeros((4, 4)), labels, mask)
    with pytest.raises(ValueError, match="weight"):
        propagate(image, labels, mask, -0.1)
    with pytest.raises(ValueError, match="weight"):
        propagate(image, labels, mask, float("nan"))
    with pytest.raises(TypeError, match="weight"):
        propagate(image, labels, mask, "0.05")
    bad = image.copy()
    bad[1, 1] = np.nan
    with pytest.raises(ValueError, match="image contains NaN"):
        propagate(bad, labels, mask)
    bad[1, 1] = np.inf
    with pytest.raises(ValueError, match="image contains NaN or infinite"):
        propagate(bad, labels, mask)
    with pytest.raises(ValueError, match="labels must be 2-D"):
        propagate(np.zeros((2, 4, 5)), np.zeros((2, 4, 5), np.int32), None)
    with pytest.raises(TypeError, match="exact"):
        propagate(image, labels, mask, exact="yes")
