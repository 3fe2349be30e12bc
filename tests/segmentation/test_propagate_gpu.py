"""The GPU path of propagate: the tiled parallel solver, its tie certificate and the fallback.

Under the CUDA simulator (CI) the tiles are 8 x 8, so the 12..24-pixel images below have
several tiles and exercise the halo exchange and the active-tile skipping. With
``PYHCS_TEST_REAL_GPU=1`` the same ``cudasim`` tests run on cupy arrays (32 x 32 tiles).

What is checked, per image:
- ``exact=False``: the solver's result equals :func:`fixed_point_cpu` (the same update rule run
  to its unique fixed point on the CPU) exactly, labels, distances and certificate flags; its
  distances are bit-identical to the sequential CPU path (= centrosome) and its labels differ
  only on images the certificate flags.
- ``exact=True`` (public API): identical to the CPU path, ties included.
The certificate's completeness is also checked on hundreds of larger images with the CPU
proxy, which the simulator is too slow for.
"""


import numpy as np
import pytest
from conftest import require_reference

from pyhcs._backend import namespace_for
from pyhcs.segmentation import propagate
from pyhcs.segmentation._propagate_cpu import propagate_cpu
from pyhcs.segmentation._propagate_gpu import fixed_point_cpu, propagate_gpu


def _solve(image, labels, mask, weight, exact, certify):
    ns = namespace_for(image, labels, mask)
    return propagate_gpu(ns, image, labels, mask, weight, exact=exact, certify=certify)


def _fast_path(gpu_path, image, labels, mask, weight):
    """exact=False with the certificate reported: (labels_out, distances, info), numpy."""
    return gpu_path(
        _solve, np.ascontiguousarray(image, np.float64), labels.astype(np.int32), mask, weight,
        False, True,
    )


def make_case(kind, shape, n_seeds, seed, masked=False):
    rng = np.random.default_rng(seed)
    if kind == "continuous":
        image = rng.random(shape)
    elif kind == "quantised":
        image = rng.integers(0, 4, shape) / 3.0
    elif kind == "uint16":
        image = rng.integers(0, 65536, shape).astype(np.uint16) / 65535.0
    elif kind == "flat":
        image = np.full(shape, 0.25)
    else:
        raise ValueError(kind)
    labels = np.zeros(shape, np.int32)
    for label in rng.permutation(np.arange(1, n_seeds + 1)):
        labels[rng.integers(shape[0]), rng.integers(shape[1])] = label
    mask = rng.random(shape) > 0.25 if masked else np.ones(shape, bool)
    return image, labels, mask


def check_fast_path(gpu_path, image, labels, mask, weight):
    """The fast path's contract; returns (differing labels, flagged pixels)."""
    out, dist, info = _fast_path(gpu_path, image, labels, mask, weight)
    cpu_labels, cpu_dist, _ = propagate_cpu(
        np.ascontiguousarray(image, np.float64), labels, mask, weight
    )
    fp_labels, fp_dist, fp_flags, _ = fixed_point_cpu(image, labels, mask, weight)
    # the parallel solver reaches the unique fixed point, whatever the tiles' order
    np.testing.assert_array_equal(out, fp_labels)
    np.testing.assert_array_equal(dist, fp_dist)
    np.testing.assert_array_equal(info["flags"], fp_flags)
    assert info["flagged"] == int(fp_flags.sum()) and not info["fell_back"]
    # distances bit-identical to the sequential path; labels equal unless certified tied
    assert np.array_equal(dist.view(np.uint64), cpu_dist.view(np.uint64))
    differing = int((out != cpu_labels).sum())
    if differing:
        assert info["flagged"] > 0
    return differing, info["flagged"]


def check_exact(gpu_path, image, labels, mask, weight):
    expected = propagate(image, labels, mask, weight)
    got = gpu_path(propagate, image, labels, mask, weight, exact=True)
    np.testing.assert_array_equal(got[0], expected[0])
    assert got[0].dtype == expected[0].dtype
    assert np.array_equal(got[1].view(np.uint64), expected[1].view(np.uint64))


# -- fast path: exact fixed point, bit-identical distances, certified ties ----------------------


@pytest.mark.cudasim
@pytest.mark.parametrize(
    "kind, shape, n_seeds, weight, masked",
    [
        ("continuous", (16, 16), 5, 0.05, False),
        ("continuous", (13, 18), 4, 1.0, True),
        ("continuous", (16, 12), 6, 0.0, False),
        ("uint16", (12, 17), 4, 0.5, True),
    ],
)
def test_continuous_images_are_exact_and_not_flagged(gpu_path, kind, shape, n_seeds, weight,
                                                     masked):
    image, labels, mask = make_case(kind, shape, n_seeds, seed=sum(shape), masked=masked)
    differing, flagged = check_fast_path(gpu_path, image, labels, mask, weight)
    assert differing == 0 and flagged == 0


@pytest.mark.cudasim
@pytest.mark.parametrize(
    "kind, shape, n_seeds, weight, masked, seed",
    [
        ("quantised", (16, 16), 6, 0.05, False, 0),
        ("quantised", (12, 14), 5, 1.0, True, 12),
        ("quantised", (14, 10), 6, 0.0, False, 4),
        ("flat", (12, 12), 5, 0.5, False, 2),
        ("flat", (10, 16), 4, 0.0, True, 4),
    ],
)
def test_tie_heavy_images(gpu_path, kind, shape, n_seeds, weight, masked, seed):
    """Images chosen so that the tie rules disagree: the fast path's labels differ from
    centrosome's at a few pixels, and the certificate flags them."""
    image, labels, mask = make_case(kind, shape, n_seeds, seed, masked)
    differing, flagged = check_fast_path(gpu_path, image, labels, mask, weight)
    assert differing > 0 and flagged > 0


@pytest.mark.cudasim
@pytest.mark.parametrize("ends", [(5, 1), (1, 5)])
def test_fast_path_tie_rule_smaller_label_wins(gpu_path, ends):
    """A flat row with seeds at both ends: the middle pixel is exactly as far from both. The
    fast path gives it the smaller label whichever side reaches it first; centrosome gives it
    the seed popped first (the larger label here when it is on the left), and the certificate
    flags the tie."""
    image = np.zeros((1, 9))
    labels = np.zeros((1, 9), np.int32)
    labels[0, 0], labels[0, 8] = ends
    mask = np.ones((1, 9), bool)
    out, dist, info = _fast_path(gpu_path, image, labels, mask, 1.0)
    np.testing.assert_array_equal(dist[0], [0, 1, 2, 3, 4, 3, 2, 1, 0])
    assert out[0, 4] == 1 and info["flags"][0, 4] == 1 and info["flagged"] == 1
    assert fixed_point_cpu(image, labels, mask, 1.0)[0][0, 4] == 1
    check_exact(gpu_path, image, labels, mask, 1.0)


# -- exact path: identical to centrosome --------------------------------------------------------


@pytest.mark.cudasim
@pytest.mark.parametrize(
    "kind, shape, n_seeds, weight, masked, seed",
    [
        ("continuous", (12, 16), 4, 0.05, True, 1),  # certified, no fallback
        ("flat", (9, 11), 4, 1.0, False, 4),  # ties: falls back to the sequential algorithm
        ("quantised", (11, 10), 5, 0.05, False, 8),
    ],
)
def test_exact_matches_centrosome(gpu_path, kind, shape, n_seeds, weight, masked, seed):
    centrosome_propagate = require_reference("centrosome.propagate").propagate
    image, labels, mask = make_case(kind, shape, n_seeds, seed, masked)
    got = gpu_path(propagate, image, labels, mask, weight, exact=True)
    expected = centrosome_propagate(image, labels, mask, weight)
    np.testing.assert_array_equal(got[0], expected[0])
    assert np.array_equal(got[1].view(np.uint64), expected[1].view(np.uint64))


@pytest.mark.cudasim
def test_fallback_is_reported(gpu_path):
    from pyhcs.segmentation.propagate import _propagate

    image, labels, mask = make_case("flat", (8, 9), 3, 10)
    *_, info = gpu_path(_propagate, image, labels, mask, 0.5, exact=True)
    assert info["backend"] == "cuda" and info["exact"] and info["flagged"] > 0
    assert info["fell_back"] and info["cpu"]["pops"] > 0
    image, labels, mask = make_case("continuous", (8, 9), 3, 8)
    *_, info = gpu_path(_propagate, image, labels, mask, 0.5, exact=False)
    assert info["flagged"] is None and not info["fell_back"] and info["launches"] >= 1


# -- shapes, masks and seeds --------------------------------------------------------------------


def _serpentine(shape):
    """A one-pixel-wide corridor snaking down the image: the geodesic path crosses the tile
    boundaries back and forth, so convergence needs many passes and tile reactivations."""
    mask = np.zeros(shape, bool)
    mask[::2, :] = True
    for k, r in enumerate(range(1, shape[0], 2)):
        mask[r, shape[1] - 1 if k % 2 == 0 else 0] = True
    return mask


@pytest.mark.cudasim
def test_serpentine_corridor_crosses_tiles_many_times(gpu_path):
    rng = np.random.default_rng(21)
    image = rng.random((17, 19))
    mask = _serpentine(image.shape)
    labels = np.zeros(image.shape, np.int32)
    labels[0, 0] = 3
    labels[16, 0] = 2
    check_fast_path(gpu_path, image, labels, mask, 0.05)
    check_exact(gpu_path, image, labels, mask, 0.05)


@pytest.mark.cudasim
def test_seeds_outside_mask_and_unreachable_regions(gpu_path):
    rng = np.random.default_rng(5)
    image = rng.random((14, 15))
    mask = np.ones(image.shape, bool)
    mask[:, 7] = False  # a wall: the right half has no seed inside the mask
    mask[3:6, 2:5] = False
    labels = np.zeros(image.shape, np.int32)
    labels[1, 1] = 4
    labels[10, 3] = 9
    labels[4, 3] = 6  # outside the mask: keeps its label, distance 0, does not spread
    labels[5, 7] = 2  # on the wall
    out, dist = gpu_path(propagate, image, labels, mask, 0.5, exact=True)
    assert out[4, 3] == 6 and dist[4, 3] == 0 and out[5, 7] == 2 and dist[5, 7] == 0
    assert (out[:, 8:] == 0).all() and (dist[:, 8:] == -1).all()
    check_fast_path(gpu_path, image, labels, mask, 0.5)
    check_exact(gpu_path, image, labels, mask, 0.5)


@pytest.mark.cudasim
@pytest.mark.parametrize(
    "shape, weight", [((1, 21), 0.05), ((19, 1), 0.5), ((1, 1), 1.0), ((2, 13), 0.0)]
)
def test_thin_images(gpu_path, shape, weight):
    rng = np.random.default_rng(shape[0] * 31 + shape[1])
    image = rng.random(shape)
    labels = np.zeros(shape, np.int32)
    labels.flat[0] = 2
    if labels.size > 1:
        labels.flat[-1] = 1
    check_fast_path(gpu_path, image, labels, np.ones(shape, bool), weight)
    check_exact(gpu_path, image, labels, np.ones(shape, bool), weight)


@pytest.mark.cudasim
def test_no_seeds_empty_mask_and_empty_image(gpu_path):
    image = np.random.default_rng(0).random((9, 10))
    none = np.zeros(image.shape, np.int32)
    out, dist = gpu_path(propagate, image, none, None, 0.05, exact=True)
    assert (out == 0).all() and (dist == -1).all()
    labels = none.copy()
    labels[2, 3] = 5
    out, dist = gpu_path(propagate, image, labels, np.zeros(image.shape, bool), 0.05)
    assert out[2, 3] == 5 and dist[2, 3] == 0 and out.sum() == 5 and (dist == -1).sum() == 89
    out, dist = gpu_path(propagate, np.zeros((0, 4)), np.zeros((0, 4), np.int32), None, 0.05)
    assert out.shape == dist.shape == (0, 4)


@pytest.mark.cudasim
def test_labels_beyond_int32_and_the_step_image(gpu_path):
    image = np.zeros((3, 8))
    image[:, 3:] = 1.0
    labels = np.zeros((3, 8), np.int64)
    labels[1, 0] = 2**40
    labels[1, 7] = 5
    out, dist = gpu_path(propagate, image, labels, None, 0.5, exact=True)
    expected = propagate(image, labels, None, 0.5)
    assert out.dtype == np.int64
    np.testing.assert_array_equal(out, expected[0])
    np.testing.assert_array_equal(dist, expected[1])
    # reference.md: step image, weight 0.5, a row from the seed: 0, 0.5, 3.5414, 6.5828, 9.6241
    labels = np.zeros((3, 8), np.int32)
    labels[1, 0] = 1
    _, dist = gpu_path(propagate, image, labels, None, 0.5, exact=False)
    np.testing.assert_allclose(dist[1, :5], [0, 0.5, 3.5414, 6.5828, 9.6241], atol=1e-4)


# -- the certificate on many larger images (CPU proxy of the same update rule) -----------------


@pytest.mark.parametrize("kind", ["continuous", "quantised", "uint16", "flat"])
def test_certificate_flags_every_disagreement(kind):
    """Hundreds of images, 1..48 pixels a side: wherever the fast path's labels (or distances)
    differ from the sequential algorithm, the certificate flags the image; distances are always
    bit-identical; continuous images at least 5 pixels a side are never flagged (narrower ones
    can tie exactly because of the edge-replicated windows)."""
    rng = np.random.default_rng({"continuous": 1, "quantised": 2, "uint16": 3, "flat": 4}[kind])
    disagreeing = flagged_images = 0
    for trial in range(400):
        shape = tuple(int(v) for v in rng.integers(1, 49, 2))
        weight = (0.0, 0.05, 0.5, 1.0)[trial % 4]
        image, labels, mask = make_case(
            kind, shape, int(rng.integers(0, 12)), int(rng.integers(1 << 30)), trial % 3 == 0
        )
        cpu_labels, cpu_dist, _ = propagate_cpu(image, labels, mask, weight)
        out, dist, flags, _ = fixed_point_cpu(image, labels, mask, weight)
        assert np.array_equal(dist.view(np.uint64), cpu_dist.view(np.uint64))
        if (out != cpu_labels).any():
            disagreeing += 1
            assert flags.any(), (shape, weight)
        flagged_images += bool(flags.any())
        if kind in ("continuous", "uint16") and min(shape) >= 5:
            assert not flags.any(), (shape, weight)
    if kind in ("quantised", "flat"):
        assert disagreeing > 0  # the test set has real ties
    assert flagged_images >= disagreeing


def test_fixed_point_on_a_synthetic_field():
    from pyhcs.datasets import synthetic_field

    field = synthetic_field((192, 192), n_nuclei=25, seed=3)
    image = field.image[1] / 65535.0
    mask = image > np.percentile(image, 30)
    cpu_labels, cpu_dist, _ = propagate_cpu(image, field.nuclei, mask, 0.05)
    out, dist, flags, _ = fixed_point_cpu(image, field.nuclei, mask, 0.05)
    assert np.array_equal(dist.view(np.uint64), cpu_dist.view(np.uint64))
    assert (out != cpu_labels).sum() == 0 or flags.any()


# -- real GPU ------------------------------------------------------------------------------------


@pytest.mark.gpu
def test_real_gpu_synthetic_field():
    import cupy

    from pyhcs.datasets import synthetic_field
    from pyhcs.segmentation.propagate import _propagate

    field = synthetic_field((768, 640), n_nuclei=120, seed=5)
    image = field.image[1] / 65535.0
    mask = image > np.percentile(image, 35)
    seeds = field.nuclei
    args = [cupy.asarray(a) for a in (image, seeds, mask)]
    for weight in (0.05, 1.0):
        fp_labels, fp_dist, fp_flags, _ = fixed_point_cpu(image, seeds, mask, weight)
        out, dist, info = _propagate(*args, weight, exact=False)
        assert isinstance(out, cupy.ndarray) and isinstance(dist, cupy.ndarray)
        cpu_labels, cpu_dist = propagate(image, seeds, mask, weight)
        fp_labels[seeds > 0] = seeds[seeds > 0]
        np.testing.assert_array_equal(out.get(), fp_labels)
        assert np.array_equal(dist.get().view(np.uint64), cpu_dist.view(np.uint64))
        out, dist, info = _propagate(*args, weight, exact=True)
        assert info["flagged"] == int(fp_flags.sum())
        np.testing.assert_array_equal(out.get(), cpu_labels)
        assert np.array_equal(dist.get().view(np.uint64), cpu_dist.view(np.uint64))
    # quantised and flat images: the certificate sends them to the sequential algorithm
    for image in (np.round(image * 8) / 8, np.full(image.shape, 0.5)):
        out, dist, info = _propagate(cupy.asarray(image), args[1], args[2], 0.5, exact=True)
        cpu_labels, cpu_dist = propagate(image, seeds, mask, 0.5)
        np.testing.assert_array_equal(out.get(), cpu_labels)
        np.testing.assert_array_equal(dist.get(), cpu_dist)
