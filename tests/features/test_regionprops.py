"""regionprops_table: parity with skimage.measure.regionprops_table, index, bad input, GPU path."""

import numpy as np
import pytest
from cases import awkward_objects, image_for, random_blobs, random_ellipses
from skimage.measure import regionprops_table as skimage_regionprops_table

from pyhcs.features import PROPERTIES, regionprops_table

SKIMAGE_PROPERTIES = (
    "label", "area", "centroid", "bbox", "intensity_mean", "intensity_min", "intensity_max",
)
SHAPE_PROPERTIES = ("label", "area", "centroid", "bbox")


def _assert_tables_equal(ours, reference, rtol_mean=0.0, atol_mean=0.0):
    assert list(ours) == list(reference)
    for key, expected in reference.items():
        assert ours[key].dtype == expected.dtype, key
        if key == "intensity_mean" and (rtol_mean or atol_mean):
            np.testing.assert_allclose(
                ours[key], expected, rtol=rtol_mean, atol=atol_mean, err_msg=key
            )
        else:
            np.testing.assert_array_equal(ours[key], expected, err_msg=key)


LABEL_CASES = {
    "ellipses": lambda: random_ellipses((96, 128), 40, seed=1),
    "ellipses_noncontiguous": lambda: random_ellipses((80, 80), 25, seed=2, step=7),
    "blobs_with_holes": lambda: random_blobs((100, 90), seed=3),
    "awkward": awkward_objects,
    "empty": lambda: np.zeros((17, 19), dtype=np.int32),
    "single_pixel_image": lambda: np.ones((1, 1), dtype=np.int32),
    "one_row_image": lambda: np.array([[0, 3, 3, 0, 1, 1, 1, 2]], dtype=np.int32),
    "full_image_one_object": lambda: np.full((9, 13), 4, dtype=np.int32),
}


@pytest.mark.parametrize("case", list(LABEL_CASES))
@pytest.mark.parametrize(
    "image_dtype", [np.uint8, np.uint16, np.int16, np.int32, np.float64, np.bool_]
)
def test_parity_exact(case, image_dtype):
    labels = LABEL_CASES[case]()
    image = image_for(labels, image_dtype, seed=5)
    ours = regionprops_table(labels, image, SKIMAGE_PROPERTIES)
    reference = skimage_regionprops_table(labels, image, properties=SKIMAGE_PROPERTIES)
    # float64 images: skimage averages with numpy's pairwise sum, pyhcs sequentially
    _assert_tables_equal(ours, reference, rtol_mean=1e-12 if image_dtype == np.float64 else 0)


@pytest.mark.parametrize("image_dtype", [np.float32, np.float16])
def test_parity_low_precision_float(image_dtype):
    labels = random_ellipses((120, 120), 50, seed=11)
    image = image_for(labels, image_dtype, seed=12)
    ours = regionprops_table(labels, image, SKIMAGE_PROPERTIES)
    reference = skimage_regionprops_table(labels, image, properties=SKIMAGE_PROPERTIES)
    # skimage sums in the image's precision: its error scales with the intensities, not the mean
    eps = np.finfo(image_dtype).eps
    scale = float(np.abs(image.astype(np.float64)).max())
    _assert_tables_equal(ours, reference, rtol_mean=8 * eps, atol_mean=16 * eps * scale)


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("label_dtype", [np.uint8, np.uint16, np.int32, np.uint32, np.int64])
def test_parity_random_fields(seed, label_dtype):
    rng = np.random.default_rng(seed)
    shape = tuple(int(s) for s in rng.integers(1, 160, 2))
    n = int(rng.integers(0, 60))
    labels = random_ellipses(shape, n, seed=seed, step=int(rng.integers(1, 4)), dtype=np.int64)
    labels = labels.astype(label_dtype)
    if labels.max(initial=0) != labels.astype(np.int64).max(initial=0):
        pytest.skip("labels do not fit this dtype")  # uint8 with > 255 labels never happens here
    image = image_for(labels, np.uint16, seed + 100)
    ours = regionprops_table(labels, image, SKIMAGE_PROPERTIES)
    reference = skimage_regionprops_table(labels, image, properties=SKIMAGE_PROPERTIES)
    _assert_tables_equal(ours, reference)


def test_shape_properties_without_image():
    labels = random_ellipses((64, 64), 20, seed=4, step=3)
    ours = regionprops_table(labels, properties=SHAPE_PROPERTIES)
    reference = skimage_regionprops_table(labels, properties=SHAPE_PROPERTIES)
    _assert_tables_equal(ours, reference)


def test_default_properties_match_skimage():
    labels = random_ellipses((40, 50), 10, seed=8)
    _assert_tables_equal(regionprops_table(labels), skimage_regionprops_table(labels))


def test_huge_sparse_labels_are_renumbered_internally():
    # scikit-image cannot take labels this large (find_objects allocates max_label slots), so the
    # reference runs on the rank-renumbered image and its labels are mapped back.
    labels = np.zeros((30, 30), dtype=np.int64)
    labels[2:5, 2:6] = 2**40
    labels[10:20, 10:12] = 5
    labels[25, 25] = 2**62
    labels[0, 29] = 2**23 + 1
    image = image_for(labels, np.uint16, seed=1)
    ours = regionprops_table(labels, image, SKIMAGE_PROPERTIES)
    values, ranks = np.unique(labels, return_inverse=True)
    reference = skimage_regionprops_table(
        ranks.reshape(labels.shape), image, properties=SKIMAGE_PROPERTIES
    )
    reference["label"] = values[reference["label"]]
    _assert_tables_equal(ours, reference)


def test_intensity_sum():
    labels = random_ellipses((50, 60), 15, seed=9, step=2)
    image = image_for(labels, np.uint16, seed=10)
    table = regionprops_table(labels, image, ("label", "area", "intensity_sum"))
    expected = np.array([image[labels == k].astype(np.float64).sum() for k in table["label"]])
    np.testing.assert_array_equal(table["intensity_sum"], expected)


def test_separator():
    labels = random_ellipses((20, 20), 3, seed=1)
    table = regionprops_table(labels, properties=("centroid",), separator="_")
    assert list(table) == ["centroid_0", "centroid_1"]


class TestIndex:
    def setup_method(self):
        self.labels = random_ellipses((60, 60), 12, seed=21, step=5, touching=False)
        self.image = image_for(self.labels, np.uint16, seed=22)
        self.full = regionprops_table(self.labels, self.image, PROPERTIES)

    def test_order_and_absent_labels(self):
        present = self.full["label"]
        index = [int(present[3]), 999, int(present[0]), 0, -4, int(present[3])]
        table = regionprops_table(self.labels, self.image, PROPERTIES, index=index)
        assert table["label"].tolist() == index
        assert table["label"].dtype == np.int64
        for key, values in table.items():
            if key == "label":
                continue
            assert values.dtype == np.float64, key
            for row, label in enumerate(index):
                if label in present:
                    position = int(np.flatnonzero(present == label)[0])
                    assert values[row] == self.full[key][position], (key, label)
                else:
                    assert np.isnan(values[row]), (key, label)

    def test_index_forms(self):
        label = int(self.full["label"][1])
        for index in (label, np.int16(label), [label], np.array([label], dtype=np.uint8)):
            table = regionprops_table(self.labels, properties=("label", "area"), index=index)
            assert table["label"].tolist() == [label]
            assert table["area"][0] == self.full["area"][1]
        empty = regionprops_table(self.labels, properties=("label", "area"), index=[])
        assert empty["label"].shape == (0,) and empty["area"].shape == (0,)

    def test_index_on_renumbered_labels(self):
        labels = self.labels.astype(np.int64) * (2**35)
        table = regionprops_table(labels, properties=("label", "area"), index=[2**35 * 5, 7])
        np.testing.assert_array_equal(table["area"], [self.full["area"][0], np.nan])

    def test_bad_index(self):
        with pytest.raises(TypeError, match="index"):
            regionprops_table(self.labels, index=[1.5])
        with pytest.raises(ValueError, match="index"):
            regionprops_table(self.labels, index=np.ones((2, 2), dtype=int))


class TestBadInput:
    labels = np.array([[0, 1], [2, 2]], dtype=np.int32)

    @pytest.mark.parametrize("dtype", [np.float32, np.float64, np.bool_])
    def test_non_integer_labels(self, dtype):
        with pytest.raises(TypeError, match="labels"):
            regionprops_table(self.labels.astype(dtype))

    def test_negative_labels(self):
        with pytest.raises(ValueError, match="labels.*negative"):
            regionprops_table(np.array([[0, -1]], dtype=np.int16))

    @pytest.mark.parametrize("shape", [(4,), (2, 2, 2), ()])
    def test_wrong_ndim(self, shape):
        with pytest.raises(ValueError, match="labels must be 2-D"):
            regionprops_table(np.zeros(shape, dtype=np.int32))

    def test_not_an_array(self):
        with pytest.raises(TypeError, match="labels"):
            regionprops_table([[0, 1]])

    def test_image_shape_mismatch(self):
        with pytest.raises(ValueError, match="image has shape"):
            regionprops_table(self.labels, np.zeros((3, 2)), ("intensity_mean",))

    @pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
    def test_non_finite_image(self, bad):
        image = np.zeros((2, 2))
        image[1, 1] = bad
        with pytest.raises(ValueError, match="image contains NaN"):
            regionprops_table(self.labels, image, ("intensity_mean",))

    def test_complex_or_object_image(self):
        with pytest.raises(TypeError, match="image"):
            regionprops_table(self.labels, np.zeros((2, 2), complex), ("intensity_mean",))

    def test_unknown_property(self):
        with pytest.raises(ValueError, match="properties: unknown"):
            regionprops_table(self.labels, properties=("label", "perimeter"))

    def test_intensity_property_without_image(self):
        with pytest.raises(ValueError, match="image="):
            regionprops_table(self.labels, properties=("intensity_mean",))


# -- the GPU launcher (simulator in CI, real GPU in the GPU check) -------------------------------

GPU_CASES = {
    "ellipses": lambda: random_ellipses((24, 70), 8, seed=31, step=3),
    "awkward": awkward_objects,
    "empty": lambda: np.zeros((5, 7), dtype=np.int32),
    "one_row": lambda: np.array([[0, 3, 3, 0, 1, 1, 1, 2]], dtype=np.int32),
}


@pytest.mark.cudasim
@pytest.mark.parametrize("case", list(GPU_CASES))
@pytest.mark.parametrize("image_dtype", [np.uint16, np.float64])
def test_gpu_path_equals_cpu(gpu_path, case, image_dtype):
    labels = GPU_CASES[case]()
    image = image_for(labels, image_dtype, seed=3)
    cpu = regionprops_table(labels, image, PROPERTIES)
    gpu = gpu_path(regionprops_table, labels, image, PROPERTIES)
    assert list(gpu) == list(cpu)
    for key in cpu:
        assert gpu[key].dtype == cpu[key].dtype, key
        if image_dtype == np.float64 and key in ("intensity_mean", "intensity_sum"):
            # float atomics add in a nondeterministic order on a real GPU
            np.testing.assert_allclose(gpu[key], cpu[key], rtol=1e-12, err_msg=key)
        else:
            np.testing.assert_array_equal(gpu[key], cpu[key], err_msg=key)


@pytest.mark.cudasim
def test_gpu_path_index_and_segments(gpu_path):
    # wider than one row segment, so runs are split between threads
    labels = np.zeros((3, 150), dtype=np.int32)
    labels[0, :] = 4
    labels[1, 60:140] = 9
    labels[2, 63:66] = 4
    image = image_for(labels, np.uint16, seed=4)
    index = [9, 5, 4]
    cpu = regionprops_table(labels, image, PROPERTIES, index=index)
    gpu = gpu_path(regionprops_table, labels, image, PROPERTIES, index=index)
    for key in cpu:
        np.testing.assert_array_equal(gpu[key], cpu[key], err_msg=key)
    reference = skimage_regionprops_table(labels, image, properties=SKIMAGE_PROPERTIES)
    assert gpu["area"][0] == reference["area"][1] and np.isnan(gpu["area"][1])
