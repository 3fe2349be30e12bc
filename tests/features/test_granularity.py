"""MeasureGranularity: pyhcs against cp_measure 0.3, against CellProfiler 5's recipe (its
scipy / scikit-image calls composed as its module composes them), against the real
CellProfiler 5 when it is installed, and the simulated GPU against the CPU."""

from __future__ import annotations

import os
import subprocess
import textwrap
from pathlib import Path

import numpy as np
import pytest
import scipy.ndimage as ndi
import skimage.morphology as morphology
from conftest import require_reference

from pyhcs.features import ObjectIndex
from pyhcs.features.granularity import GranularityArrays, granularity, granularity_spectrum


def make_field(shape, n_objects, seed, *, gaps=False):
    """Smooth noise plus brighter discs of random radii; labels 1..N (or with gaps)."""
    rng = np.random.default_rng(seed)
    height, width = shape
    image = ndi.gaussian_filter(rng.random(shape), rng.uniform(0.5, 3))
    labels = np.zeros(shape, np.int32)
    yy, xx = np.mgrid[:height, :width]
    for k in range(1, n_objects + 1):
        cy, cx = rng.uniform(0, height), rng.uniform(0, width)
        radius = rng.uniform(2, max(3, min(shape) / 5))
        disc = (yy - cy) ** 2 + (xx - cx) ** 2 < radius * radius
        labels[disc & (labels == 0)] = k
        image[disc] += rng.uniform(0, 0.6) * (1 + np.sin(yy[disc] / rng.uniform(1, 4)))
    image = (image / image.max()).astype(np.float32)
    present = np.unique(labels)
    lut = np.zeros(present.max() + 1, np.int32)
    lut[present] = np.arange(present.size) * (3 if gaps else 1)
    return image, lut[labels]


# ------------------------------------------------------------------- cp_measure 0.3

# (shape, settings): multiples of 16 and awkward sizes; the background grid stays >= 3 x 3
# (cp_measure's scipy reads uninitialised memory below that, reference notes 10.8)
CP_MEASURE_CASES = [
    ((64, 64), {}),
    ((100, 77), {}),
    ((160, 200), {}),
    ((250, 266), {}),
    ((90, 130), {"subsample_size": 0.5, "image_sample_size": 0.5, "element_size": 4,
                 "granular_spectrum_length": 6}),
    ((70, 83), {"subsample_size": 0.3, "image_sample_size": 0.4, "element_size": 3,
                "granular_spectrum_length": 9}),
    ((48, 56), {"subsample_size": 1.0, "image_sample_size": 0.25, "element_size": 5,
                "granular_spectrum_length": 4}),
    ((60, 45), {"subsample_size": 0.5, "image_sample_size": 1.0, "element_size": 2,
                "granular_spectrum_length": 5}),
]


@pytest.mark.parametrize("case", range(len(CP_MEASURE_CASES)))
def test_equals_cp_measure(case):
    """Within cp_measure's own round-off: its restore-and-mean is a sparse matrix product
    whose summation order scipy leaves unspecified (reference notes 10.6)."""
    get_granularity = require_reference("cp_measure.core.measuregranularity").get_granularity
    shape, settings = CP_MEASURE_CASES[case]
    for seed in range(3):
        image, labels = make_field(shape, 4 + 5 * seed, seed=100 * case + seed)
        expected = get_granularity(labels, image, **settings)
        ours = granularity(
            image, labels, image_name="DNA", reference="cp_measure",
            subsample=settings.get("subsample_size", 0.25),
            background_subsample=settings.get("image_sample_size", 0.25),
            radius=settings.get("element_size", 10),
            spectrum=settings.get("granular_spectrum_length", 16))
        assert ours.index.tolist() == list(range(1, labels.max() + 1))
        assert len(expected) == ours.shape[1]
        for g, name in enumerate(expected, start=1):
            np.testing.assert_allclose(ours[f"Granularity_{g}_DNA"].to_numpy(), expected[name],
                                       rtol=1e-12, atol=1e-9, err_msg=f"{shape} {seed} {name}")


# ----------------------------------------------------- CellProfiler 5's recipe, composed

def cellprofiler_recipe(image, labels, mask, s=0.25, b=0.25, radius=10, spectrum=16):
    """CellProfiler 5's MeasureGranularity (cellprofiler_library 5.0.0.dev784) written out
    with the scipy and scikit-image calls it makes, in their order and dtypes. The float
    subsampled shape, the background grid taken from the subsampled array's own shape, and
    numpy 1.26's buffered means and promotion of a float32 scalar times a Python int to
    float64 are CellProfiler's."""
    def downsample(pixels, pixel_mask, factor):
        new_shape = np.array(pixels.shape)
        if factor < 1:
            new_shape = new_shape * factor
            i, j = np.mgrid[0:new_shape[0], 0:new_shape[1]].astype(float) / factor
            out = ndi.map_coordinates(pixels, (i, j), order=1)
            out_mask = ndi.map_coordinates(pixel_mask.astype(float), (i, j)).astype(float) > 0.9
            return out, out_mask, new_shape
        return pixels.copy(), pixel_mask.copy(), new_shape

    def restore(orig_shape, scaled_shape, scaled):
        i, j = np.mgrid[0:orig_shape[0], 0:orig_shape[1]].astype(float)
        i *= float(scaled_shape[0] - 1) / float(orig_shape[0] - 1)
        j *= float(scaled_shape[1] - 1) / float(orig_shape[1] - 1)
        return ndi.map_coordinates(scaled, (i, j), order=1).astype(float)

    def masked(op, im, im_mask, footprint):
        kept = np.zeros_like(im)
        kept[im_mask] = im[im_mask]
        return op(kept, footprint)

    pixels, pmask, new_shape = downsample(image, mask, s)
    back, back_mask, back_shape = downsample(pixels, pmask, b)
    disk = morphology.disk(radius, dtype=bool)
    back = masked(morphology.erosion, back, back_mask, disk)
    back = masked(morphology.dilation, back, back_mask, disk)
    if b < 1:
        back = restore(new_shape, back_shape, back)
    pixels -= back
    pixels[pixels < 0] = 0

    obj_labels = labels.copy()
    obj_labels[~mask] = 0
    index = np.arange(1, labels.max() + 1)
    current = np.asarray(ndi.mean(image, obj_labels, index), float)
    start = np.maximum(current, np.finfo(float).eps)
    cross = morphology.disk(1, dtype=bool)
    image_mean = numpy126_mean(pixels[pmask])
    previous_image, image_start = image_mean, max(image_mean, np.finfo(float).eps)
    ero = pixels.copy()
    ero[~pmask] = 0
    per_image, per_object = [], []
    for _ in range(spectrum):
        ero = masked(morphology.erosion, ero, pmask, cross)
        rec = morphology.reconstruction(ero, pixels, footprint=cross)
        mean = numpy126_mean(rec[pmask])
        per_image.append(float(previous_image - mean) * 100 / float(image_start))
        previous_image = mean
        full = restore(image.shape, new_shape, rec)
        new = np.asarray(ndi.mean(full, obj_labels, index), float)
        per_object.append((current - new) * 100 / start)
        current = new
    return np.array(per_image), np.array(per_object)


@pytest.mark.parametrize("shape", [(64, 64), (96, 128), (100, 77), (250, 266), (48, 52),
                                   (400, 383)])
def test_equals_the_cellprofiler_recipe_bit_for_bit(shape):
    """Every per-object and per-image value, with and without an image mask, on sizes that
    are and are not multiples of the subsampling (CellProfiler's float-shape rule)."""
    for seed in range(2):
        image, labels = make_field(shape, 6 + 4 * seed, seed=7 * seed + shape[1])
        mask = np.ones(shape, bool)
        if seed:
            mask[: shape[0] // 3, : shape[1] // 2] = False
        expected_image, expected_objects = cellprofiler_recipe(image, labels, mask)
        spectrum = granularity_spectrum(image, mask=None if not seed else mask)
        got_image = np.array([spectrum.image_features[f"Granularity_{g}"] for g in range(1, 17)])
        np.testing.assert_array_equal(got_image, expected_image)
        got = spectrum.objects(labels)
        np.testing.assert_array_equal(got.labels, np.arange(1, labels.max() + 1))
        got_objects = np.array([got.features[f"Granularity_{g}"] for g in range(1, 17)])
        np.testing.assert_array_equal(got_objects, expected_objects)


def test_recipe_settings_and_float64():
    """Other settings, and a float64 image (computed in float64, as scipy keeps it)."""
    cases = [(0.5, 0.5, 3, 5), (0.3, 0.7, 2, 7), (1.0, 0.5, 4, 3), (0.5, 1.0, 1, 4)]
    for k, (s, b, radius, steps) in enumerate(cases):
        image, labels = make_field((61, 75), 7, seed=40 + k)
        if k % 2:
            image = image.astype(np.float64) ** 1.5
        mask = np.ones(image.shape, bool)
        expected_image, expected_objects = cellprofiler_recipe(image, labels, mask, s, b,
                                                               radius, steps)
        table = granularity(image, labels, image_name="A", subsample=s,
                            background_subsample=b, radius=radius, spectrum=steps)
        np.testing.assert_array_equal(table.to_numpy().T, expected_objects, err_msg=str(k))
        whole = granularity(image, image_name="A", subsample=s, background_subsample=b,
                            radius=radius, spectrum=steps)
        assert list(whole) == [f"Granularity_{g}_A" for g in range(1, steps + 1)]
        np.testing.assert_array_equal(list(whole.values()), expected_image, err_msg=str(k))


# ------------------------------------------------------------------- API and edge cases

def test_index_object_index_and_label_sets():
    image, labels = make_field((80, 96), 9, seed=3, gaps=True)
    spectrum = granularity_spectrum(image)
    full = spectrum.objects(labels)
    assert full.labels.tolist() == sorted(set(np.unique(labels)) - {0})
    again = spectrum.objects(ObjectIndex(labels), index=[full.labels[2], 1000, 0,
                                                          full.labels[0]])
    assert again.labels.tolist() == [full.labels[2], 1000, 0, full.labels[0]]
    for name, values in again.features.items():
        assert values[0] == full.features[name][2] and values[3] == full.features[name][0]
        assert np.isnan(values[1]) and np.isnan(values[2])
    table = granularity(image, labels, image_name="DNA", index=full.labels[::-1])
    np.testing.assert_array_equal(table.to_numpy()[::-1],
                                  np.array(list(full.features.values())).T)
    empty = spectrum.objects(np.zeros_like(labels))
    assert isinstance(empty, GranularityArrays) and empty.labels.shape == (0,)


def test_edge_cases():
    zero = granularity(np.zeros((64, 64), np.float32), np.ones((64, 64), np.int32),
                       image_name="Z")
    np.testing.assert_array_equal(zero.to_numpy(), 0.0)  # all-zero: no crash, no NaN
    tiny = granularity(np.ones((4, 40), np.float32), np.ones((4, 40), np.int32),
                       image_name="T")
    assert np.isnan(tiny.to_numpy()).all()  # a subsampled grid of 1 row: no spectrum
    assert all(np.isnan(v) for v in granularity(np.ones((4, 40)), image_name="T").values())
    # a large disk on a small background grid is defined (a true mirror)
    image, labels = make_field((40, 40), 3, seed=5)
    assert np.isfinite(granularity(image, labels, image_name="S", radius=30).to_numpy()).all()
    ints = (image * 1000).astype(np.uint16)
    np.testing.assert_array_equal(
        granularity(ints, labels, image_name="I").to_numpy(),
        granularity(ints.astype(np.float64), labels, image_name="I").to_numpy())


def test_bad_input():
    image, labels = make_field((64, 64), 3, seed=1)
    with pytest.raises(ValueError, match="reference"):
        granularity(image, labels, image_name="X", reference="cellprofiler4")
    for name, value in [("subsample", 0), ("background_subsample", -1.0),
                        ("subsample", float("nan"))]:
        with pytest.raises(ValueError, match=name):
            granularity(image, labels, image_name="X", **{name: value})
    with pytest.raises(TypeError, match="subsample"):
        granularity(image, labels, image_name="X", subsample="0.25")
    with pytest.raises(ValueError, match="radius"):
        granularity(image, labels, image_name="X", radius=-1)
    with pytest.raises(ValueError, match="spectrum"):
        granularity(image, labels, image_name="X", spectrum=0)
    with pytest.raises(TypeError, match="radius"):
        granularity(image, labels, image_name="X", radius=2.5)
    bad = image.copy()
    bad[3, 3] = np.nan
    with pytest.raises(ValueError, match="image contains NaN"):
        granularity(bad, labels, image_name="X")
    with pytest.raises(ValueError, match="labels has shape"):
        granularity(image, labels[:10], image_name="X")
    with pytest.raises(ValueError, match="mask has shape"):
        granularity(image, labels, image_name="X", mask=np.ones((3, 3), bool))
    with pytest.raises(TypeError, match="image_name"):
        granularity(image, labels, image_name=None)
    with pytest.raises(ValueError, match="index needs labels"):
        granularity(image, image_name="X", index=[1])
    with pytest.raises(TypeError, match="labels must be an integer"):
        granularity(image, labels.astype(float), image_name="X")
    with pytest.raises(ValueError, match="image must be 2-D"):
        granularity(image[None], labels, image_name="X")


# ------------------------------------------------------------------- the GPU path (simulator)

@pytest.mark.cudasim
def test_gpu_path_equals_cpu(gpu_path):
    """Every kernel under the simulator, on small fields: float32 with a mask and awkward
    sizes, float64 without subsampling, cp_measure's geometry."""
    cases = [
        ((22, 26), np.float32, True, dict(subsample=0.5, background_subsample=0.5, radius=2,
                                          spectrum=3)),
        ((17, 15), np.float64, False, dict(subsample=1.0, background_subsample=0.5, radius=1,
                                           spectrum=2)),
        ((21, 19), np.float32, False, dict(subsample=0.5, background_subsample=1.0, radius=1,
                                           spectrum=2, reference="cp_measure")),
    ]
    for shape, dtype, with_mask, settings in cases:
        image, labels = make_field(shape, 4, seed=shape[0], gaps=True)
        image = image.astype(dtype)
        mask = None
        if with_mask:
            mask = np.ones(shape, bool)
            mask[:5, :9] = False
        index = [int(v) for v in np.unique(labels)[::-1]] + [999]

        def run(img, lab, msk):
            spectrum = granularity_spectrum(img, mask=msk, **settings)
            return spectrum.image_features, tuple(spectrum.objects(lab, index=index))

        cpu_image, cpu_objects = run(image, labels, mask)
        gpu_image, gpu_objects = gpu_path(run, image, labels, mask)
        assert gpu_image == cpu_image
        np.testing.assert_array_equal(gpu_objects[0], cpu_objects[0])
        for name in cpu_objects[1]:
            np.testing.assert_array_equal(gpu_objects[1][name], cpu_objects[1][name],
                                          err_msg=f"{shape} {name}")


def numpy126_mean(values):
    """numpy 1.26's mean of a contiguous 1-D float array (CellProfiler 5's numpy): the sums of
    8192-value buffers (each numpy's pairwise sum, as numpy 2 still takes it) added in order,
    then one division."""
    total = values.dtype.type(0)
    for start in range(0, values.size, 8192):
        total = values.dtype.type(total + np.add.reduce(values[start:start + 8192]))
    return values.dtype.type(float(total) / values.size)


@pytest.mark.cudasim
@pytest.mark.parametrize("n", [1, 7, 8, 9, 127, 128, 129, 136, 300, 4099, 8192, 8193, 20001])
def test_means_are_numpy_1_26s(n, gpu_path):
    """The image means, on the CPU and the simulated GPU: numpy's pairwise sums bit for bit
    up to 8192 values, numpy 1.26's buffered sums beyond, in float32 and float64."""
    from pyhcs._backend import namespace_for
    from pyhcs.features.granularity import _row_means

    rng = np.random.default_rng(n)
    for dtype in (np.float32, np.float64):
        values = (rng.random((2, n)) * rng.choice([1e-3, 1, 1e3], (2, n))).astype(dtype)
        expected = [numpy126_mean(row) for row in values]
        if n <= 8192:
            assert expected == [row.mean() for row in values]
        cpu = _row_means(values, namespace_for(values))
        assert [type(x) for x in cpu] == [dtype] * 2 and cpu == expected, (n, dtype)
        if n in (9, 300, 8193):
            gpu = gpu_path(lambda v: _row_means(v, namespace_for(v)), values)
            assert gpu == expected, (n, dtype)


# ----------------------------------------------------------- real CellProfiler 5 (optional)

CP_VENV = Path(os.environ.get("PYHCS_CP_VENV",
                              Path.home() / ".cache/cellprofiler-headless/cp-venv"))

_CP_SCRIPT = textwrap.dedent("""
    import sys
    import numpy as np
    from cellprofiler_library.functions.measurement import ObjectRecord
    from cellprofiler_library.modules._measuregranularity import measure_granularity

    data = np.load(sys.argv[1])
    out = {}
    for k in range(int(data["n"])):
        image, labels, mask = data[f"image{k}"], data[f"labels{k}"], data[f"mask{k}"]
        record = ObjectRecord("O", labels, mask, image)
        m = measure_granularity("X", image, mask, 0.25, 0.25, 10, [record], 16)
        out[f"image{k}"] = [float(m.get_measurement("Image", f"Granularity_{g}_X"))
                            for g in range(1, 17)]
        out[f"objects{k}"] = np.array([m.get_measurement("O", f"Granularity_{g}_X")
                                       for g in range(1, 17)], float)
    np.savez(sys.argv[2], **out)
""")


@pytest.mark.slow
@pytest.mark.skipif(not (CP_VENV / "bin/python").exists(),
                    reason="real CellProfiler 5 (shared/tools/cellprofiler) is not installed")
def test_real_cellprofiler_5(tmp_path):
    """Bit for bit with CellProfiler 5's own MeasureGranularity code (cellprofiler_library),
    per object and per image, masks and awkward sizes included."""
    shapes = [(64, 64), (128, 96), (160, 200), (250, 266), (100, 77), (192, 320), (48, 52),
              (512, 520)]
    arrays = {"n": len(shapes)}
    for k, shape in enumerate(shapes):
        image, labels = make_field(shape, 5 + k, seed=200 + k)
        mask = np.ones(shape, bool)
        if k % 2:
            mask[: shape[0] // 4, : shape[1] // 3] = False
        arrays[f"image{k}"], arrays[f"labels{k}"], arrays[f"mask{k}"] = image, labels, mask
    np.savez(tmp_path / "in.npz", **arrays)
    (tmp_path / "run.py").write_text(_CP_SCRIPT)
    env = {**os.environ, "HOME": str(CP_VENV.parent / "home")}
    subprocess.run([str(CP_VENV / "bin/python"), str(tmp_path / "run.py"), str(tmp_path / "in.npz"),
                    str(tmp_path / "out.npz")], check=True, env=env, capture_output=True)
    expected = np.load(tmp_path / "out.npz")
    for k in range(len(shapes)):
        spectrum = granularity_spectrum(arrays[f"image{k}"], mask=arrays[f"mask{k}"])
        got_image = [spectrum.image_features[f"Granularity_{g}"] for g in range(1, 17)]
        np.testing.assert_array_equal(got_image, expected[f"image{k}"])
        objects = spectrum.objects(arrays[f"labels{k}"])
        got = np.array([objects.features[f"Granularity_{g}"] for g in range(1, 17)])
        np.testing.assert_array_equal(got, expected[f"objects{k}"])
