"""MeasureObjectIntensity: CellProfiler 5's definition (an independent sequential numpy
re-implementation, bit for bit), parity with cp_measure ``get_intensity`` (default quartiles and
``legacy=True``), NaN pixels, ``index=``, ObjectIndex input, huge labels, bad input, the GPU path.

Tolerances: every comparison is exact (``assert_array_equal``, NaN == NaN) except against
cp_measure, which sums pairwise (numpy) where CellProfiler and pyhcs sum sequentially:
StdIntensity and StdIntensityEdge then agree to a relative 1e-13 (absolute floor 1e-16;
measured up to 3.6e-14 on objects of ~3,000 pixels), and on continuous float64 images the
other sums (integrated, mean, centres of mass) to a relative 1e-13 (measured <= 4.5e-15) and
the mass displacement, a difference of centres, to an absolute 1e-12 pixel (measured 7.6e-13
on 200 x 200 images). On dyadic images (k / 8) every sum is exact in any order, and those
features are compared exactly; quantiles, MAD, minima, maxima and the maximum's location are
exact everywhere.
"""

import math
import os
import subprocess
import textwrap
from pathlib import Path

import numpy as np
import pytest
from cases import awkward_objects, disc_field, random_blobs, random_ellipses
from conftest import require_reference
from skimage.segmentation import find_boundaries

from pyhcs.features import ObjectIndex
from pyhcs.features.intensity import (
    INTENSITY_FEATURES,
    QUARTILES,
    IntensityArrays,
    intensity,
    intensity_array,
)

# ------------------------------------------------------------------------------- cases

LABEL_CASES = {
    "ellipses_touching": lambda: random_ellipses((60, 70), 25, seed=1),
    "blobs_with_holes": lambda: random_blobs((50, 60), seed=2),
    "discs": lambda: disc_field((48, 52), 20, seed=3, radius=(0.5, 8.0)),
    "awkward": awkward_objects,  # 1-pixel, one-row, diagonal, multi-piece, border, touching
    "full_image": lambda: np.full((7, 9), 4, dtype=np.int32),  # no edge pixel at all
    "tiny_objects": lambda: random_ellipses((30, 30), 30, seed=4, max_radius=1.5, step=5),
}


def image_cases(shape, seed):
    """float64 images: continuous, dyadic with ties (exact sums), 40% zeros, clipped normal."""
    rng = np.random.default_rng(seed)
    zeros = rng.random(shape)
    zeros[rng.random(shape) < 0.4] = 0.0
    return {
        "uniform": rng.random(shape),
        "dyadic_ties": rng.integers(0, 8, shape) / 8.0,
        "zeros": zeros,
        "normal": np.clip(rng.normal(0.5, 0.25, shape), 0.0, 1.0),
    }


def sequential(labels):
    """Labels renumbered 1..N in ascending order (cp_measure needs them)."""
    present = np.unique(labels)  # 0 first when there is background
    renumbered = np.searchsorted(present, labels).astype(np.int32)
    return renumbered if present.size and present[0] == 0 else renumbered + 1


def assert_same(ours, reference, what=""):
    ours = np.asarray(ours, np.float64)
    reference = np.asarray(reference, np.float64)
    assert ours.shape == reference.shape, what
    np.testing.assert_array_equal(ours, reference, err_msg=what)  # NaN == NaN


# ------------------------------------------------- CellProfiler 5, re-implemented plainly


def seq_sum(values):
    """Sequential float64 sum from 0 in the given order (numpy's accumulate is sequential)."""
    values = np.concatenate([[0.0], np.asarray(values, np.float64).ravel()])
    return float(np.add.accumulate(values)[-1])


def cp_quantile(s, q):
    n = s.size
    pos = n * q
    lo = math.floor(pos)
    f = pos - lo
    if lo < n - 1:
        return s[lo] * (1.0 - f) + s[lo + 1] * f
    return s[lo]


def linear_quantile(s, q):
    n = s.size
    pos = (n - 1) * q
    lo = min(int(pos), n - 1)
    hi = min(lo + 1, n - 1)
    f = pos - lo
    return s[lo] * (1.0 - f) + s[hi] * f


def plain_stats(v):
    """Integrated, mean, std, min, max as CellProfiler computes them (scipy.ndimage by label):
    sequential sums; min ignores NaN unless all are NaN, max is NaN if any is."""
    total = seq_sum(v)
    mean = total / v.size
    std = math.sqrt(seq_sum((v - mean) * (v - mean)) / v.size)
    finite = v[~np.isnan(v)]
    v_min = finite.min() if finite.size else np.nan
    v_max = np.nan if np.isnan(v).any() else v.max()
    return [total, mean, std, v_min, v_max]


def reference_intensity(image, labels, quartiles="cellprofiler"):
    """Every feature of every present label, one object at a time, from the definition."""
    image = np.asarray(image)
    edges = find_boundaries(labels, mode="inner")
    rows = {}
    for label in np.unique(labels[labels > 0]):
        rr, cc = np.nonzero(labels == label)  # raster order
        v = image[rr, cc].astype(np.float64)
        n = v.size
        stats = plain_stats(v)
        on_edge = edges[rr, cc]
        edge_stats = plain_stats(v[on_edge]) if edges.any() else [0.0] * 5
        with np.errstate(divide="ignore", invalid="ignore"):
            cmi_x = np.float64(seq_sum(cc * v)) / stats[0]
            cmi_y = np.float64(seq_sum(rr * v)) / stats[0]
            cmi_z = np.float64(seq_sum(0 * v)) / stats[0]
        dx = cc.sum() / n - cmi_x
        dy = rr.sum() / n - cmi_y
        dz = 0.0 - cmi_z
        displacement = np.sqrt(dx * dx + dy * dy + dz * dz)
        s = np.sort(v)
        rule = linear_quantile if quartiles == "cp_measure" else cp_quantile
        median = rule(s, 0.5)
        d = np.sort(np.abs(v - median))
        if quartiles == "cellprofiler":
            mad = (d[(n - 1) // 2] + d[n // 2]) / 2.0
        else:
            mad = rule(d, 0.5)
        first_max = int(np.argmax(v))  # the first NaN, else the first maximum
        rows[int(label)] = (
            stats + edge_stats
            + [displacement, rule(s, 0.25), median, mad, rule(s, 0.75)]
            + [cmi_x, cmi_y, cmi_z, float(cc[first_max]), float(rr[first_max]), 0.0]
        )
    labels_out = np.array(sorted(rows), np.int64)
    table = np.array([rows[k] for k in labels_out], np.float64).reshape(-1, len(INTENSITY_FEATURES))
    return labels_out, table


def as_table(result: IntensityArrays):
    return np.column_stack([result.features[name] for name in INTENSITY_FEATURES])


# ---------------------------------------------------------------- CellProfiler's definition


def cp_input_images(shape, seed):
    """What CellProfiler measures: float32 images (uint16 / 65535 in float32), with ties."""
    rng = np.random.default_rng(seed)
    u16 = rng.integers(0, 65536, shape).astype(np.uint16)
    nan = rng.random(shape).astype(np.float32)
    nan[rng.random(shape) < 0.03] = np.nan
    negative = (rng.normal(0.0, 1.0, shape)).astype(np.float32)  # sums can cancel to 0
    negative[: shape[0] // 2] = 0.0
    return {
        "uint16": u16.astype(np.float32) / np.float32(65535),
        "quantised": (rng.integers(0, 5, shape) / 4).astype(np.float32),
        "nan": nan,
        "negative": negative,
    }


@pytest.mark.parametrize("case", list(LABEL_CASES))
def test_cellprofiler_definition_bit_for_bit(case):
    labels = LABEL_CASES[case]()
    for name, image in cp_input_images(labels.shape, seed=len(case)).items():
        ours = intensity_array(image, labels)
        labels_ref, expected = reference_intensity(image, labels)
        np.testing.assert_array_equal(ours.labels, labels_ref)
        got = as_table(ours)
        for k, feature in enumerate(INTENSITY_FEATURES):
            assert_same(got[:, k], expected[:, k], f"{case}/{name}: {feature}")


def test_quartile_options_against_the_definition():
    labels = random_ellipses((40, 44), 14, seed=5, max_radius=6.0)
    image = cp_input_images(labels.shape, seed=6)["quantised"]
    for quartiles in ("cp_measure", "cellprofiler4"):
        got = as_table(intensity_array(image, labels, quartiles=quartiles))
        expected = reference_intensity(image, labels, quartiles)[1]
        assert_same(got, expected, quartiles)


def test_nan_pixels_propagate_as_in_cellprofiler():
    labels = np.zeros((6, 8), np.int32)
    labels[1:4, 1:4] = 1
    labels[1:5, 5:8] = 2
    image = np.arange(48, dtype=np.float64).reshape(6, 8) / 48
    image[2, 2] = np.nan  # inside object 1, not on its edge
    image[4, 6] = np.nan  # on the edge of object 2
    got = intensity(image, labels, image_name="X")
    one, two = got.loc[1], got.loc[2]
    assert np.isnan(one["Intensity_IntegratedIntensity_X"])
    assert np.isnan(one["Intensity_MaxIntensity_X"])
    assert one["Intensity_MinIntensity_X"] == image[1, 1]  # min skips NaN (scipy.ndimage)
    assert one["Intensity_IntegratedIntensityEdge_X"] == seq_sum(
        image[1:4, 1:4][find_boundaries(labels, mode="inner")[1:4, 1:4]])
    assert (one["Location_MaxIntensity_X_X"], one["Location_MaxIntensity_Y_X"]) == (2.0, 2.0)
    assert np.isnan(two["Intensity_IntegratedIntensityEdge_X"])
    assert np.isnan(two["Intensity_MaxIntensityEdge_X"])
    assert np.isnan(two["Location_CenterMassIntensity_Z_X"])
    # an object of NaN only: its minimum is NaN too; the maximum is at its first pixel
    image[1:5, 5:8] = np.nan
    two = intensity(image, labels, image_name="X").loc[2]
    assert np.isnan(two[[c for c in two.index if not c.startswith("Location_Max")]]).all()
    assert two[[c for c in two.index if c.startswith("Location_Max")]].tolist() == [5, 1, 0]


def test_zero_integrated_intensity():
    labels = np.zeros((5, 6), np.int32)
    labels[1:3, 1:3] = 1
    labels[1:4, 4:6] = 2
    image = np.zeros((5, 6), np.float32)
    image[1, 4], image[3, 5] = 1.0, -1.0  # object 2 sums to 0 but its moment does not
    got = intensity(image, labels, image_name="I")
    cmi = [f"Location_CenterMassIntensity_{a}_I" for a in "XYZ"]
    assert got.loc[1, cmi].isna().all()
    assert np.isnan(got.loc[1, "Intensity_MassDisplacement_I"])
    # CellProfiler divides: +-inf where the numerator is not 0 (IEEE)
    assert got.loc[2, cmi[0]] == -np.inf and got.loc[2, cmi[1]] == -np.inf
    assert np.isnan(got.loc[2, cmi[2]])
    assert got.loc[1, "Location_MaxIntensity_X_I"] == 1.0  # first of the tied zeros


# ------------------------------------------------------------------------------ cp_measure

def cp_measure_intensity(labels, image, legacy):
    module = require_reference("cp_measure.core.measureobjectintensity")
    return module.get_intensity(sequential(labels), image, legacy=legacy)


def _compare_with_cp_measure(ours, reference, exact_sums, what):
    """ours: IntensityArrays; reference: cp_measure's dict (keys without the image name)."""
    for name in INTENSITY_FEATURES:
        got, expected = ours.features[name], reference[name]
        label = f"{what}: {name}"
        if "StdIntensity" in name:
            np.testing.assert_allclose(got, expected, rtol=1e-13, atol=1e-16, err_msg=label)
        elif not exact_sums and any(key in name for key in (
                "Integrated", "MeanIntensity", "CenterMass", "MassDisplacement")):
            atol = 1e-12 if "MassDisplacement" in name else 0.0
            np.testing.assert_allclose(got, expected, rtol=1e-13, atol=atol, err_msg=label)
        else:
            assert_same(got, expected, label)


@pytest.mark.parametrize("case", list(LABEL_CASES))
def test_cp_measure_default_quartiles(case):
    labels = LABEL_CASES[case]()
    for name, image in image_cases(labels.shape, seed=10 + len(case)).items():
        ours = intensity_array(image, labels, quartiles="cp_measure")
        reference = cp_measure_intensity(labels, image, legacy=False)
        _compare_with_cp_measure(ours, reference, name == "dyadic_ties", f"{case}/{name}")


@pytest.mark.parametrize("case", list(LABEL_CASES))
def test_cp_measure_legacy_is_cellprofiler(case):
    """legacy=True is CellProfiler 4's rule: our default except where cp_measure always
    interpolates at the last sample (n = 1, and n = 3 for the upper quartile) and the MAD
    (CellProfiler 5 takes the true median of the deviations; "cellprofiler4" reproduces 4)."""
    labels = LABEL_CASES[case]()
    for name, image in image_cases(labels.shape, seed=20 + len(case)).items():
        reference = cp_measure_intensity(labels, image, legacy=True)
        default = intensity_array(image, labels)
        ours = intensity_array(image, labels, quartiles="cellprofiler4")
        for key in ("Intensity_LowerQuartileIntensity", "Intensity_MedianIntensity",
                    "Intensity_UpperQuartileIntensity"):
            np.testing.assert_array_equal(default.features[key], ours.features[key])
        area = np.bincount(sequential(labels).ravel())[1:]
        for key, sizes in (("Intensity_LowerQuartileIntensity", (1,)),
                           ("Intensity_UpperQuartileIntensity", (1, 3))):
            clamped = np.isin(area, sizes)  # cp_measure: s*(1-f) + s*f, within an ulp of s
            np.testing.assert_allclose(ours.features[key][clamped], reference[key][clamped],
                                       rtol=2.3e-16, atol=0)
            reference[key][clamped] = ours.features[key][clamped]
        _compare_with_cp_measure(ours, reference, name == "dyadic_ties", f"{case}/{name}")


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1])
def test_cp_measure_large_objects(seed):
    cases = {"ellipses": random_ellipses((200, 200), 40, seed=100 + seed, max_radius=30),
             "blobs": random_blobs((150, 150), seed=7 + seed, sigma=4)}
    for case, labels in cases.items():
        for name, image in image_cases(labels.shape, seed=seed).items():
            for legacy, quartiles in ((False, "cp_measure"), (True, "cellprofiler4")):
                ours = intensity_array(image, labels, quartiles=quartiles)
                reference = cp_measure_intensity(labels, image, legacy=legacy)
                if legacy:  # cp_measure's clamped interpolation (see the legacy test above)
                    area = np.bincount(sequential(labels).ravel())[1:]
                    for key, sizes in (("Intensity_LowerQuartileIntensity", (1,)),
                                       ("Intensity_UpperQuartileIntensity", (1, 3))):
                        clamped = np.isin(area, sizes)
                        reference[key][clamped] = ours.features[key][clamped]
                _compare_with_cp_measure(ours, reference, name == "dyadic_ties",
                                         f"{case}/{name}/{quartiles}")


def test_cp_measure_non_contiguous_labels_and_float32_sums():
    """Rows of sparse labels equal cp_measure's rows of the relabelled image; float32 images in
    [0, 1] with few pixels per object sum exactly in float64, so those sums agree exactly."""
    base = random_ellipses((64, 64), 30, seed=30)
    labels = np.where(base > 0, base * 1000 + 7, 0).astype(np.int64)
    image64 = np.random.default_rng(31).random(labels.shape)
    ours = intensity_array(image64, labels, quartiles="cp_measure")
    np.testing.assert_array_equal(ours.labels, np.unique(labels[labels > 0]))
    _compare_with_cp_measure(ours, cp_measure_intensity(labels, image64, False), False,
                             "sparse")
    image32 = (np.random.default_rng(32).integers(0, 256, labels.shape) / 255).astype(np.float32)
    default = intensity_array(image32, labels)
    reference = cp_measure_intensity(labels, image32.astype(np.float64), True)
    for key in ("Intensity_IntegratedIntensity", "Intensity_MeanIntensity",
                "Intensity_MinIntensity", "Intensity_MaxIntensity",
                "Intensity_IntegratedIntensityEdge", "Location_MaxIntensity_X",
                "Location_MaxIntensity_Y", "Location_CenterMassIntensity_Z"):
        assert_same(default.features[key], reference[key], key)


# -------------------------------------------------------------- the order statistics


def test_selection_and_heapsort_give_numpy_sorted_values():
    from pyhcs.features._intensity_cpu import _shared

    rng = np.random.default_rng(70)
    kinds = {
        "uniform": lambda n: rng.random(n),
        "ties": lambda n: rng.integers(0, 3, n).astype(float),
        "two_values": lambda n: rng.integers(0, 2, n).astype(float),
        "nan": lambda n: np.where(rng.random(n) < 0.3, np.nan, rng.random(n)),
        "all_nan": lambda n: np.full(n, np.nan),
        "equal": lambda n: np.full(n, 0.25),
        "sorted": lambda n: np.arange(n, dtype=float),
        "reversed": lambda n: np.arange(n, dtype=float)[::-1].copy(),
        "organ_pipe": lambda n: np.minimum(np.arange(n), np.arange(n)[::-1]).astype(float),
        "signed_inf": lambda n: rng.choice([-np.inf, np.inf, 0.0, 1.0], n),
    }
    for n in (1, 2, 3, 7, 64, 301, 1000):
        for kind, make in kinds.items():
            x = make(n)
            expected = np.sort(x)
            padded = np.concatenate([[-7.0], x, [9.0]])  # the span, inside a larger array
            _shared.heapsort_segment(padded, 1, n + 1)
            assert_same(padded[1:-1], expected, f"heapsort {kind} {n}")
            assert padded[0] == -7.0 and padded[-1] == 9.0
            for k in sorted({0, n // 4, n // 2, n - 1}):
                for budget in (0, 1, 100):  # 0, 1: the heapsort fallback
                    y = x.copy()
                    value = _shared.select_steps(y, 0, n, k, budget)
                    assert_same(value, expected[k], f"select {kind} {n} {k} {budget}")
                    assert_same(np.sort(y[:k]), expected[:k])  # closed ranges either side
                    assert_same(np.sort(y[k + 1:]), expected[k + 1:])
                # inside a larger array, between values that would lure a scan out of it
                z = np.concatenate([[np.nan, np.nan], x, [-np.inf, -np.inf]])
                assert_same(_shared.select(z, 2, n + 2, k + 2), expected[k])
                assert_same(z[:2], [np.nan, np.nan])
                assert_same(z[-2:], [-np.inf, -np.inf])


def order_statistic_images(shape, seed):
    """Finite images for the bucket order statistics: float32 as CellProfiler loads it, heavy
    ties, signed zeros, float64 over 600 decades, subnormals, one value, one outlier."""
    rng = np.random.default_rng(seed)
    outlier = (rng.integers(100, 120, shape) / 65535).astype(np.float32)
    outlier.flat[rng.integers(0, outlier.size, 3)] = 1.0
    signed = np.round(rng.normal(0.0, 0.3, shape), 1).astype(np.float32)  # -0.0 and 0.0
    return {
        "uint16": (rng.integers(0, 65536, shape) / 65535).astype(np.float32),
        "dim_uint16": (rng.integers(0, 40, shape) / 65535).astype(np.float32),
        "two_values": rng.integers(0, 2, shape).astype(np.float32),
        "signed_zeros": signed,
        "wide_float64": rng.normal(size=shape) * 10.0 ** rng.integers(-300, 300, shape),
        "subnormal": rng.integers(0, 5, shape) * 5e-324,
        "one_value": np.full(shape, 0.3),
        "outlier": outlier,
        "huge_float64": rng.choice([-1.7e308, 1.7e308, 1.0, -1.0], shape),
    }


def test_bucket_select_against_numpy_sort():
    from pyhcs.features._intensity_cpu import _bucket_select

    rng = np.random.default_rng(71)
    hist = np.empty(2049, np.int32)
    bucket_of_bin = np.empty(2049, np.int8)
    small = np.empty((4, 8), np.int64)
    for n in (1, 2, 5, 64, 300, 5000):
        for name, image in order_statistic_images((n,), seed=n).items():
            x = np.asarray(image, np.float64)
            positions = np.unique(rng.integers(0, n, 6))
            values = np.empty(8)
            keys = np.empty(n, np.uint32)
            buf = np.empty(n)
            for deviations in (False, True):
                center = float(np.median(x)) if deviations else 0.0
                wanted = np.sort(np.abs(x - center) if deviations else x)
                low, high = (0.0, wanted[-1]) if deviations else (x.min(), x.max())
                work = x.copy()
                _bucket_select(work, low, high, center, deviations, positions,
                               positions.size, values, keys, hist, bucket_of_bin, small, buf)
                assert_same(values[:positions.size], wanted[positions],
                            f"{name} {n} {deviations}")
                assert_same(work, np.abs(x - center) if deviations else x)


@pytest.mark.parametrize("quartiles", list(QUARTILES))
def test_bucket_quantiles_equal_the_quickselect(monkeypatch, quartiles):
    """Objects of >= BUCKET_MIN_PIXELS finite pixels take their order statistics from value
    buckets, the others (and the GPU) from the quickselect: both give the same features."""
    from pyhcs.features import _intensity_cpu

    labels = random_ellipses((90, 96), 14, seed=47, max_radius=30)
    labels[:3, :] = 99  # a one-row-thick object of ~290 pixels
    images = order_statistic_images(labels.shape, seed=48)
    images["with_nan"] = np.where(labels % 3 == 0, np.nan, images["uint16"])  # fallbacks
    images["with_inf"] = np.where(labels % 4 == 1, np.inf, images["wide_float64"])
    for name, image in images.items():
        default = as_table(intensity_array(image, labels, quartiles=quartiles))
        with monkeypatch.context() as patch:
            patch.setattr(_intensity_cpu, "BUCKET_MIN_PIXELS", 1)  # every object by buckets
            buckets = as_table(intensity_array(image, labels, quartiles=quartiles))
            patch.setattr(_intensity_cpu, "BUCKET_MIN_PIXELS", 10**9)  # none
            quickselect = as_table(intensity_array(image, labels, quartiles=quartiles))
        assert_same(buckets, quickselect, name)
        assert_same(default, quickselect, name)
        with np.errstate(all="ignore"):  # the inf image's sums
            reference = reference_intensity(image, labels, quartiles)[1]
        assert_same(default[:, 11:15], reference[:, 11:15], name)


def test_edge_flags_of_thin_and_tiny_images():
    rng = np.random.default_rng(49)
    for shape in ((1, 1), (1, 9), (9, 1), (2, 2), (3, 40), (40, 3)):
        labels = rng.integers(0, 3, shape).astype(np.int32)
        if not labels.any():
            labels[0, 0] = 1
        objects = ObjectIndex(labels)
        intensity_array(np.ones(shape, np.float32), objects)
        rr, cc = np.unravel_index(objects.pixels, labels.shape)
        np.testing.assert_array_equal(objects._cache["intensity_edges"],
                                      find_boundaries(labels, mode="inner")[rr, cc], str(shape))


# -------------------------------------------------------------- index, ObjectIndex, labels


def test_index_alignment_and_nan_rows():
    labels = random_ellipses((40, 50), 12, seed=40, step=3)
    image = np.random.default_rng(41).random(labels.shape).astype(np.float32)
    full = intensity(image, labels, image_name="DNA")
    present = full.index.tolist()
    wanted = [present[3], 999, present[0], 0, -5, present[3], present[-1]]
    got = intensity(image, labels, image_name="DNA", index=wanted)
    assert got.index.tolist() == wanted
    assert got.columns.tolist() == full.columns.tolist()
    for position, label in enumerate(wanted):
        row = got.iloc[position].to_numpy()
        if label in present:
            np.testing.assert_array_equal(row, full.loc[label].to_numpy())
        else:
            assert np.isnan(row).all()
    scalar = intensity(image, labels, image_name="DNA", index=present[2])
    np.testing.assert_array_equal(scalar.to_numpy(), full.loc[[present[2]]].to_numpy())
    empty = intensity(image, labels, image_name="DNA", index=[])
    assert empty.shape == (0, 21) and empty.columns.tolist() == full.columns.tolist()
    absent = intensity_array(image, labels, index=[5000, 7001])
    assert np.isnan(as_table(absent)).all()


def test_column_names_and_order_are_cellprofiler_5s():
    table = intensity(np.ones((3, 3)), np.ones((3, 3), np.int32), image_name="Actin")
    intensity_names = [
        "IntegratedIntensity", "MeanIntensity", "StdIntensity", "MinIntensity", "MaxIntensity",
        "IntegratedIntensityEdge", "MeanIntensityEdge", "StdIntensityEdge", "MinIntensityEdge",
        "MaxIntensityEdge", "MassDisplacement", "LowerQuartileIntensity", "MedianIntensity",
        "MADIntensity", "UpperQuartileIntensity",
    ]
    location_names = ["CenterMassIntensity_X", "CenterMassIntensity_Y", "CenterMassIntensity_Z",
                      "MaxIntensity_X", "MaxIntensity_Y", "MaxIntensity_Z"]
    assert table.columns.tolist() == (
        [f"Intensity_{n}_Actin" for n in intensity_names]
        + [f"Location_{n}_Actin" for n in location_names])
    assert table.index.name == "label" and table.index.dtype == np.int64
    assert (table.dtypes == np.float64).all()


def test_object_index_input_equals_label_image():
    labels = random_blobs((50, 50), seed=42)
    objects = ObjectIndex(labels)
    for channel in range(2):  # one index reused across channels
        image = np.random.default_rng(channel).random(labels.shape).astype(np.float32)
        for index in (None, [3, 1, 77]):
            a = intensity_array(image, labels, index=index)
            b = intensity_array(image, objects, index=index)
            np.testing.assert_array_equal(a.labels, b.labels)
            assert_same(as_table(a), as_table(b))
    edges = objects._cache["intensity_edges"]  # label-only, kept for every channel
    rr, cc = np.unravel_index(objects.pixels, labels.shape)
    np.testing.assert_array_equal(edges, find_boundaries(labels, mode="inner")[rr, cc])


def test_huge_sparse_labels_and_dtypes():
    labels = np.zeros((20, 30), np.int64)
    labels[2:6, 3:9] = 7_000_000_000
    labels[10:15, 12:20] = 5
    labels[16:19, 1:4] = 10**9
    image = np.random.default_rng(43).random(labels.shape)
    got = intensity_array(image, labels)
    assert got.labels.tolist() == [5, 10**9, 7_000_000_000]
    dense = intensity_array(image, sequential(labels))
    assert_same(as_table(got), as_table(dense))
    for dtype in (np.uint16, np.int32, np.uint32):
        small = sequential(labels).astype(dtype)
        assert_same(as_table(intensity_array(image, small)), as_table(dense), str(dtype))
    u16 = np.random.default_rng(44).integers(0, 65536, labels.shape).astype(np.uint16)
    assert_same(as_table(intensity_array(u16, labels)),
                as_table(intensity_array(u16.astype(np.float64), labels)), "uint16 image")
    as_bool = intensity_array(u16 > 30000, labels)
    assert_same(as_table(as_bool),
                as_table(intensity_array((u16 > 30000).astype(np.float64), labels)), "bool")


def test_no_objects():
    for labels in (np.zeros((9, 11), np.int32), np.zeros((0, 5), np.int32)):
        table = intensity(np.zeros(labels.shape), labels, image_name="DNA")
        assert table.shape == (0, 21) and table.index.name == "label"
        arrays = intensity_array(np.zeros(labels.shape), labels)
        assert arrays.labels.shape == (0,)
        assert list(arrays.features) == list(INTENSITY_FEATURES)


def test_results_do_not_depend_on_thread_count(monkeypatch):
    import numba

    from pyhcs.features import _intensity_cpu

    monkeypatch.setattr(_intensity_cpu, "PIXELS_PER_THREAD", 1)  # every thread, even here
    labels = random_ellipses((128, 128), 80, seed=45)
    image = np.random.default_rng(46).random(labels.shape)
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        single = as_table(intensity_array(image, labels))
    finally:
        numba.set_num_threads(before)
    assert_same(as_table(intensity_array(image, labels)), single)


def test_bad_input():
    labels = np.zeros((4, 5), np.int32)
    labels[1:3, 1:3] = 1
    image = np.ones((4, 5), np.float32)
    with pytest.raises(TypeError, match="labels"):
        intensity(image, labels.astype(np.float64), image_name="I")
    with pytest.raises(TypeError, match="labels"):
        intensity(image, labels > 0, image_name="I")
    with pytest.raises(ValueError, match="labels"):
        intensity(image, labels - 1, image_name="I")
    with pytest.raises(ValueError, match="image"):
        intensity(np.ones((4, 6)), labels, image_name="I")
    with pytest.raises(ValueError, match="image"):
        intensity(np.ones((2, 4, 5)), labels, image_name="I")
    with pytest.raises(ValueError, match="labels"):
        intensity(np.ones((2, 4, 5)), np.stack([labels, labels]), image_name="I")
    with pytest.raises(TypeError, match="image"):
        intensity(np.ones((4, 5), complex), labels, image_name="I")
    with pytest.raises(TypeError, match="image"):
        intensity([[1.0] * 5] * 4, labels, image_name="I")
    with pytest.raises(ValueError, match="quartiles"):
        intensity(image, labels, image_name="I", quartiles="numpy")
    with pytest.raises(ValueError, match="quartiles"):
        intensity_array(image, labels, quartiles=None)
    with pytest.raises(TypeError, match="image_name"):
        intensity(image, labels)  # required keyword
    with pytest.raises(ValueError, match="image_name"):
        intensity(image, labels, image_name="")
    with pytest.raises(TypeError, match="image_name"):
        intensity(image, labels, image_name=3)
    with pytest.raises(TypeError, match="index"):
        intensity(image, labels, image_name="I", index=[1.5])
    with pytest.raises(ValueError, match="labels"):
        intensity_array(np.ones((2, 4, 5)), ObjectIndex(np.stack([labels, labels])))


# ------------------------------------------------------------------- the GPU path (simulator)

GPU_CASES = {
    "awkward": lambda: awkward_objects()[:16, :24],
    "ellipses_sparse": lambda: random_ellipses((20, 24), 6, seed=50, step=7),
    "full_image": lambda: np.full((5, 6), 3, np.int32),
}


@pytest.mark.cudasim
@pytest.mark.parametrize("case", list(GPU_CASES))
def test_gpu_path_equals_cpu(gpu_path, case):
    labels = GPU_CASES[case]()
    rng = np.random.default_rng(51)
    image = (rng.integers(0, 6, labels.shape) / 5).astype(np.float32)  # ties
    image[rng.random(labels.shape) < 0.05] = np.nan
    index = [int(v) for v in np.unique(labels)[::-1]] + [999]
    for quartiles in ("cellprofiler", "cp_measure"):
        cpu = intensity_array(image, labels, index=index, quartiles=quartiles)
        as_tuple = lambda *a, **k: tuple(intensity_array(*a, **k))
        gpu = IntensityArrays(*gpu_path(as_tuple, image, labels, index=index,
                                        quartiles=quartiles))
        np.testing.assert_array_equal(gpu.labels, cpu.labels)
        assert list(gpu.features) == list(cpu.features)
        assert_same(as_table(gpu), as_table(cpu), f"{case}/{quartiles}")


@pytest.mark.cudasim
def test_gpu_path_float64_dataframe_and_object_index(gpu_path):
    labels = random_ellipses((16, 18), 5, seed=52)
    image = np.random.default_rng(53).random(labels.shape)
    cpu = intensity(image, labels, image_name="Actin", quartiles="cellprofiler4")
    gpu = gpu_path(lambda img, lab: intensity(img, ObjectIndex(lab), image_name="Actin",
                                              quartiles="cellprofiler4"), image, labels)
    assert gpu.columns.tolist() == cpu.columns.tolist()
    assert gpu.index.tolist() == cpu.index.tolist()
    assert_same(gpu.to_numpy(), cpu.to_numpy())
    empty = gpu_path(intensity_array, image, np.zeros(labels.shape, np.int32))
    assert empty.labels.shape == (0,)


# ----------------------------------------------------------- real CellProfiler 5 (optional)

CP_VENV = Path(os.environ.get("PYHCS_CP_VENV",
                              Path.home() / ".cache/cellprofiler-headless/cp-venv"))

_CP_SCRIPT = textwrap.dedent("""
    import sys
    import numpy as np
    from cellprofiler_core.object import Objects
    from cellprofiler_library.modules._measureobjectintensity import measure_object_intensity

    data = np.load(sys.argv[1])
    out = {}
    for k in range(int(data["n"])):
        objects = Objects()
        objects.segmented = data[f"labels{k}"]
        m = measure_object_intensity(
            img=data[f"image{k}"], image_name="I", object_name="O", image_mask=None,
            object_labels=objects.get_labels(), nobjects=objects.count, image_dimensions=2)
        for name in m.get_feature_names("O"):
            out[f"{k}:{name}"] = np.asarray(m.get_measurement("O", name), np.float64)
    np.savez(sys.argv[2], **out)
""")


@pytest.mark.slow
@pytest.mark.skipif(not (CP_VENV / "bin/python").exists(),
                    reason="real CellProfiler 5 (shared/tools/cellprofiler) is not installed")
def test_real_cellprofiler_5(tmp_path):
    """Bit for bit with CellProfiler 5's own module code on float32 images (ties and NaN
    included); Location_MaxIntensity differs only on objects with tied maxima or NaN, where
    CellProfiler's scipy pick is arbitrary: ours must then hold the maximum (or a NaN)."""
    cases = []
    for case, make in LABEL_CASES.items():
        labels = sequential(make())
        for image in cp_input_images(labels.shape, seed=60 + len(case)).values():
            cases.append((labels, image))
    arrays = {"n": len(cases)}
    for k, (labels, image) in enumerate(cases):
        arrays[f"labels{k}"], arrays[f"image{k}"] = labels, image
    np.savez(tmp_path / "in.npz", **arrays)
    (tmp_path / "run.py").write_text(_CP_SCRIPT)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["HOME"] = str(CP_VENV.parent / "home")
    subprocess.run([str(CP_VENV / "bin/python"), str(tmp_path / "run.py"),
                    str(tmp_path / "in.npz"), str(tmp_path / "out.npz")],
                   check=True, env=env, capture_output=True)
    reference = np.load(tmp_path / "out.npz")
    for k, (labels, image) in enumerate(cases):
        ours = intensity_array(image, labels)
        for name in INTENSITY_FEATURES:
            expected = reference[f"{k}:{name}_I"]
            got = ours.features[name]
            if name in ("Location_MaxIntensity_X", "Location_MaxIntensity_Y"):
                differ = np.flatnonzero(got != expected)
                for row in differ:
                    values = image[labels == ours.labels[row]]
                    assert np.isnan(values).any() or (values == values.max()).sum() > 1
                x = ours.features["Location_MaxIntensity_X"].astype(int)
                y = ours.features["Location_MaxIntensity_Y"].astype(int)
                peak = image[y, x]
                maxima = np.array([np.max(image[labels == lab]) for lab in ours.labels])
                assert_same(peak, maxima, "the chosen pixel holds the maximum")
            else:
                assert_same(got, expected, f"case {k}: {name}")


def _cellprofiler_runs():
    """Outputs of real CellProfiler 5 runs of shared/tools/cellprofiler's pipeline that the
    benchmarks left here (label images kept), if any."""
    root = Path(os.environ.get("PYHCS_CP_BENCH", Path.home() / ".cache/pyhcs/bench"))
    return sorted(p for p in root.glob("cp_*/out/proc*") if (p / "labels").is_dir())


@pytest.mark.slow
@pytest.mark.skipif(not _cellprofiler_runs(), reason="no CellProfiler 5 benchmark run here")
def test_real_cellprofiler_5_pipeline_csv():
    """Nuclei, Cells and Cytoplasm of real fields, measured on CellProfiler's own label
    images: every column of its CSV bit for bit, but Location_MaxIntensity on tied maxima
    (CellProfiler's pick must then hold the same value in the same object)."""
    pd = pytest.importorskip("pandas")
    tifffile = pytest.importorskip("tifffile")
    proc = _cellprofiler_runs()[0]
    inputs = proc.parent.parent / "input"
    images = pd.read_csv(proc / "Image.csv")
    for compartment in ("Nuclei", "Cells", "Cytoplasm"):
        table = pd.read_csv(proc / f"{compartment}.csv")
        for path in sorted((proc / "labels").glob(f"*_{compartment}_labels.tiff"))[:1]:
            field = path.name.split("_")[0]
            names = images.filter(like="FileName_DNA").iloc[:, 0]
            number = int(images.loc[names.str.startswith(field + "_"), "ImageNumber"].iloc[0])
            reference = table[table["ImageNumber"] == number].set_index("ObjectNumber")
            labels = tifffile.imread(path).astype(np.int64)
            objects = ObjectIndex(labels)
            for channel in ("DNA", "Actin"):
                raw = tifffile.imread(inputs / f"{field}_{channel}.tif")
                image = raw.astype(np.float32) / np.float32(65535)
                ours = intensity(image, objects, image_name=channel,
                                 index=reference.index.to_numpy())
                x, y = (ours[f"Location_MaxIntensity_{a}_{channel}"].to_numpy().astype(int)
                        for a in "XY")
                cx, cy = (reference[f"Location_MaxIntensity_{a}_{channel}"].to_numpy().astype(int)
                          for a in "XY")
                np.testing.assert_array_equal(image[cy, cx], image[y, x])
                np.testing.assert_array_equal(labels[cy, cx], ours.index.to_numpy())
                for column in ours.columns:
                    if column[:-len(channel)] not in ("Location_MaxIntensity_X_",
                                                      "Location_MaxIntensity_Y_"):
                        assert_same(ours[column], reference[column], f"{compartment} {column}")
