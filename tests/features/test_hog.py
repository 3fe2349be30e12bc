"""hog / hog_objects: parity with skimage.feature.hog, batches, objects, bad input, GPU path."""

import math
import warnings

import numpy as np
import pytest
from cases import random_ellipses
from skimage.feature import hog as skimage_hog

from pyhcs.features import hog, hog_feature_size, hog_objects, hog_objects_array

BLOCK_NORMS = ("L1", "L1-sqrt", "L2", "L2-Hys")
# the bound; on the CPU every case here is in fact bit-identical (see test_bit_exact_*)
ATOL = 1e-6


def _reference(image, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # sqrt of negative pixels
        return skimage_hog(image, **kwargs)


def _ours(image, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return hog(image, **kwargs)


def _assert_close(ours, reference, atol=ATOL):
    assert ours.shape == reference.shape
    assert ours.dtype == reference.dtype
    np.testing.assert_array_equal(np.isnan(ours), np.isnan(reference))
    finite = ~np.isnan(reference)
    if finite.any():
        diff = np.abs(ours[finite].astype(np.float64) - reference[finite].astype(np.float64))
        assert diff.max() <= atol, diff.max()


def _random_image(rng, shape, dtype, kind):
    if kind == "uniform":
        values = rng.random(shape) * 255
    elif kind == "few_levels":  # many ties, zero, diagonal and axis-aligned gradients
        values = rng.integers(0, 4, shape).astype(np.float64)
    elif kind == "normal":
        values = rng.standard_normal(shape) * 1000
    else:  # quarter steps: exact float diagonals
        values = np.round(rng.random(shape) * 10) / 4
    dtype = np.dtype(dtype)
    if dtype.kind in "ub":
        values = np.abs(values)
    if dtype.kind == "u":
        values = np.minimum(values, np.iinfo(dtype).max)
    return values.astype(dtype)


def _synthetic_cells(shape=(96, 112)):
    """Bright elliptical blobs on a dim ramp: the kind of image HOG sees in screening."""
    labels = random_ellipses(shape, 12, seed=5, max_radius=14.0)
    ramp = np.add.outer(np.arange(shape[0]), np.arange(shape[1])) * 3.0
    return (ramp + 400.0 * (labels > 0) + 7.0 * (labels % 5)).astype(np.uint16)


# -- parity ------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    "dtype", [np.uint8, np.uint16, np.float32, np.float64, np.float16, np.int16, np.bool_]
)
@pytest.mark.parametrize("block_norm", BLOCK_NORMS)
def test_parity_dtypes_and_block_norms(dtype, block_norm):
    rng = np.random.default_rng(1)
    kinds = ("uniform", "few_levels", "normal", "quarters")
    for case, kind in enumerate(kinds):
        image = _random_image(rng, (37 + 4 * case, 53 - 3 * case), dtype, kind)
        kwargs = dict(
            orientations=(9, 4, 12, 7)[case], pixels_per_cell=(5, 4), cells_per_block=(2, 3),
            block_norm=block_norm,
        )
        _assert_close(hog(image, **kwargs), _reference(image, **kwargs))


@pytest.mark.parametrize("seed", range(40))
def test_parity_random_parameters(seed):
    rng = np.random.default_rng(seed)
    dtype = rng.choice([np.uint8, np.uint16, np.float32, np.float64, np.float16])
    multichannel = seed % 3 == 0
    height, width = (int(v) for v in rng.integers(8, 80, 2))
    shape = (height, width, int(rng.integers(2, 4))) if multichannel else (height, width)
    kind = ("uniform", "few_levels", "normal", "quarters")[seed % 4]
    image = _random_image(rng, shape, dtype, kind)
    kwargs = dict(
        orientations=int(rng.choice([1, 2, 3, 4, 6, 8, 9, 12, 18, 30, 40])),
        pixels_per_cell=tuple(int(v) for v in rng.integers(1, 9, 2)),
        cells_per_block=tuple(int(v) for v in rng.integers(1, 4, 2)),
        block_norm=str(rng.choice(BLOCK_NORMS)),
        transform_sqrt=bool(seed % 5 == 0),
        channel_axis=-1 if multichannel else None,
    )
    try:
        reference = _reference(image, **kwargs)
    except ValueError:
        with pytest.raises(ValueError, match="too small"):
            hog(image, **kwargs)
        return
    _assert_close(_ours(image, **kwargs), reference)


def test_bit_exact_on_integer_images():
    image = _synthetic_cells()
    for kwargs in (
        {},
        dict(orientations=4, pixels_per_cell=(6, 6), cells_per_block=(2, 2), block_norm="L1"),
        dict(orientations=12, pixels_per_cell=(7, 5), block_norm="L2"),
    ):
        np.testing.assert_array_equal(hog(image, **kwargs), skimage_hog(image, **kwargs))


@pytest.mark.parametrize("shape, ppc", [((67, 75), (8, 8)), ((31, 29), (5, 7)), ((26, 26), (4, 4))])
def test_odd_sizes_drop_the_remainder(shape, ppc):
    image = _random_image(np.random.default_rng(2), shape, np.float64, "normal")
    ours = hog(image, pixels_per_cell=ppc, cells_per_block=(2, 2), feature_vector=False)
    reference = skimage_hog(
        image, pixels_per_cell=ppc, cells_per_block=(2, 2), feature_vector=False
    )
    _assert_close(ours, reference)
    n_cells = (shape[0] // ppc[0], shape[1] // ppc[1])
    assert ours.shape == (n_cells[0] - 1, n_cells[1] - 1, 2, 2, 9)


def test_large_blocks_use_numpys_pairwise_tree():
    # blocks longer than 128 values: NumPy's pairwise sum splits them recursively
    image = _random_image(np.random.default_rng(3), (96, 100), np.float64, "normal")
    for block_norm in BLOCK_NORMS:
        kwargs = dict(
            orientations=36, pixels_per_cell=(6, 6), cells_per_block=(5, 4), block_norm=block_norm
        )
        _assert_close(hog(image, **kwargs), skimage_hog(image, **kwargs))


@pytest.mark.parametrize("dtype", [np.uint8, np.float32, np.float64])
def test_multichannel_ties(dtype):
    rng = np.random.default_rng(4)
    base = rng.integers(0, 4, (40, 44)).astype(np.float64)
    # channel 1 is an exact copy of channel 0 (every pixel ties: the first wins); channel 2
    # copies it on every third row and is random elsewhere
    image = np.stack([base, base, rng.integers(0, 4, (40, 44)).astype(np.float64)], axis=-1)
    image[::3, :, 2] = base[::3]
    image = image.astype(dtype)
    for axis in (-1, 2):
        kwargs = dict(orientations=8, pixels_per_cell=(4, 4), channel_axis=axis)
        _assert_close(hog(image, **kwargs), skimage_hog(image, **kwargs))
    # ties between different gradients of the same magnitude (3, 4) vs (4, 3) vs (5, 0)
    tie = np.zeros((24, 24, 3))
    tie[::4, ::2, 0] = 3.0
    tie[1::4, ::2, 1] = 4.0
    tie[2::4, ::3, 2] = 5.0
    tie = np.moveaxis(tie.astype(dtype), -1, 0)
    kwargs = dict(orientations=9, pixels_per_cell=(4, 4), cells_per_block=(2, 2), channel_axis=0)
    _assert_close(hog(tie, **kwargs), skimage_hog(tie, **kwargs))


def test_transform_sqrt_and_negative_pixels():
    rng = np.random.default_rng(5)
    image = rng.random((40, 48)) * 100
    _assert_close(hog(image, transform_sqrt=True), skimage_hog(image, transform_sqrt=True))
    image32 = image.astype(np.float32)
    _assert_close(hog(image32, transform_sqrt=True), skimage_hog(image32, transform_sqrt=True))
    negative = image.copy()  # NaN after sqrt: NaN gradients vote into every bin, as in skimage
    negative[5:11, 6:9] -= 300.0
    negative[20:30, 0] = -5.0  # NaN g_row with a zero g_col on the border column
    kwargs = dict(
        pixels_per_cell=(4, 4), cells_per_block=(1, 1), transform_sqrt=True, block_norm="L1"
    )
    ours, reference = _ours(negative, **kwargs), _reference(negative, **kwargs)
    assert np.isnan(reference).any() and not np.isnan(reference).all()
    _assert_close(ours, reference)


def _crafted_gradients(pairs, spacing=4):
    """A float64 image in which pixel k of a sparse grid has gradients ``pairs[k]``."""
    side = int(math.ceil(math.sqrt(len(pairs))))
    image = np.zeros((side * spacing + 2, side * spacing + 2))
    for k, (g_row, g_col) in enumerate(pairs):
        r = 2 + (k // side) * spacing
        c = 2 + (k % side) * spacing
        image[r + 1, c] = g_row
        image[r, c + 1] = g_col
    return image


@pytest.mark.parametrize("orientations", [1, 3, 4, 7, 9, 12, 30, 40])
def test_orientations_next_to_bin_edges(orientations):
    # angles on every edge (to the ulp NumPy's arctan2 decides) and from 1e-3 down to 2e-12
    # degrees on either side: the cross-product fast path decides the far ones, arctan2 the
    # near ones; exact diagonals and axes, and the tiny negative angles that NumPy's remainder
    # turns into 180.0 (no bin) or 0.0 (bin 0)
    per180 = 180.0 / orientations
    pairs = []
    for k in range(orientations + 1):
        for offset in (0.0, 1e-3, -1e-3, 1e-9, -1e-9, 3e-11, -3e-11, 2e-12, -2e-12):
            angle = math.radians(per180 * k + offset)
            for scale in (1.0, -7.5, 1e3):
                pairs.append((math.sin(angle) * scale, math.cos(angle) * scale))
    pairs += [
        (-1e-20, 1.0), (1e-20, -1.0), (-1e-14, 100.0), (1e-300, -1.0), (-1e-300, 1.0),
        (0.0, -3.0), (-2.0, 0.0), (2.0, -2.0), (-2.0, 2.0), (3.0, 3.0), (-3.0, -3.0),
    ]
    image = _crafted_gradients(pairs)
    for dtype in (np.float64, np.float32):
        for ppc in ((4, 4), (2, 2)):
            kwargs = dict(
                orientations=orientations, pixels_per_cell=ppc, cells_per_block=(1, 1),
                block_norm="L1",
            )
            typed = image.astype(dtype)
            _assert_close(hog(typed, **kwargs), skimage_hog(typed, **kwargs))


def test_gradients_exactly_on_an_edge_after_sqrt():
    # sqrt of quarter steps gives gradient ratios of exactly sqrt(3) (60 and 120 degrees,
    # edges of 3, 6 and 9 orientations) where arctan2 implementations differ by an ulp: the
    # CPU path takes NumPy's orientation for such pixels
    from pyhcs.features._hog_common import edge_directions
    from pyhcs.features._hog_cpu import hog_cells_cpu

    image = np.round(np.random.default_rng(13).random((68, 49)) * 10) / 4
    for orientations in (3, 6, 9):
        kwargs = dict(orientations=orientations, pixels_per_cell=(5, 4), transform_sqrt=True)
        np.testing.assert_array_equal(hog(image, **kwargs), skimage_hog(image, **kwargs))
        hist = np.empty((1, 13, 12, orientations), np.float32)
        near_edge = hog_cells_cpu(
            np.sqrt(image)[None, :, :, None], False, 5, 4, edge_directions(orientations),
            np.zeros((1, 1, 1)), False, hist,
        )
        assert near_edge.sum() > 0  # the case this test is about does occur


@pytest.mark.parametrize("ppc", [(1, 1), (2, 3), (3, 3), (8, 8), (7, 5)])
@pytest.mark.parametrize("dtype", [np.uint8, np.float32])
def test_visualize(ppc, dtype):
    image = _random_image(np.random.default_rng(6), (30, 34), dtype, "uniform")
    # one-pixel cells with an odd number of orientations make skimage index past the picture
    orientations = 8 if ppc == (1, 1) else 7
    kwargs = dict(
        orientations=orientations, pixels_per_cell=ppc, cells_per_block=(1, 2), visualize=True
    )
    ours, picture = hog(image, **kwargs)
    reference, reference_picture = skimage_hog(image, **kwargs)
    _assert_close(ours, reference)
    assert picture.shape == reference_picture.shape and picture.dtype == reference_picture.dtype
    np.testing.assert_array_equal(picture, reference_picture)


def test_input_forms_like_skimage():
    line = np.arange(40.0)  # 1-D: numpy.atleast_2d, as skimage
    kwargs = dict(pixels_per_cell=(1, 4), cells_per_block=(1, 2))
    _assert_close(hog(line, **kwargs), skimage_hog(line, **kwargs))
    channels_first = np.random.default_rng(7).random((3, 20, 24))
    kwargs = dict(channel_axis=0, pixels_per_cell=(4, 4), cells_per_block=(2, 2))
    _assert_close(hog(channels_first, **kwargs), skimage_hog(channels_first, **kwargs))
    assert hog_feature_size((20, 24), 9, (4, 4), (2, 2)) == hog(channels_first, **kwargs).size


# -- batches -----------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.uint16, np.float32])
def test_batch_equals_per_image(dtype):
    rng = np.random.default_rng(8)
    kinds = ("uniform", "few_levels", "quarters")
    stack = np.stack([_random_image(rng, (33, 41), dtype, kind) for kind in kinds])
    kwargs = dict(
        orientations=6, pixels_per_cell=(5, 5), cells_per_block=(2, 2), block_norm="L1-sqrt"
    )
    batch = hog(stack, batch=True, **kwargs)
    assert batch.shape == (3, hog_feature_size((33, 41), 6, (5, 5), (2, 2)))
    for image, row in zip(stack, batch):
        np.testing.assert_array_equal(row, hog(image, **kwargs))
        _assert_close(row, skimage_hog(image, **kwargs))
    blocks, pictures = hog(stack, batch=True, feature_vector=False, visualize=True, **kwargs)
    assert blocks.shape == (3, 5, 7, 2, 2, 6) and pictures.shape == (3, 33, 41)
    np.testing.assert_array_equal(pictures[1], skimage_hog(stack[1], visualize=True, **kwargs)[1])
    multichannel = np.stack([stack, stack[::-1]], axis=-1)
    batch = hog(multichannel, batch=True, channel_axis=-1, **kwargs)
    _assert_close(batch[2], skimage_hog(multichannel[2], channel_axis=-1, **kwargs))
    empty = hog(stack[:0], batch=True, **kwargs)
    assert empty.shape == (0, batch.shape[1])


# -- per object --------------------------------------------------------------------------------

def _reference_objects(image, labels, crop, mask_others=False, **kwargs):
    """A Python loop over objects: crop (zero padded) around the rounded centroid, skimage hog."""
    height, width = labels.shape
    padded = np.pad(image, ((crop[0], crop[0]), (crop[1], crop[1])))
    padded_labels = np.pad(labels, ((crop[0], crop[0]), (crop[1], crop[1])))
    rows = {}
    for label in np.unique(labels[labels > 0]):
        rr, cc = np.nonzero(labels == label)
        r0 = int(np.floor(rr.mean() + 0.5)) - crop[0] // 2 + crop[0]
        c0 = int(np.floor(cc.mean() + 0.5)) - crop[1] // 2 + crop[1]
        window = padded[r0:r0 + crop[0], c0:c0 + crop[1]].copy()
        if mask_others:
            other = padded_labels[r0:r0 + crop[0], c0:c0 + crop[1]]
            window[(other != 0) & (other != label)] = 0
        rows[int(label)] = skimage_hog(window, **kwargs)
    return rows


@pytest.mark.parametrize("mask_others", [False, True])
@pytest.mark.parametrize("dtype", [np.uint16, np.float32])
def test_hog_objects_parity(mask_others, dtype):
    # objects touching each other and the border
    labels = random_ellipses((70, 90), 14, seed=9, step=3)
    image = _synthetic_cells((70, 90)).astype(dtype)
    kwargs = dict(orientations=8, pixels_per_cell=(4, 4), cells_per_block=(2, 2))
    table = hog_objects(
        image, labels, crop=(20, 24), image_name="DNA", mask_others=mask_others, **kwargs
    )
    reference = _reference_objects(image, labels, (20, 24), mask_others=mask_others, **kwargs)
    assert table.index.name == "label"
    assert table.index.tolist() == sorted(reference)
    n_features = hog_feature_size((20, 24), 8, (4, 4), (2, 2))
    assert list(table.columns) == [f"HOG_DNA_{i}" for i in range(n_features)]
    for label, expected in reference.items():
        row = table.loc[label].to_numpy()
        assert row.dtype == expected.dtype
        _assert_close(row, expected)


def test_hog_objects_multichannel():
    labels = random_ellipses((50, 60), 6, seed=3)
    image = np.random.default_rng(0).integers(0, 1000, (3, 50, 60)).astype(np.uint16)
    kwargs = dict(pixels_per_cell=(4, 4), cells_per_block=(2, 2))
    table = hog_objects(image, labels, crop=16, channel_axis=0, **kwargs)
    padded = np.pad(np.moveaxis(image, 0, -1), ((16, 16), (16, 16), (0, 0)))
    for label in table.index:
        rr, cc = np.nonzero(labels == label)
        r0 = int(np.floor(rr.mean() + 0.5)) + 8
        c0 = int(np.floor(cc.mean() + 0.5)) + 8
        expected = skimage_hog(padded[r0:r0 + 16, c0:c0 + 16], channel_axis=-1, **kwargs)
        _assert_close(table.loc[label].to_numpy(), expected)


def test_hog_objects_index_and_array_form():
    labels = random_ellipses((50, 50), 6, seed=10, step=4, touching=False)
    image = _synthetic_cells((50, 50))
    kwargs = dict(pixels_per_cell=(4, 4), cells_per_block=(2, 2))
    full = hog_objects(image, labels, crop=16, **kwargs)
    present = full.index.tolist()
    index = [present[2], 999, present[0], 0]
    table = hog_objects(image, labels, crop=16, index=index, **kwargs)
    assert table.index.tolist() == index
    np.testing.assert_array_equal(table.loc[present[2]].to_numpy(), full.loc[present[2]].to_numpy())
    assert table.iloc[1].isna().all() and table.iloc[3].isna().all()
    row_labels, features = hog_objects_array(image, labels, crop=16, **kwargs)
    assert row_labels.tolist() == present
    np.testing.assert_array_equal(features, full.to_numpy())
    empty = hog_objects(image, np.zeros_like(labels), crop=16, **kwargs)
    assert empty.shape == (0, full.shape[1])


# -- bad input ---------------------------------------------------------------------------------

class TestBadInput:
    image = np.zeros((32, 32), dtype=np.float32)

    def test_image_smaller_than_one_block(self):
        with pytest.raises(ValueError, match="too small.*pixels_per_cell.*cells_per_block"):
            hog(np.zeros((20, 40)))
        with pytest.raises(ValueError, match="too small"):
            hog(np.zeros((0, 40)))

    @pytest.mark.parametrize("ppc", [(0, 8), (8, -1)])
    def test_non_positive_cell_size(self, ppc):
        with pytest.raises(ValueError, match="pixels_per_cell"):
            hog(self.image, pixels_per_cell=ppc)

    @pytest.mark.parametrize("ppc", [(8.0, 8), 8, (8, 8, 8)])
    def test_malformed_cell_size(self, ppc):
        with pytest.raises((TypeError, ValueError), match="pixels_per_cell"):
            hog(self.image, pixels_per_cell=ppc)

    def test_non_positive_block_and_orientations(self):
        with pytest.raises(ValueError, match="cells_per_block"):
            hog(self.image, cells_per_block=(0, 1))
        with pytest.raises(ValueError, match="orientations"):
            hog(self.image, orientations=0)

    def test_unknown_block_norm(self):
        with pytest.raises(ValueError, match="block_norm"):
            hog(self.image, block_norm="L3")

    @pytest.mark.parametrize("bad", [np.nan, np.inf])
    def test_nan_or_inf(self, bad):
        image = self.image.copy()
        image[3, 4] = bad
        with pytest.raises(ValueError, match="image contains NaN"):
            hog(image)

    def test_shapes(self):
        with pytest.raises(ValueError, match="channel_axis"):
            hog(np.zeros((32, 32, 3)))
        with pytest.raises(ValueError, match="channel_axis"):
            hog(np.zeros((32, 32, 3)), channel_axis=3)
        with pytest.raises(ValueError, match="batch"):
            hog(np.zeros((32, 32)), batch=True)
        with pytest.raises(TypeError, match="image"):
            hog(np.zeros((32, 32), complex))

    def test_hog_objects(self):
        labels = np.zeros((32, 32), dtype=np.int32)
        with pytest.raises(ValueError, match="crop"):
            hog_objects(self.image, labels, crop=8)
        with pytest.raises(ValueError, match="crop"):
            hog_objects(self.image, labels, crop=0)
        with pytest.raises(TypeError, match="labels"):
            hog_objects(self.image, labels.astype(float))
        with pytest.raises(ValueError, match="shape"):
            hog_objects(self.image, labels[:10])
        with pytest.raises(TypeError, match="visualize"):
            hog_objects(self.image, labels, visualize=True)


# -- the GPU launcher (simulator in CI, real GPU in the GPU check) ------------------------------

GPU_KWARGS = dict(pixels_per_cell=(4, 4), cells_per_block=(2, 2))


@pytest.mark.cudasim
@pytest.mark.parametrize(
    "dtype, extra",
    [
        (np.uint16, {}),
        (np.uint8, dict(orientations=4, block_norm="L1", cells_per_block=(4, 4))),  # 144 > 128
        (np.float32, dict(channel_axis=-1, block_norm="L2")),
        (np.float64, dict(orientations=40, block_norm="L1-sqrt", transform_sqrt=True)),  # 2 chunks
    ],
)
def test_gpu_path_equals_cpu(gpu_path, dtype, extra):
    rng = np.random.default_rng(11)
    shape = (24, 24, 3) if "channel_axis" in extra else (24, 24)
    image = _random_image(rng, shape, dtype, "few_levels" if dtype == np.uint8 else "uniform")
    kwargs = {**GPU_KWARGS, **extra}
    cpu = hog(image, **kwargs)
    gpu = gpu_path(hog, image, **kwargs)
    assert gpu.dtype == cpu.dtype and gpu.shape == cpu.shape
    # a real GPU's hypot/atan2 may differ from the C library's by an ulp (see _hog_gpu)
    _assert_close(gpu, cpu, atol=ATOL)
    _assert_close(gpu, skimage_hog(image, **kwargs), atol=ATOL)


@pytest.mark.cudasim
def test_gpu_path_batch_visualize_and_objects(gpu_path):
    rng = np.random.default_rng(12)
    stack = np.stack([_random_image(rng, (20, 24), np.float32, k) for k in ("uniform", "quarters")])
    cpu = hog(stack, batch=True, visualize=True, **GPU_KWARGS)
    gpu = gpu_path(hog, stack, batch=True, visualize=True, **GPU_KWARGS)
    _assert_close(gpu[0], cpu[0])
    np.testing.assert_allclose(gpu[1], cpu[1], rtol=1e-6)
    labels = np.zeros((24, 24), dtype=np.int32)
    labels[2:9, 3:10] = 2
    labels[14:22, 12:23] = 7
    image = _synthetic_cells((24, 24))
    cpu_table = hog_objects(image, labels, crop=12, mask_others=True, index=[7, 3, 2], **GPU_KWARGS)
    gpu_table = gpu_path(
        hog_objects, image, labels, crop=12, mask_others=True, index=[7, 3, 2], **GPU_KWARGS
    )
    import pandas as pd

    pd.testing.assert_index_equal(gpu_table.index, cpu_table.index)
    _assert_close(gpu_table.to_numpy(), cpu_table.to_numpy())
