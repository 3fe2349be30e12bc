"""ObjectIndex: one grouping per label image, shared by every family, identical results."""

import numpy as np
import pytest
from cases import awkward_objects, random_blobs, random_ellipses
from skimage.measure import regionprops_table as skimage_regionprops_table

from pyhcs.features import (
    PROPERTIES,
    ObjectIndex,
    haralick,
    haralick_array,
    hog_objects,
    regionprops_table,
    zernike,
    zernike_array,
)


def _sparse_huge():
    labels = np.zeros((20, 30), np.int64)
    labels[2:6, 3:9] = 7_000_000_000
    labels[10:15, 12:20] = 5
    labels[16:19, 1:4] = 123_456_789_012
    return labels


CASES = {
    "ellipses": lambda: random_ellipses((64, 80), 25, seed=11),
    "noncontiguous": lambda: random_ellipses((50, 60), 12, seed=12, step=9),
    "blobs_with_holes": lambda: random_blobs((60, 70), seed=13),
    "awkward": awkward_objects,
    "empty": lambda: np.zeros((9, 11), np.int32),
    "one_pixel_image": lambda: np.ones((1, 1), np.int32),
    "sparse_huge_labels": _sparse_huge,
    "uint16_labels": lambda: random_ellipses((40, 40), 8, seed=14).astype(np.uint16),
}


def _image(labels, seed, dtype=np.float32):
    """Intensities in [0, 1], as haralick takes floats."""
    return np.random.default_rng(seed).random(labels.shape).astype(dtype)


def _tables_equal(a, b):
    if isinstance(a, dict):
        assert list(a) == list(b)
        for key in a:
            np.testing.assert_array_equal(a[key], b[key], err_msg=key)
    else:
        assert a.columns.tolist() == b.columns.tolist()
        np.testing.assert_array_equal(a.index.to_numpy(), b.index.to_numpy())
        np.testing.assert_array_equal(a.to_numpy(), b.to_numpy())


def _every_family(labels_or_index, image, index=None):
    """Each family's table, given the label image or a shared index."""
    return {
        "shape": regionprops_table(labels_or_index, properties=("label", "area", "centroid",
                                                                "bbox"), index=index),
        "intensity": regionprops_table(labels_or_index, image, PROPERTIES, index=index),
        "texture_1": haralick(image, labels_or_index, scale=1, index=index),
        "texture_3": haralick(image, labels_or_index, scale=3, gray_levels=64, index=index,
                              on_empty="zero"),
        "zernike": zernike(labels_or_index, degree=5, index=index),
        "zernike_image": zernike(labels_or_index, image=image, degree=4, index=index),
        "hog": hog_objects(image, labels_or_index, 16, pixels_per_cell=(4, 4),
                           cells_per_block=(2, 2), index=index),
    }


@pytest.mark.parametrize("case", list(CASES))
def test_shared_index_gives_the_label_image_results(case):
    labels = CASES[case]()
    image = _image(labels, 5)
    expected = _every_family(labels, image)
    objects = ObjectIndex(labels)
    got = _every_family(objects, image)
    for family in expected:
        _tables_equal(got[family], expected[family])
    # and with index= rows: absent labels, repeats, zero
    present = np.unique(labels[labels > 0])
    index = np.concatenate([present[::-1][:3], [present.max() + 1 if present.size else 4, 0],
                            present[:1]]).astype(np.int64)
    expected = _every_family(labels, image, index=index)
    got = _every_family(objects, image, index=index)
    for family in expected:
        _tables_equal(got[family], expected[family])


@pytest.mark.parametrize("case", ["ellipses", "awkward", "sparse_huge_labels", "empty"])
def test_index_contents_equal_a_direct_reading(case):
    labels = CASES[case]()
    objects = ObjectIndex(labels)
    present = np.unique(labels[labels > 0]).astype(np.int64)
    np.testing.assert_array_equal(objects.object_labels, present)
    assert objects.n_objects == present.size
    flat = labels.ravel()
    slots_of = dict(zip(objects.object_labels.tolist(), objects.present.tolist()))
    for label in present:
        slot = slots_of[int(label)]
        expected = np.flatnonzero(flat == label)
        np.testing.assert_array_equal(
            objects.pixels[objects.offsets[slot]:objects.offsets[slot + 1]], expected)
        assert objects.area[slot] == expected.size
    assert objects.area[0] == 0
    assert objects.offsets[-1] == objects.pixels.size == np.count_nonzero(labels)
    if present.size:  # the geometry equals scikit-image's boxes
        area, sum_r, sum_c, min_r, min_c, max_r, max_c = objects.geometry()
        dense = np.unique(labels, return_inverse=True)[1].reshape(labels.shape)  # 0 stays 0
        reference = skimage_regionprops_table(dense, properties=("label", "bbox", "centroid"))
        rows = objects.present
        np.testing.assert_array_equal(min_r[rows], reference["bbox-0"])
        np.testing.assert_array_equal(max_c[rows] + 1, reference["bbox-3"])
        np.testing.assert_allclose(sum_r[rows] / area[rows], reference["centroid-0"], rtol=1e-15)


def test_work_is_done_once_and_only_when_needed(monkeypatch):
    labels = random_ellipses((50, 50), 10, seed=21)
    image = _image(labels, 1)
    objects = ObjectIndex(labels)
    regionprops_table(objects, properties=("label", "area", "bbox"))
    assert "csr" not in objects._cache  # a shape table needs no pixel grouping
    from pyhcs.features import geometry

    calls = []
    original = geometry.minimum_enclosing_circle
    monkeypatch.setattr(geometry, "minimum_enclosing_circle",
                        lambda *a, **k: calls.append(1) or original(*a, **k))
    first = zernike(objects, degree=3)
    second = zernike(objects, image=image, degree=3, index=[int(labels.max())])
    assert len(calls) == 1  # the circles are the index's, computed once
    np.testing.assert_array_equal(second["AreaShape_Zernike_2_0"].to_numpy(),
                                  first["AreaShape_Zernike_2_0"].to_numpy()[-1:])
    pixels = objects.pixels
    haralick(image, objects, scale=2)
    assert objects.pixels is pixels  # the CSR is built once
    runs = objects.row_runs()
    assert objects.row_runs() is runs


def test_volume_index_for_texture():
    rng = np.random.default_rng(3)
    labels = np.zeros((4, 12, 12), np.int32)
    labels[:, 2:8, 2:8] = 1
    labels[1:3, 8:11, 1:11] = 6
    image = rng.random(labels.shape)
    objects = ObjectIndex(labels)
    _tables_equal(haralick(image, objects), haralick(image, labels))
    with pytest.raises(ValueError, match="labels"):
        zernike(objects)
    with pytest.raises(ValueError, match="labels"):
        objects.geometry()


def test_bad_input_names_the_argument():
    labels = random_ellipses((20, 20), 4, seed=2)
    with pytest.raises(TypeError, match="labels"):
        ObjectIndex(labels.astype(float))
    with pytest.raises(TypeError, match="labels"):
        ObjectIndex(labels > 0)
    with pytest.raises(ValueError, match="labels"):
        ObjectIndex(-labels)
    with pytest.raises(ValueError, match="labels"):
        ObjectIndex(labels[0])
    objects = ObjectIndex(labels)
    with pytest.raises(TypeError, match="ObjectIndex"):
        ObjectIndex(objects)
    with pytest.raises(ValueError, match="shape"):
        haralick(np.zeros((20, 21)), objects)
    with pytest.raises(ValueError, match="image"):
        regionprops_table(objects, np.zeros((21, 20)), ("label", "intensity_sum"))
    with pytest.raises(ValueError, match="image"):
        zernike(objects, image=np.zeros((20, 19)))
    from pyhcs._backend import _simulate_gpu

    with _simulate_gpu(), pytest.raises(TypeError, match="build it where they are"):
        haralick(np.zeros((20, 20)), objects)  # built for the CPU, used on the (simulated) GPU


# -- the GPU launcher (simulator in CI, real GPU in the GPU check) -------------------------------


@pytest.mark.cudasim
@pytest.mark.parametrize("case", ["ellipses", "awkward", "sparse_huge_labels"])
def test_gpu_shared_index_equals_cpu(gpu_path, case):
    labels = CASES[case]()
    if case == "ellipses":
        labels = labels[:24, :40]
    image = _image(labels, 6, np.float64)

    def measure(labels, image):
        objects = ObjectIndex(labels)
        shape = regionprops_table(objects, properties=("label", "area", "centroid", "bbox"))
        features, rows = haralick_array(image, objects, scale=1)
        moments = zernike_array(objects, degree=3)
        return shape, features, rows, moments.shape, objects.object_labels

    gpu = gpu_path(measure, labels, image)
    objects = ObjectIndex(labels)
    assert list(gpu[0]) == ["label", "area", "centroid-0", "centroid-1", "bbox-0", "bbox-1",
                            "bbox-2", "bbox-3"]
    _tables_equal(gpu[0], regionprops_table(objects, properties=("label", "area", "centroid",
                                                                 "bbox")))
    features, rows = haralick_array(image, objects, scale=1)
    np.testing.assert_array_equal(gpu[2], rows)
    np.testing.assert_allclose(gpu[1], features, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(gpu[3], zernike_array(objects, degree=3).shape, rtol=1e-9,
                               atol=1e-12)
    np.testing.assert_array_equal(gpu[4], objects.object_labels)
