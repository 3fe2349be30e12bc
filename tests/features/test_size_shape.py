"""AreaShape (MeasureObjectSizeShape) and Location: parity with cp_measure, scikit-image,
scipy and centrosome, on every awkward kind of object; the simulated GPU equals the CPU.

Tolerances (``specs/reference_wave2.md`` sections 7 and 17):
- exact: every integer feature, the bounding box, centre, Extent, EquivalentDiameter,
  ConvexArea, Solidity, the radii, the Feret diameters, the spatial moments;
- Perimeter within 4 ulp (the reference's last bits depend on the machine's OpenBLAS kernel;
  pyhcs uses one fixed order), FormFactor and Compactness (through P^2) within 12 ulp;
- central and normalised moments: absolute, :math:`10^{-14} \\sum |y - \\bar y|^p |x - \\bar x|^q`
  (the reference sums through BLAS);
- features derived from them: relative bounds stated at each check.
"""

from __future__ import annotations

import numpy as np
import pytest
from cases import awkward_objects, disc_field, random_blobs, random_ellipses
from conftest import require_reference
from scipy import ndimage as ndi

from pyhcs.features import ObjectIndex
from pyhcs.features.size_shape import (
    ADVANCED_FEATURES,
    SIZE_SHAPE_FEATURES,
    location,
    size_shape,
    size_shape_array,
)

EXACT = (
    "Area", "Center_X", "Center_Y", "BoundingBoxArea", "BoundingBoxMinimum_X",
    "BoundingBoxMaximum_X", "BoundingBoxMinimum_Y", "BoundingBoxMaximum_Y", "Extent",
    "EulerNumber", "MaximumRadius", "MeanRadius", "MedianRadius", "ConvexArea", "Solidity",
    "MinFeretDiameter", "MaxFeretDiameter", "EquivalentDiameter",
) + tuple(f"SpatialMoment_{p}_{q}" for p in range(3) for q in range(4))
ULPS = {"Perimeter": 4, "FormFactor": 12, "Compactness": 12}  # P^2 doubles P's error


def _relabel(labels):
    from skimage.segmentation import relabel_sequential

    return relabel_sequential(labels)[0].astype(np.int32)


def _cases():
    yield "awkward", awkward_objects()
    for seed in range(3):
        yield f"ellipses{seed}", random_ellipses((60, 70), 14, seed=seed)
        yield f"blobs{seed}", random_blobs((50, 60), seed=seed)
    yield "discs", disc_field((64, 64), 10, seed=3, radius=(2, 9))
    yield "separate", random_ellipses((48, 48), 8, seed=9, touching=False)


CASES = {name: _relabel(labels) for name, labels in _cases()}


def _spread(labels, p, q):
    """Per object: sum |y - ybar|^p |x - xbar|^q in the bounding-box frame (the moment scale)."""
    out = []
    for k, box in enumerate(ndi.find_objects(labels)):
        if box is None:
            continue
        rr, cc = np.nonzero(labels[box] == k + 1)
        out.append(np.sum(np.abs(rr - rr.mean()) ** p * np.abs(cc - cc.mean()) ** q))
    return np.array(out)


def _equal(got, expected):
    return (got == expected) | (np.isnan(got) & np.isnan(expected))


@pytest.mark.parametrize("case", sorted(CASES))
def test_parity_with_cp_measure(case):
    sizeshape = require_reference("cp_measure.core.measureobjectsizeshape")
    labels = CASES[case]
    table = size_shape(labels, advanced=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        ref = sizeshape.get_sizeshape(labels, None, calculate_advanced=True,
                                      new_features=False)
        ref.update(sizeshape.get_feret(labels, None))
    assert list(table.index) == list(range(1, labels.max() + 1))
    for name in EXACT:
        np.testing.assert_array_equal(table[f"AreaShape_{name}"].to_numpy(),
                                      np.asarray(ref[name], float), err_msg=name)
    for name, ulps in ULPS.items():
        got = table[f"AreaShape_{name}"].to_numpy()
        expected = np.asarray(ref[name], float)
        finite = np.isfinite(expected)
        assert np.array_equal(np.isfinite(got), finite), name
        np.testing.assert_array_max_ulp(got[finite], expected[finite], maxulp=ulps)
    for p in range(3):
        for q in range(4):
            name = f"CentralMoment_{p}_{q}"
            bound = 1e-14 * _spread(labels, p, q) + 1e-300
            error = np.abs(table[f"AreaShape_{name}"].to_numpy() - ref[name])
            assert (error <= bound).all(), (name, np.max(error / bound))
    for p in range(4):
        for q in range(4):
            name = f"NormalizedMoment_{p}_{q}"
            got = table[f"AreaShape_{name}"].to_numpy()
            if p + q < 2:
                assert np.isnan(got).all() and np.isnan(ref[name]).all()
                continue
            area = table["AreaShape_Area"].to_numpy()
            bound = 1e-14 * _spread(labels, p, q) / area ** ((p + q) / 2 + 1) + 1e-300
            assert (np.abs(got - ref[name]) <= bound).all(), name
    relative = {"MajorAxisLength": 1e-12, "MinorAxisLength": 1e-11, "Eccentricity": 1e-11,
                "InertiaTensor_0_0": 1e-12, "InertiaTensor_1_1": 1e-12,
                "InertiaTensorEigenvalues_0": 1e-12, "InertiaTensorEigenvalues_1": 1e-11,
                "HuMoment_0": 1e-12, "HuMoment_1": 1e-10, "HuMoment_2": 1e-9,
                "HuMoment_3": 1e-9}
    for name, tolerance in relative.items():
        np.testing.assert_allclose(table[f"AreaShape_{name}"].to_numpy(), ref[name],
                                   rtol=tolerance, atol=1e-14, err_msg=name)
    # orientation: modulo 180 (a mirror-symmetric object's sign is round-off in both)
    difference = np.abs(table["AreaShape_Orientation"].to_numpy() - ref["Orientation"]) % 180
    assert (np.minimum(difference, 180 - difference) <= 1e-9).all()


def test_columns_follow_cellprofiler():
    labels = CASES["ellipses0"]
    assert list(size_shape(labels).columns) == [f"AreaShape_{n}" for n in SIZE_SHAPE_FEATURES]
    advanced = size_shape(labels, advanced=True, zernike=True)
    names = [c[len("AreaShape_"):] for c in advanced.columns]
    assert names[:len(SIZE_SHAPE_FEATURES)] == list(SIZE_SHAPE_FEATURES)
    assert names[len(SIZE_SHAPE_FEATURES):len(SIZE_SHAPE_FEATURES) + len(ADVANCED_FEATURES)] \
        == list(ADVANCED_FEATURES)
    assert names[-1] == "Zernike_9_9" and len(names) == 25 + 53 + 30
    no_feret = size_shape(labels, feret=False)
    assert "AreaShape_MinFeretDiameter" not in no_feret


def test_zernike_columns_equal_zernike():
    from pyhcs.features import zernike

    labels = CASES["blobs1"]
    table = size_shape(labels, zernike=True)
    expected = zernike(labels)
    for column in expected.columns:
        np.testing.assert_array_equal(table[column].to_numpy(), expected[column].to_numpy())


@pytest.mark.parametrize("case", ["awkward", "ellipses1", "blobs2", "discs"])
def test_against_scikit_image_and_centrosome_directly(case):
    """The routes CellProfiler 5 takes: regionprops on each crop, scipy's padded distance
    transform and median, centrosome's hull and Feret diameters."""
    measure = require_reference("skimage.measure")
    cpmorphology = require_reference("centrosome.cpmorphology")
    labels = CASES[case]
    table = size_shape(labels)
    props = measure.regionprops(labels)
    for row, region in zip(table.itertuples(), props):
        assert row.AreaShape_Area == region.area
        assert row.AreaShape_EulerNumber == region.euler_number
        assert row.AreaShape_ConvexArea == region.area_convex
        assert row.AreaShape_Solidity == region.solidity
        assert row.AreaShape_EquivalentDiameter == region.equivalent_diameter_area
        np.testing.assert_array_max_ulp(row.AreaShape_Perimeter, region.perimeter, 4)
        padded = np.pad(region.image, 1)
        distances = ndi.distance_transform_edt(padded)
        assert row.AreaShape_MaximumRadius == ndi.maximum(distances, padded)
        assert row.AreaShape_MeanRadius == ndi.mean(distances, padded)
        assert row.AreaShape_MedianRadius == cpmorphology.median_of_labels(
            distances, padded.astype(int), [1])[0]
        orientation = region.orientation * (180 / np.pi)
        a, b, _, c = region.inertia_tensor.flat
        if a - c == 0:  # the special case must be hit exactly
            assert row.AreaShape_Orientation == orientation
        else:
            np.testing.assert_allclose(row.AreaShape_Orientation, orientation, atol=1e-9)
    hulls, counts = cpmorphology.convex_hull(labels, np.arange(1, labels.max() + 1))
    min_feret, max_feret = cpmorphology.feret_diameter(hulls, counts,
                                                       np.arange(1, labels.max() + 1))
    np.testing.assert_array_equal(table["AreaShape_MinFeretDiameter"], min_feret)
    np.testing.assert_array_equal(table["AreaShape_MaxFeretDiameter"], max_feret)


def test_degenerate_objects():
    labels = np.zeros((12, 14), np.int32)
    labels[1, 1] = 1  # one pixel
    labels[3, 2:9] = 2  # a 7-pixel line: Perimeter 5
    labels[5:9, 5:9] = 3  # a square: Orientation -45
    labels[10, 0:2] = 4  # two pixels: Perimeter 0
    for k in range(4):
        labels[4 + k, 10 + k] = 5  # a diagonal line going down-right: +45
    t = size_shape(labels, advanced=True).set_index(np.arange(1, 6))
    one = t.loc[1]
    assert one.AreaShape_Perimeter == 0 and one.AreaShape_FormFactor == np.inf
    assert one.AreaShape_Compactness == 0 and one.AreaShape_ConvexArea == 1
    assert one.AreaShape_Orientation == -45 and one.AreaShape_Eccentricity == 0
    assert one.AreaShape_MaximumRadius == 1 and one.AreaShape_MinFeretDiameter == 0
    assert one.AreaShape_MaxFeretDiameter == 0 and one.AreaShape_EulerNumber == 1
    assert t.loc[2].AreaShape_Perimeter == 5 and t.loc[2].AreaShape_MinFeretDiameter == 0
    assert t.loc[2].AreaShape_MaxFeretDiameter == 6
    assert t.loc[3].AreaShape_Orientation == -45
    assert t.loc[4].AreaShape_Perimeter == 0
    assert t.loc[5].AreaShape_Orientation == 45 and t.loc[5].AreaShape_MinFeretDiameter == 0


def test_multi_piece_label_and_holes():
    labels = np.zeros((20, 20), np.int32)
    labels[2:9, 2:9] = 1
    labels[4:6, 4:6] = 0  # a hole
    labels[12:15, 12:18] = 1  # a second piece
    labels[15:19, 1:5] = 2
    labels[16:18, 2:4] = 0
    table = size_shape(labels)
    assert table.loc[1, "AreaShape_EulerNumber"] == 1  # 2 pieces - 1 hole
    assert table.loc[2, "AreaShape_EulerNumber"] == 0
    measure = require_reference("skimage.measure")
    region = measure.regionprops(labels)[0]
    assert table.loc[1, "AreaShape_ConvexArea"] == region.area_convex


def test_index_rows_and_object_index():
    labels = random_ellipses((40, 50), 10, seed=4, step=7)  # labels 7, 14, ...
    full = size_shape(labels, advanced=True)
    wanted = [21, 5, 7, 21, 0, 70]
    table = size_shape(labels, advanced=True, index=wanted)
    assert list(table.index) == wanted
    for k, label in enumerate(wanted):
        if label in full.index:
            assert _equal(table.iloc[k].to_numpy(), full.loc[label].to_numpy()).all()
        else:
            assert np.isnan(table.iloc[k].to_numpy()).all()
    shared = ObjectIndex(labels)
    via_index = size_shape(shared, advanced=True, zernike=True)
    direct = size_shape(labels, advanced=True, zernike=True)
    assert _equal(via_index.to_numpy(), direct.to_numpy()).all()


def test_huge_labels_equal_relabelled():
    labels = CASES["ellipses2"]
    huge = np.where(labels > 0, labels.astype(np.int64) * 10**9 + 3, 0)
    a = size_shape(labels, advanced=True)
    b = size_shape(huge, advanced=True)
    assert list(b.index) == [k * 10**9 + 3 for k in a.index]
    assert _equal(a.to_numpy(), b.to_numpy()).all()


def test_no_objects():
    table = size_shape(np.zeros((5, 6), np.int32), advanced=True)
    assert len(table) == 0 and len(table.columns) == 25 + 53
    table = size_shape(np.zeros((5, 6), np.int32), index=[3])
    assert np.isnan(table.to_numpy()).all()
    assert len(location(np.zeros((3, 3), np.int32))) == 0


def test_location_is_the_centroid():
    labels = CASES["blobs0"]
    table = location(labels)
    centers = np.array(ndi.center_of_mass(np.ones(labels.shape), labels,
                                          np.arange(1, labels.max() + 1)))
    np.testing.assert_array_equal(table["Location_Center_X"], centers[:, 1])
    np.testing.assert_array_equal(table["Location_Center_Y"], centers[:, 0])
    np.testing.assert_array_equal(table["Number_Object_Number"], table.index)
    rows = location(labels, index=[2, 99])
    assert rows.loc[2, "Location_Center_X"] == table.loc[2, "Location_Center_X"]
    assert np.isnan(rows.loc[99].to_numpy()).all()


@pytest.mark.parametrize(
    "labels, kwargs, error, match",
    [
        (np.zeros((4, 4), np.float32), {}, TypeError, "labels"),
        (-np.ones((4, 4), np.int32), {}, ValueError, "labels"),
        (np.zeros((2, 4, 4), np.int32), {}, ValueError, "labels"),
        (np.zeros((4, 4), np.int32), {"advanced": "yes"}, TypeError, "advanced"),
        (np.zeros((4, 4), np.int32), {"zernike": 1}, TypeError, "zernike"),
        (np.zeros((4, 4), np.int32), {"feret": None}, TypeError, "feret"),
        (np.zeros((4, 4), np.int32), {"index": [1.5]}, TypeError, "index"),
    ],
)
def test_bad_input(labels, kwargs, error, match):
    with pytest.raises(error, match=match):
        size_shape(labels, **kwargs)


def _distance2_by_scipy(labels):
    """Per object: scipy's exact EDT of its mask padded by one background pixel, squared."""
    expected = np.zeros(labels.shape, np.int64)
    padded = np.pad(labels, 1)
    for label in np.unique(labels[labels > 0]):
        inside = padded == label
        edt = ndi.distance_transform_edt(inside)[1:-1, 1:-1]
        here = labels == label
        expected[here] = np.rint(edt[here] ** 2).astype(np.int64)
    return expected


@pytest.mark.parametrize("case", ["awkward", "ellipses0", "blobs1", "discs", "stripes"])
def test_distance_transform_is_exact(case):
    """The CPU's per-object transform (on each bounding box, lower envelope of parabolas)
    equals scipy's EDT of every object (off-image pixels outside) and the GPU's image-wide
    per-pixel search, run here through its plain-Python source."""
    from pyhcs.features._shape_cpu import object_distance2_cpu
    from pyhcs.features._shape_math import build

    if case == "stripes":  # one-row / one-column runs, runs touching the image border
        rng = np.random.default_rng(5)
        labels = rng.integers(0, 4, size=(23, 31)).astype(np.int32)
        labels[:, :3] = 2
        labels[-1, :] = 3
    else:
        labels = CASES[case]
    ids = np.ascontiguousarray(labels, dtype=np.int32)
    got = np.zeros(ids.shape, np.int64)
    for slot in np.unique(ids[ids > 0]):
        rr, cc = np.nonzero(ids == slot)
        r0, r1, c0, c1 = rr.min(), rr.max() + 1, cc.min(), cc.max() + 1
        h, w = r1 - r0, c1 - c0
        gap, dist2 = np.empty(h * w, np.int64), np.empty(h * w, np.int64)
        scratch = [np.empty(w + 2, np.int64) for _ in range(4)]
        object_distance2_cpu(ids, slot, r0, c0, r1, c1, gap, dist2, *scratch)
        crop = dist2.reshape(h, w)
        inside = ids[r0:r1, c0:c1] == slot
        assert (crop[~inside] == 0).all()
        got[r0:r1, c0:c1][inside] = crop[inside]
    np.testing.assert_array_equal(got, _distance2_by_scipy(ids))

    column_gap, row_distance2, _, _ = build(lambda f: f, lambda a, b: a * b,
                                             lambda a, b: a + b, lambda a, b, c: a * b + c)
    gap = np.zeros(ids.shape, np.int64)
    search = np.zeros(ids.shape, np.int64)
    for r, c in zip(*np.nonzero(ids)):
        gap[r, c] = column_gap(ids, r, c)
    for r, c in zip(*np.nonzero(ids)):
        search[r, c] = row_distance2(ids, gap, r, c)
    np.testing.assert_array_equal(got, search)


@pytest.mark.cudasim
@pytest.mark.parametrize("case", ["awkward", "ellipses"])
def test_gpu_equals_cpu(gpu_path, case):
    labels = CASES["awkward"] if case == "awkward" else random_ellipses((20, 24), 5, seed=2)
    cpu_labels, cpu = size_shape_array(labels, advanced=True, index=[3, 1, 99, 2])
    gpu_labels, gpu = gpu_path(size_shape_array, labels, advanced=True, index=[3, 1, 99, 2])
    np.testing.assert_array_equal(gpu_labels, cpu_labels)
    assert list(gpu) == list(cpu)
    for name in cpu:
        assert _equal(np.asarray(gpu[name]), cpu[name]).all(), name
