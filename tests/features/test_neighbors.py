"""MeasureObjectNeighbors: parity with cp_measure (``reference="cp_measure"``) and with an
independent re-implementation of CellProfiler's definition (the default), index alignment,
ObjectIndex input, non-contiguous and huge labels, degenerate images, bad input and the GPU
path (numba CUDA simulator).

Everything is compared bit for bit (NaN == NaN). The one exception is the angle of objects
whose second and third closest centres are equidistant: the references take the vectors from
``numpy.argpartition``, whose choice among ties is unspecified; there only the tie-invariant
features are compared (the distances, and the object numbers, which come from a stable sort).
"""

import numpy as np
import pytest
from cases import awkward_objects, disc_field, random_blobs, random_ellipses
from scipy import ndimage as ndi

from conftest import REAL_GPU, require_reference
from pyhcs.features import ObjectIndex
from pyhcs.features.neighbors import (
    FEATURES,
    NeighborsArrays,
    neighbors,
    neighbors_array,
)

METHODS = ("adjacent", "expand", "within")
CP_METHOD = {"adjacent": "Adjacent", "expand": "Expand until adjacent",
             "within": "Within a specified distance"}


def scale_of(method, distance):
    return {"adjacent": "Adjacent", "expand": "Expanded"}.get(method, str(distance))


def columns(method, distance):
    return [f"Neighbors_{f}_{scale_of(method, distance)}" for f in FEATURES]


def contiguous(labels):
    """Labels renumbered 1..N in ascending order (what the references need)."""
    present, inverse = np.unique(labels, return_inverse=True)
    if present[0] != 0:
        inverse = inverse + 1
    return inverse.reshape(labels.shape).astype(np.int32)


# ------------------------------------------------------------------- label images


def lines_and_pieces(seed):
    """Diagonal lines, one-row and one-column objects, 1-pixel objects, two-piece labels."""
    rng = np.random.default_rng(seed)
    labels = np.zeros((30, 34), np.int32)
    k = 0
    for _ in range(4):
        k += 1
        r, c = rng.integers(0, 22, 2)
        for t in range(int(rng.integers(2, 8))):
            labels[r + t, c + t] = k
    for _ in range(3):
        k += 1
        r, c = rng.integers(0, 30), rng.integers(0, 26)
        labels[r, c:c + int(rng.integers(1, 8))] = k
        k += 1
        r, c = rng.integers(0, 24), rng.integers(0, 34)
        labels[r:r + int(rng.integers(1, 6)), c] = k
    for _ in range(4):
        k += 1
        labels[rng.integers(0, 30), rng.integers(0, 34)] = k
    k += 1
    labels[0:3, 0:3] = k  # cut by the border, and a second piece elsewhere
    labels[27:30, 31:34] = k
    return contiguous(labels)


def holes_and_touching(seed):
    labels = random_blobs((40, 44), seed, threshold=0.55)
    touching = random_ellipses((40, 44), 6, seed + 11, max_radius=7)
    labels = np.where(touching > 0, touching + labels.max(), labels)
    return contiguous(labels)


def cases_fast():
    yield "ellipses", contiguous(random_ellipses((36, 40), 12, 0, max_radius=8))
    yield "discs", contiguous(disc_field((40, 40), 10, 1, (1.5, 7.0)))
    yield "blobs", contiguous(random_blobs((40, 40), 2))
    yield "awkward", contiguous(awkward_objects())
    yield "lines", lines_and_pieces(3)
    yield "holes_touching", holes_and_touching(4)


def cases_slow():
    for seed in range(5, 25):
        yield f"ellipses{seed}", contiguous(random_ellipses((50, 60), 25, seed, max_radius=10))
        yield f"discs{seed}", contiguous(disc_field((48, 56), 14, seed, (0.5, 8.0)))
        yield f"blobs{seed}", contiguous(random_blobs((56, 48), seed, threshold=0.5))
        yield f"lines{seed}", lines_and_pieces(seed)
        yield f"holes{seed}", holes_and_touching(seed)


FAST = list(cases_fast())
SLOW = list(cases_slow())
FAST_SETTINGS = [("adjacent", 5), ("expand", 5), ("within", 2), ("within", 7)]
SLOW_SETTINGS = [("adjacent", 5), ("expand", 5)] + [("within", d) for d in (1, 2, 3, 4, 5, 6, 8)]


# --------------------------------------------------- CellProfiler's definition, re-implemented


def disk(radius2, radius):
    y, x = np.mgrid[-radius:radius + 1, -radius:radius + 1]
    return x * x + y * y <= radius2


def sorted_distances(o_centres, n_centres):
    di = o_centres[:, None, 0] - n_centres[None, :, 0]
    dj = o_centres[:, None, 1] - n_centres[None, :, 1]
    dist = np.sqrt(di * di + dj * dj)
    order = np.argsort(dist, axis=1, kind="stable")
    return order, np.take_along_axis(dist, order, axis=1)


def cellprofiler_neighbors(labels, method, distance):
    """Section 12, steps 1-7, straightforwardly (labels 1..N), with a per-object loop.

    Returns ``(table, angle_defined)``: the 7 features per object (CP's order) and which
    objects' angle is tie-free (second and third closest centres at different distances).
    """
    n = int(labels.max())
    out = {f: np.zeros(n) for f in FEATURES}
    out["FirstClosestObjectNumber"] = np.zeros(n, np.int64)
    out["SecondClosestObjectNumber"] = np.zeros(n, np.int64)
    if n <= 1:
        return out, np.ones(n, bool)
    if method == "expand":
        i, j = ndi.distance_transform_edt(labels == 0, return_distances=False,
                                          return_indices=True)
        work, d = labels[i, j], 1
    else:
        work, d = labels, (distance if method == "within" else 1)
    centres = np.array(ndi.center_of_mass(np.ones(labels.shape), labels, np.arange(1, n + 1)))
    order, dist = sorted_distances(centres, centres)
    angle_defined = np.ones(n, bool) if n < 4 else (dist[:, 2] != dist[:, 3])
    xy = centres[:, ::-1]
    v1 = xy[order[:, 1]] - xy
    out["FirstClosestObjectNumber"] = order[:, 1] + 1
    out["FirstClosestDistance"] = np.sqrt(v1[:, 0] ** 2 + v1[:, 1] ** 2)
    if n > 2:
        v2 = xy[order[:, 2]] - xy
        out["SecondClosestObjectNumber"] = order[:, 2] + 1
        out["SecondClosestDistance"] = np.sqrt(v2[:, 0] ** 2 + v2[:, 1] ** 2)
        with np.errstate(invalid="ignore", divide="ignore"):
            dot = (v1[:, 0] * v2[:, 0] + v1[:, 1] * v2[:, 1]) / np.sqrt(
                (v1[:, 0] ** 2 + v1[:, 1] ** 2) * (v2[:, 0] ** 2 + v2[:, 1] ** 2))
            out["AngleBetweenNeighbors"] = np.arccos(dot) * 180.0 / np.pi
    # centrosome's outline: labelled, and on the border or with a different 8-neighbour
    different = (ndi.maximum_filter(work, 3, mode="nearest") != work) | (
        ndi.minimum_filter(work, 3, mode="nearest") != work)
    different[[0, -1], :] = True
    different[:, [0, -1]] = True
    outline = different & (work != 0)
    height, width = labels.shape
    for k in range(1, n + 1):
        rows, cols = np.nonzero(work == k)
        window = (slice(max(rows.min() - d, 0), min(rows.max() + d + 1, height)),
                  slice(max(cols.min() - d, 0), min(cols.max() + d + 1, width)))
        patch = work[window]
        grown = ndi.binary_dilation(patch == k, disk(d * d, d))
        found = np.unique(patch[grown])
        out["NumberOfNeighbors"][k - 1] = np.count_nonzero((found != 0) & (found != k))
        others = ndi.binary_dilation((patch != 0) & (patch != k), disk(d * d + d, d))
        mine = outline[window] & (patch == k)
        out["PercentTouching"][k - 1] = (
            float(np.count_nonzero(mine & others)) * 100 / np.count_nonzero(outline & (work == k)))
    return out, angle_defined


def cp_measure_angle_defined(labels, method):
    """Objects whose angle in cp_measure is tie-free (its distance row, section 18)."""
    n = int(labels.max())
    index = np.arange(1, n + 1)
    ones = np.ones(labels.shape)
    centres = np.array(ndi.center_of_mass(ones, labels, index))
    own = centres
    if method == "expand":
        i, j = ndi.distance_transform_edt(labels == 0, return_distances=False,
                                          return_indices=True)
        own = np.array(ndi.center_of_mass(ones, labels[i, j], index))
    _, dist = sorted_distances(own, centres)
    if n < 4:
        return np.ones(n, bool)
    return (dist[:, 2] != dist[:, 3]) & (dist[:, 0] != dist[:, 1])


def assert_table_equal(ours, expected, angle_defined, what):
    for feature in FEATURES:
        mine = np.asarray(ours[feature], np.float64)
        theirs = np.asarray(expected[feature], np.float64)
        if feature == "AngleBetweenNeighbors":
            mine, theirs = mine[angle_defined], theirs[angle_defined]
        np.testing.assert_array_equal(mine, theirs, err_msg=f"{what}: {feature}")


def ours_by_feature(labels, method, distance, reference="cellprofiler"):
    table = neighbors(labels, method=method, distance=distance, reference=reference)
    assert table.columns.tolist() == columns(method, distance)
    return {f: table[c].to_numpy() for f, c in zip(FEATURES, table.columns)}


def check_cellprofiler(labels, method, distance, what):
    expected, angle_defined = cellprofiler_neighbors(labels, method, distance)
    ours = ours_by_feature(labels, method, distance)
    assert_table_equal(ours, expected, angle_defined, what)
    return int(labels.max())


def check_cp_measure(labels, method, distance, what):
    module = require_reference("cp_measure.multimask.measureobjectneighbors")
    if labels.max() < 2:  # cp_measure raises UnboundLocalError
        return 0
    raw = module.measureobjectneighbors(labels, labels, distance_method=CP_METHOD[method],
                                        distance=distance)
    scale = scale_of(method, distance)
    expected = {f: np.asarray(raw[f"Neighbors_{f}_{scale}"]) for f in FEATURES}
    ours = ours_by_feature(labels, method, distance, reference="cp_measure")
    assert_table_equal(ours, expected, cp_measure_angle_defined(labels, method), what)
    return int(labels.max())


# ---------------------------------------------------------------------------- parity


@pytest.mark.parametrize("method,distance", FAST_SETTINGS)
@pytest.mark.parametrize("name,labels", FAST, ids=[name for name, _ in FAST])
def test_cellprofiler_definition(name, labels, method, distance):
    check_cellprofiler(labels, method, distance, f"{name} {method} {distance}")


@pytest.mark.parametrize("method,distance", FAST_SETTINGS)
@pytest.mark.parametrize("name,labels", FAST, ids=[name for name, _ in FAST])
def test_cp_measure_parity(name, labels, method, distance):
    check_cp_measure(labels, method, distance, f"{name} {method} {distance}")


@pytest.mark.slow
@pytest.mark.parametrize("method,distance", SLOW_SETTINGS)
def test_sweep(method, distance):
    for name, labels in SLOW:
        check_cellprofiler(labels, method, distance, f"{name} {method} {distance}")
        check_cp_measure(labels, method, distance, f"{name} {method} {distance}")


def test_references_differ_where_documented():
    """cp_measure's object numbers are sorted positions 0 and 1; its Expand mode differs."""
    labels = FAST[0][1]
    cp = ours_by_feature(labels, "adjacent", 5)
    cpm = ours_by_feature(labels, "adjacent", 5, reference="cp_measure")
    np.testing.assert_array_equal(cpm["FirstClosestObjectNumber"], np.arange(1, labels.max() + 1))
    np.testing.assert_array_equal(cpm["SecondClosestObjectNumber"], cp["FirstClosestObjectNumber"])
    for feature in ("NumberOfNeighbors", "PercentTouching", "FirstClosestDistance",
                    "SecondClosestDistance", "AngleBetweenNeighbors"):
        np.testing.assert_array_equal(cpm[feature], cp[feature])
    cp = ours_by_feature(labels, "expand", 5)
    cpm = ours_by_feature(labels, "expand", 5, reference="cp_measure")
    assert not np.array_equal(cp["FirstClosestDistance"], cpm["FirstClosestDistance"])
    np.testing.assert_array_equal(cpm["PercentTouching"], cp["PercentTouching"])


def test_two_objects_and_coincident_centres():
    labels = np.zeros((9, 12), np.int32)
    labels[2:5, 2:5] = 1
    labels[2:5, 7:10] = 2
    for method in METHODS:
        check_cellprofiler(labels, method, 3, f"two objects {method}")
        check_cp_measure(labels, method, 3, f"two objects {method}")
    table = neighbors(labels, method="adjacent")
    assert table["Neighbors_SecondClosestObjectNumber_Adjacent"].tolist() == [0, 0]
    assert table["Neighbors_AngleBetweenNeighbors_Adjacent"].tolist() == [0.0, 0.0]
    # a ring and its centre dot: the same centre, so the angle is NaN (0 / 0) as in CellProfiler
    ring = np.zeros((11, 11), np.int32)
    ring[2:9, 2:9] = 1
    ring[3:8, 3:8] = 0
    ring[5, 5] = 2
    ring[0, 10] = 3
    for method in METHODS:
        check_cellprofiler(ring, method, 2, f"ring {method}")
    assert np.isnan(neighbors(ring, method="adjacent")["Neighbors_AngleBetweenNeighbors_Adjacent"]
                    ).any()


# -------------------------------------------------------------- labels, index, input forms


def test_noncontiguous_and_huge_labels_equal_contiguous():
    base = FAST[0][1]
    present = np.unique(base)[1:]
    new = (present * 7919 + 10**9).astype(np.int64)  # ascending, sparse and huge
    lut = np.zeros(base.max() + 1, np.int64)
    lut[present] = new
    sparse = lut[base]
    for method, distance in FAST_SETTINGS:
        for reference in ("cellprofiler", "cp_measure"):
            a = neighbors(base, method=method, distance=distance, reference=reference)
            b = neighbors(sparse, method=method, distance=distance, reference=reference)
            assert b.index.tolist() == new.tolist()
            for column in a.columns:
                x, y = a[column].to_numpy(), b[column].to_numpy()
                if "ObjectNumber" in column:  # neighbours are reported by label
                    x = np.where(x > 0, lut[x], 0)
                np.testing.assert_array_equal(x, y, err_msg=column)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.int64, np.uint64])
def test_label_dtypes_and_memory_order(dtype):
    labels = FAST[2][1]
    expected = neighbors(labels, method="within", distance=2)
    assert neighbors(labels.astype(dtype), method="within", distance=2).equals(expected)
    assert neighbors(np.asfortranarray(labels.astype(dtype)), method="within",
                     distance=2).equals(expected)
    wide = np.zeros((labels.shape[0], 2 * labels.shape[1]), dtype)
    wide[:, ::2] = labels
    assert neighbors(wide[:, ::2], method="within", distance=2).equals(expected)


def test_index_alignment_and_object_index():
    labels = FAST[3][1]
    full = neighbors(labels, method="within", distance=3)
    wanted = [5, 3, 999, 0, 1, -4, 5]
    table = neighbors(labels, method="within", distance=3, index=wanted)
    assert table.index.tolist() == wanted
    assert all(dtype == np.float64 for dtype in table.dtypes)
    for position, label in enumerate(wanted):
        row = table.iloc[position].to_numpy()
        if label in full.index:
            np.testing.assert_array_equal(row, full.loc[label].to_numpy(np.float64))
        else:
            assert np.isnan(row).all()
    objects = ObjectIndex(labels)
    for method in METHODS:
        a = neighbors(labels, method=method, distance=2)
        b = neighbors(objects, method=method, distance=2)
        assert a.equals(b)
    arrays = neighbors_array(labels, method="adjacent", index=np.array([1, 2]))
    assert isinstance(arrays, NeighborsArrays) and arrays.scale == "Adjacent"
    assert list(arrays.columns()) == columns("adjacent", 5)
    assert full.dtypes["Neighbors_FirstClosestObjectNumber_3"] == np.int64
    assert full.dtypes["Neighbors_NumberOfNeighbors_3"] == np.float64


@pytest.mark.parametrize("reference", ["cellprofiler", "cp_measure"])
def test_empty_and_single_object(reference):
    empty = np.zeros((7, 8), np.uint16)
    for method in METHODS:
        table = neighbors(empty, method=method, reference=reference)
        assert table.shape == (0, 7) and table.columns.tolist() == columns(method, 5)
        table = neighbors(empty, method=method, reference=reference, index=[1, 2])
        assert table.shape == (2, 7) and np.isnan(table.to_numpy()).all()
    single = np.zeros((7, 8), np.uint8)
    single[2:4, 3:6] = 9
    for method in METHODS:
        table = neighbors(single, method=method, reference=reference, index=[9, 4])
        np.testing.assert_array_equal(table.loc[9].to_numpy(), np.zeros(7))
        assert np.isnan(table.loc[4].to_numpy()).all()
    full = np.ones((4, 4), np.int32)  # one object everywhere, no background
    assert (neighbors(full, reference=reference).to_numpy() == 0).all()


def test_whole_image_objects_and_tiny_images():
    two = np.ones((3, 5), np.int32)
    two[:, 3:] = 2  # no background at all
    one_row = np.array([[1, 0, 2, 2, 0, 3]], np.int32)
    one_col = one_row.T.copy()
    for labels in (two, one_row, one_col, np.array([[1, 2]], np.int32)):
        for method in METHODS:
            for distance in (1, 4):
                check_cellprofiler(labels, method, distance, f"{labels.shape} {method}")
                check_cp_measure(labels, method, distance, f"{labels.shape} {method}")


def test_bad_input():
    labels = FAST[0][1]
    with pytest.raises(TypeError, match="labels"):
        neighbors(labels.astype(np.float64))
    with pytest.raises(TypeError, match="labels"):
        neighbors(labels > 0)
    with pytest.raises(ValueError, match="labels"):
        neighbors(labels - 3)
    with pytest.raises(ValueError, match="labels"):
        neighbors(labels[None])
    with pytest.raises(ValueError, match="labels"):
        neighbors(labels[0])
    with pytest.raises(ValueError, match="method"):
        neighbors(labels, method="touching")
    with pytest.raises(ValueError, match="method"):
        neighbors(labels, method=None)
    with pytest.raises(ValueError, match="distance"):
        neighbors(labels, method="within", distance=0)
    with pytest.raises(TypeError, match="distance"):
        neighbors(labels, method="within", distance=2.5)
    with pytest.raises(TypeError, match="distance"):
        neighbors(labels, method="within", distance=True)
    with pytest.raises(ValueError, match="reference"):
        neighbors(labels, reference="cellprofiler4")
    with pytest.raises(TypeError, match="index"):
        neighbors(labels, index=[1.5])
    # CellProfiler's own setting names are accepted
    a = neighbors(labels, method="Within a specified distance", distance=3)
    assert a.equals(neighbors(labels, method="within", distance=3))


def test_large_distance_and_thread_count():
    import numba

    labels = FAST[1][1]
    check_cellprofiler(labels, "within", 60, "distance beyond the image")
    check_cp_measure(labels, "within", 12, "fft path")
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = neighbors(FAST[5][1], method="within", distance=4)
    finally:
        numba.set_num_threads(before)
    assert one.equals(neighbors(FAST[5][1], method="within", distance=4))


# --------------------------------------------------------------------------------- GPU path


def _as_tuple(*args, **kwargs):
    return tuple(neighbors_array(*args, **kwargs))


GPU_CASES = [
    contiguous(random_ellipses((18, 20), 6, 31, max_radius=5)),
    contiguous(awkward_objects()[:16, :20]),
]


def expansion_cases():
    """Label images whose expansion has many ties: random sparse pixels, points on lattices
    (every pixel between two lattice points is equidistant), a few isolated pixels, thin
    images."""
    rng = np.random.default_rng(80)
    cases = []
    for trial in range(45):
        h, w = (int(v) for v in rng.integers(1, 34, 2))
        numbers = np.zeros((h, w), np.int32)
        kind = trial % 3
        if kind == 0:
            keep = rng.random((h, w)) < 0.2 * rng.random()
            numbers[keep] = rng.integers(1, 6, int(keep.sum()))
        elif kind == 1:
            lattice = numbers[::int(rng.integers(2, 7)), ::int(rng.integers(2, 7))]
            lattice[...] = rng.integers(1, 9, lattice.shape)
        else:
            k = int(rng.integers(1, 6))
            numbers[rng.integers(0, h, k), rng.integers(0, w, k)] = np.arange(1, k + 1)
        if not numbers.any():
            numbers[h // 2, w // 2] = 1
        cases.append(numbers)
    thin = np.zeros((1, 25), np.int32)
    thin[0, [3, 9, 15]] = [1, 2, 3]
    cases += [thin, np.ascontiguousarray(thin.T), np.array([[0, 1, 0]], np.int32)]
    return cases


def scipy_expansion(numbers):
    index = ndi.distance_transform_edt(numbers == 0, return_distances=False,
                                       return_indices=True)
    return numbers[tuple(index)]


def _expansion(numbers):
    from pyhcs._backend import namespace_for
    from pyhcs.features.neighbors import _expand

    return _expand(numbers, namespace_for(numbers))


def test_expansion_is_scipys_feature_transform():
    """pyhcs's own expansion picks the pixel scipy's distance_transform_edt picks, ties
    included (the expanded labels decide NumberOfNeighbors and PercentTouching)."""
    for numbers in expansion_cases():
        np.testing.assert_array_equal(_expansion(numbers), scipy_expansion(numbers),
                                      str(numbers.shape))


@pytest.mark.cudasim
def test_gpu_expansion_is_scipys_feature_transform(gpu_path):
    for numbers in expansion_cases()[::4]:
        np.testing.assert_array_equal(gpu_path(_expansion, numbers), scipy_expansion(numbers),
                                      str(numbers.shape))


@pytest.mark.cudasim
@pytest.mark.parametrize("case", range(len(GPU_CASES)))
@pytest.mark.parametrize("method,distance,reference", [
    ("adjacent", 5, "cellprofiler"), ("expand", 5, "cellprofiler"),
    ("within", 3, "cellprofiler"), ("expand", 5, "cp_measure")])
def test_gpu_path_equals_cpu(gpu_path, case, method, distance, reference):
    """Bit for bit under the simulator. On a real GPU cupy's arccos may differ in the last
    bits."""
    labels = GPU_CASES[case]
    kwargs = {"method": method, "distance": distance, "reference": reference,
              "index": [3, 1, 77, 2, 5, 4, 6]}
    cpu = _as_tuple(labels, **kwargs)
    gpu = gpu_path(_as_tuple, labels, **kwargs)
    assert len(cpu) == len(gpu) and cpu[-1] == gpu[-1]
    np.testing.assert_array_equal(cpu[0], gpu[0])
    for k, feature in enumerate(FEATURES, start=1):
        a, b = np.asarray(cpu[k]), np.asarray(gpu[k])
        if REAL_GPU and feature == "AngleBetweenNeighbors":
            np.testing.assert_allclose(b, a, rtol=1e-14, atol=0, err_msg=feature)
        else:
            np.testing.assert_array_equal(a, b, err_msg=feature)


@pytest.mark.cudasim
def test_gpu_path_dataframe_and_degenerate(gpu_path):
    labels = GPU_CASES[0] * 1000
    gpu = gpu_path(neighbors, labels, method="within", distance=2)
    cpu = neighbors(labels, method="within", distance=2)
    assert gpu.index.equals(cpu.index) and gpu.columns.equals(cpu.columns)
    for column in cpu.columns:
        if REAL_GPU and "Angle" in column:  # cupy's arccos: last bits
            np.testing.assert_allclose(gpu[column], cpu[column], rtol=1e-14, atol=0)
        else:
            np.testing.assert_array_equal(gpu[column].to_numpy(), cpu[column].to_numpy())
    single = np.zeros((6, 6), np.int32)
    single[1:3, 1:3] = 4
    assert gpu_path(neighbors, single).equals(neighbors(single))
