"""Zernike moments: parity with cp_measure, centrosome (CellProfiler) and mahotas; index, NaN
rows, degrees up to 20, bad input, thread-count independence and the GPU path.

Tolerance everywhere (unless a test says otherwise): relative 1e-9 with an absolute floor of
1e-12 (``assert_allclose(rtol=1e-9, atol=1e-12)``); moments that vanish by symmetry come out
~1e-17 in every implementation. Phases are compared only where the moment is not at round-off
level (magnitude > 1e-9 times the object's Zernike_0_0 magnitude): below that the phase of
any implementation is noise.
"""

import numpy as np
import pytest
from cases import awkward_objects, disc_field, image_for, random_blobs, random_ellipses
from conftest import require_reference
from scipy import ndimage as ndi
from skimage.draw import ellipse

from pyhcs import _core
from pyhcs.features import (
    zernike,
    zernike_array,
    zernike_indexes,
    zernike_moments,
)
from pyhcs.features.zernike import MAX_DEGREE, ZernikeArrays, _numpy_square_is_fused, _tables

# the references run on the installed numpy: compare in its tie order (see conftest.py)
pytestmark = pytest.mark.usefixtures("installed_numpy_ties")


# The references are imported where they are used, so that on the GPU check machine (which has
# none of them) only the parity tests are skipped and the GPU-path tests still run.
class _Reference:
    def __init__(self, module):
        self._module = module

    def __getattr__(self, name):
        if name.startswith("_"):  # pytest's collection looks for markers and fixtures
            raise AttributeError(name)
        return getattr(require_reference(self._module), name)


centrosome_zernike = _Reference("centrosome.zernike")
cpmorphology = _Reference("centrosome.cpmorphology")
mahotas_features = _Reference("mahotas.features")
cp_shape = _Reference("cp_measure.core.measureobjectsizeshape")
cp_intensity = _Reference("cp_measure.core.measureobjectintensitydistribution")

RTOL, ATOL = 1e-9, 1e-12


def assert_close(ours, reference, what=""):
    ours = np.asarray(ours, np.float64)
    reference = np.asarray(reference, np.float64)
    assert ours.shape == reference.shape, what
    np.testing.assert_array_equal(np.isnan(ours), np.isnan(reference), err_msg=f"NaN {what}")
    np.testing.assert_allclose(ours, reference, rtol=RTOL, atol=ATOL, err_msg=what)


def assert_phase_close(ours, reference, magnitude, what=""):
    np.testing.assert_array_equal(np.isnan(ours), np.isnan(reference), err_msg=f"NaN {what}")
    defined = np.nan_to_num(magnitude) > 1e-9 * np.nan_to_num(magnitude[:, :1])
    difference = np.angle(np.exp(1j * (ours[defined] - reference[defined])))  # wrap at +-pi
    np.testing.assert_allclose(difference, 0.0, atol=ATOL + RTOL * np.pi, err_msg=what)


# ------------------------------------------------------------------------ label images


DISC_RADII = (0.5, 12.0)


def nuclei_field(shape, n, seed):
    """Realistic nucleus-sized ellipses (radii 3-20), later ones painted over earlier ones."""
    rng = np.random.default_rng(seed)
    labels = np.zeros(shape, np.int32)
    for k in range(1, n + 1):
        rr, cc = ellipse(
            rng.uniform(0, shape[0]), rng.uniform(0, shape[1]), rng.uniform(3, 20),
            rng.uniform(3, 20), shape=shape, rotation=rng.uniform(0, np.pi),
        )
        labels[rr, cc] = k
    return labels


LABEL_CASES = {
    "nuclei": lambda: nuclei_field((200, 220), 60, seed=1),
    "ellipses_touching": lambda: random_ellipses((120, 140), 40, seed=2),
    "blobs_with_holes": lambda: random_blobs((120, 110), seed=3),
    "discs_ties": lambda: disc_field((150, 150), 70, seed=4, radius=DISC_RADII),
    "awkward": awkward_objects,
    "full_image": lambda: np.full((9, 13), 4, dtype=np.int32),
}


def _sequential(labels):
    """Labels renumbered 1..N (cp_measure needs them), and the original label of each."""
    present = np.unique(labels)
    present = present[present > 0]
    lut = np.zeros(int(labels.max(initial=0)) + 1, np.int32)
    lut[present] = np.arange(1, present.size + 1)
    return lut[labels], present


def cellprofiler_intensity_reference(labels, image, degree):
    """MeasureObjectIntensityDistribution's Zernikes on centrosome's basis (CellProfiler 4's
    calculate_zernikes): magnitude |sum I V| / area, phase arctan2(Re, Im)."""
    indexes = centrosome_zernike.get_zernike_indexes(degree + 1)
    objects = np.arange(1, int(labels.max()) + 1)
    centers = np.zeros((objects.size + 1, 2))
    radii = np.zeros(objects.size + 1)
    centers[objects], radii[objects] = cpmorphology.minimum_enclosing_circle(labels, objects)
    ii, jj = np.nonzero(labels)
    owner = labels[ii, jj]
    with np.errstate(invalid="ignore", divide="ignore"):
        yx = (np.column_stack([ii, jj]) - centers[owner]) / radii[owner, np.newaxis]
    basis = centrosome_zernike.construct_zernike_polynomials(yx[:, 1], yx[:, 0], indexes)
    areas = ndi.sum(np.ones(owner.shape, int), labels=owner, index=objects)
    pixels = image[ii, jj].astype(np.float64)
    magnitude = np.zeros((objects.size, len(indexes)))
    phase = np.zeros_like(magnitude)
    for k in range(len(indexes)):
        vr = ndi.sum(pixels * basis[:, k].real, labels=owner, index=objects)
        vi = ndi.sum(pixels * basis[:, k].imag, labels=owner, index=objects)
        magnitude[:, k] = np.sqrt(vr * vr + vi * vi) / areas
        phase[:, k] = np.arctan2(vr, vi)
    return magnitude, phase


# ------------------------------------------------------------------- indexes and tables


@pytest.mark.parametrize("degree", range(MAX_DEGREE + 1))
def test_indexes_and_coefficients_match_centrosome_and_mahotas(degree):
    nm = zernike_indexes(degree)
    np.testing.assert_array_equal(nm, centrosome_zernike.get_zernike_indexes(degree + 1))
    tables = _tables(degree)
    lut = centrosome_zernike.construct_zernike_lookuptable(nm)
    fact = [float(np.prod(np.arange(1, k + 1, dtype=np.float64))) for k in range(degree + 1)]
    for column, (n, m) in enumerate(nm):
        k = tables.to_cp[column]
        ours = tables.coeffs[tables.cstart[k]:tables.cstart[k + 1]]
        np.testing.assert_array_equal(ours, lut[column, : (n - m) // 2 + 1])
        mahotas_g = [  # mahotas' g_m, computed with its float factorials
            (-1.0) ** j * fact[n - j]
            / (fact[j] * fact[(n - 2 * j + m) // 2] * fact[(n - 2 * j - m) // 2])
            for j in range((n - m) // 2 + 1)
        ]
        np.testing.assert_array_equal(ours, mahotas_g)


# ------------------------------------------------------------------------- shape parity


@pytest.mark.parametrize("case", list(LABEL_CASES))
@pytest.mark.parametrize("degree", [9, 4, 20])
def test_shape_parity_with_cp_measure_and_centrosome(case, degree):
    labels = LABEL_CASES[case]()
    sequential, present = _sequential(labels)
    table = zernike(labels, degree=degree)
    assert table.index.tolist() == present.tolist()
    names = [f"AreaShape_Zernike_{n}_{m}" for n, m in zernike_indexes(degree)]
    assert table.columns.tolist() == names

    with np.errstate(invalid="ignore", divide="ignore"):
        reference = cp_shape.get_zernike(sequential, None, degree)
    assert [f"AreaShape_{key}" for key in reference] == names
    assert_close(table.to_numpy(), np.column_stack(list(reference.values())), "cp_measure")

    with np.errstate(invalid="ignore", divide="ignore"):
        centrosome = centrosome_zernike.zernike(
            zernike_indexes(degree), sequential, np.arange(1, present.size + 1)
        )
    assert_close(table.to_numpy(), centrosome, "centrosome")


def test_shape_parity_many_realistic_nuclei():
    # several hundred nucleus-like objects of every size, in two fields
    for seed in (11, 12):
        labels = nuclei_field((400, 400), 260, seed=seed)
        sequential, present = _sequential(labels)
        ours = zernike_array(labels)
        reference = cp_shape.get_zernike(sequential, None, 9)
        assert_close(ours.shape, np.column_stack(list(reference.values())), f"seed {seed}")


def test_one_pixel_objects_are_nan_and_the_rest_is_not():
    labels = awkward_objects()
    table = zernike(labels, image=image_for(labels, np.uint16, 1))
    one_pixel = [7, 2**20]
    assert table.loc[one_pixel].isna().all(axis=None)
    assert not table.drop(index=one_pixel).isna().any(axis=None)


def test_zernike_0_0_is_the_fill_fraction_of_the_kept_pixels():
    labels = np.zeros((11, 11), np.int32)
    labels[1:10, 1:10] = 1  # 9x9 square: circle radius 4 sqrt(2), no pixel dropped
    value = zernike(labels, degree=0)["AreaShape_Zernike_0_0"].iloc[0]
    assert value == pytest.approx(81 / (np.pi * 32), rel=1e-12)


# --------------------------------------------------------------------- intensity parity


@pytest.mark.parametrize("case", ["nuclei", "blobs_with_holes", "awkward", "discs_ties"])
@pytest.mark.parametrize("image_dtype", [np.float64, np.uint16])
def test_intensity_parity(case, image_dtype):
    labels = LABEL_CASES[case]()
    sequential, present = _sequential(labels)
    image = image_for(labels, image_dtype, seed=7)
    if image_dtype == np.float64:
        image = np.abs(image) / 400  # CellProfiler's images are in [0, 1]
    table = zernike(labels, image=image, image_name="DNA")
    nm = zernike_indexes(9)
    shape_names = [f"AreaShape_Zernike_{n}_{m}" for n, m in nm]
    magnitude_names = [f"RadialDistribution_ZernikeMagnitude_DNA_{n}_{m}" for n, m in nm]
    phase_names = [f"RadialDistribution_ZernikePhase_DNA_{n}_{m}" for n, m in nm]
    assert table.columns.tolist() == shape_names + magnitude_names + phase_names
    magnitude = table[magnitude_names].to_numpy()
    phase = table[phase_names].to_numpy()

    with np.errstate(invalid="ignore", divide="ignore"):
        reference = cp_intensity.get_radial_zernikes(sequential, image, 9)
    ref_magnitude = np.column_stack(
        [reference[f"RadialDistribution_ZernikeMagnitude_{n}_{m}"] for n, m in nm]
    )
    ref_phase = np.column_stack(
        [reference[f"RadialDistribution_ZernikePhase_{n}_{m}"] for n, m in nm]
    )
    assert_close(magnitude, ref_magnitude, "cp_measure magnitude")
    assert_phase_close(phase, ref_phase, ref_magnitude, "cp_measure phase")

    with np.errstate(invalid="ignore", divide="ignore"):
        cp_magnitude, cp_phase = cellprofiler_intensity_reference(sequential, image, 9)
    assert_close(magnitude, cp_magnitude, "CellProfiler magnitude")
    assert_phase_close(phase, cp_phase, cp_magnitude, "CellProfiler phase")

    # the shape columns do not change when an image is given
    assert_close(table[shape_names].to_numpy(), zernike(labels).to_numpy(), "shape")


def test_intensity_degree_20_and_phase_conventions():
    labels = nuclei_field((120, 120), 25, seed=21)
    sequential, _ = _sequential(labels)
    image = np.random.default_rng(3).random(labels.shape)
    ours = zernike_array(labels, image=image, degree=20)
    with np.errstate(invalid="ignore", divide="ignore"):
        cp_magnitude, cp_phase = cellprofiler_intensity_reference(sequential, image, 20)
    assert_close(ours.magnitude, cp_magnitude, "magnitude")
    assert_phase_close(ours.phase, cp_phase, cp_magnitude, "phase")
    # an (n, 0) moment has a real sum: phase +-pi/2 (arctan2(Re, Im)); an all-zero object 0, 0
    m0 = ours.nm[:, 1] == 0
    assert np.allclose(np.abs(ours.phase[:, m0]), np.pi / 2)
    dark = zernike_array(labels, image=np.zeros(labels.shape), degree=3)
    assert (dark.magnitude == 0).all() and (dark.phase == 0).all()


# ------------------------------------------------------------------------ mahotas parity


def _mahotas_cases():
    rng = np.random.default_rng(20240611)
    cases = []
    for k in range(36):
        h, w = (int(v) for v in rng.integers(3, 48, 2))
        image = rng.random((h, w)) * 200.0
        if k % 3 == 0:
            image -= 40.0  # negative pixels: in the centre of mass, never in the moments
        if k % 4 == 1:
            image = np.round(image).clip(0, 255).astype(np.uint8)
        if k % 9 == 4:
            image = (image > 100).astype(np.float32)  # a binary mask
        radius = float(rng.integers(1, 25)) if k % 2 else float(rng.uniform(0.7, 30.0))
        degree = int(rng.integers(0, MAX_DEGREE + 1)) if k % 5 else MAX_DEGREE
        if k % 4 == 0:
            cm = None
        elif k % 4 == 2:  # an integer centre: exact rim pixels (rho == 1) exist
            cm = (float(rng.integers(0, h)), float(rng.integers(0, w)))
        else:
            cm = (float(rng.uniform(-2, h + 2)), float(rng.uniform(-2, w + 2)))
        cases.append((image, radius, degree, cm))
    return cases


@pytest.mark.parametrize("case", range(36))
def test_mahotas_parity(case):
    image, radius, degree, cm = _mahotas_cases()[case]
    ours = zernike_moments(image, radius, degree, cm)
    reference = mahotas_features.zernike_moments(image, radius, degree, cm)
    assert_close(ours, reference, f"degree {degree}, radius {radius}, cm {cm}")


def test_mahotas_defaults_and_empty_disk():
    image = np.zeros((20, 20))
    image[5:15, 6:12] = np.arange(60).reshape(10, 6)
    assert_close(zernike_moments(image, 6), mahotas_features.zernike_moments(image, 6))
    assert zernike_moments(image, 6).shape == (25,)
    # no pixel inside the circle: all zeros, as mahotas
    far = zernike_moments(image, 2.0, 4, cm=(100.0, 100.0))
    reference = mahotas_features.zernike_moments(image, 2.0, 4, cm=(100.0, 100.0))
    np.testing.assert_array_equal(far, reference)
    np.testing.assert_array_equal(far, 0.0)
    np.testing.assert_array_equal(zernike_moments(np.zeros((5, 5)), 2.0, 3), 0.0)


def test_numpy_square_detection_is_consistent():
    # the detected rounding of np.square is the one mahotas gets for A ** 2
    theta = np.linspace(0, 2 * np.pi, 1001)
    a = np.cos(theta) + 1j * np.sin(theta)
    plain = a.real * a.real - a.imag * a.imag
    assert _numpy_square_is_fused() == (not np.array_equal((a**2).real, plain))


# ------------------------------------------------------------------------- index, labels


class TestIndex:
    def setup_method(self):
        self.labels = random_ellipses((70, 70), 12, seed=31, step=5, touching=False)
        self.image = image_for(self.labels, np.uint16, seed=32)
        self.full = zernike(self.labels, image=self.image)

    def test_order_absent_and_duplicates(self):
        present = self.full.index.to_numpy()
        index = [int(present[3]), 999, int(present[0]), 0, -4, int(present[3])]
        table = zernike(self.labels, image=self.image, index=index)
        assert table.index.tolist() == index
        assert table.index.name == "label" and table.index.dtype == np.int64
        assert table.columns.tolist() == self.full.columns.tolist()
        for row, label in enumerate(index):
            if label in present:
                expected = self.full.loc[label].to_numpy()
                np.testing.assert_array_equal(table.iloc[row].to_numpy(), expected)
            else:
                assert table.iloc[row].isna().all()

    def test_index_forms_and_empty(self):
        label = int(self.full.index[1])
        for index in (label, np.int16(label), [label], np.array([label], np.uint8)):
            table = zernike(self.labels, index=index)
            assert table.index.tolist() == [label]
        empty = zernike(self.labels, index=[])
        assert empty.shape == (0, 30) and empty.index.name == "label"

    def test_array_form(self):
        result = zernike_array(self.labels, image=self.image, index=[int(self.full.index[2]), 7])
        assert result.labels.dtype == np.int64 and result.labels.tolist()[1] == 7
        assert result.shape.shape == result.magnitude.shape == result.phase.shape == (2, 30)
        np.testing.assert_array_equal(result.nm, zernike_indexes(9))
        np.testing.assert_array_equal(result.shape[0], self.full.iloc[2, :30].to_numpy())
        assert np.isnan(result.shape[1]).all() and np.isnan(result.phase[1]).all()


def test_labels_dtypes_huge_labels_and_layouts():
    labels = random_ellipses((60, 80), 15, seed=41, step=3)
    expected = zernike(labels)
    for dtype in (np.uint8, np.uint16, np.int64, np.uint32):
        table = zernike(labels.astype(dtype))
        np.testing.assert_array_equal(table.to_numpy(), expected.to_numpy())
    huge = labels.astype(np.int64) * 2**40  # renumbered internally
    table = zernike(huge)
    assert table.index.tolist() == (expected.index.to_numpy() * 2**40).tolist()
    np.testing.assert_array_equal(table.to_numpy(), expected.to_numpy())
    # non-contiguous views and Fortran order
    big = np.zeros((120, 160), np.int32)
    big[::2, ::2] = labels
    np.testing.assert_array_equal(zernike(big[::2, ::2]).to_numpy(), expected.to_numpy())
    fortran = zernike(np.asfortranarray(labels))
    np.testing.assert_array_equal(fortran.to_numpy(), expected.to_numpy())


def test_empty_and_degenerate_images():
    empty = zernike(np.zeros((6, 7), np.int32), image=np.ones((6, 7)))
    assert empty.shape == (0, 90) and empty.index.dtype == np.int64
    assert zernike(np.zeros((0, 5), np.int32)).shape == (0, 30)
    one_row = zernike(np.array([[0, 3, 3, 0, 1, 1, 1, 2]], np.int32), degree=2)
    assert one_row.index.tolist() == [1, 2, 3]
    assert one_row.loc[2].isna().all() and not one_row.loc[[1, 3]].isna().any(axis=None)


def test_degrees_and_thread_count_independence():
    import numba

    labels = nuclei_field((150, 150), 40, seed=51)
    image = image_for(labels, np.float64, seed=52)
    assert zernike(labels, degree=0).shape[1] == 1
    assert zernike(labels, degree=20).shape[1] == 121
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        single = zernike_array(labels, image=image, degree=12)
        numba.set_num_threads(before)
        parallel = zernike_array(labels, image=image, degree=12)
    finally:
        numba.set_num_threads(before)
    for a, b in zip(single[2:], parallel[2:]):
        np.testing.assert_array_equal(a, b)  # bit for bit


def test_circle_does_not_depend_on_index():
    # the circles are computed for all present labels, in ascending order, whatever `index` is
    labels = disc_field((100, 100), 40, seed=61, radius=DISC_RADII)
    full = zernike(labels)
    shuffled = np.random.default_rng(0).permutation(full.index.to_numpy())
    table = zernike(labels, index=shuffled)
    np.testing.assert_array_equal(table.to_numpy(), full.loc[shuffled].to_numpy())


# ----------------------------------------------------------------------------- bad input


class TestBadInput:
    labels = np.array([[0, 1, 1], [2, 2, 0]], np.int32)

    @pytest.mark.parametrize("dtype", [np.float32, np.float64, np.bool_])
    def test_non_integer_labels(self, dtype):
        with pytest.raises(TypeError, match="labels must be an integer"):
            zernike(self.labels.astype(dtype))

    def test_negative_labels(self):
        with pytest.raises(ValueError, match="labels must be non-negative"):
            zernike(np.array([[0, -1]], np.int16))

    @pytest.mark.parametrize("shape", [(4,), (2, 2, 2)])
    def test_labels_not_2d(self, shape):
        with pytest.raises(ValueError, match="labels must be 2-D"):
            zernike(np.ones(shape, np.int32))

    @pytest.mark.parametrize("degree", [-1, 21, 100])
    def test_degree_out_of_range(self, degree):
        with pytest.raises(ValueError, match="degree must be between 0 and 20"):
            zernike(self.labels, degree=degree)
        with pytest.raises(ValueError, match="degree"):
            zernike_moments(np.ones((3, 3)), 2.0, degree)
        with pytest.raises(ValueError, match="degree"):
            zernike_indexes(degree)

    @pytest.mark.parametrize("degree", [9.0, True, "9", None])
    def test_degree_not_an_integer(self, degree):
        with pytest.raises(TypeError, match="degree must be an integer"):
            zernike(self.labels, degree=degree)

    def test_image_shape_mismatch(self):
        with pytest.raises(ValueError, match="image has shape"):
            zernike(self.labels, image=np.ones((3, 2)))

    @pytest.mark.parametrize("bad", [np.nan, np.inf])
    def test_non_finite_image(self, bad):
        image = np.ones(self.labels.shape)
        image[0, 1] = bad
        with pytest.raises(ValueError, match="image contains NaN"):
            zernike(self.labels, image=image)
        with pytest.raises(ValueError, match="im contains NaN"):
            zernike_moments(image, 2.0)

    def test_image_is_keyword_only(self):
        with pytest.raises(TypeError):
            zernike(self.labels, np.ones(self.labels.shape))  # noqa

    def test_image_name(self):
        with pytest.raises(TypeError, match="image_name"):
            zernike(self.labels, image_name="")

    def test_zernike_moments_arguments(self):
        image = np.ones((5, 5))
        with pytest.raises(ValueError, match="im must be 2-D"):
            zernike_moments(np.ones((2, 5, 5)), 2.0)
        with pytest.raises(TypeError, match="im must be a real numeric"):
            zernike_moments(np.ones((5, 5), complex), 2.0)
        for radius in (0.0, -3.0):
            with pytest.raises(ValueError, match="radius must be positive"):
                zernike_moments(image, radius)
        with pytest.raises(ValueError, match="radius must be finite"):
            zernike_moments(image, np.nan)
        with pytest.raises(TypeError, match="radius must be a real number"):
            zernike_moments(image, "2")
        with pytest.raises(ValueError, match="cm must be a pair"):
            zernike_moments(image, 2.0, cm=(1.0,))
        with pytest.raises(ValueError, match=r"cm\[1\] must be finite"):
            zernike_moments(image, 2.0, cm=(1.0, np.inf))


# -- the GPU launcher (simulator in CI, real GPU in the GPU check) -------------------------------

GPU_CASES = {
    "ellipses": lambda: random_ellipses((20, 30), 4, seed=71, step=3),
    "awkward": awkward_objects,
    "wide_row": lambda: np.pad(np.ones((2, 70), np.int32), 1) * 5,  # runs across segments
    "discs_ties": lambda: disc_field((26, 30), 8, seed=76, radius=(0.5, 7.0)),
}


@pytest.mark.cudasim
@pytest.mark.parametrize("case", list(GPU_CASES))
def test_gpu_path_equals_cpu(gpu_path, monkeypatch, case):
    labels = GPU_CASES[case]()
    image = image_for(labels, np.uint16, seed=72)
    degree = 9 if case == "ellipses" else 4
    cpu = zernike_array(labels, image=image, degree=degree, index=[5, 3, 999, 9, 7])
    as_tuple = lambda *args, **kwargs: tuple(zernike_array(*args, **kwargs))  # noqa: E731

    def no_label_route(*args, **kwargs):  # the circles come from the objects' column extremes
        raise AssertionError("the GPU path sent the label image to the host")

    monkeypatch.setattr(_core, "minimum_enclosing_circle", no_label_route)
    gpu = ZernikeArrays(
        *gpu_path(as_tuple, labels, image=image, degree=degree, index=[5, 3, 999, 9, 7])
    )
    monkeypatch.undo()
    np.testing.assert_array_equal(gpu.labels, cpu.labels)
    for name in ("shape", "magnitude"):
        assert_close(getattr(gpu, name), getattr(cpu, name), name)
    assert_phase_close(gpu.phase, cpu.phase, cpu.magnitude, "phase")


@pytest.mark.cudasim
def test_gpu_path_float_image_and_dataframe(gpu_path):
    labels = random_ellipses((16, 24), 3, seed=73)
    image = image_for(labels, np.float32, seed=74)
    cpu = zernike(labels, image=image, degree=5, image_name="Actin")
    gpu = gpu_path(zernike, labels, image=image, degree=5, image_name="Actin")
    assert gpu.columns.tolist() == cpu.columns.tolist()
    assert gpu.index.tolist() == cpu.index.tolist()
    assert_close(gpu.to_numpy()[:, :24], cpu.to_numpy()[:, :24])  # shape and magnitude (K = 12)
    assert_phase_close(gpu.to_numpy()[:, 24:], cpu.to_numpy()[:, 24:], cpu.to_numpy()[:, 12:24])


@pytest.mark.cudasim
def test_gpu_path_mahotas(gpu_path):
    image = np.random.default_rng(75).random((7, 8))
    for cm in (None, (3.0, 4.0)):
        cpu = zernike_moments(image, 3.5, 3, cm)
        gpu = gpu_path(zernike_moments, image, 3.5, 3, cm)
        assert_close(gpu, cpu)
