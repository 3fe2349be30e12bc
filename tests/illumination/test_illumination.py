"""pyhcs.illumination: parity with centrosome's median_filter, scikit-image's rank median and
CellProfiler 5's CorrectIlluminationCalculate / CorrectIlluminationApply arithmetic; the GPU
kernel under the simulator; sm_90 compilation; bad inputs.

The illumination references below are written here from CellProfiler 5's documented steps
(cellprofiler_library 5.0.0.dev784, modules/_correctilluminationcalculate.py and
functions/image_processing.py) with numpy, scipy, scikit-image and centrosome only.
"""

import os
import subprocess
import sys
import warnings

import numpy as np
import pytest

from conftest import REAL_GPU, require_reference
from pyhcs.illumination import (
    IlluminationAccumulator,
    calculate_illumination,
    correct_illumination,
    disk_footprint,
    median_filter,
    octagon_footprint,
    rank_median,
    smoothing_filter_size,
)

centrosome_filter = require_reference("centrosome.filter")
cpmorphology = require_reference("centrosome.cpmorphology")
centrosome_smooth = require_reference("centrosome.smooth")


# -- references ----------------------------------------------------------------------------------


def skimage_rank_median(image, radius):
    from skimage.filters import rank

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "bad rank filter performance"
        return rank.median(image, cpmorphology.strel_disk(radius).astype(np.uint8))


def reference_illumination(images, masks, smoothing, filter_size, rescale, dilate=False,
                           dilation_radius=1):
    """CorrectIlluminationCalculate, Regular, All images, step by step as CellProfiler 5."""
    from scipy import ndimage
    from skimage.filters import median

    image_sum = np.zeros(images[0].shape, images[0].dtype)
    mask_count = np.zeros(images[0].shape, np.int32)
    for k, image in enumerate(images):
        image = image.copy()
        mask = None if masks is None else masks[k]
        mask_count[mask] += 1
        if mask is not None:
            image[~mask] = 0
            image_sum[mask] += image[mask]
        else:
            image_sum += image
    avg = np.zeros(image_sum.shape, image_sum.dtype)
    mask = mask_count > 0
    avg[mask] = image_sum[mask] / mask_count[mask]
    pixels = avg
    if dilate:
        kernel = centrosome_smooth.circular_gaussian_kernel(dilation_radius, dilation_radius * 3)
        pixels = centrosome_smooth.smooth_with_function_and_mask(
            pixels, lambda x: ndimage.convolve(x, kernel, mode="constant", cval=0), mask
        ).astype(avg.dtype)
    if filter_size == "automatic":
        size = min(30, float(np.max(avg.shape)) / 40.0)
    else:
        size = filter_size
    sigma = size / 2.35
    if smoothing == "median":
        strel = cpmorphology.strel_disk(max(1, int(sigma + 0.5)))
        q = (pixels * 65535).astype(np.uint16)
        q *= mask
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            out = median(q, strel, behavior="rank")
        pixels = (out / 65535.0).astype(pixels.dtype)
    elif smoothing == "gaussian":
        pixels = centrosome_smooth.smooth_with_function_and_mask(
            pixels,
            lambda x: ndimage.gaussian_filter(x, sigma, mode="constant", cval=0),
            mask,
        )
    elif smoothing == "average":
        pixels = np.ones(pixels.shape, pixels.dtype) * np.mean(pixels[mask])
    as_image = np.float32  # cellprofiler_core's Image casts pixel data to float32
    if rescale == "no":
        return pixels.astype(as_image)
    sorted_pixels = pixels[(pixels > 0) & mask]
    if sorted_pixels.shape[0] == 0:
        return pixels.astype(as_image)
    sorted_pixels.sort()
    if rescale == "yes":
        robust_minimum = sorted_pixels[int(sorted_pixels.shape[0] * 0.02)]
        pixels = pixels.copy()
        pixels[pixels < robust_minimum] = robust_minimum
    else:
        robust_minimum = sorted_pixels[int(sorted_pixels.shape[0] / 2)]
    if robust_minimum == 0:
        return pixels.astype(as_image)
    return (pixels / robust_minimum).astype(as_image)


def reference_apply(image, function, method="divide", low=True, high=True):
    with np.errstate(divide="ignore", invalid="ignore"):
        if method == "divide":
            out = image / function
        else:
            out = image - function
            out[out < 0] = 0
    if low:
        out = np.where(out < 0, 0, out)
    if high:
        out = np.where(out > 1, 1, out)
    return out


# -- case generators -----------------------------------------------------------------------------


def median_cases(n, seed, max_size=28, max_radius=14):
    rng = np.random.default_rng(seed)
    for trial in range(n):
        shape = (int(rng.integers(1, max_size)), int(rng.integers(1, max_size)))
        kind = trial % 6
        if kind == 0:
            data = rng.random(shape).astype(np.float32)  # many distinct values: quantised
        elif kind == 1:
            data = rng.integers(0, 40, shape)  # int64 in 0..255: not quantised, uint8 out
        elif kind == 2:
            data = rng.integers(-3, 2000, shape).astype(np.int32)
        elif kind == 3:
            data = np.round(rng.normal(size=shape), 1)  # fewer than 256 distinct values
        elif kind == 4:
            data = rng.integers(0, 65535, shape).astype(np.uint16)
        else:
            data = (rng.random(shape) > 0.5)
        density = rng.choice([0.05, 0.4, 0.9, 1.0])
        mask = rng.random(shape) < density
        if trial % 11 == 0:
            mask = None
        radius = int(rng.integers(2, max_radius + 1))
        percent = int(rng.choice([0, 1, 25, 33, 50, 67, 75, 99, 100]))
        yield data, mask, radius, percent


def assert_same(actual, expected):
    assert actual.dtype == expected.dtype, (actual.dtype, expected.dtype)
    assert actual.shape == expected.shape
    np.testing.assert_array_equal(actual, expected)


# -- median_filter (centrosome) ------------------------------------------------------------------


def test_median_filter_matches_centrosome():
    for data, mask, radius, percent in median_cases(120, 0):
        expected = centrosome_filter.median_filter(data, mask, radius, percent)
        assert_same(median_filter(data, mask, radius, percent), expected)


@pytest.mark.slow
def test_median_filter_matches_centrosome_sweep():
    for data, mask, radius, percent in median_cases(600, 1, max_size=70, max_radius=32):
        expected = centrosome_filter.median_filter(data, mask, radius, percent)
        assert_same(median_filter(data, mask, radius, percent), expected)


@pytest.mark.parametrize("percent", [0, 25, 50, 75, 100])
@pytest.mark.parametrize("radius", [2, 3, 7, 20])
def test_median_filter_structured(radius, percent):
    rng = np.random.default_rng(radius * 101 + percent)
    yy, xx = np.mgrid[:40, :37]
    images = [
        np.full((40, 37), 0.25, np.float32),  # constant
        (np.sin(yy / 5.0) * np.cos(xx / 7.0)).astype(np.float64),  # smooth, many values
        ((yy // 6 + xx // 5) % 3).astype(np.float32),  # three levels, edges
        rng.exponential(size=(40, 37)),  # long tail
    ]
    masks = [None, np.ones((40, 37), bool), rng.random((40, 37)) > 0.5,
             (yy - 20) ** 2 + (xx - 18) ** 2 < 100]
    for data in images:
        for mask in masks:
            expected = centrosome_filter.median_filter(data, mask, radius, percent)
            assert_same(median_filter(data, mask, radius, percent), expected)


@pytest.mark.parametrize("shape", [(1, 1), (1, 9), (9, 1), (2, 3)])
def test_median_filter_tiny_images(shape):
    rng = np.random.default_rng(sum(shape))
    data = rng.random(shape)
    for radius in (2, 3, 10):
        for percent in (0, 50, 100):
            for mask in (None, rng.random(shape) > 0.5):
                expected = centrosome_filter.median_filter(data, mask, radius, percent)
                assert_same(median_filter(data, mask, radius, percent), expected)


def test_median_filter_empty_mask_returns_a_copy():
    data = np.arange(12.0).reshape(3, 4)
    out = median_filter(data, np.zeros((3, 4), bool), 3)
    assert_same(out, centrosome_filter.median_filter(data, np.zeros((3, 4), bool), 3))
    assert out is not data


def test_median_filter_quantisation_merges_like_centrosome():
    # 2000 distinct values, heavily unequal counts: the merge loop runs several rounds
    rng = np.random.default_rng(5)
    data = np.floor(rng.exponential(300, size=(60, 60)))
    for radius in (2, 5):
        assert_same(median_filter(data, None, radius), centrosome_filter.median_filter(
            data, None, radius))


def test_octagon_footprint_is_centrosome_impulse_response():
    for radius in (2, 3, 4, 5, 8, 13):
        n = 2 * radius + 1
        impulse = np.zeros((3 * n, 3 * n))
        impulse[3 * n // 2, 3 * n // 2] = 1
        response = centrosome_filter.median_filter(impulse, None, radius, 100) > 0
        c = 3 * n // 2
        np.testing.assert_array_equal(
            response[c - radius:c + radius + 1, c - radius:c + radius + 1],
            octagon_footprint(radius),
        )
        assert response.sum() == octagon_footprint(radius).sum()


# -- rank_median (scikit-image / CellProfiler 5 smoothing) ---------------------------------------


def test_rank_median_matches_skimage():
    rng = np.random.default_rng(2)
    for trial in range(60):
        shape = (int(rng.integers(1, 40)), int(rng.integers(1, 40)))
        dtype = np.uint8 if trial % 3 == 0 else np.uint16
        high = int(rng.choice([2, 50, int(np.iinfo(dtype).max) + 1]))
        image = rng.integers(0, high, shape).astype(dtype)
        radius = int(rng.integers(1, 15))
        assert_same(rank_median(image, radius), skimage_rank_median(image, radius))


@pytest.mark.slow
def test_rank_median_matches_skimage_sweep():
    rng = np.random.default_rng(3)
    for _ in range(150):
        shape = (int(rng.integers(1, 90)), int(rng.integers(1, 90)))
        image = rng.integers(0, 65536, shape).astype(np.uint16)
        image[rng.random(shape) < 0.3] = 0
        radius = int(rng.integers(1, 35))
        assert_same(rank_median(image, radius), skimage_rank_median(image, radius))


def test_disk_footprint_is_strel_disk():
    for radius in range(0, 25):
        np.testing.assert_array_equal(disk_footprint(radius), cpmorphology.strel_disk(radius) > 0)


# -- illumination function -----------------------------------------------------------------------


def plate_fields(n, shape, seed, masked=False):
    """Vignetted synthetic fields as CellProfiler loads them (uint16 / 65535 in float32)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    vignette = np.exp(-((yy - shape[0] / 2) ** 2 + (xx - shape[1] / 3) ** 2) / (shape[0] ** 2))
    images, masks = [], []
    for _ in range(n):
        raw = 800 + 3000 * vignette + rng.normal(0, 120, shape)
        raw += 20000 * (rng.random(shape) > 0.995)  # bright specks
        raw = np.clip(raw, 0, 65535).astype(np.uint16)
        images.append(raw.astype(np.float32) / np.float32(65535))
        masks.append(rng.random(shape) > 0.2 if masked else None)
    return images, (masks if masked else None)


@pytest.mark.parametrize("rescale", ["yes", "median", "no"])
@pytest.mark.parametrize("smoothing", ["median", "gaussian", "average", "none"])
@pytest.mark.parametrize("masked", [False, True])
def test_illumination_matches_cellprofiler_steps(smoothing, rescale, masked):
    images, masks = plate_fields(4, (48, 61), seed=len(smoothing) + masked, masked=masked)
    for filter_size in ("automatic", 10, 23.5):
        expected = reference_illumination(images, masks, smoothing, filter_size, rescale)
        actual = calculate_illumination(images, masks, smoothing=smoothing,
                                        filter_size=filter_size, rescale=rescale)
        assert_same(actual, expected)


def test_illumination_with_dilation():
    images, masks = plate_fields(3, (40, 44), seed=9, masked=True)
    for radius in (1, 3):
        expected = reference_illumination(images, masks, "median", 12, "yes", True, radius)
        actual = calculate_illumination(images, masks, filter_size=12, dilate=True,
                                        dilation_radius=radius)
        assert_same(actual, expected)


def test_accumulator_streams_like_the_stack():
    images, masks = plate_fields(5, (30, 33), seed=4, masked=True)
    acc = IlluminationAccumulator()
    for image, mask in zip(images, masks):
        acc.add(image, mask)
    assert acc.count == 5 and acc.shape == (30, 33)
    stacked = calculate_illumination(np.stack(images), np.stack(masks), filter_size=8)
    assert_same(acc.result(filter_size=8), stacked)
    avg, mask = acc.average()
    assert avg.dtype == np.float32 and mask.dtype == bool


def test_accumulator_converts_uint16_like_cellprofiler():
    rng = np.random.default_rng(1)
    raw = [rng.integers(0, 65536, (20, 21)).astype(np.uint16) for _ in range(3)]
    scaled = [r.astype(np.float32) / np.float32(65535) for r in raw]
    assert_same(calculate_illumination(raw, filter_size=6), calculate_illumination(
        scaled, filter_size=6))


def test_illumination_edge_cases():
    zeros = [np.zeros((16, 16), np.float32)] * 2
    for rescale in ("yes", "median", "no"):
        assert_same(calculate_illumination(zeros, rescale=rescale),
                    reference_illumination(zeros, None, "median", "automatic", rescale))
    # a pixel that no image covers: average 0 there, outside the function's mask
    images, _ = plate_fields(2, (20, 20), seed=2)
    masks = [np.ones((20, 20), bool) for _ in images]
    for m in masks:
        m[:3, :3] = False
    assert_same(calculate_illumination(images, masks, filter_size=5),
                reference_illumination(images, masks, "median", 5, "yes"))


def test_smoothing_filter_size_rules():
    assert smoothing_filter_size((2160, 2160)) == 30
    assert smoothing_filter_size((400, 600)) == 15.0
    assert smoothing_filter_size((64, 64), "object size", 35) == 35 * 2.35 / 3.5
    assert smoothing_filter_size((64, 64), 12) == 12


# -- correct_illumination ------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["divide", "subtract"])
@pytest.mark.parametrize("low, high", [(True, True), (False, True), (True, False),
                                       (False, False)])
def test_correct_illumination_matches_cellprofiler(method, low, high):
    rng = np.random.default_rng(0)
    image = rng.random((17, 19)).astype(np.float32)
    function = (0.2 + 2 * rng.random((17, 19))).astype(np.float32)
    function[0, :3] = 0  # division by zero: inf -> 1, 0 / 0 stays NaN
    image[0, 0] = 0
    expected = reference_apply(image, function, method, low, high)
    assert_same(correct_illumination(image, function, method=method, truncate_low=low,
                                     truncate_high=high), expected)


def test_calculate_then_apply():
    images, _ = plate_fields(3, (32, 32), seed=3)
    function = calculate_illumination(images, filter_size=8)
    corrected = correct_illumination(images[0], function)
    assert corrected.dtype == np.float32
    assert_same(corrected, reference_apply(images[0], function))


# -- GPU path (simulator in CI, the real GPU in the GPU check) -----------------------------------


@pytest.mark.cudasim
def test_gpu_median_filter_equals_cpu(gpu_path):
    for data, mask, radius, percent in median_cases(6 if not REAL_GPU else 60, 7, max_size=9,
                                                    max_radius=4):
        assert_same(gpu_path(median_filter, data, mask, radius, percent),
                    median_filter(data, mask, radius, percent))


@pytest.mark.cudasim
def test_gpu_rank_median_equals_cpu(gpu_path):
    rng = np.random.default_rng(8)
    for trial in range(4 if not REAL_GPU else 40):
        image = rng.integers(0, [3, 70000][trial % 2], (7, 9)).astype(np.uint16)
        radius = 1 + trial % 3
        assert_same(gpu_path(rank_median, image, radius), rank_median(image, radius))


@pytest.mark.cudasim
def test_gpu_illumination_equals_cpu(gpu_path):
    images, masks = plate_fields(2, (8, 10), seed=6, masked=True)
    stack, mstack = np.stack(images), np.stack(masks)
    for rescale in ("yes", "median"):
        expected = calculate_illumination(stack, mstack, filter_size=4, rescale=rescale)
        assert_same(gpu_path(calculate_illumination, stack, mstack, filter_size=4,
                             rescale=rescale), expected)
    function = calculate_illumination(stack, filter_size=4)
    assert_same(gpu_path(correct_illumination, images[0], function),
                correct_illumination(images[0], function))


@pytest.mark.skipif(REAL_GPU, reason="compile_ptx runs with the simulator off, in CI")
def test_gpu_kernel_compiles_for_sm90():
    code = (
        "import sys, pyhcs._ptx_check as c;"
        "c.GPU_KERNEL_MODULES = ('pyhcs.illumination._median_gpu',); sys.exit(c.main([]))"
    )
    env = {**os.environ, "NUMBA_ENABLE_CUDASIM": "0"}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "median_rows_gpu" in result.stdout and ", 0 failed" in result.stdout


def test_gpu_kernel_module_is_registered():
    from pyhcs._ptx_check import GPU_KERNEL_MODULES

    assert "pyhcs.illumination._median_gpu" in GPU_KERNEL_MODULES


# -- bad input -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "call, error, name",
    [
        (lambda: median_filter(np.zeros(5), None, 2), ValueError, "data"),
        (lambda: median_filter(np.zeros((3, 3)), np.ones((3, 4), bool), 2), ValueError, "mask"),
        (lambda: median_filter(np.zeros((3, 3)), np.ones((3, 3)), 2), TypeError, "mask"),
        (lambda: median_filter(np.full((3, 3), np.nan), None, 2), ValueError, "data"),
        (lambda: median_filter(np.zeros((3, 3)), None, 1), ValueError, "radius"),
        (lambda: median_filter(np.zeros((3, 3)), None, -4), ValueError, "radius"),
        (lambda: median_filter(np.zeros((3, 3)), None, 2.5), TypeError, "radius"),
        (lambda: median_filter(np.zeros((3, 3)), None, 2, 101), ValueError, "percent"),
        (lambda: median_filter(np.zeros((3, 3)), None, 2, -1), ValueError, "percent"),
        (lambda: rank_median(np.zeros((3, 3)), 2), TypeError, "image"),
        (lambda: rank_median(np.zeros((3, 3, 2), np.uint16), 2), ValueError, "image"),
        (lambda: rank_median(np.zeros((3, 3), np.uint16), -1), ValueError, "radius"),
        (lambda: calculate_illumination(np.zeros((3, 3))), ValueError, "images"),
        (lambda: calculate_illumination([]), ValueError, "images"),
        (lambda: calculate_illumination([np.zeros((3, 3), np.int32)]), TypeError, "image"),
        (lambda: calculate_illumination([np.zeros((3, 3)), np.zeros((3, 4))]), ValueError,
         "image"),
        (lambda: calculate_illumination([np.zeros((3, 3)), np.zeros((3, 3), np.float32)]),
         TypeError, "dtype"),
        (lambda: calculate_illumination([np.zeros((3, 3))], [np.ones((3, 3), bool)] * 2),
         ValueError, "masks"),
        (lambda: calculate_illumination([np.zeros((3, 3))], smoothing="splines"), ValueError,
         "smoothing"),
        (lambda: calculate_illumination([np.zeros((3, 3))], smoothing="blur"), ValueError,
         "smoothing"),
        (lambda: calculate_illumination([np.zeros((3, 3))], rescale="maybe"), ValueError,
         "rescale"),
        (lambda: calculate_illumination([np.zeros((3, 3))], filter_size=-2), ValueError,
         "filter_size"),
        (lambda: calculate_illumination([np.zeros((3, 3))], filter_size="big"), ValueError,
         "filter_size"),
        (lambda: calculate_illumination([np.zeros((3, 3))], dilate=True, dilation_radius=0),
         ValueError, "dilation_radius"),
        (lambda: correct_illumination(np.zeros((3, 3)), np.ones((3, 4))), ValueError,
         "function"),
        (lambda: correct_illumination(np.zeros((3, 3)), np.ones((3, 3), np.int32)), TypeError,
         "function"),
        (lambda: correct_illumination(np.zeros((3, 3)), np.ones((3, 3)), method="mul"),
         ValueError, "method"),
        (lambda: correct_illumination(np.zeros((3, 3)), np.ones((3, 3)), truncate_low=1),
         TypeError, "truncate_low"),
    ],
)
def test_bad_input_names_the_argument(call, error, name):
    with pytest.raises(error, match=name):
        call()
