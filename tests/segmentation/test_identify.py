"""identify_primary / identify_secondary: CellProfiler's recipes, checked against reference
pipelines built from scikit-image, scipy and centrosome, and against synthetic ground truth."""

from __future__ import annotations

import functools
import sys
from pathlib import Path

import numpy as np
import pytest
import skimage
from conftest import require_reference
from packaging.version import Version
from scipy import ndimage as ndi

from pyhcs.datasets import synthetic_field
from pyhcs.segmentation import identify_primary, identify_secondary
from pyhcs.segmentation._fill_holes import fill_labeled_holes
from pyhcs.segmentation._matching import match_objects

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
try:  # the settings and the CellProfiler recipe the benchmark reports with
    from bench_segmentation import NUCLEI_SETTINGS, reference_primary
finally:
    sys.path.pop(0)


#: The watershed flooding rule of the installed scikit-image, which the reference pipelines call
#: (pyhcs's default is CellProfiler 5's, scikit-image 0.24.0's; see tests/segmentation/
#: test_watershed.py for both rules).
INSTALLED_RULE = "skimage" if Version(skimage.__version__) >= Version("0.25.2") else "cellprofiler"


@functools.lru_cache(maxsize=None)
def _field(size: int, n_nuclei: int, seed: int):
    return synthetic_field((size, size), n_nuclei=n_nuclei, seed=seed)


def _cpu_namespace():
    from pyhcs._backend import namespace_for

    return namespace_for(np.zeros(1))


# --------------------------------------------------------------------------------------------
# Reference pipeline: CellProfiler 4's steps with the real references
# --------------------------------------------------------------------------------------------


def _ref_threshold(image, tmethod="minimum_cross_entropy", correction=1.0, bounds=(0.0, 1.0),
                   smoothing=0.0):
    from skimage.filters import threshold_li, threshold_otsu

    smooth = require_reference("centrosome.smooth")
    data = image.ravel()
    if tmethod == "minimum_cross_entropy":
        tolerance = max(np.min(np.diff(np.unique(data))) / 2, 0.5 / 65536)
        threshold = threshold_li(data, tolerance=tolerance)
    else:
        threshold = threshold_otsu(data)
    threshold = min(max(threshold * correction, bounds[0]), bounds[1])
    if smoothing == 0:
        return image >= threshold
    sigma = smoothing / 0.6744 / 2.0
    blurred = smooth.smooth_with_function_and_mask(
        image, lambda x: ndi.gaussian_filter(x, sigma, mode="constant", cval=0),
        np.ones(image.shape, bool),
    )
    return blurred >= threshold


def _ref_secondary(image_u16, primary, method="propagation", regularization=0.05,
                   fill_holes=True, discard_edge=False, distance=10, **threshold):
    """IdentifySecondaryObjects (+ its primary relabelling) with skimage/scipy/centrosome."""
    propagate = require_reference("centrosome.propagate")
    cpmorphology = require_reference("centrosome.cpmorphology")
    from skimage.segmentation import watershed

    image = image_u16.astype(np.float64) / 65535
    binary = _ref_threshold(image, **threshold)
    labels_in = primary.astype(np.int32)
    if method == "propagation":
        out, _ = propagate.propagate(image, labels_in, binary, regularization)
    elif method == "distance_b":
        out, dist = propagate.propagate(image, labels_in, binary, 1.0)
        out[dist > distance] = 0
        out[labels_in > 0] = labels_in[labels_in > 0]
    elif method == "distance_n":
        dist, (i, j) = ndi.distance_transform_edt(labels_in == 0, return_indices=True)
        out = np.zeros(labels_in.shape, int)
        near = dist <= distance
        out[near] = labels_in[i[near], j[near]]
    else:
        surface = np.abs(ndi.sobel(image)) if method == "watershed_gradient" else 1 - image
        out = watershed(surface, markers=labels_in, connectivity=np.ones((3, 3), bool),
                        mask=binary | (labels_in > 0))
    if fill_holes:
        out = cpmorphology.fill_labeled_holes(out, mask=out == 0)
    n_out = out.max()
    if n_out > 0:
        lookup = np.array(ndi.maximum(labels_in, out, list(range(n_out + 1))), int)
        lookup[0] = 0
        out = lookup[out]
    if discard_edge:
        edge = np.unique(np.hstack((out[0], out[-1], out[:, 0], out[:, -1])))
        lookup = np.arange(max(out.max(), labels_in.max()) + 1)
        lookup[edge] = 0
        out = lookup[out]
    lookup = np.array(ndi.maximum(out, labels_in, list(range(labels_in.max() + 1))), int)
    lookup[0] = 0
    lookup[lookup != 0] = np.arange(np.sum(lookup != 0)) + 1
    return lookup[labels_in], lookup[out]


# --------------------------------------------------------------------------------------------
# Hole filling: centrosome's fill_labeled_holes
# --------------------------------------------------------------------------------------------


def _random_labels(rng, t):
    shape = tuple(int(v) for v in rng.integers(3, 25, 2))
    kind = t % 4
    if kind == 0:
        return rng.integers(0, 4, shape).astype(np.int32)
    if kind == 1:
        return ndi.label(rng.random(shape) > 0.4)[0].astype(np.int32)
    if kind == 2:
        return rng.random(shape) > 0.5
    return (rng.integers(0, 3, shape) * (rng.random(shape) > 0.3)).astype(np.int32)


def test_fill_labeled_holes_equals_centrosome():
    cpmorphology = require_reference("centrosome.cpmorphology")
    ns = _cpu_namespace()
    rng = np.random.default_rng(0)
    for t in range(240):
        labels = _random_labels(rng, t)
        pairs = [
            (cpmorphology.fill_labeled_holes(labels), fill_labeled_holes(labels, ns)),
            (cpmorphology.fill_labeled_holes(labels, mask=labels == 0),
             fill_labeled_holes(labels, ns, mask=labels == 0)),
            (cpmorphology.fill_labeled_holes(labels, size_fn=lambda s, fg: s < 6),
             fill_labeled_holes(labels, ns, max_hole_area=6)),
        ]
        for expected, got in pairs:
            assert got.dtype == expected.dtype
            np.testing.assert_array_equal(got, expected, err_msg=f"case {t}")


def test_relabel_consecutive_equals_centrosome():
    """The CPU's presence table against centrosome's relabel for several dtypes, gaps and
    images without objects; the path for huge sparse labels against the ranks' definition."""
    from pyhcs.segmentation._fill_holes import relabel_consecutive

    cpmorphology = require_reference("centrosome.cpmorphology")
    ns = _cpu_namespace()
    rng = np.random.default_rng(4)
    for t in range(120):
        dtype = (np.int32, np.int64, np.uint16, np.uint8)[t % 4]
        shape = tuple(int(s) for s in rng.integers(1, 30, 2))
        labels = rng.choice(np.array([0, 0, 1, 3, 7, 9, 200], dtype), size=shape)
        if t % 7 == 0:
            labels[:] = 0
        expected, count = cpmorphology.relabel(labels)
        got, n = relabel_consecutive(labels, ns)
        assert got.dtype == np.int32 and n == count
        np.testing.assert_array_equal(got, expected, err_msg=f"case {t}")
    labels = np.array([[0, 10**12, 5], [5, 0, 10**12 + 1]], np.int64)  # beyond a lookup table
    got, n = relabel_consecutive(labels, ns)
    assert n == 3
    np.testing.assert_array_equal(got, [[0, 2, 1], [1, 0, 3]])


def test_fill_labeled_holes_array_path_equals_cpu_kernels():
    """The array-namespace path (the GPU's, here on numpy) equals the CPU kernels."""
    from pyhcs._backend import Namespace

    ns = _cpu_namespace()
    array_ns = Namespace(np, "cuda", simulated=True)
    rng = np.random.default_rng(1)
    for t in range(80):
        labels = _random_labels(rng, t)
        for kwargs in ({}, {"mask": labels == 0}, {"max_hole_area": 5}):
            got = fill_labeled_holes(labels, array_ns, **kwargs)
            expected = fill_labeled_holes(labels, ns, **kwargs)
            assert got.dtype == expected.dtype
            np.testing.assert_array_equal(got, expected, err_msg=f"case {t} {kwargs}")


def test_fill_labeled_holes_boolean_array_path_stays_on_the_device(monkeypatch):
    """A boolean image without mask (identify_primary's thresholded foreground) is filled on
    the array's device without the region graph's host walk, as centrosome fills it."""
    from pyhcs._backend import Namespace
    from pyhcs.segmentation import _fill_holes

    cpmorphology = require_reference("centrosome.cpmorphology")

    def host_walk(*args, **kwargs):
        raise AssertionError("the boolean path walked the region graph on the host")

    monkeypatch.setattr(_fill_holes, "_hole_lookup", host_walk)
    array_ns = Namespace(np, "cuda", simulated=True)
    rng = np.random.default_rng(6)
    for t in range(60):
        shape = tuple(int(s) for s in rng.integers(1, 40, 2))
        foreground = rng.random(shape) > rng.uniform(0.2, 0.8)
        if t % 10 == 0:
            foreground[:] = t % 20 == 0  # all foreground, or none
        got = fill_labeled_holes(foreground, array_ns)
        assert got.dtype == np.bool_
        np.testing.assert_array_equal(got, cpmorphology.fill_labeled_holes(foreground))
        limited = fill_labeled_holes(foreground, array_ns, max_hole_area=4)
        np.testing.assert_array_equal(
            limited, cpmorphology.fill_labeled_holes(foreground, size_fn=lambda s, fg: s < 4))


def test_fill_labeled_holes_nested_objects():
    """An object in a hole of another merges into it, as centrosome does."""
    ns = _cpu_namespace()
    labels = np.zeros((9, 9), np.int32)
    labels[1:8, 1:8] = 1
    labels[2:7, 2:7] = 0
    labels[4, 4] = 2
    filled = fill_labeled_holes(labels, ns)
    assert (filled[1:8, 1:8] == 1).all() and filled.sum() == 49
    kept = fill_labeled_holes(labels, ns, mask=labels == 0)
    assert kept[4, 4] == 2 and kept[3, 3] == 1


# --------------------------------------------------------------------------------------------
# identify_secondary against the reference pipeline
# --------------------------------------------------------------------------------------------

SECONDARY_CASES = [
    dict(seed=0),
    dict(seed=1, regularization=0.5),
    dict(seed=2, fill_holes=False),
    dict(seed=3, threshold=dict(tmethod="otsu")),
    dict(seed=4, threshold=dict(correction=0.7, bounds=(0.02, 0.5))),
    dict(seed=5, threshold=dict(smoothing=1.3488)),
    dict(seed=6, discard_edge=True),
    dict(seed=7, method="distance_n", distance=5),
    dict(seed=8, method="distance_b", distance=30),
    dict(seed=9, method="watershed_image"),
    dict(seed=10, method="watershed_gradient"),
]


@pytest.mark.parametrize("case", SECONDARY_CASES, ids=lambda c: "-".join(map(str, c.values())))
def test_identify_secondary_equals_reference_pipeline(case):
    case = dict(case)
    field = _field(128, 10, case.pop("seed"))
    threshold = case.pop("threshold", {})
    image, primary = field.image[1], field.nuclei
    ref_nuclei, ref_cells = _ref_secondary(image, primary, **case, **threshold)
    kwargs = dict(
        method=case.get("method", "propagation"),
        regularization_factor=case.get("regularization", 0.05),
        fill_holes=case.get("fill_holes", True),
        discard_edge=case.get("discard_edge", False),
        distance_to_dilate=case.get("distance", 10),
        threshold_method=threshold.get("tmethod", "minimum_cross_entropy"),
        threshold_correction_factor=threshold.get("correction", 1.0),
        threshold_bounds=threshold.get("bounds", (0.0, 1.0)),
        threshold_smoothing_scale=threshold.get("smoothing", 0.0),
        watershed_rule=INSTALLED_RULE,
    )
    nuclei, cells, cytoplasm = identify_secondary(image, primary, **kwargs)
    for array in (nuclei, cells, cytoplasm):
        assert array.dtype == np.int32 and array.shape == primary.shape
    np.testing.assert_array_equal(nuclei, ref_nuclei)
    np.testing.assert_array_equal(cells, ref_cells)
    np.testing.assert_array_equal(cytoplasm, np.where(nuclei > 0, 0, cells))
    assert cells.max() > 0


def test_identify_secondary_noncontiguous_labels_and_float_image():
    field = _field(128, 10, 11)
    primary = field.nuclei.astype(np.int64) * 7 + 1000 * (field.nuclei > 0)
    ref_nuclei, ref_cells = _ref_secondary(field.image[1], field.nuclei)
    image = field.image[1].astype(np.float64) / 65535
    nuclei, cells, _ = identify_secondary(image, primary)
    np.testing.assert_array_equal(nuclei, ref_nuclei)
    np.testing.assert_array_equal(cells, ref_cells)
    # Huge sparse labels (a table indexed by label value would not fit in memory).
    huge = np.where(field.nuclei > 0, field.nuclei.astype(np.int64) * 2**40 + 5, 0)
    nuclei, cells, _ = identify_secondary(image, huge)
    np.testing.assert_array_equal(nuclei, ref_nuclei)
    np.testing.assert_array_equal(cells, ref_cells)


def test_identify_secondary_numbering():
    field = _field(128, 10, 12)
    primary = field.nuclei.copy()
    nuclei, cells, cytoplasm = identify_secondary(field.image[1], primary, discard_edge=True)
    n = int(nuclei.max())
    assert 0 < n < int(primary.max())  # some cells touch the edge and go, with their nuclei
    assert set(np.unique(nuclei)) == set(range(n + 1)) == set(np.unique(cells))
    for k in range(1, n + 1):
        assert (cells[nuclei == k] == k).all()  # nucleus k lies in cell k
        assert ((cytoplasm == k) == ((cells == k) & (nuclei != k))).all()
    edges = np.concatenate([cells[0], cells[-1], cells[:, 0], cells[:, -1]])
    assert (edges == 0).all()
    # the kept nuclei keep their order and their pixels
    old = [int(np.bincount(primary[nuclei == k]).argmax()) for k in range(1, n + 1)]
    assert old == sorted(old)
    for k, label in enumerate(old, 1):
        np.testing.assert_array_equal(nuclei == k, primary == label)


def test_identify_secondary_empty_primary():
    image = np.full((16, 16), 0.5)
    primary = np.zeros((16, 16), np.int32)
    for method in ("propagation", "distance_n", "watershed_image"):
        nuclei, cells, cytoplasm = identify_secondary(image, primary, method=method)
        assert not nuclei.any() and not cells.any() and not cytoplasm.any()


# --------------------------------------------------------------------------------------------
# identify_primary
# --------------------------------------------------------------------------------------------


def test_identify_primary_integer_and_float_images_agree():
    field = _field(128, 10, 0)
    dna = field.image[0]
    from_u16 = identify_primary(dna)
    from_float = identify_primary(dna.astype(np.float64) / 65535)
    np.testing.assert_array_equal(from_u16, from_float)
    assert from_u16.dtype == np.int32 and from_u16.max() > 0
    assert set(np.unique(from_u16)) == set(range(int(from_u16.max()) + 1))


def test_identify_primary_filters():
    image = np.zeros((80, 80))
    yy, xx = np.mgrid[:80, :80]
    for (cy, cx), radius in [((20, 20), 8), ((20, 60), 2), ((60, 60), 8), ((60, 2), 8)]:
        image[(yy - cy) ** 2 + (xx - cx) ** 2 <= radius**2] = 0.8
    image[30:60, 20:50] = np.maximum(image[30:60, 20:50], 0.0)
    labels = identify_primary(image)
    # the small disc is below the minimum diameter, the one at the border is discarded
    assert labels.max() == 2
    assert labels[20, 20] == 1 and labels[60, 60] == 2
    kept_border = identify_primary(image, exclude_border=False, exclude_size=False)
    assert kept_border.max() == 4
    masked = identify_primary(image, mask=(xx < 40))
    assert masked.max() == 1 and masked[20, 20] == 1  # (60, 60) lies outside the mask


def test_identify_primary_declumps_touching_discs():
    yy, xx = np.mgrid[:60, :80]
    image = np.zeros((60, 80))
    for cx in (28, 44):
        image = np.maximum(image, 0.7 * ((yy - 30) ** 2 + (xx - cx) ** 2 <= 81))
    image = ndi.gaussian_filter(image, 1.0)
    merged = identify_primary(image, declump="none")
    assert merged.max() == 1
    for declump, lines in [("shape", "shape"), ("shape", "intensity"), ("intensity", "shape")]:
        labels = identify_primary(image, declump=declump, watershed_method=lines)
        assert labels.max() == 2, (declump, lines)
        assert labels[30, 24] != labels[30, 48]


def test_identify_primary_low_res_maxima_and_otsu():
    field = _field(128, 10, 1)
    coarse = identify_primary(field.image[0], size_range=(14, 40), threshold_method="otsu")
    fine = identify_primary(field.image[0], size_range=(14, 40), threshold_method="otsu",
                            low_res_maxima=False)
    assert coarse.max() > 0 and fine.max() > 0


# --------------------------------------------------------------------------------------------
# Ground truth: synthetic fields
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_nuclei_and_cells_f1_on_synthetic_fields(seed):
    field = _field(512, 120, seed)
    nuclei = identify_primary(field.image[0], **NUCLEI_SETTINGS)
    nucleus_score = match_objects(field.nuclei, nuclei)
    assert nucleus_score.f1 >= 0.95, nucleus_score
    _, cells, _ = identify_secondary(field.image[1], nuclei)
    cell_score = match_objects(field.cells, cells)
    assert cell_score.f1 >= 0.90, cell_score


def test_match_objects():
    truth = np.zeros((10, 10), np.int32)
    truth[1:5, 1:5] = 1
    truth[6:9, 6:9] = 2
    pred = np.zeros((10, 10), np.int32)
    pred[1:5, 1:4] = 5  # IoU 0.75
    pred[6:7, 6:9] = 8  # IoU 1/3
    score = match_objects(truth, pred)
    assert (score.n_true, score.n_pred, score.true_positives) == (2, 2, 1)
    assert score.f1 == 0.5 and score.mean_iou == 0.75


# --------------------------------------------------------------------------------------------
# GPU path (simulated in CI)
# --------------------------------------------------------------------------------------------


@pytest.mark.cudasim
def test_gpu_path_identify_primary_equals_cpu(gpu_path, monkeypatch):
    """Both declumping methods; shape declumping (CellProfiler's tie noise: distinct values)
    floods on the device, checked with the CPU watershed routes patched to raise."""
    from pyhcs import _core

    # three touching blobs, one foreground component too large for the size range: only the
    # declumping makes objects (small, because each simulated GPU thread runs in Python)
    yy, xx = np.mgrid[:28, :40]
    image = np.zeros((28, 40))
    for (cy, cx), peak in [((13, 11), 1.0), ((14, 21), 0.8), ((12, 31), 0.9)]:
        image += peak * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * 3.2**2))
    image = np.clip(0.6 * image + 0.05 + 0.01 * np.random.default_rng(0).random(image.shape), 0, 1)
    settings = dict(size_range=(5, 20), exclude_border=False)
    assert identify_primary(image, declump="none", **settings).max() == 0
    expected = identify_primary(image, **settings)
    assert expected.max() == 3
    np.testing.assert_array_equal(gpu_path(identify_primary, image, **settings), expected)
    kwargs = dict(declump="shape", watershed_method="shape", **settings)
    expected = identify_primary(image, **kwargs)
    assert expected.max() == 3

    def host_route(*args, **kwargs):
        raise AssertionError("the GPU path called the CPU watershed")

    monkeypatch.setattr(_core, "watershed", host_route)
    monkeypatch.setattr(_core, "watershed_components", host_route)
    np.testing.assert_array_equal(gpu_path(identify_primary, image, **kwargs), expected)


@pytest.mark.cudasim
@pytest.mark.parametrize("method", ["distance_n", "watershed_image", "watershed_gradient"])
def test_gpu_path_identify_secondary_without_propagation_equals_cpu(gpu_path, method):
    field = _field(128, 10, 4)
    image, primary = field.image[1][:40, :40], field.nuclei[:40, :40]
    expected = identify_secondary(image, primary, method=method)
    got = gpu_path(identify_secondary, image, primary, method=method)
    for a, b in zip(got, expected):
        np.testing.assert_array_equal(a, b)


@pytest.mark.cudasim
def test_gpu_path_identify_secondary_propagation_equals_cpu(gpu_path):
    """Propagation under the simulator is slow (about 1 ms per simulated thread): 32x32."""
    field = _field(128, 10, 5)
    image, primary = field.image[1][:32, :32], field.nuclei[:32, :32]
    expected = identify_secondary(image, primary)
    got = gpu_path(identify_secondary, image, primary)
    for a, b in zip(got, expected):
        np.testing.assert_array_equal(a, b)


# --------------------------------------------------------------------------------------------
# Bad input
# --------------------------------------------------------------------------------------------


def _secondary_inputs():
    image = np.full((12, 12), 0.5)
    primary = np.zeros((12, 12), np.int32)
    primary[5, 5] = 1
    return image, primary


@pytest.mark.parametrize(
    "change, error, match",
    [
        (lambda i, p: (i, p.astype(float)), TypeError, "primary_labels"),
        (lambda i, p: (i, p > 0), TypeError, "primary_labels"),
        (lambda i, p: (i, -p), ValueError, "primary_labels"),
        (lambda i, p: (i[:-1], p), ValueError, "image"),
        (lambda i, p: (np.where(p > 0, np.nan, i), p), ValueError, "NaN"),
        (lambda i, p: (i * 3, p), ValueError, r"\[0, 1\]"),
        (lambda i, p: (i > 0.2, p), TypeError, "image"),
        (lambda i, p: (np.stack([i, i]), np.stack([p, p])), ValueError, "primary_labels"),
    ],
)
def test_identify_secondary_bad_arrays(change, error, match):
    image, primary = change(*_secondary_inputs())
    with pytest.raises(error, match=match):
        identify_secondary(image, primary)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(method="voronoi"), ValueError, "propagation"),
        (dict(regularization_factor=-0.1), ValueError, "regularization_factor"),
        (dict(regularization_factor="big"), TypeError, "regularization_factor"),
        (dict(distance_to_dilate=-1), ValueError, "distance_to_dilate"),
        (dict(threshold_method="li"), ValueError, "minimum_cross_entropy"),
        (dict(threshold_method="manual"), ValueError, "manual_threshold"),
        (dict(threshold_bounds=(0.5, 0.2)), ValueError, "threshold_bounds"),
        (dict(threshold_correction_factor=-1), ValueError, "threshold_correction_factor"),
        (dict(threshold_smoothing_scale=float("nan")), ValueError, "threshold_smoothing_scale"),
        (dict(fill_holes="yes"), TypeError, "fill_holes"),
        (dict(watershed_rule="skimage-0.24"), ValueError, "watershed_rule"),
        (dict(mask=np.ones((12, 11), bool)), ValueError, "mask"),
        (dict(mask=np.ones((12, 12))), TypeError, "mask"),
    ],
)
def test_identify_secondary_bad_settings(kwargs, error, match):
    image, primary = _secondary_inputs()
    with pytest.raises(error, match=match):
        identify_secondary(image, primary, **kwargs)


@pytest.mark.parametrize(
    "image, kwargs, error, match",
    [
        (np.zeros((12, 12)), dict(method="unet"), ValueError, "fcn"),
        (np.zeros((12, 12)), dict(size_range=(40, 10)), ValueError, "size_range"),
        (np.zeros((12, 12)), dict(size_range=(0, 10)), ValueError, "size_range"),
        (np.zeros((12, 12)), dict(declump="watershed"), ValueError, "declump"),
        (np.zeros((12, 12)), dict(watershed_method="sobel"), ValueError, "watershed_method"),
        (np.zeros((12, 12)), dict(fill_holes=True), ValueError, "fill_holes"),
        (np.zeros((12, 12)), dict(watershed_rule=None), ValueError, "watershed_rule"),
        (np.zeros((12, 12)), dict(automatic_smoothing=False), ValueError, "smoothing_filter_size"),
        (np.zeros((12, 12)), dict(exclude_border=1), TypeError, "exclude_border"),
        (np.zeros((2, 12, 12)), {}, ValueError, "image"),
        (np.full((12, 12), np.nan), {}, ValueError, "NaN"),
        (np.full((12, 12), 2.0), {}, ValueError, r"\[0, 1\]"),
        (np.full((12, 12), -0.5), {}, ValueError, r"\[0, 1\]"),
        (np.zeros((12, 12), bool), {}, TypeError, "image"),
        (np.full((12, 12), -3, np.int16), {}, ValueError, "image"),
        (np.zeros((12, 12)), dict(mask=np.ones((12, 12), np.uint8)), TypeError, "mask"),
    ],
)
def test_identify_primary_bad_input(image, kwargs, error, match):
    with pytest.raises(error, match=match):
        identify_primary(image, **kwargs)


def test_identify_primary_flat_and_empty_images():
    for image in (np.zeros((20, 20)), np.full((20, 20), 0.3), np.zeros((20, 20), np.uint8)):
        labels = identify_primary(image)
        assert labels.dtype == np.int32 and labels.shape == (20, 20)


@pytest.mark.parametrize("seed", [0, 3])
def test_identify_primary_shape_declumping_equals_cellprofiler_recipe(seed):
    # The recipe in benchmarks/bench_segmentation.py is built from centrosome's own
    # is_local_maximum, binary_shrink, fill_labeled_holes and relabel with scikit-image's
    # watershed. Markers differ only where maxima touch (shrunk to one point there), which the
    # distance transform's tie-breaking noise makes rare: the objects come out identical here.
    require_reference("centrosome")
    field = synthetic_field((384, 384), n_nuclei=70, seed=seed)
    expected = reference_primary(field.image[0])
    got = identify_primary(field.image[0], **NUCLEI_SETTINGS, watershed_rule=INSTALLED_RULE)
    np.testing.assert_array_equal(got, expected)


def test_identify_primary_fcn_uses_the_pixel_classifier():
    from pyhcs.pixel import load_default, predict, probabilities_to_labels

    field = synthetic_field((160, 160), n_nuclei=16, seed=21)
    expected = probabilities_to_labels(predict(load_default(), field.image[0], device="cpu"))
    got = identify_primary(field.image[0], method="fcn", exclude_border=False, exclude_size=False)
    np.testing.assert_array_equal(got, expected)
    assert got.dtype == np.int32
    # The filters of steps 5-6 apply to its objects too.
    filtered = identify_primary(field.image[0], method="fcn", size_range=(15, 40))
    assert filtered.max() < got.max()


@pytest.mark.parametrize(
    "seed, phenotype",
    [(100, {}), (101, dict(nucleus_radius=7.0, texture_contrast=0.45, dna_intensity=1800.0))],
)
def test_identify_primary_fcn_f1_on_held_out_fields(seed, phenotype):
    # Fields with seeds and phenotypes the default model was not trained on
    # (benchmarks/train_default_nuclei.py draws its fields from derive_seed(0, i)).
    from dataclasses import replace

    from pyhcs.datasets import PhenotypeParams

    field = synthetic_field((384, 384), n_nuclei=70, seed=seed,
                            phenotype=replace(PhenotypeParams(), **phenotype))
    nuclei = identify_primary(field.image[0], method="fcn", exclude_border=False)
    score = match_objects(field.nuclei, nuclei)
    assert score.f1 >= 0.90, score
