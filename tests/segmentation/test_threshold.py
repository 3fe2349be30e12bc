"""The CPU minimum-cross-entropy threshold: CellProfiler's tolerance without a sort and Li's
iteration with fused passes, each bit for bit against numpy / scikit-image."""

import numpy as np
import pytest
from skimage.filters import threshold_li

from pyhcs._backend import namespace_for
from pyhcs.segmentation._threshold import (
    _LEVEL_BINS,
    global_threshold,
    level_gap_cpu,
    threshold_li_cpu,
)


def reference_tolerance(pixels):
    return max(float(np.diff(np.unique(pixels)).min()) / 2.0, 0.5 / 65536)


def pixel_sets():
    """Pixels in [0, 1] of many kinds and sizes (the pairwise sums' block edges included)."""
    rng = np.random.default_rng(12)
    for n in (2, 3, 7, 8, 9, 16, 127, 128, 129, 255, 256, 257, 1000, 8193, 65536, 300_001):
        yield rng.random(n)
        yield rng.integers(0, 400, n).astype(np.uint16) / 65535.0
        yield (rng.integers(0, 4096, n).astype(np.float32) / np.float32(65535)).astype(np.float64)
        yield rng.gamma(2.0, 0.02, n).clip(0, 1)
        yield rng.integers(0, 3, n) / 2.0  # three levels, gaps of 1/2
    yield np.array([0.0, 0.0, 0.0, 1.0, 1.0])  # the background mean reaches 0: Li stops
    yield np.array([-0.0, 0.0, 0.5, 1.0])  # -0.0 and 0.0 are one level
    yield np.array([0.25, 0.25 + 2.0**-16, 0.75])  # a gap of exactly 2**-16
    yield np.array([0.25, 0.25 + 2.0**-17, 0.75])  # one bin, two levels
    yield np.array([0.0, 1.0 - 2.0**-53, 1.0])  # the last bin
    yield np.array([1e-300, 5e-324, 0.5])  # subnormal and tiny levels
    yield np.concatenate([np.zeros(500), rng.random(20)])


def test_level_gap_is_numpys_minimum_gap_or_says_it_is_below_the_floor():
    for pixels in pixel_sets():
        gap = level_gap_cpu(pixels, _LEVEL_BINS)
        expected = float(np.diff(np.unique(pixels)).min())
        if expected < 2.0**-16:
            assert gap == -1.0 or gap == expected
        else:
            assert gap == expected
        tolerance = 0.5 / 65536 if gap < 0 else max(gap / 2.0, 0.5 / 65536)
        assert tolerance == reference_tolerance(pixels)
    assert level_gap_cpu(np.array([0.5, 0.5]), _LEVEL_BINS) == np.inf


def test_threshold_li_equals_skimage_bit_for_bit():
    for pixels in pixel_sets():
        if np.all(pixels == pixels[0]):
            continue
        tolerance = reference_tolerance(pixels)
        expected = threshold_li(pixels.copy(), tolerance=tolerance)
        got = threshold_li_cpu(pixels, tolerance)
        assert np.float64(got).view(np.int64) == np.float64(expected).view(np.int64), pixels.size


@pytest.mark.parametrize("tolerance", [1e-12, 1e-6, 0.5 / 65536, 0.1])
def test_threshold_li_tolerances(tolerance):
    pixels = np.random.default_rng(3).beta(0.5, 3.0, 20_000)
    expected = threshold_li(pixels.copy(), tolerance=tolerance)
    assert threshold_li_cpu(pixels, tolerance) == expected


def test_global_threshold_on_the_cpu_is_cellprofilers():
    ns = namespace_for(np.zeros(1))
    for pixels in pixel_sets():
        if np.all(pixels == pixels[0]):
            continue
        expected = float(threshold_li(pixels.copy(), tolerance=reference_tolerance(pixels)))
        assert global_threshold(pixels, "minimum_cross_entropy", ns) == expected
