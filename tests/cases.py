"""Label images and intensity images with every awkward kind of object, for parity tests."""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi
from skimage.draw import disk, ellipse


def random_ellipses(shape, n, seed, max_radius=12.0, touching=True, dtype=np.int32, step=1):
    """Ellipse objects, later ones painted over earlier ones (so objects touch and get
    clipped into odd shapes); labels ``step, 2*step, ...`` (non-contiguous when step > 1)."""
    rng = np.random.default_rng(seed)
    labels = np.zeros(shape, dtype=dtype)
    for k in range(1, n + 1):
        r = rng.uniform(0, shape[0])
        c = rng.uniform(0, shape[1])
        rr, cc = ellipse(
            r, c, rng.uniform(0.5, max_radius), rng.uniform(0.5, max_radius),
            shape=shape, rotation=rng.uniform(0, np.pi),
        )
        if not touching:
            keep = labels[rr, cc] == 0
            rr, cc = rr[keep], cc[keep]
        labels[rr, cc] = k * step
    return labels


def disc_field(shape, n, seed, radius):
    """Digital discs with sub-pixel centres and radii drawn from ``radius`` (low, high): many
    co-circular hull vertices, so exact ties in the enclosing-circle iteration."""
    rng = np.random.default_rng(seed)
    labels = np.zeros(shape, np.int32)
    for k in range(1, n + 1):
        centre = (rng.uniform(0, shape[0]), rng.uniform(0, shape[1]))
        rr, cc = disk(centre, rng.uniform(*radius), shape=shape)
        labels[rr, cc] = k
    return labels


def random_blobs(shape, seed, threshold=0.6, sigma=2.0):
    """Connected components of smoothed noise: irregular objects with holes."""
    rng = np.random.default_rng(seed)
    field = ndi.gaussian_filter(rng.standard_normal(shape), sigma)
    field = (field - field.min()) / (np.ptp(field) + 1e-12)
    labels, _ = ndi.label(field > threshold)
    return labels.astype(np.int32)


def awkward_objects():
    """One image holding every degenerate kind of object, with non-contiguous labels."""
    labels = np.zeros((24, 30), dtype=np.int32)
    labels[1, 1] = 7  # one pixel
    labels[3, 2:9] = 3  # one row
    labels[5:12, 1] = 12  # one column
    for k in range(6):  # a diagonal line
        labels[14 + k, 2 + k] = 40
    labels[2:8, 12:18] = 5  # a square with a hole
    labels[4:6, 14:16] = 0
    labels[10:13, 12:15] = 9  # a label made of two pieces
    labels[20:23, 25:29] = 9
    labels[0:3, 26:30] = 1000  # touching the border
    labels[15:20, 12:17] = 21  # two touching objects
    labels[15:20, 17:22] = 22
    labels[23, 0] = 2**20  # a large label in a corner
    return labels


def image_for(labels, dtype, seed):
    """A random intensity image of ``dtype`` with the shape of ``labels``."""
    rng = np.random.default_rng(seed)
    dtype = np.dtype(dtype)
    if dtype == np.bool_:
        return rng.random(labels.shape) > 0.5
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        return rng.integers(info.min, int(info.max) + 1, labels.shape, dtype=dtype)
    return (rng.standard_normal(labels.shape) * 100).astype(dtype)
