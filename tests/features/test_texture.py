"""Co-occurrence and Haralick texture: parity with cp_measure, mahotas and scikit-image."""

import math
import warnings

import numpy as np
import pytest
from cases import awkward_objects, random_blobs, random_ellipses
from conftest import require_reference
from skimage.exposure import rescale_intensity
from skimage.feature import graycomatrix, graycoprops
from skimage.util import img_as_ubyte

from pyhcs.features import (
    HARALICK_FEATURES,
    glcm,
    glcm_props,
    haralick,
    haralick_array,
    quantize_gray_levels,
)



def mahotas_haralick(*args, **kwargs):
    # imported on use, so that a machine without mahotas (the GPU check) skips only these tests
    return require_reference("mahotas.features").haralick(*args, **kwargs)

# Tolerances (reference.md 1.3): pyhcs sums the sparse entries in another order than mahotas'
# dense dot products. Relative 1e-9 with an absolute floor of 1e-12; InfoMeas2, a square root of
# a difference, to absolute 1e-7.
RTOL, ATOL, ATOL_INFO2 = 1e-9, 1e-12, 1e-7


def reference_texture(labels, image, scale, gray_levels):
    """cp_measure get_texture as (n_objects, n_directions, 13)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        measuretexture = require_reference("cp_measure.core.measuretexture")
        table = measuretexture.get_texture(labels, image, scale=scale, gray_levels=gray_levels)
    n_directions = 13 if labels.ndim == 3 else 4
    n = len(next(iter(table.values())))
    out = np.empty((n, n_directions, 13))
    for d in range(n_directions):
        for f, name in enumerate(HARALICK_FEATURES):
            out[:, d, f] = table[f"{name}_{scale}_{d:02d}_{gray_levels}"]
    return out


def assert_features_close(ours, reference):
    assert ours.shape == reference.shape
    np.testing.assert_array_equal(np.isnan(ours), np.isnan(reference), err_msg="NaN pattern")
    ours_flat = ours.reshape(-1, 13)
    ref_flat = reference.reshape(-1, 13)
    for f, name in enumerate(HARALICK_FEATURES):
        atol = ATOL_INFO2 if name == "InfoMeas2" else ATOL
        np.testing.assert_allclose(
            ours_flat[:, f], ref_flat[:, f], rtol=RTOL, atol=atol, equal_nan=True, err_msg=name
        )


def textured_image(shape, seed, dtype=np.float64):
    """Smooth texture plus noise in [0, 1] (or the dtype's range), so objects span many levels."""
    rng = np.random.default_rng(seed)
    from scipy import ndimage as ndi

    field = ndi.gaussian_filter(rng.random(shape), 1.5) + 0.3 * rng.random(shape)
    field = (field - field.min()) / (np.ptp(field) + 1e-12)
    dtype = np.dtype(dtype)
    if dtype.kind == "f":
        return field.astype(dtype)
    return (field * np.iinfo(dtype).max).astype(dtype)


# -- quantisation ---------------------------------------------------------------------------------


def reference_quantize(image, gray_levels):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        u8 = img_as_ubyte(image, force_copy=True)
    if gray_levels != 256:
        u8 = rescale_intensity(u8, in_range=(0, 255), out_range=(0, gray_levels - 1)).astype(
            np.uint8
        )
    return u8


QUANTIZE_CASES = {
    "float64": lambda rng: rng.uniform(-1, 1, 500),
    "float64_unit": lambda rng: np.concatenate([rng.random(400), [0.0, 1.0, 0.5 / 255, 1.5 / 255]]),
    "float32": lambda rng: rng.random(500).astype(np.float32),
    "float16": lambda rng: rng.random(500).astype(np.float16),
    "bool": lambda rng: rng.random(50) > 0.5,
    "uint8": lambda rng: rng.integers(0, 256, 500).astype(np.uint8),
    "int8": lambda rng: rng.integers(-128, 128, 500).astype(np.int8),
    "uint16_small": lambda rng: rng.integers(0, 256, 500).astype(np.uint16),
    "uint16": lambda rng: rng.integers(0, 65536, 500).astype(np.uint16),
    "int16_small": lambda rng: rng.integers(-300, 256, 500).astype(np.int16),
    "int16": lambda rng: rng.integers(-32768, 32768, 500).astype(np.int16),
    "int32": lambda rng: rng.integers(-(2**31), 2**31, 500).astype(np.int32),
    "uint32_small": lambda rng: rng.integers(0, 200, 500).astype(np.uint32),
    "uint32": lambda rng: rng.integers(0, 2**32, 500).astype(np.uint32),
    "int64": lambda rng: rng.integers(-(2**62), 2**62, 500).astype(np.int64),
}


@pytest.mark.parametrize("case", list(QUANTIZE_CASES))
@pytest.mark.parametrize("gray_levels", [256, 2, 8, 52, 100, 255])
def test_quantize_matches_img_as_ubyte_and_rescale(case, gray_levels):
    image = QUANTIZE_CASES[case](np.random.default_rng(len(case)))
    ours = quantize_gray_levels(image, gray_levels)
    assert ours.dtype == np.uint8
    np.testing.assert_array_equal(ours, reference_quantize(image, gray_levels))


def test_quantize_every_uint8_value_at_every_gray_level():
    u8 = np.arange(256, dtype=np.uint8)
    for gray_levels in range(2, 257):
        np.testing.assert_array_equal(
            quantize_gray_levels(u8, gray_levels), reference_quantize(u8, gray_levels)
        )


def numpy_float_quantize(image, gray_levels):
    """The plain NumPy formula (in the input's precision) that the numba route must equal."""
    u8 = np.clip(np.rint(image * image.dtype.type(255)), 0, 255).astype(np.uint8)
    if gray_levels != 256:
        u8 = (u8.astype(np.float64) / 255.0 * (gray_levels - 1)).astype(np.uint8)
    return u8


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_quantize_float_tricky_values_at_every_gray_level(dtype):
    # Half-way points (k + 0.5) / 255 and their neighbours: float32 products must stay float32
    # (a float64 product rounds ~25% of the float32 half-way points the other way) and rint
    # must round half to even. Also negatives, -0, the [-1, 1] ends, odd shapes and strides.
    rng = np.random.default_rng(7)
    k = np.arange(-255, 255)
    half = ((k + 0.5) / 255).astype(dtype)
    one = dtype(1)
    values = np.concatenate([
        half, np.nextafter(half, one), np.nextafter(half, -one),
        (np.arange(-255, 256) / 255).astype(dtype),
        np.array([-1, 1, 0, -0.0, 1e-30, -1e-30], dtype), rng.uniform(-1, 1, 3000).astype(dtype),
    ])
    images = [
        values, values[::-3], values[: values.size // 6 * 6].reshape(2, 3, -1),
        values[: values.size // 8 * 8].reshape(8, -1)[:, ::2].T, np.array(dtype(0.5) / 255),
        values[:5], np.zeros((0, 4), dtype),
    ]
    for image in images:
        for gray_levels in range(2, 257):
            ours = quantize_gray_levels(image, gray_levels)
            assert ours.shape == image.shape and ours.dtype == np.uint8
            np.testing.assert_array_equal(ours, numpy_float_quantize(image, gray_levels))
    with pytest.raises(ValueError, match=r"must lie in \[-1, 1\].*found values in \[-1.5, 0.5\]"):
        quantize_gray_levels(np.array([0.5, -1.5, 0.25], dtype))


# -- per-object texture against cp_measure ----------------------------------------------------------

OBJECT_CASES = {
    "ellipses": lambda: random_ellipses((90, 110), 30, seed=1),
    "noncontiguous_touching": lambda: random_ellipses((80, 80), 25, seed=2, step=5),
    "blobs_with_holes": lambda: random_blobs((90, 90), seed=3),
    "awkward": awkward_objects,
}


@pytest.mark.parametrize("case", list(OBJECT_CASES))
@pytest.mark.parametrize("scale", [1, 2, 3, 4, 5])
def test_parity_with_cp_measure_scales(case, scale):
    labels = OBJECT_CASES[case]()
    image = textured_image(labels.shape, seed=scale)
    ours, row_labels = haralick_array(image, labels, scale=scale)
    np.testing.assert_array_equal(row_labels, np.unique(labels[labels > 0]))
    assert_features_close(ours, reference_texture(labels, image, scale, 256))


@pytest.mark.parametrize("gray_levels", [2, 3, 8, 16, 52, 64, 100, 128, 255])
@pytest.mark.parametrize("case", ["ellipses", "awkward"])
def test_parity_with_cp_measure_gray_levels(case, gray_levels):
    labels = OBJECT_CASES[case]()
    image = textured_image(labels.shape, seed=gray_levels)
    ours, _ = haralick_array(image, labels, scale=2, gray_levels=gray_levels)
    assert_features_close(ours, reference_texture(labels, image, 2, gray_levels))


@pytest.mark.parametrize(
    "dtype", [np.float32, np.uint8, np.uint16, np.int16, np.float64]
)
def test_parity_with_cp_measure_image_dtypes(dtype):
    labels = random_ellipses((70, 90), 20, seed=7, step=3)
    image = textured_image(labels.shape, seed=8, dtype=dtype)
    ours, _ = haralick_array(image, labels, scale=1)
    assert_features_close(ours, reference_texture(labels, image, 1, 256))


def test_uint16_image_below_256_is_not_shifted():
    labels = random_ellipses((60, 60), 10, seed=9)
    image = np.random.default_rng(1).integers(0, 200, labels.shape).astype(np.uint16)
    ours, _ = haralick_array(image, labels, scale=1)
    assert_features_close(ours, reference_texture(labels, image, 1, 256))


@pytest.mark.parametrize("seed", range(8))
def test_parity_on_synthetic_fields(seed):
    from pyhcs.datasets import synthetic_field

    field = synthetic_field((256, 256), n_nuclei=40, seed=seed)
    labels, image = field.nuclei, field.image[0]
    gray_levels = [256, 8, 64, 256, 32, 256, 128, 16][seed]
    scale = 1 + seed % 5
    ours, _ = haralick_array(image, labels, scale=scale, gray_levels=gray_levels)
    assert_features_close(ours, reference_texture(labels, image, scale, gray_levels))


def test_dim_objects_quantised_to_zero_are_nan():
    labels = np.zeros((20, 20), dtype=np.int32)
    labels[2:8, 2:8] = 1
    labels[10:18, 10:18] = 2
    image = np.full(labels.shape, 0.1)
    image[10:18, 10:18] = np.linspace(0.3, 0.9, 64).reshape(8, 8)
    ours, _ = haralick_array(image, labels, scale=1, gray_levels=2)  # only u8 = 255 survives
    reference = reference_texture(labels, image, 1, 2)
    assert np.isnan(ours[0]).all()
    assert_features_close(ours, reference)


def test_flat_object_has_finite_features():
    labels = np.zeros((12, 12), dtype=np.int32)
    labels[2:10, 2:10] = 3
    image = np.full(labels.shape, 0.5)
    ours, _ = haralick_array(image, labels, scale=1)
    assert np.isfinite(ours).all()
    assert_features_close(ours, reference_texture(labels, image, 1, 256))
    asm = HARALICK_FEATURES.index("AngularSecondMoment")
    assert (ours[0, :, asm] == 1.0).all()


@pytest.mark.parametrize("scale", [1, 2])
def test_parity_3d_volume(scale):
    rng = np.random.default_rng(scale)
    labels = np.zeros((6, 30, 30), dtype=np.int32)
    for k in range(1, 7):
        z, r, c = rng.integers(0, 4), rng.integers(0, 22), rng.integers(0, 22)
        labels[z : z + rng.integers(2, 4), r : r + rng.integers(3, 9), c : c + rng.integers(3, 9)] = 3 * k
    image = textured_image(labels.shape, seed=scale + 10)
    ours, _ = haralick_array(image, labels, scale=scale)
    assert ours.shape[1] == 13
    assert_features_close(ours, reference_texture(labels, image, scale, 256))


# -- whole-image texture against mahotas ------------------------------------------------------------


@pytest.mark.parametrize("shape", [(40, 50), (7, 90), (5, 6, 7)])
@pytest.mark.parametrize("scale", [1, 3])
@pytest.mark.parametrize("gray_levels", [256, 16])
def test_whole_image_matches_mahotas(shape, scale, gray_levels):
    image = textured_image(shape, seed=sum(shape) + scale)
    q = quantize_gray_levels(image, gray_levels)
    reference = mahotas_haralick(q, distance=scale, ignore_zeros=False)
    table = haralick(image, scale=scale, gray_levels=gray_levels)
    assert table.index.tolist() == [0]
    assert_features_close(table.to_numpy().reshape(1, -1, 13), reference[None])


def test_whole_image_empty_direction_is_nan_where_mahotas_raises():
    image = textured_image((1, 30), seed=1)  # one row: the vertical and diagonal directions are empty
    with pytest.raises(ValueError):
        mahotas_haralick(quantize_gray_levels(image), distance=1)
    features, labels = haralick_array(image, scale=1)
    assert labels.tolist() == [0] and np.isnan(features).all()
    zero, _ = haralick_array(image, scale=1, on_empty="zero")
    assert (zero == 0).all()


def test_mahotas_options_log_base_and_difference_variance():
    image = textured_image((30, 40), seed=5)
    q = quantize_gray_levels(image)
    reference = mahotas_haralick(q, distance=1, use_x_minus_y_variance=True)
    ours, _ = haralick_array(image, scale=1, difference_variance="variance")
    assert_features_close(ours, reference[None])
    natural, _ = haralick_array(image, scale=1, log_base=math.e)
    base2, _ = haralick_array(image, scale=1)
    for name in ("SumEntropy", "Entropy", "DifferenceEntropy"):
        f = HARALICK_FEATURES.index(name)
        np.testing.assert_allclose(natural[..., f], base2[..., f] * math.log(2), rtol=1e-14)
    f = HARALICK_FEATURES.index("InfoMeas1")  # a ratio of entropies: base-free
    np.testing.assert_allclose(natural[..., f], base2[..., f], rtol=1e-12)


# -- the DataFrame ------------------------------------------------------------------------------------


def test_dataframe_names_order_and_index():
    labels = random_ellipses((50, 50), 8, seed=11, step=4)
    image = textured_image(labels.shape, seed=12)
    table = haralick(image, labels, scale=3, gray_levels=64, image_name="DNA")
    import pandas as pd

    assert isinstance(table, pd.DataFrame)
    assert table.index.name == "label" and table.index.dtype == np.int64
    assert table.index.tolist() == np.unique(labels[labels > 0]).tolist()
    expected = [
        f"Texture_{feature}_DNA_3_{d:02d}_64" for d in range(4) for feature in HARALICK_FEATURES
    ]
    assert table.columns.tolist() == expected
    reference = reference_texture(labels, image, 3, 64)
    assert_features_close(table.to_numpy().reshape(-1, 4, 13), reference)


def test_index_order_absent_labels_and_on_empty():
    labels = awkward_objects()
    image = textured_image(labels.shape, seed=13)
    full = haralick(image, labels, scale=1)
    index = [22, 999, 7, 5, 0]
    table = haralick(image, labels, scale=1, index=index)
    assert table.index.tolist() == index
    np.testing.assert_array_equal(table.loc[22].to_numpy(), full.loc[22].to_numpy())
    np.testing.assert_array_equal(table.loc[5].to_numpy(), full.loc[5].to_numpy())
    assert table.loc[999].isna().all() and table.loc[0].isna().all()
    assert table.loc[7].isna().all()  # one pixel: no pair
    zero = haralick(image, labels, scale=1, index=index, on_empty="zero")
    assert (zero.loc[7] == 0).all()  # empty object -> 0
    assert zero.loc[999].isna().all()  # absent label stays NaN


def test_cpu_results_do_not_depend_on_how_directions_are_split():
    from pyhcs.features import _glcm_cpu, _haralick_math
    from pyhcs.features.texture import _quantize
    from pyhcs._backend import namespace_for

    labels = random_ellipses((60, 70), 12, seed=21)
    image = textured_image(labels.shape, seed=22)
    ids = np.ascontiguousarray(labels, dtype=np.int32).ravel()
    area, offsets, pixels = _glcm_cpu.pixels_by_object(ids, int(labels.max()) + 1)
    rows = np.flatnonzero(area).astype(np.int64)
    levels = _quantize(image, 64, namespace_for(image)).ravel()
    results = [
        _glcm_cpu.haralick_cpu(
            rows, offsets, pixels, ids, levels, _haralick_math.DIRECTIONS_2D, 2, 1,
            *labels.shape, True, 1.0, False, split, int(levels.max()) + 1,
        )
        for split in (False, True)
    ]
    np.testing.assert_array_equal(results[0][0], results[1][0])
    np.testing.assert_array_equal(results[0][1], results[1][1])


@pytest.mark.parametrize("scale", [1, 2, 3, 5])
@pytest.mark.parametrize("gray_levels", [8, 64, 256])
@pytest.mark.parametrize("kind", ["ellipses", "far apart", "volume"])
def test_cpu_object_kernel_equals_reference_kernel_bit_for_bit(kind, scale, gray_levels):
    # the crop kernel (dense tables or sorted codes; line windows in 2-D, boxes in 3-D,
    # the pixel-list route for pieces far apart) against haralick_cpu, whatever the chunks
    from pyhcs._backend import namespace_for
    from pyhcs.features import _glcm_cpu, _haralick_math
    from pyhcs.features.texture import _quantize

    rng = np.random.default_rng(scale * 7 + gray_levels)
    if kind == "ellipses":
        labels = random_ellipses((70, 90), 30, seed=scale)
        labels[:, :2] = 40  # a column object on the image edge, pairs only vertically
        labels[-1, 10:60] = 41  # a one-row object on the bottom edge
    elif kind == "far apart":
        labels = np.zeros((1200, 1200), np.int32)
        labels[:4, :5] = 1
        labels[-5:, -4:] = 1  # one label, two pieces: a box far larger than the object
        labels[300:330, 0:40] = 2
        labels[100:101, 100:103] = 3
    else:
        labels = np.zeros((6, 30, 33), np.int32)
        labels[1:6, 2:20, 3:15] = 1
        labels[0:6, 15:29, 16:32] = 2
        labels[3, 5, 20] = 3
        labels[:, 0, :] = 4
    image = rng.integers(0, 2**16, labels.shape, dtype=np.uint16)
    image[labels.shape[0] // 2:] >>= 9  # dim part: few levels, many pixels at level 0
    directions = _haralick_math.DIRECTIONS_2D if labels.ndim == 2 else _haralick_math.DIRECTIONS_3D
    shape3 = (1,) + labels.shape if labels.ndim == 2 else labels.shape
    ids = np.ascontiguousarray(labels, dtype=np.int32).ravel()
    area, offsets, pixels = _glcm_cpu.pixels_by_object(ids, int(labels.max()) + 1)
    rows = np.concatenate([np.flatnonzero(area), [0]]).astype(np.int64)  # + an empty slot
    levels = _quantize(image, gray_levels, namespace_for(image)).ravel()
    args = (rows, offsets, pixels, ids, levels, directions, scale, *shape3)
    expected = _glcm_cpu.haralick_cpu(
        *args, True, 1.0, False, False, int(levels.max()) + 1
    )
    for n_chunks in (1, 3, 64):
        features, empty = _glcm_cpu.haralick_objects_cpu(*args, 1.0, False, n_chunks)
        assert features.tobytes() == expected[0].tobytes()  # same bits, NaN included
        np.testing.assert_array_equal(empty, expected[1])


def _whole_image_by_object_route(image, scale, gray_levels):
    """Whole-image features through the per-object kernel: one object holding every pixel."""
    from pyhcs._backend import namespace_for
    from pyhcs.features import _glcm_cpu, _haralick_math
    from pyhcs.features.texture import _quantize

    levels = np.ascontiguousarray(_quantize(image, gray_levels, namespace_for(image))).ravel()
    shape3 = (1,) + image.shape if image.ndim == 2 else image.shape
    directions = _haralick_math.DIRECTIONS_2D if image.ndim == 2 else _haralick_math.DIRECTIONS_3D
    n = levels.size
    features, empty = _glcm_cpu.haralick_cpu(
        np.ones(1, np.int64), np.array([0, 0, n], np.int64), np.arange(n, dtype=np.int64),
        np.ones(n, np.int32), levels, directions, scale, *shape3, False, 1.0, False, True,
        int(levels.max()) + 1,
    )
    features = features.reshape(1, directions.shape[0], 13)
    return np.where(empty.reshape(1, -1).any(axis=1)[:, None, None], np.nan, features)


@pytest.mark.parametrize(
    "case",
    ["textured", "flat", "zeros", "one pixel", "one row", "one column", "few levels", "volume",
     "thin volume", "random 256 levels"],
)
@pytest.mark.parametrize("scale", [1, 2, 5])
def test_whole_image_dense_route_equals_object_route_bit_for_bit(case, scale):
    rng = np.random.default_rng(scale)
    image = {
        "textured": lambda: textured_image((37, 53), seed=3),
        "flat": lambda: np.full((9, 11), 77, np.uint8),
        "zeros": lambda: np.zeros((6, 8), np.uint16),
        "one pixel": lambda: np.array([[200]], np.uint8),
        "one row": lambda: rng.integers(0, 256, (1, 40), dtype=np.uint8),
        "one column": lambda: rng.integers(0, 256, (40, 1), dtype=np.uint8),
        "few levels": lambda: rng.integers(0, 3, (33, 17), dtype=np.uint8),
        "volume": lambda: rng.integers(0, 2**16, (6, 13, 10), dtype=np.uint16),
        "thin volume": lambda: rng.integers(0, 256, (2, 1, 9), dtype=np.uint8),
        "random 256 levels": lambda: rng.integers(0, 256, (70, 300), dtype=np.uint8),
    }[case]()
    ours, _ = haralick_array(image, scale=scale)
    expected = _whole_image_by_object_route(image, scale, 256)
    assert ours.tobytes() == expected.tobytes()  # same bits, NaN included


def test_glcm_argument_checks():
    image = np.zeros((3, 3), np.uint8)
    with pytest.raises(TypeError, match="levels must be an integer"):
        glcm(image, [1], [0], levels=3.7)
    with pytest.raises(ValueError, match="distances must be finite"):
        glcm(image, [np.nan], [0], levels=3)
    with pytest.raises(ValueError, match="angles must be finite"):
        glcm(image, [1], [np.inf], levels=3)


def test_log_base_accepts_numpy_scalars():
    image = textured_image((12, 12), seed=2)
    a, _ = haralick_array(image, scale=1, log_base=np.float32(2.0))
    b, _ = haralick_array(image, scale=1)
    np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="log_base"):
        haralick_array(image, scale=1, log_base=1)


def test_empty_label_image():
    table = haralick(textured_image((10, 10), 1), np.zeros((10, 10), dtype=np.int32))
    assert table.shape == (0, 52)


# -- scikit-image graycomatrix / graycoprops ------------------------------------------------------------


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("symmetric", [False, True])
@pytest.mark.parametrize("normed", [False, True])
def test_glcm_matches_graycomatrix(seed, symmetric, normed):
    rng = np.random.default_rng(seed)
    levels = int(rng.integers(2, 40))
    shape = tuple(int(s) for s in rng.integers(1, 30, 2))
    dtype = [np.uint8, np.uint16, np.int32, np.int64, np.uint8, np.int8][seed]
    image = rng.integers(0, levels, shape).astype(dtype)
    distances = [1, 2, 3, 5][: 1 + seed % 4]
    angles = [0, np.pi / 4, np.pi / 2, 3 * np.pi / 4, np.pi, -np.pi / 3][: 2 + seed % 5]
    ours = glcm(image, distances, angles, levels=levels, symmetric=symmetric, normed=normed)
    reference = graycomatrix(image, distances, angles, levels=levels, symmetric=symmetric, normed=normed)
    assert ours.dtype == reference.dtype and ours.shape == reference.shape
    np.testing.assert_array_equal(ours, reference)


def test_glcm_uint8_default_levels_and_batch():
    rng = np.random.default_rng(3)
    stack = rng.integers(0, 256, (3, 17, 23)).astype(np.uint8)
    angles = [0, np.pi / 4, np.pi / 2, 3 * np.pi / 4]
    batch = glcm(stack, [1, 2], angles, symmetric=True, batch=True)
    assert batch.shape == (3, 256, 256, 2, 4)
    for k in range(3):
        np.testing.assert_array_equal(batch[k], graycomatrix(stack[k], [1, 2], angles, symmetric=True))


@pytest.mark.parametrize(
    "prop",
    ["contrast", "dissimilarity", "homogeneity", "ASM", "energy", "correlation", "mean",
     "variance", "std", "entropy"],
)
def test_glcm_props_matches_graycoprops(prop):
    rng = np.random.default_rng(4)
    image = rng.integers(0, 12, (25, 31)).astype(np.uint8)
    image[:3] = 5  # a flat band
    P = graycomatrix(image, [1, 3], [0, np.pi / 4, np.pi / 2], levels=12, symmetric=True)
    P[..., 0, 0] = 0  # an all-zero matrix
    flat = np.zeros_like(P)
    flat[4, 4] = 9  # std 0 -> correlation 1
    for matrix in (P, flat):
        ours = glcm_props(matrix, prop)
        np.testing.assert_allclose(ours, graycoprops(matrix, prop), rtol=1e-12, atol=1e-15)


class TestGlcmErrors:
    def test_float_image(self):
        with pytest.raises(ValueError, match="float"):
            glcm(np.zeros((3, 3)), [1], [0], levels=2)

    def test_levels_required(self):
        with pytest.raises(ValueError, match="levels is required"):
            glcm(np.zeros((3, 3), np.uint16), [1], [0])

    def test_negative(self):
        with pytest.raises(ValueError, match="negative"):
            glcm(np.array([[-1, 0]], np.int16), [1], [0], levels=3)

    def test_max_not_below_levels(self):
        with pytest.raises(ValueError, match="smaller than levels"):
            glcm(np.array([[3, 0]], np.uint8), [1], [0], levels=3)

    def test_dimensions(self):
        with pytest.raises(ValueError, match="image must be 2-D"):
            glcm(np.zeros((2, 2, 2), np.uint8), [1], [0])
        with pytest.raises(ValueError, match="distances must be 1-D"):
            glcm(np.zeros((2, 2), np.uint8), [[1]], [0])

    def test_props(self):
        with pytest.raises(ValueError, match="prop"):
            glcm_props(np.zeros((2, 2, 1, 1)), "energyy")
        with pytest.raises(ValueError, match="4-D"):
            glcm_props(np.zeros((2, 2)), "contrast")


class TestHaralickErrors:
    labels = np.array([[0, 1], [1, 1]], dtype=np.int32)
    image = np.array([[0.1, 0.2], [0.3, 0.4]])

    @pytest.mark.parametrize("dtype", [np.float64, np.bool_])
    def test_non_integer_labels(self, dtype):
        with pytest.raises(TypeError, match="labels"):
            haralick(self.image, self.labels.astype(dtype))

    def test_negative_labels(self):
        with pytest.raises(ValueError, match="labels must be non-negative"):
            haralick(self.image, -self.labels)

    def test_shape_mismatch(self):
        with pytest.raises(ValueError, match="labels has shape"):
            haralick(self.image, np.zeros((3, 2), np.int32))

    @pytest.mark.parametrize("gray_levels", [1, 257, 0])
    def test_gray_levels(self, gray_levels):
        with pytest.raises(ValueError, match="gray_levels"):
            haralick(self.image, self.labels, gray_levels=gray_levels)

    @pytest.mark.parametrize("scale", [0, -2])
    def test_scale(self, scale):
        with pytest.raises(ValueError, match="scale"):
            haralick(self.image, self.labels, scale=scale)

    def test_nan(self):
        image = self.image.copy()
        image[0, 0] = np.nan
        with pytest.raises(ValueError, match="image contains NaN"):
            haralick(image, self.labels)

    @pytest.mark.parametrize("bad", [1.5, -1.01])
    def test_float_outside_unit_range(self, bad):
        image = self.image.copy()
        image[0, 0] = bad  # even on the background, as scikit-image checks the whole image
        with pytest.raises(ValueError, match=r"\[-1, 1\]"):
            haralick(image, self.labels)

    def test_unsupported_dtype(self):
        with pytest.raises(TypeError, match="image"):
            haralick(self.image.astype(complex), self.labels)

    def test_bad_options(self):
        with pytest.raises(ValueError, match="on_empty"):
            haralick(self.image, self.labels, on_empty="drop")
        with pytest.raises(ValueError, match="index"):
            haralick(self.image, index=[1])
        with pytest.raises(ValueError, match="image must be 2-D or 3-D"):
            haralick(np.zeros(4), None)


# -- the GPU launcher (simulator in CI, the real GPU in the GPU check) -----------------------------


@pytest.mark.cudasim
@pytest.mark.parametrize("scale, gray_levels", [(1, 32), (2, 8)])
def test_gpu_path_haralick_equals_cpu(gpu_path, scale, gray_levels):
    # the CPU counts few-level objects in a dense table, the GPU always sorts: same entries
    labels = np.zeros((14, 16), dtype=np.int32)
    labels[1:6, 1:7] = 4
    labels[7:13, 2:9] = 9
    labels[8:12, 10:15] = 2
    labels[0, 15] = 7  # one pixel: NaN
    image = textured_image(labels.shape, seed=scale)
    cpu, cpu_labels = haralick_array(image, labels, scale=scale, gray_levels=gray_levels)
    gpu, gpu_labels = gpu_path(
        haralick_array, image, labels, scale=scale, gray_levels=gray_levels
    )
    np.testing.assert_array_equal(gpu_labels, cpu_labels)
    # same integer counts, same summation order: equal (a real GPU may fuse multiply-adds)
    np.testing.assert_allclose(gpu, cpu, rtol=1e-12, atol=1e-15, equal_nan=True)


@pytest.mark.cudasim
def test_gpu_path_haralick_index_and_whole_image(gpu_path):
    labels = np.zeros((10, 12), dtype=np.int32)
    labels[1:8, 1:6] = 3
    labels[2:9, 7:11] = 8
    image = textured_image(labels.shape, seed=3)
    index = [8, 5, 3]
    cpu, _ = haralick_array(image, labels, scale=1, index=index)
    gpu, _ = gpu_path(haralick_array, image, labels, scale=1, index=index)
    np.testing.assert_allclose(gpu, cpu, rtol=1e-12, atol=1e-15, equal_nan=True)
    small = textured_image((6, 7), seed=4)
    cpu_whole, _ = haralick_array(small, scale=1, gray_levels=16)
    gpu_whole, _ = gpu_path(haralick_array, small, scale=1, gray_levels=16)
    np.testing.assert_allclose(gpu_whole, cpu_whole, rtol=1e-12, atol=1e-15)


@pytest.mark.cudasim
def test_gpu_path_glcm_equals_cpu(gpu_path):
    rng = np.random.default_rng(5)
    stack = rng.integers(0, 6, (2, 7, 9)).astype(np.uint8)
    angles = [0, np.pi / 4, np.pi / 2, 3 * np.pi / 4]
    cpu = glcm(stack, [1, 2], angles, levels=6, symmetric=True, batch=True)
    gpu = gpu_path(glcm, stack, [1, 2], angles, levels=6, symmetric=True, batch=True)
    np.testing.assert_array_equal(gpu, cpu)
