"""estimate_diameter, size_range_for_diameter and identify_primary(diameter=...)."""

from __future__ import annotations

import warnings
from dataclasses import replace

import numpy as np
import pytest

from pyhcs.datasets.synthetic import ImagingParams, PhenotypeParams, synthetic_field
from pyhcs.plate import Pipeline
from pyhcs.segmentation import (
    _scale,
    estimate_diameter,
    identify_primary,
    size_range_for_diameter,
)
from pyhcs.segmentation._matching import match_objects


def _field(radius: float, size: int = 512, seed: int = 0, coverage: float = 0.2, **phenotype):
    n = max(6, int(coverage * size * size / (np.pi * radius * radius)))
    p = replace(PhenotypeParams(), nucleus_radius=float(radius), cell_radius=3.0 * radius,
                texture_scale=1.5 * max(1.0, radius / 9), **phenotype)
    imaging = replace(ImagingParams(), psf_sigma=max(1.0, radius / 9))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # crowded fields place fewer nuclei
        return synthetic_field((size, size), n, seed=seed, phenotype=p, imaging=imaging)


def _true_diameter(nuclei: np.ndarray) -> float:
    """Median equivalent diameter of the nuclei that do not touch the border."""
    edge = np.unique(np.concatenate([nuclei[0], nuclei[-1], nuclei[:, 0], nuclei[:, -1]]))
    areas = np.bincount(nuclei.ravel())
    inner = np.setdiff1d(np.arange(1, areas.size), edge)
    return float(np.median(2 * np.sqrt(areas[inner] / np.pi)))


# (radius, field side): fields big enough to hold a few dozen nuclei
RADII = [(4, 384), (9, 512), (20, 768), (45, 1024)]


@pytest.mark.parametrize("radius, size", RADII)
def test_estimate_within_a_quarter_across_the_radius_range(radius, size):
    field = _field(radius, size, seed=radius)
    truth = _true_diameter(field.nuclei)
    estimate = estimate_diameter(field.channel("DNA"))
    assert 0.75 < estimate / truth < 1.4, (estimate, truth)


def test_estimate_follows_the_scale_of_one_field():
    """The same nuclei drawn at twice the size give about twice the estimate."""
    small = estimate_diameter(_field(8, 512, seed=3).channel("DNA"))
    large = estimate_diameter(_field(16, 1024, seed=3).channel("DNA"))
    assert 1.6 < large / small < 2.5


def test_disks_of_known_size():
    yy, xx = np.mgrid[:300, :300]
    image = np.zeros((300, 300))
    centres = [(50, 50), (50, 170), (140, 100), (230, 230), (220, 70), (140, 240)]
    for cy, cx in centres:
        image[(yy - cy) ** 2 + (xx - cx) ** 2 <= 20**2] = 0.6
    # equivalent diameter of a digital disk of radius 20: 2 * sqrt(1257 / pi) = 40.0
    assert 38 <= estimate_diameter(image) <= 45


def test_integer_images_and_illumination():
    field = _field(12, 512, seed=5)
    dna = field.channel("DNA")
    as_float = estimate_diameter(dna.astype(np.float64) / 65535)
    assert estimate_diameter(dna) == pytest.approx(as_float, rel=1e-6)
    # a strong illumination gradient moves the estimate little (the background is flattened)
    ramp = np.linspace(0.3, 1.0, dna.shape[1])[None, :]
    shaded = (dna.astype(np.float64) * ramp).astype(np.uint16)
    assert estimate_diameter(shaded) == pytest.approx(as_float, rel=0.2)


def test_mask_limits_the_pixels():
    field = _field(10, 512, seed=7)
    dna = field.channel("DNA").copy()
    mask = np.zeros(dna.shape, bool)
    mask[:, :256] = True
    # big bright blobs outside the mask do not count
    yy, xx = np.mgrid[:512, :512]
    for cy in (100, 300):
        dna[(yy - cy) ** 2 + (xx - 400) ** 2 <= 60**2] = 60000
    masked = estimate_diameter(dna, mask=mask)
    plain = estimate_diameter(field.channel("DNA")[:, :256])
    assert masked == pytest.approx(plain, rel=0.25)
    assert estimate_diameter(dna) > 1.3 * masked


def test_no_foreground_is_nan():
    assert np.isnan(estimate_diameter(np.zeros((64, 64))))
    assert np.isnan(estimate_diameter(np.full((64, 64), 0.3)))
    image = np.random.default_rng(0).random((64, 64))
    assert np.isnan(estimate_diameter(image, mask=np.zeros((64, 64), bool)))


@pytest.mark.parametrize("image, mask, error, match", [
    (np.zeros((4, 8, 8)), None, ValueError, "image"),
    (np.zeros((8, 8), bool), None, TypeError, "image"),
    (np.full((8, 8), 2.0), None, ValueError, "image"),
    (np.zeros((8, 8)), np.ones((4, 4), bool), ValueError, "mask"),
    (np.zeros((8, 8)), np.ones((8, 8)), TypeError, "mask"),
])
def test_bad_arguments(image, mask, error, match):
    with pytest.raises(error, match=match):
        estimate_diameter(image, mask=mask)


def test_size_range_for_diameter():
    assert size_range_for_diameter(20) == (13, 50)
    assert size_range_for_diameter(1.0) == (1, 2)
    assert size_range_for_diameter(np.float32(100)) == (65, 250)
    for bad in (0, -3, float("nan"), float("inf"), True, "20", None):
        with pytest.raises(ValueError, match="diameter"):
            size_range_for_diameter(bad)


def test_suppression_keeps_one_peak_per_disk():
    rows = np.array([10, 11, 30, 10], np.int64)
    cols = np.array([10, 12, 30, 17], np.int64)
    radii = np.array([5.0, 4.0, 3.0, 2.0])
    keep = _scale._suppress_within_radius(rows, cols, radii, 40, 40)
    # (11, 12) lies within 5 of (10, 10); (10, 17) is 7 away; (30, 30) is far
    assert keep.tolist() == [True, False, True, True]


def test_peaks_match_the_maximum_filter():
    from scipy import ndimage as ndi

    from pyhcs._backend import namespace_for

    rng = np.random.default_rng(2)
    distance = np.round(rng.random((40, 50)) * 4, 0)
    rows, cols, values = _scale._peaks(distance, distance >= 1, namespace_for(distance))
    expected = (distance == ndi.maximum_filter(distance, size=3, mode="constant")) & (
        distance >= 1)
    got = np.zeros_like(expected)
    got[rows, cols] = True
    assert np.array_equal(got, expected)
    assert np.array_equal(values, distance[rows, cols])


# --- identify_primary --------------------------------------------------------------------


def test_auto_diameter_segments_nuclei_far_from_the_default_range():
    """Nuclei 3x the default diameter: CellProfiler's (10, 40) finds almost none."""
    field = _field(27, 768, seed=11)
    dna = field.channel("DNA")
    default = match_objects(field.nuclei, identify_primary(dna, exclude_border=False))
    auto = match_objects(field.nuclei,
                         identify_primary(dna, diameter="auto", exclude_border=False))
    assert default.f1 < 0.3
    assert auto.f1 > 0.75


def test_explicit_size_range_wins(monkeypatch):
    field = _field(9, 256, seed=1)
    dna = field.channel("DNA")
    expected = identify_primary(dna, size_range=(8, 30))

    def refuse(*args, **kwargs):
        raise AssertionError("the diameter must not be estimated")

    monkeypatch.setattr("pyhcs.segmentation.identify.estimate_diameter", refuse)
    assert np.array_equal(identify_primary(dna, size_range=(8, 30), diameter="auto"), expected)
    assert np.array_equal(identify_primary(dna, size_range=(8, 30), diameter=50), expected)


def test_numeric_and_auto_diameter_use_its_size_range():
    field = _field(9, 256, seed=2)
    dna = field.channel("DNA")
    assert np.array_equal(identify_primary(dna, diameter=18),
                          identify_primary(dna, size_range=size_range_for_diameter(18)))
    d = estimate_diameter(dna)
    assert np.array_equal(identify_primary(dna, diameter="auto"),
                          identify_primary(dna, size_range=size_range_for_diameter(d)))
    assert np.array_equal(identify_primary(dna), identify_primary(dna, size_range=(10, 40)))


def test_auto_on_an_empty_image_falls_back_to_the_default():
    assert identify_primary(np.zeros((32, 32)), diameter="auto").max() == 0


@pytest.mark.parametrize("diameter", ["big", 0, -1.0, float("nan"), True])
def test_bad_diameter(diameter):
    with pytest.raises(ValueError, match="diameter"):
        identify_primary(np.zeros((16, 16)), diameter=diameter)


def test_fcn_rescales_nuclei_outside_the_model_range():
    """The default model was trained on 10-28 pixel nuclei: 80-pixel nuclei are zoomed."""
    field = _field(40, 640, seed=12)
    dna = field.channel("DNA")
    plain = match_objects(field.nuclei,
                          identify_primary(dna, method="fcn", exclude_border=False))
    auto = match_objects(field.nuclei, identify_primary(dna, method="fcn", diameter="auto",
                                                        exclude_border=False))
    assert plain.f1 < 0.3
    assert auto.f1 > 0.85


def test_model_scale_rules():
    from pyhcs.segmentation.identify import _model_scale, _nearest_resize
    from pyhcs._backend import namespace_for

    class Model:
        metadata = {"nucleus_diameter_range": [10, 28]}

    model, own = Model(), Model()
    own.metadata = {}
    assert _model_scale(model, None) == 1.0
    assert _model_scale(model, 18.0) == 1.0  # inside 10-28
    assert _model_scale(model, 56.0) == pytest.approx(0.5)
    assert _model_scale(model, 5.0) == pytest.approx(2.0)
    assert _model_scale(own, 56.0) == 1.0  # a model that does not record its range
    own.metadata = {"nucleus_diameter_range": [30, 60]}
    assert _model_scale(own, 15.0) == pytest.approx(2.0)
    from pyhcs.pixel import load_default

    assert load_default().metadata["nucleus_diameter_range"] == [10.0, 28.0]
    labels = np.arange(12, dtype=np.int32).reshape(3, 4)
    up = _nearest_resize(labels, (6, 8), namespace_for(labels))
    assert np.array_equal(up, np.repeat(np.repeat(labels, 2, 0), 2, 1))
    assert np.array_equal(_nearest_resize(up, (3, 4), namespace_for(up)), labels)


def test_pipeline_size_auto():
    auto = Pipeline().replace(nuclei={"size": "auto"}).nuclei.arguments()
    assert auto["size_range"] is None and auto["diameter"] == "auto"
    plain = Pipeline().nuclei.arguments()
    assert plain["size_range"] == (10, 40) and "diameter" not in plain and "size" not in plain
    with pytest.raises(ValueError, match="nuclei.size"):
        Pipeline().replace(nuclei={"size": "big"})


# --- simulated GPU -------------------------------------------------------------------------


@pytest.mark.cudasim
def test_gpu_path_equals_cpu(gpu_path):
    field = _field(10, 256, seed=4)
    dna = field.channel("DNA")
    mask = np.ones(dna.shape, bool)
    mask[:40] = False
    assert gpu_path(estimate_diameter, dna) == pytest.approx(estimate_diameter(dna), rel=1e-5)
    assert gpu_path(estimate_diameter, dna, mask=mask) == pytest.approx(
        estimate_diameter(dna, mask=mask), rel=1e-5)
