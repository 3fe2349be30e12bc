"""minimum_enclosing_circle / convex_hull: bit-for-bit parity with centrosome, index, bad input.

The reference is run on the same image with the same ``index``: centrosome breaks exact ties
between co-circular hull vertices with one argsort over all objects, so an object's circle may
depend on the other objects and on the order of ``index``; pyhcs reproduces that.
"""

import functools

import numpy as np
import pytest
from cases import awkward_objects, disc_field, random_blobs, random_ellipses
from conftest import require_reference
from skimage.draw import ellipse, polygon

from pyhcs import _core
from pyhcs.features import geometry
from pyhcs.features.geometry import (
    _acos_check_values,
    _acos_kernel,
    convex_hull,
    minimum_enclosing_circle,
)

# the references run on the installed numpy: compare in its tie order (see conftest.py)
pytestmark = pytest.mark.usefixtures("installed_numpy_ties")


# Imported when a test needs them, so that a machine without centrosome (the GPU check)
# skips only the parity tests.
def reference_hull(*args):
    return require_reference("centrosome.cpmorphology").convex_hull(*args)


def reference_circle(*args):
    return require_reference("centrosome.cpmorphology").minimum_enclosing_circle(*args)


# ----------------------------------------------------------------------------- label images


def _present(labels):
    index = np.unique(labels)
    return index[index > 0]


def ellipse_field(shape, n, seed, radius=(3.0, 22.0)):
    """Realistic nuclei: ellipses of many sizes and angles, later ones painted over earlier."""
    rng = np.random.default_rng(seed)
    labels = np.zeros(shape, np.int32)
    for k in range(1, n + 1):
        rr, cc = ellipse(
            rng.uniform(0, shape[0]), rng.uniform(0, shape[1]),
            rng.uniform(*radius), rng.uniform(*radius),
            shape=shape, rotation=rng.uniform(0, np.pi),
        )
        labels[rr, cc] = k
    return labels


DISC_RADII = (0.5, 15.0)


def polygon_field(shape, n, seed):
    """Random convex polygons with 3-7 corners."""
    rng = np.random.default_rng(seed)
    labels = np.zeros(shape, np.int32)
    for k in range(1, n + 1):
        m = rng.integers(3, 8)
        angles = np.sort(rng.uniform(0, 2 * np.pi, m))
        radius = rng.uniform(1, 20)
        ci, cj = rng.uniform(0, shape[0]), rng.uniform(0, shape[1])
        rr, cc = polygon(ci + radius * np.sin(angles), cj + radius * np.cos(angles), shape=shape)
        labels[rr, cc] = k
    return labels


def scatter_field(shape, n, seed, box=12):
    """Random pixels scattered in small boxes: irregular, multi-piece, tiny objects."""
    rng = np.random.default_rng(seed)
    labels = np.zeros(shape, np.int32)
    for k in range(1, n + 1):
        h, w = rng.integers(1, box, 2)
        m = rng.integers(1, h * w + 1)
        i0, j0 = rng.integers(0, shape[0]), rng.integers(0, shape[1])
        rr = np.clip(i0 + rng.integers(0, h, m), 0, shape[0] - 1)
        cc = np.clip(j0 + rng.integers(0, w, m), 0, shape[1] - 1)
        labels[rr, cc] = k
    return labels


def tiny_field(n, seed, cell=6):
    """``n`` random objects of 1-6 pixels, each alone in a cell x cell tile."""
    rng = np.random.default_rng(seed)
    side = int(np.ceil(np.sqrt(n)))
    labels = np.zeros((side * cell, side * cell), np.int32)
    for k in range(n):
        ti, tj = divmod(k, side)
        m = rng.integers(1, 7)
        rr = ti * cell + rng.integers(0, cell - 1, m)
        cc = tj * cell + rng.integers(0, cell - 1, m)
        labels[rr, cc] = k + 1
    return labels


def tie_shapes():
    """Squares, rectangles, plus shapes, diamonds, octagons, discs: co-circular vertices."""
    masks = []
    for size in (2, 3, 4, 5, 8):  # squares
        masks.append(np.ones((size, size), bool))
    for h, w in ((2, 5), (3, 7), (5, 2), (6, 9)):  # rectangles
        masks.append(np.ones((h, w), bool))
    for arm in (1, 2, 3, 5):  # plus shapes
        plus = np.zeros((2 * arm + 1, 2 * arm + 1), bool)
        plus[arm, :] = True
        plus[:, arm] = True
        masks.append(plus)
    for r in (1, 2, 3, 4, 6):  # diamonds
        yy, xx = np.mgrid[-r:r + 1, -r:r + 1]
        masks.append(np.abs(yy) + np.abs(xx) <= r)
    for r in (1.5, 2.5, 3.2, 4.5, 6.0, 7.5, 9.0, 12.5):  # centred discs and octagons
        n = int(np.ceil(r))
        yy, xx = np.mgrid[-n:n + 1, -n:n + 1]
        masks.append(yy**2 + xx**2 <= r * r)
    for size in (3, 5, 7):  # thick pluses (8 co-circular corners)
        thick = np.ones((3 * size, 3 * size), bool)
        thick[:size, :size] = thick[:size, -size:] = False
        thick[-size:, :size] = thick[-size:, -size:] = False
        masks.append(thick)
    labels = np.zeros((60, 400), np.int32)
    i, j, row_height = 1, 1, 0
    for k, mask in enumerate(masks, start=1):
        h, w = mask.shape
        if j + w + 1 > labels.shape[1]:
            i, j, row_height = i + row_height + 1, 1, 0
        ii, jj = np.nonzero(mask)
        labels[ii + i, jj + j] = k
        j += w + 1
        row_height = max(row_height, h)
    return labels


def line_shapes():
    """1-3 pixel objects, lines in every direction, L shapes, a one-row and a one-column label."""
    labels = np.zeros((40, 60), np.int32)
    objects = [
        [(1, 1)],  # one pixel
        [(1, 4), (1, 5)],  # two pixels, horizontal
        [(3, 4), (4, 4)],  # two pixels, vertical
        [(6, 1), (7, 2)],  # two pixels, diagonal
        [(6, 5), (5, 6)],  # two pixels, anti-diagonal
        [(9, 1), (9, 2), (9, 3)],  # three in a row
        [(11, 1), (12, 1), (13, 1)],  # three in a column
        [(11, 4), (12, 5), (13, 6)],  # three on a diagonal
        [(15, 1), (16, 1), (16, 2)],  # L of three
        [(15, 5), (15, 6), (16, 5)],  # another L of three
        [(18, 1), (19, 2), (18, 3)],  # V of three
        [(1, 10 + j) for j in range(12)],  # horizontal line
        [(3 + i, 10) for i in range(9)],  # vertical line
        [(3 + i, 13 + i) for i in range(9)],  # diagonal line
        [(11 - i, 24 + i) for i in range(9)],  # anti-diagonal line
        [(14 + i, 14 + 2 * i) for i in range(6)],  # slope 1/2
        [(20 + 2 * i, 10 + i) for i in range(6)],  # slope 2
        [(25, 20 + j) for j in range(8)] + [(25 + i, 20) for i in range(8)],  # big L
        [(25, 35 + j) for j in range(8)] + [(25 + i, 42) for i in range(8)],  # mirrored L
        [(38, 40), (38, 50), (30, 45)],  # three distant pixels (one label, three pieces)
        [(14, 40), (20, 52)],  # two distant pixels
    ]
    for k, pixels in enumerate(objects, start=1):
        for i, j in pixels:
            labels[i, j] = k
    return labels


def border_objects():
    """Objects cut by every image border and corner, and objects touching each other."""
    labels = ellipse_field((60, 70), 30, seed=11, radius=(4.0, 14.0))
    labels[0, :] = 31  # the whole top row
    labels[:, -1] = 32  # the whole right column
    labels[-3:, :4] = 33  # bottom-left corner block
    return labels


def holes_and_pieces():
    """Rings, objects with holes, labels of several pieces, non-contiguous labels."""
    labels = np.zeros((90, 90), np.int32)
    yy, xx = np.mgrid[:90, :90]
    ring = (np.hypot(yy - 20, xx - 20) <= 15) & (np.hypot(yy - 20, xx - 20) >= 10)
    labels[ring] = 17
    labels[40:60, 5:30] = 4
    labels[45:55, 10:25] = 0  # a hole
    labels[5:9, 50:54] = 200  # label 200 in three pieces
    labels[30:33, 80:88] = 200
    labels[80:85, 60:62] = 200
    labels[65:80, 40:55] = 9
    labels[70:75, 45:50] = 10  # an object inside another object's hole
    return labels


# centrosome calls cost ~0.1 ms per object, so these stay small enough for a quick test run.
PARITY_CASES = {
    "ellipses": lambda: ellipse_field((300, 300), 250, seed=1),
    "ellipses_small": lambda: ellipse_field((200, 200), 300, seed=2, radius=(0.5, 6.0)),
    "ellipses_large": lambda: ellipse_field((400, 400), 60, seed=3, radius=(15.0, 60.0)),
    "discs": lambda: disc_field((300, 300), 400, seed=4, radius=DISC_RADII),
    "polygons": lambda: polygon_field((256, 256), 200, seed=5),
    "scatter": lambda: scatter_field((256, 256), 400, seed=6),
    "tiny": lambda: tiny_field(1500, seed=7),
    "tie_shapes": tie_shapes,
    "line_shapes": line_shapes,
    "border_objects": border_objects,
    "holes_and_pieces": holes_and_pieces,
    "cases_ellipses_noncontiguous": lambda: random_ellipses((120, 130), 60, seed=8, step=7),
    "cases_blobs_with_holes": lambda: random_blobs((160, 150), seed=9),
    "cases_awkward": awkward_objects,
    "full_image_one_object": lambda: np.full((9, 13), 4, np.int32),
    "single_pixel_image": lambda: np.ones((1, 1), np.int32),
    "one_row_image": lambda: np.array([[0, 3, 3, 0, 1, 1, 1, 2, 2, 2, 2]], np.int32),
    "one_column_image": lambda: np.array([[5], [5], [0], [2], [2], [2]], np.int32),
}


def _assert_same_circles(labels, index):
    centers, radii = minimum_enclosing_circle(labels, index)
    ref_centers, ref_radii = reference_circle(labels, index)
    assert centers.shape == (len(index), 2) and radii.shape == (len(index),)
    assert centers.dtype == np.float64 and radii.dtype == np.float64
    np.testing.assert_array_equal(centers, ref_centers)
    np.testing.assert_array_equal(radii, ref_radii)


@pytest.mark.parametrize("case", list(PARITY_CASES))
def test_circle_parity(case):
    labels = PARITY_CASES[case]()
    _assert_same_circles(labels, _present(labels))


@pytest.mark.parametrize("case", list(PARITY_CASES))
def test_hull_parity(case):
    labels = PARITY_CASES[case]()
    index = _present(labels)
    points, counts = convex_hull(labels, index)
    ref_points, ref_counts = reference_hull(labels, index)
    np.testing.assert_array_equal(counts, ref_counts)
    np.testing.assert_array_equal(points, ref_points)


@pytest.mark.parametrize("seed", range(4))
def test_circle_parity_random_index_order(seed):
    """The reference's tie-breaking depends on the order of index; so does ours."""
    rng = np.random.default_rng(100 + seed)
    labels = disc_field((256, 256), 300, seed=200 + seed, radius=DISC_RADII) if seed % 2 else ellipse_field(
        (256, 256), 250, seed=200 + seed
    )
    index = _present(labels)
    _assert_same_circles(labels, rng.permutation(index))
    _assert_same_circles(labels, rng.permutation(index[rng.random(index.size) < 0.5]))


def test_circle_parity_thousands_of_small_objects():
    labels = scatter_field((512, 512), 3000, seed=12, box=6)
    _assert_same_circles(labels, _present(labels))


def test_circle_parity_full_field():
    """A realistic 2048 x 2048 field with ~2000 nuclei of many sizes and angles."""
    labels = ellipse_field((2048, 2048), 2000, seed=18, radius=(4.0, 22.0))
    index = _present(labels)
    _assert_same_circles(labels, index)
    centers, radii = minimum_enclosing_circle(labels)  # default index: the labels present
    np.testing.assert_array_equal(radii, minimum_enclosing_circle(labels, index)[1])


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(8))
def test_circle_parity_sweep(seed):
    """Mixed random fields (discs, ellipses, polygons, scatter), shuffled and partial index."""
    rng = np.random.default_rng(300 + seed)
    discs = functools.partial(disc_field, radius=DISC_RADII)
    make = [discs, ellipse_field, polygon_field, scatter_field][seed % 4]
    labels = make((384, 384), 500, seed=400 + seed)
    index = _present(labels)
    _assert_same_circles(labels, index)
    _assert_same_circles(labels, rng.permutation(index)[: max(1, index.size * 2 // 3)])


def test_default_index_and_one_pixel_objects():
    labels = line_shapes()
    centers, radii = minimum_enclosing_circle(labels)
    index = _present(labels)
    ref_centers, ref_radii = reference_circle(labels, index)
    np.testing.assert_array_equal(centers, ref_centers)
    np.testing.assert_array_equal(radii, ref_radii)
    np.testing.assert_array_equal(centers[0], [1.0, 1.0])  # one pixel: the pixel, radius 0
    assert radii[0] == 0.0
    np.testing.assert_array_equal(centers[1], [1.0, 4.5])  # two pixels: midpoint, half distance
    assert radii[1] == 0.5


def test_index_order_duplicates_and_absent_labels():
    labels = ellipse_field((120, 120), 40, seed=13)
    labels[labels == 7] = 0  # label 7 absent
    present = _present(labels)
    centers, radii = minimum_enclosing_circle(labels, present)
    row_of = {label: row for row, label in enumerate(present)}
    index = [present[5], 7, present[0], 10**9, 0, -3, present[5], present[2]]
    got_centers, got_radii = minimum_enclosing_circle(labels, np.array(index))
    assert got_centers.shape == (len(index), 2) and got_radii.shape == (len(index),)
    for row, label in enumerate(index):
        if label in row_of:
            np.testing.assert_array_equal(got_centers[row], centers[row_of[label]])
            assert got_radii[row] == radii[row_of[label]]
        else:
            assert np.isnan(got_centers[row]).all() and np.isnan(got_radii[row])
    # a scalar index and an empty one
    one_center, one_radius = minimum_enclosing_circle(labels, int(present[3]))
    np.testing.assert_array_equal(one_center, centers[3:4])
    np.testing.assert_array_equal(one_radius, radii[3:4])
    empty_centers, empty_radii = minimum_enclosing_circle(labels, [])
    assert empty_centers.shape == (0, 2) and empty_radii.shape == (0,)


def test_absent_labels_match_reference_centres():
    """Absent labels: NaN centre like centrosome; the radius is NaN (centrosome says 0)."""
    labels = np.zeros((10, 10), np.int32)
    labels[2:5, 3:7] = 2
    centers, radii = minimum_enclosing_circle(labels, [1, 2, 3])
    ref_centers, ref_radii = reference_circle(labels, [1, 2, 3])
    np.testing.assert_array_equal(centers, ref_centers)
    np.testing.assert_array_equal(radii[[1]], ref_radii[[1]])
    assert np.isnan(radii[[0, 2]]).all()


@pytest.mark.parametrize("shape", [(0, 0), (0, 7), (5, 0), (6, 9)])
def test_empty_images(shape):
    labels = np.zeros(shape, np.int32)
    centers, radii = minimum_enclosing_circle(labels)
    assert centers.shape == (0, 2) and radii.shape == (0,)
    assert centers.dtype == np.float64 and radii.dtype == np.float64
    centers, radii = minimum_enclosing_circle(labels, [1, 2])
    assert np.isnan(centers).all() and np.isnan(radii).all()
    points, counts = convex_hull(labels)
    assert points.shape == (0, 3) and counts.shape == (0,)


@pytest.mark.parametrize(
    "dtype", [np.uint8, np.int8, np.uint16, np.int16, np.uint32, np.int32, np.int64, np.uint64]
)
def test_label_dtypes_and_layouts(dtype):
    labels = ellipse_field((90, 110), 60, seed=14)
    labels = labels % 120  # fits every dtype
    expected = minimum_enclosing_circle(labels)
    cast = labels.astype(dtype)
    for variant in (cast, np.asfortranarray(cast), np.pad(cast, 3)[3:-3, 3:-3]):
        for got, want in zip(minimum_enclosing_circle(variant), expected):
            np.testing.assert_array_equal(got, want)
    transposed = minimum_enclosing_circle(cast.T)
    reference = reference_circle(np.ascontiguousarray(labels.T), _present(labels))
    for got, want in zip(transposed, reference):
        np.testing.assert_array_equal(got, want)


def test_huge_label_values():
    """Sparse label values (far above the pixel count) give the same circles as 1..n."""
    small = ellipse_field((100, 100), 50, seed=15)
    present = _present(small)
    huge = small.astype(np.int64) * 10**11 + 5
    huge[small == 0] = 0
    huge_index = present.astype(np.int64) * 10**11 + 5
    order = np.random.default_rng(0).permutation(present.size)
    for got, want in zip(
        minimum_enclosing_circle(huge, huge_index[order]), reference_circle(small, present[order])
    ):
        np.testing.assert_array_equal(got, want)
    points, counts = convex_hull(huge, huge_index[order])
    ref_points, ref_counts = reference_hull(small, present[order])
    np.testing.assert_array_equal(counts, ref_counts)
    np.testing.assert_array_equal(points[:, 1:], ref_points[:, 1:])
    np.testing.assert_array_equal(points[:, 0], np.repeat(huge_index[order], counts))


def test_results_do_not_depend_on_thread_count():
    labels = disc_field((256, 256), 400, seed=16, radius=DISC_RADII)
    loop, data = _acos_kernel()
    results = [
        _core.minimum_enclosing_circle(labels, None, loop, data, geometry._reference_argsort, n)
        for n in (1, 2, 3, 8)
    ]
    for other in results[1:]:
        for got, want in zip(other, results[0]):
            np.testing.assert_array_equal(got, want)
    hulls = [_core.convex_hull(labels, None, n) for n in (1, 3, 8)]
    for other in hulls[1:]:
        for got, want in zip(other, hulls[0]):
            np.testing.assert_array_equal(got, want)


def test_acos_is_numpys():
    """The C++ kernel evaluates the arc cosine with numpy's own float64 loop, bit for bit."""
    loop, data = _acos_kernel()
    assert loop != 0, "numpy's arccos loop was not found; results may differ in the last bit"
    x = np.concatenate([_acos_check_values(), np.random.default_rng(1).uniform(-1, 1, 5000)])
    np.testing.assert_array_equal(_core._acos_with_loop(x, loop, data), np.arccos(x))


def test_radius_is_not_always_the_minimal_one():
    """Documented behaviour: the radius comes from the first end of the final side."""
    labels = ellipse_field((300, 300), 250, seed=1)
    index = _present(labels)
    centers, radii = minimum_enclosing_circle(labels, index)
    points, counts = convex_hull(labels, index)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    max_distance = np.array([
        np.hypot(*(points[s:s + c, 1:] - centers[k]).T).max()
        for k, (s, c) in enumerate(zip(starts, counts))
    ])
    # every hull vertex lies inside the circle up to rounding
    assert np.all(max_distance <= radii * (1 + 1e-12) + 1e-12)


# ------------------------------------------------------- circles from column extremes (GPU route)
#
# On the GPU only each object's column extremes (topmost and bottommost pixel of every column it
# occupies) cross to the host; the C++ entry minimum_enclosing_circle_from_extremes must give the
# label-image route's circles bit for bit, ties (which depend on the other objects and on the
# order of index) included.


def numpy_extremes(labels, index=None):
    """The arguments of _core.minimum_enclosing_circle_from_extremes, computed with numpy.

    Objects are the labels > 0 of ``index`` in order of first appearance (default: the labels
    present, ascending); ``slot`` gives the object of every entry of ``index`` (-1: none).
    """
    if index is None:
        objects = _present(labels)
        slot = None
    else:
        index = np.atleast_1d(np.asarray(index, np.int64))
        seen = {}
        for label in index:
            if label > 0 and label not in seen:
                seen[label] = len(seen)
        objects = np.array(list(seen), np.int64)
        slot = np.array([seen.get(label, -1) for label in index], np.int64)
    rows, cols = np.nonzero(labels)
    number = {label: k for k, label in enumerate(objects.tolist())}
    obj = np.array([number.get(v, -1) for v in labels[rows, cols].tolist()], np.int64)
    keep = obj >= 0
    obj, rows, cols = obj[keep], rows[keep], cols[keep]
    n = objects.size
    jmin = np.full(n, np.iinfo(np.int64).max)
    jmax = np.full(n, -1)
    np.minimum.at(jmin, obj, cols)
    np.maximum.at(jmax, obj, cols)
    width = np.where(jmax >= 0, jmax - jmin + 1, 0)
    offset = np.concatenate([[0], np.cumsum(width)]).astype(np.int64)
    first = np.where(width > 0, jmin, 0).astype(np.int64)
    lower = np.full(offset[-1], np.iinfo(np.int32).max, np.int32)
    upper = np.full(offset[-1], -1, np.int32)
    k = offset[obj] + cols - first[obj]
    np.minimum.at(lower, k, rows.astype(np.int32))
    np.maximum.at(upper, k, rows.astype(np.int32))
    return first, offset, lower, upper, slot


def circles_from_extremes(labels, index=None, n_threads=0):
    loop, data = _acos_kernel()
    return _core.minimum_enclosing_circle_from_extremes(
        *numpy_extremes(labels, index), loop, data, geometry._reference_argsort, n_threads
    )


def _assert_same_arrays(got, want):
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert g.shape == w.shape and g.dtype == w.dtype
        np.testing.assert_array_equal(g, w)


@pytest.mark.parametrize("case", list(PARITY_CASES))
def test_circles_from_extremes_equal_label_route(case):
    """Same bits as the label-image route (itself equal to centrosome, test_circle_parity)."""
    labels = PARITY_CASES[case]()
    loop, data = _acos_kernel()
    want = _core.minimum_enclosing_circle(labels, None, loop, data,
                                          geometry._reference_argsort)[1:]
    _assert_same_arrays(circles_from_extremes(labels), want)


def test_circles_from_extremes_index_order_and_threads():
    """Ties depend on the order of the objects: numbering them by index reproduces it."""
    rng = np.random.default_rng(41)
    labels = disc_field((200, 200), 200, seed=42, radius=DISC_RADII)
    present = _present(labels)
    index = np.concatenate([rng.permutation(present)[:150], [0, -4, 10**6, present[3], 7]])
    index = rng.permutation(index)
    loop, data = _acos_kernel()
    want = _core.minimum_enclosing_circle(labels, index, loop, data,
                                          geometry._reference_argsort)[1:]
    for n_threads in (1, 2, 5):
        _assert_same_arrays(circles_from_extremes(labels, index, n_threads), want)
    # centrosome takes neither labels <= 0 nor duplicates (and gives absent labels R = 0)
    kept = np.zeros(index.size, bool)
    kept[np.unique(index, return_index=True)[1]] = True
    kept &= np.isin(index, present)
    ref_centers, ref_radii = reference_circle(labels, index[kept])
    np.testing.assert_array_equal(want[0][kept], ref_centers)
    np.testing.assert_array_equal(want[1][kept], ref_radii)
    empty = circles_from_extremes(labels, [])
    assert empty[0].shape == (0, 2) and empty[1].shape == (0,)


def test_circles_from_extremes_bad_tables():
    first, offset, lower, upper, _ = numpy_extremes(awkward_objects())
    call = _core.minimum_enclosing_circle_from_extremes
    call(first, offset, lower, upper)  # well formed
    bad_lower = lower.copy()
    bad_lower[offset[1]] = np.iinfo(np.int32).max  # first column of object 1 empty
    bad_upper = upper.copy()
    bad_upper[offset[2] + 1] = lower[offset[2] + 1] - 1  # upper above lower
    bad_offset = offset.copy()
    bad_offset[2] = bad_offset[1] - 1
    for args, match in [
        ((first, bad_offset, lower, upper), "non-decreasing"),
        ((first, offset, bad_lower, upper), "first column"),
        ((first, offset, lower, bad_upper), "lower and upper"),
        ((first, offset[:-1], lower, upper), "one more entry"),
        ((first, offset, lower[:-1], upper[:-1]), "offset"),
    ]:
        with pytest.raises(ValueError, match=match):
            call(*args)
    with pytest.raises(ValueError, match="slot"):
        call(first, offset, lower, upper, np.array([0, first.size]))


GPU_CASES = {
    "awkward": awkward_objects,
    "tie_shapes": tie_shapes,
    "line_shapes": line_shapes,
    "border_objects": border_objects,
    "holes_and_pieces": holes_and_pieces,
    "discs_ties": lambda: disc_field((96, 96), 60, seed=43, radius=(0.5, 8.0)),
    "one_row_image": PARITY_CASES["one_row_image"],
    "one_column_image": PARITY_CASES["one_column_image"],
    "single_pixel_image": PARITY_CASES["single_pixel_image"],
}


@pytest.mark.cudasim
@pytest.mark.parametrize("case", list(GPU_CASES))
def test_gpu_route_equals_cpu_and_reference(gpu_path, monkeypatch, case):
    """The GPU route (column extremes on the device, C++ on the host) never copies the label
    image to the host and gives the CPU route's and centrosome's circles bit for bit."""
    labels = GPU_CASES[case]()
    present = _present(labels)
    rng = np.random.default_rng(44)
    shuffled = rng.permutation(np.concatenate([present, present[:2], [0, -1, 10**7]]))
    expected = {key: minimum_enclosing_circle(labels, index)
                for key, index in (("default", None), ("shuffled", shuffled))}

    def no_label_route(*args, **kwargs):
        raise AssertionError("the GPU route sent the label image to the host")

    monkeypatch.setattr(_core, "minimum_enclosing_circle", no_label_route)
    _assert_same_arrays(gpu_path(minimum_enclosing_circle, labels), expected["default"])
    _assert_same_arrays(gpu_path(minimum_enclosing_circle, labels, shuffled), expected["shuffled"])
    monkeypatch.undo()
    ref_centers, ref_radii = reference_circle(labels, present)
    np.testing.assert_array_equal(expected["default"][0], ref_centers)
    np.testing.assert_array_equal(expected["default"][1], ref_radii)


@pytest.mark.cudasim
def test_gpu_column_extremes_equal_numpy(gpu_path):
    """The device tables themselves, on renumbered huge labels (slots != labels)."""
    from pyhcs._backend import namespace_for
    from pyhcs.features._objects import object_slots
    from pyhcs.features.geometry import column_extremes

    small = awkward_objects()
    huge = small.astype(np.int64) * 10**12
    slots = object_slots(huge, namespace_for(huge))
    assert slots.slot_labels is not None  # renumbered
    ids = slots.ids.astype(np.int32)
    present = np.unique(ids)[1:]
    object_of_slot = np.zeros(slots.n_slots, np.int32)
    object_of_slot[present[::-1]] = np.arange(1, present.size + 1)  # descending labels
    tables = gpu_path(
        lambda i, o: column_extremes(i, o, int(present.size), namespace_for(i)),
        ids, object_of_slot,
    )
    _assert_same_arrays(tables, numpy_extremes(small, _present(small)[::-1])[:4])


@pytest.mark.cudasim
def test_huge_sparse_labels_on_the_gpu_route(gpu_path):
    small = holes_and_pieces()
    huge = small.astype(np.int64) * 10**11 + 3
    huge[small == 0] = 0
    index = np.array([200, 4, 5, 17, 9, 10, 200]) * 10**11 + 3
    got = gpu_path(minimum_enclosing_circle, huge, index)
    _assert_same_arrays(got, minimum_enclosing_circle(small, (index - 3) // 10**11))


# ----------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("func", [minimum_enclosing_circle, convex_hull])
def test_bad_labels(func):
    good = np.zeros((5, 5), np.int32)
    with pytest.raises(TypeError, match="labels"):
        func(good.astype(np.float64))
    with pytest.raises(TypeError, match="labels"):
        func(good.astype(bool))
    with pytest.raises(TypeError, match="labels"):
        func(good.tolist())
    with pytest.raises(ValueError, match="labels"):
        func(np.full((5, 5), -1, np.int32))
    with pytest.raises(ValueError, match="labels"):
        func(np.zeros((2, 5, 5), np.int32))
    with pytest.raises(ValueError, match="labels"):
        func(np.zeros(5, np.int32))


@pytest.mark.parametrize("func", [minimum_enclosing_circle, convex_hull])
def test_bad_index(func):
    labels = np.ones((5, 5), np.int32)
    with pytest.raises(TypeError, match="index"):
        func(labels, [1.0, 2.0])
    with pytest.raises(TypeError, match="index"):
        func(labels, np.array([1.5]))
    with pytest.raises(ValueError, match="index"):
        func(labels, np.ones((2, 2), np.int64))


# ----------------------------------------------------------------------------- GPU arrays


@pytest.mark.gpu
def test_cupy_in_cupy_out():
    cupy = pytest.importorskip("cupy")
    labels = ellipse_field((128, 128), 40, seed=17)
    centers, radii = minimum_enclosing_circle(cupy.asarray(labels))
    assert isinstance(centers, cupy.ndarray) and isinstance(radii, cupy.ndarray)
    expected = minimum_enclosing_circle(labels)
    np.testing.assert_array_equal(centers.get(), expected[0])
    np.testing.assert_array_equal(radii.get(), expected[1])
