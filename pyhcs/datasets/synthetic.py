"""Synthetic high-content-screening fields with ground truth.

A field is a two-channel fluorescence image (``DNA``, ``Actin``) of cultured cells together with
the exact nucleus and cell label images it was rendered from. The generator is meant for tests,
benchmarks and demos of the segmentation and measurement code: it is fast (a 2048 x 2048 field
with 1,500 nuclei takes about 2-3 s on one CPU core), deterministic per seed, and
its phenotype is controlled by a frozen dataclass (:class:`PhenotypeParams`) that
:func:`dataclasses.replace` can shift per well.

Rendering model
---------------
1. *Placement.* Nucleus centres are drawn uniformly, except a fraction ``cluster_fraction`` that
   grows clusters: each new member is put next to a random member of its cluster, touching it.
   A candidate is rejected when, along the line joining two centres, the ellipses would overlap by
   more than ``nucleus_overlap`` of the sum of their radii in that direction.
2. *Nuclei.* Ellipses with a log-normal equivalent radius, a normal (clipped) eccentricity and a
   uniform orientation. Where two ellipses overlap, a pixel belongs to the nucleus whose
   normalised elliptical radius ``q`` is smallest, so every pixel has exactly one label.
3. *Cells.* Each background pixel goes to the nearest nucleus (a Voronoi partition of the nuclei,
   from a Euclidean distance transform) if its distance to that nucleus, scaled by a smooth
   random field (``cell_irregularity``), is at most ``cell_radius_k - r_k``; sparse cells are thus
   separated by background. Fragments not connected to their nucleus are dropped.
4. *DNA channel.* Per-nucleus brightness times a slightly domed profile times
   ``1 + texture_contrast * t`` where ``t`` is band-limited noise (difference of Gaussians at
   ``texture_scale`` and twice it, unit standard deviation): chromatin texture.
5. *Actin channel.* Per-cell cytoplasm brightness with smooth texture, dimmer over the nucleus,
   plus ``membrane_contrast`` times that brightness on the one-pixel inner border of every cell
   (two pixels where two cells meet, so contacts are brighter still).
   Optionally (off by default): mitotic nuclei (condensed, bright, smooth), apoptotic ones
   (shrunken, dim, fragmented) and debris particles that are not nuclei.
6. *Acquisition.* Both channels are blurred by a Gaussian point-spread function, a background is
   added, the sum is multiplied by a smooth vignetting-like illumination field, then Poisson shot
   noise (through ``gain``), a camera ``offset`` and Gaussian read noise are applied, and the
   result is rounded and clipped to uint16. Optionally, part of the Actin signal bleeds into
   the DNA channel and a defocus blur grows across the field.

Randomness comes only from ``numpy.random.default_rng`` seeded by independent children of
``numpy.random.SeedSequence(seed)``, one per stage (placement, object attributes, texture, cell
shapes, noise), so e.g. changing the noise level does not move the cells.
"""

from __future__ import annotations

import dataclasses
import json
import math
import numbers
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy import ndimage as ndi

__all__ = [
    "CHANNEL_NAMES",
    "PhenotypeParams",
    "ImagingParams",
    "SyntheticField",
    "synthetic_field",
    "derive_seed",
    "write_synthetic_fields",
]

#: Channel order of :attr:`SyntheticField.image` (axis 0).
CHANNEL_NAMES: tuple[str, ...] = ("DNA", "Actin")

_UINT16_MAX = 65535


# --------------------------------------------------------------------------------------------
# Parameter objects
# --------------------------------------------------------------------------------------------


def _check_real(owner: str, name: str, value: Any, low: float | None = None,
                high: float | None = None, low_open: bool = False,
                high_open: bool = False) -> float:
    """Return ``value`` as float after checking its type and range, else raise naming it."""
    full = f"{owner}.{name}"
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{full} must be a real number, got {type(value).__name__} {value!r}")
    v = float(value)
    if not math.isfinite(v):
        raise ValueError(f"{full} must be finite, got {value!r}")
    if low is not None and (v < low or (low_open and v == low)):
        op = ">" if low_open else ">="
        raise ValueError(f"{full} must be {op} {low}, got {value!r}")
    if high is not None and (v > high or (high_open and v == high)):
        op = "<" if high_open else "<="
        raise ValueError(f"{full} must be {op} {high}, got {value!r}")
    return v


@dataclass(frozen=True)
class PhenotypeParams:
    """Biological appearance of the cells in a synthetic field.

    Frozen, so one instance can be shared; derive variants per well with
    :func:`dataclasses.replace`, e.g. ``replace(p, nucleus_radius=12.0)``. Lengths are in
    pixels, intensities in camera counts (ADU) above background before illumination falloff.

    Parameters
    ----------
    nucleus_radius : float, default 9.0
        Median equivalent radius ``sqrt(a * b)`` of the nucleus ellipses (semi-axes ``a >= b``);
        > 0.
    nucleus_radius_cv : float, default 0.2
        Log-normal spread (sigma of the log) of the equivalent radius; in [0, 1]. Radii are
        clipped to [0.4, 2.5] times ``nucleus_radius`` and to at least 1.5 pixels.
    nucleus_eccentricity : float, default 0.6
        Mean eccentricity ``sqrt(1 - b**2 / a**2)``; in [0, 0.95].
    nucleus_eccentricity_sd : float, default 0.15
        Standard deviation of the eccentricity (normal, clipped to [0, 0.95]); >= 0.
    nucleus_overlap : float, default 0.1
        Largest allowed overlap of two nuclei along the line joining their centres, as a
        fraction of the sum of their radii in that direction; in [0, 0.5]. Overlapping pixels go
        to one nucleus only.
    cluster_fraction : float, default 0.3
        Fraction of the nuclei placed in clusters of touching nuclei; in [0, 1].
    cluster_size : float, default 5.0
        Mean number of nuclei per cluster (2 + Poisson(cluster_size - 2)); >= 2.
    texture_scale : float, default 1.5
        Length scale (Gaussian sigma, pixels) of the chromatin texture: band-limited noise
        between ``texture_scale`` and ``2 * texture_scale``; > 0.
    texture_contrast : float, default 0.3
        Relative amplitude (standard deviation) of the chromatin texture; in [0, 2].
    dna_intensity : float, default 3000.0
        Median DNA brightness of a nucleus; >= 0.
    dna_intensity_cv : float, default 0.25
        Log-normal spread of the per-nucleus DNA brightness; in [0, 2].
    actin_intensity : float, default 800.0
        Median cytoplasmic Actin brightness of a cell; >= 0.
    actin_intensity_cv : float, default 0.3
        Log-normal spread of the per-cell Actin brightness; in [0, 2].
    actin_texture_contrast : float, default 0.25
        Relative amplitude of the smooth cytoplasmic Actin texture; in [0, 2].
    actin_nuclear_fraction : float, default 0.5
        Actin brightness over the nucleus relative to the cytoplasm; in [0, 1].
    membrane_contrast : float, default 1.5
        Extra Actin brightness on the cell border, relative to the cell's cytoplasm (so a border
        pixel is ``1 + membrane_contrast`` times brighter before blurring); >= 0.
    cell_radius : float, default 30.0
        Median largest extent of a cell from its nucleus centre: a cell reaches at most
        ``cell_radius_k - r_k`` pixels beyond the edge of its nucleus (``r_k`` the nucleus
        equivalent radius; at least 1 pixel), less where it meets a neighbour. Must be
        > ``nucleus_radius``.
    cell_radius_cv : float, default 0.2
        Log-normal spread of the per-cell radius; in [0, 1].
    cell_irregularity : float, default 0.3
        Amplitude (log scale) of the smooth random field that makes cell outlines irregular;
        in [0, 1]. 0 gives cells bounded by circles around the nucleus outline.
    mitotic_fraction : float, default 0.0
        Fraction of the nuclei drawn as mitotic: condensed (radius times 0.65), 2.5 times
        brighter and nearly without texture (a third of ``texture_contrast``); in [0, 1].
    apoptotic_fraction : float, default 0.0
        Fraction of the nuclei drawn as apoptotic (of the others): shrunken (radius times
        0.75), dim (0.35 times the brightness) and fragmented (twice the texture contrast,
        at most 2); in [0, 1].
    debris_per_megapixel : float, default 0.0
        Mean number of debris particles per 10^6 pixels (Poisson): small bright or dim disks
        (radius log-uniform in 0.5 pixels to ``0.4 * nucleus_radius``, brightness
        log-uniform in 0.2-3 times ``dna_intensity``) in the DNA channel that are not nuclei
        (label 0); >= 0.
    """

    nucleus_radius: float = 9.0
    nucleus_radius_cv: float = 0.2
    nucleus_eccentricity: float = 0.6
    nucleus_eccentricity_sd: float = 0.15
    nucleus_overlap: float = 0.1
    cluster_fraction: float = 0.3
    cluster_size: float = 5.0
    texture_scale: float = 1.5
    texture_contrast: float = 0.3
    dna_intensity: float = 3000.0
    dna_intensity_cv: float = 0.25
    actin_intensity: float = 800.0
    actin_intensity_cv: float = 0.3
    actin_texture_contrast: float = 0.25
    actin_nuclear_fraction: float = 0.5
    membrane_contrast: float = 1.5
    cell_radius: float = 30.0
    cell_radius_cv: float = 0.2
    cell_irregularity: float = 0.3
    mitotic_fraction: float = 0.0
    apoptotic_fraction: float = 0.0
    debris_per_megapixel: float = 0.0

    # (low, high, low_open, high_open) per field; not annotated, so a class attribute, not a field
    _RANGES = {
        "nucleus_radius": (0.0, 500.0, True, False),
        "nucleus_radius_cv": (0.0, 1.0, False, False),
        "nucleus_eccentricity": (0.0, 0.95, False, False),
        "nucleus_eccentricity_sd": (0.0, None, False, False),
        "nucleus_overlap": (0.0, 0.5, False, False),
        "cluster_fraction": (0.0, 1.0, False, False),
        "cluster_size": (2.0, None, False, False),
        "texture_scale": (0.0, 100.0, True, False),
        "texture_contrast": (0.0, 2.0, False, False),
        "dna_intensity": (0.0, float(_UINT16_MAX), False, False),
        "dna_intensity_cv": (0.0, 2.0, False, False),
        "actin_intensity": (0.0, float(_UINT16_MAX), False, False),
        "actin_intensity_cv": (0.0, 2.0, False, False),
        "actin_texture_contrast": (0.0, 2.0, False, False),
        "actin_nuclear_fraction": (0.0, 1.0, False, False),
        "membrane_contrast": (0.0, None, False, False),
        "cell_radius": (0.0, 1000.0, True, False),
        "cell_radius_cv": (0.0, 1.0, False, False),
        "cell_irregularity": (0.0, 1.0, False, False),
        "mitotic_fraction": (0.0, 1.0, False, False),
        "apoptotic_fraction": (0.0, 1.0, False, False),
        "debris_per_megapixel": (0.0, 1e5, False, False),
    }

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            lo, hi, lo_open, hi_open = self._RANGES[f.name]
            v = _check_real(type(self).__name__, f.name, getattr(self, f.name), lo, hi,
                            lo_open, hi_open)
            object.__setattr__(self, f.name, v)
        if self.cell_radius <= self.nucleus_radius:
            raise ValueError(
                f"PhenotypeParams.cell_radius ({self.cell_radius}) must be greater than "
                f"PhenotypeParams.nucleus_radius ({self.nucleus_radius})"
            )


@dataclass(frozen=True)
class ImagingParams:
    """Acquisition model of a synthetic field: optics, illumination and camera.

    Parameters
    ----------
    background : float, default 150.0
        Diffuse background fluorescence (ADU) added to both channels before the illumination
        field and shot noise; >= 0.
    offset : float, default 100.0
        Camera bias (ADU) added after shot noise; in [0, 65535].
    illumination_falloff : float, default 0.3
        Relative loss of illumination at the field corners (vignetting-like quadratic falloff
        around a randomly shifted centre, times a faint smooth random modulation); in [0, 0.9].
        0 gives flat illumination.
    gain : float, default 1.0
        ADU per detected photon: the shot noise is ``gain * Poisson(expected / gain)``; > 0.
        Larger gain means fewer photons and relatively more shot noise.
    read_noise : float, default 3.0
        Standard deviation (ADU) of the Gaussian read noise; >= 0.
    psf_sigma : float, default 1.0
        Gaussian sigma (pixels) of the point-spread function applied to both channels; >= 0
        (0: no blur).
    defocus : float, default 0.0
        Extra Gaussian blur (sigma, pixels) that grows linearly across the field in a random
        direction, from none on one side to ``defocus`` on the other (a tilted plate); >= 0.
    bleed_through : float, default 0.0
        Fraction of the Actin signal that bleeds into the DNA channel; in [0, 1].
    """

    background: float = 150.0
    offset: float = 100.0
    illumination_falloff: float = 0.3
    gain: float = 1.0
    read_noise: float = 3.0
    psf_sigma: float = 1.0
    defocus: float = 0.0
    bleed_through: float = 0.0

    def __post_init__(self) -> None:
        ranges = {
            "background": (0.0, float(_UINT16_MAX), False, False),
            "offset": (0.0, float(_UINT16_MAX), False, False),
            "illumination_falloff": (0.0, 0.9, False, False),
            "gain": (0.0, 1e4, True, False),
            "read_noise": (0.0, 1e4, False, False),
            "psf_sigma": (0.0, 50.0, False, False),
            "defocus": (0.0, 50.0, False, False),
            "bleed_through": (0.0, 1.0, False, False),
        }
        for f in dataclasses.fields(self):
            lo, hi, lo_open, hi_open = ranges[f.name]
            v = _check_real(type(self).__name__, f.name, getattr(self, f.name), lo, hi,
                            lo_open, hi_open)
            object.__setattr__(self, f.name, v)


@dataclass(frozen=True, eq=False)
class SyntheticField:
    """One synthetic field and its ground truth, as returned by :func:`synthetic_field`.

    Attributes
    ----------
    image : numpy.ndarray of uint16, shape (C, H, W)
        The fluorescence image, channel-first; channel ``c`` is ``channel_names[c]``.
    channel_names : tuple of str
        Channel names in axis-0 order, ``("DNA", "Actin")``.
    nuclei : numpy.ndarray of int32, shape (H, W)
        Nucleus labels: 0 is background, nuclei are labelled 1..n contiguously.
    cells : numpy.ndarray of int32, shape (H, W)
        Cell labels: cell ``k`` contains every pixel of nucleus ``k`` (same numbers, 1..n).
    truth : dict of str to numpy.ndarray
        Per-nucleus rendering parameters, each an array of length n in label order:
        ``label``, ``center_y``, ``center_x`` (pixel coordinates of the ellipse centre),
        ``semi_major``, ``semi_minor`` (pixels), ``orientation`` (radians, angle of the major
        axis from the +x (column) axis towards +y (row)), ``eccentricity``, ``dna_intensity``,
        ``actin_intensity``, ``cell_radius``, ``cluster`` (cluster id, 0 for isolated nuclei).
    phenotype : PhenotypeParams
        Phenotype used.
    imaging : ImagingParams
        Acquisition parameters used.
    seed : int
        Seed used.
    n_requested : int
        Number of nuclei asked for; :attr:`n_nuclei` may be smaller when placement failed.
    """

    image: np.ndarray
    channel_names: tuple[str, ...]
    nuclei: np.ndarray
    cells: np.ndarray
    truth: dict[str, np.ndarray]
    phenotype: PhenotypeParams
    imaging: ImagingParams
    seed: int
    n_requested: int

    @property
    def shape(self) -> tuple[int, int]:
        """(H, W) of the field."""
        return (int(self.image.shape[1]), int(self.image.shape[2]))

    @property
    def n_nuclei(self) -> int:
        """Number of nuclei (and cells) actually placed, the largest label."""
        return int(self.truth["label"].size)

    def channel(self, name: str) -> np.ndarray:
        """Return the (H, W) image of the channel called ``name``."""
        try:
            return self.image[self.channel_names.index(name)]
        except ValueError:
            raise KeyError(
                f"name must be one of {self.channel_names}, got {name!r}"
            ) from None


# --------------------------------------------------------------------------------------------
# Argument validation
# --------------------------------------------------------------------------------------------


def _check_int(name: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__} {value!r}")
    v = int(value)
    if v < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {v}")
    return v


def _check_shape(shape: Any) -> tuple[int, int]:
    if isinstance(shape, (str, bytes)) or not hasattr(shape, "__len__"):
        raise TypeError(f"shape must be a sequence of 2 positive integers, got {shape!r}")
    if len(shape) != 2:
        raise ValueError(f"shape must have 2 entries (H, W), got {len(shape)}: {tuple(shape)!r}")
    out = []
    for s in shape:
        if isinstance(s, bool) or not isinstance(s, numbers.Integral):
            raise TypeError(f"shape must contain integers, got {tuple(shape)!r}")
        if int(s) <= 0:
            raise ValueError(f"shape must contain positive integers, got {tuple(shape)!r}")
        out.append(int(s))
    return (out[0], out[1])


def derive_seed(seed: int, *keys: int) -> int:
    """Derive an independent, reproducible 63-bit seed from ``seed`` and integer ``keys``.

    Used to give every field of a run (and later every well and field of a plate) its own seed:
    ``derive_seed(seed, i)`` does not depend on how many fields are generated, and different
    ``(seed, keys)`` give statistically independent streams
    (``numpy.random.SeedSequence(seed, spawn_key=keys)``).

    Parameters
    ----------
    seed : int
        Base seed, >= 0.
    *keys : int
        Non-negative integers, e.g. the field index.

    Returns
    -------
    int
        A seed in [0, 2**63).

    Examples
    --------
    >>> derive_seed(0, 1) == derive_seed(0, 1) != derive_seed(0, 2)
    True
    """
    seed = _check_int("seed", seed, 0)
    keys = tuple(_check_int("keys", k, 0) for k in keys)
    state = np.random.SeedSequence(seed, spawn_key=keys).generate_state(1, dtype=np.uint64)
    return int(state[0] >> np.uint64(1))


# --------------------------------------------------------------------------------------------
# Building blocks
# --------------------------------------------------------------------------------------------


def _lognormal(rng: np.random.Generator, median: float, sigma: float, n: int) -> np.ndarray:
    return median * np.exp(sigma * rng.standard_normal(n))


def _upsample_linear(small: np.ndarray, factor: int, shape: tuple[int, int]) -> np.ndarray:
    """Separable linear interpolation of ``small`` by an integer ``factor``, cropped to ``shape``.

    Output pixel ``i`` samples ``small`` at ``i / factor`` (``small`` must cover the field).
    """
    out = small
    for axis, n in enumerate(shape):
        pos = np.arange(n, dtype=np.float32) / np.float32(factor)
        j0 = np.floor(pos).astype(np.intp)
        t = pos - j0
        if axis == 0:
            out = out[j0] * (1.0 - t)[:, None] + out[j0 + 1] * t[:, None]
        else:
            out = out[:, j0] * (1.0 - t)[None, :] + out[:, j0 + 1] * t[None, :]
    return np.ascontiguousarray(out, dtype=np.float32)


def _smooth_noise(rng: np.random.Generator, shape: tuple[int, int], sigma: float) -> np.ndarray:
    """Gaussian-filtered white noise with unit standard deviation, float32 (H, W).

    For ``sigma >= 3`` the noise is filtered on a grid ``factor = sigma // 1.5`` times coarser
    and linearly upsampled (cheap, and smooth at that scale).
    """
    h, w = shape
    factor = max(1, int(sigma // 1.5))
    if factor == 1:
        white = rng.standard_normal(shape, dtype=np.float32)
        out = ndi.gaussian_filter(white, sigma, mode="wrap")
    else:
        hs, ws = -(-h // factor) + 2, -(-w // factor) + 2
        white = rng.standard_normal((hs, ws), dtype=np.float32)
        small = ndi.gaussian_filter(white, sigma / factor, mode="wrap")
        out = _upsample_linear(small, factor, shape)
    std = float(out.std())
    if std > 0:
        out /= std
    return out


def _bandpass_noise(rng: np.random.Generator, shape: tuple[int, int], scale: float) -> np.ndarray:
    """Difference of Gaussians (sigma ``scale`` minus sigma ``2 * scale``) of white noise.

    Unit standard deviation, float32 (H, W): texture whose grain is about ``scale`` pixels.
    """
    white = rng.standard_normal(shape, dtype=np.float32)
    fine = ndi.gaussian_filter(white, scale, mode="wrap")
    # sigma**2 + 3 sigma**2 = (2 sigma)**2: the coarse band reuses the fine one.
    coarse = ndi.gaussian_filter(fine, scale * math.sqrt(3.0), mode="wrap")
    fine -= coarse
    std = float(fine.std())
    if std > 0:
        fine /= std
    return fine


def _support_radius(a: float, b: float, theta: float, direction: float) -> float:
    """Distance from the centre to the boundary of an ellipse along ``direction`` (radians)."""
    phi = direction - theta
    c, s = math.cos(phi), math.sin(phi)
    return a * b / math.sqrt((b * c) ** 2 + (a * s) ** 2)


class _Placer:
    """Rejection placement of ellipses with a bucket grid for neighbour look-ups."""

    def __init__(self, shape, a, b, theta, overlap):
        self.h, self.w = shape
        self.a, self.b, self.theta = a, b, theta
        self.keep = 1.0 - overlap
        self.cell = max(2.0 * float(a.max()) if a.size else 1.0, 1.0)
        self.grid: dict[tuple[int, int], list[int]] = {}
        self.y: dict[int, float] = {}
        self.x: dict[int, float] = {}

    def fits(self, i: int, y: float, x: float) -> bool:
        if not (0.0 <= y < self.h and 0.0 <= x < self.w):
            return False
        gy, gx = int(y // self.cell), int(x // self.cell)
        a, b, th, keep = self.a, self.b, self.theta, self.keep
        for dy in (-1, 0, 1):
            for dx in (-1, 0, 1):
                for j in self.grid.get((gy + dy, gx + dx), ()):
                    ey, ex = self.y[j] - y, self.x[j] - x
                    d2 = ey * ey + ex * ex
                    reach = a[i] + a[j]
                    if d2 >= reach * reach:
                        continue
                    direction = math.atan2(ey, ex)
                    need = keep * (_support_radius(a[i], b[i], th[i], direction)
                                   + _support_radius(a[j], b[j], th[j], direction))
                    if d2 < need * need:
                        return False
        return True

    def add(self, i: int, y: float, x: float) -> None:
        self.y[i], self.x[i] = y, x
        self.grid.setdefault((int(y // self.cell), int(x // self.cell)), []).append(i)


def _place(rng, shape, n, a, b, theta, p: PhenotypeParams):
    """Return centres (y, x), placed mask and cluster ids for n nuclei (in index order)."""
    h, w = shape
    placer = _Placer(shape, a, b, theta, p.nucleus_overlap)
    cy = np.zeros(n)
    cx = np.zeros(n)
    placed = np.zeros(n, dtype=bool)
    cluster = np.zeros(n, dtype=np.int32)

    n_clustered = int(round(p.cluster_fraction * n))
    leftovers: list[int] = []
    i = 0
    cluster_id = 0
    while i < n_clustered:
        size = min(2 + int(rng.poisson(p.cluster_size - 2.0)), n_clustered - i)
        members = list(range(i, i + size))
        i += size
        if size < 2:
            leftovers.extend(members)
            continue
        cluster_id += 1
        # seed of the cluster: uniform position
        first = members[0]
        for _ in range(100):
            y, x = rng.uniform(0, h), rng.uniform(0, w)
            if placer.fits(first, y, x):
                placer.add(first, y, x)
                cy[first], cx[first], placed[first] = y, x, True
                cluster[first] = cluster_id
                break
        else:
            leftovers.extend(members)
            continue
        in_cluster = [first]
        for m in members[1:]:
            for _ in range(30):
                anchor = in_cluster[int(rng.integers(len(in_cluster)))]
                direction = rng.uniform(0.0, 2.0 * math.pi)
                dist = (_support_radius(a[anchor], b[anchor], theta[anchor], direction)
                        + _support_radius(a[m], b[m], theta[m], direction))
                dist *= rng.uniform(1.0 - p.nucleus_overlap, 1.05)
                y = cy[anchor] + dist * math.sin(direction)
                x = cx[anchor] + dist * math.cos(direction)
                if placer.fits(m, y, x):
                    placer.add(m, y, x)
                    cy[m], cx[m], placed[m] = y, x, True
                    cluster[m] = cluster_id
                    in_cluster.append(m)
                    break
            else:
                leftovers.append(m)

    for m in leftovers + list(range(n_clustered, n)):
        for _ in range(100):
            y, x = rng.uniform(0, h), rng.uniform(0, w)
            if placer.fits(m, y, x):
                placer.add(m, y, x)
                cy[m], cx[m], placed[m] = y, x, True
                break
    return cy, cx, placed, cluster


def _rasterise(shape, cy, cx, a, b, theta):
    """Label image (int32) and normalised squared elliptical radius q2 (float32) of ellipses.

    A pixel inside several ellipses goes to the one with the smallest q2 (ties: lowest label).
    """
    h, w = shape
    labels = np.zeros(shape, dtype=np.int32)
    q2best = np.full(shape, np.inf, dtype=np.float32)
    for k in range(cy.size):
        y, x, ak = float(cy[k]), float(cx[k]), float(a[k])
        y0, y1 = max(0, int(math.floor(y - ak - 1))), min(h, int(math.ceil(y + ak + 2)))
        x0, x1 = max(0, int(math.floor(x - ak - 1))), min(w, int(math.ceil(x + ak + 2)))
        if y0 >= y1 or x0 >= x1:
            continue
        c, s = math.cos(theta[k]), math.sin(theta[k])
        yy = (np.arange(y0, y1, dtype=np.float32) - np.float32(y))[:, None]
        xx = (np.arange(x0, x1, dtype=np.float32) - np.float32(x))[None, :]
        u = (xx * np.float32(c) + yy * np.float32(s)) * np.float32(1.0 / ak)
        v = (yy * np.float32(c) - xx * np.float32(s)) * np.float32(1.0 / b[k])
        q2 = u * u + v * v
        sub_q = q2best[y0:y1, x0:x1]
        m = (q2 <= 1.0) & (q2 < sub_q)
        sub_q[m] = q2[m]
        labels[y0:y1, x0:x1][m] = k + 1
    return labels, q2best


def _merge_fragments(labels: np.ndarray, max_rounds: int = 3) -> np.ndarray:
    """Make every object 4-connected: keep each label's largest 4-connected piece.

    Smaller pieces (they arise where strongly overlapping ellipses interleave) are given to the
    nearest pixel of another kept object within a small window, or to the background when
    there is none; repeated until nothing is fragmented. Modifies and returns ``labels``.
    """
    from skimage.measure import label as cc_label

    for round_ in range(max_rounds + 1):
        comp = cc_label(labels, connectivity=1, background=0)
        n_comp = int(comp.max())
        n_lab = int(np.count_nonzero(np.bincount(labels.ravel())[1:]))
        if n_comp == n_lab:
            return labels
        size = np.bincount(comp.ravel(), minlength=n_comp + 1)
        owner = np.zeros(n_comp + 1, dtype=labels.dtype)
        owner[comp.ravel()] = labels.ravel()
        # largest piece of each label: sort pieces by (label, size), last of each label wins
        order = np.lexsort((size[1:], owner[1:])) + 1
        last = np.ones(order.size, dtype=bool)
        last[:-1] = owner[order[1:]] != owner[order[:-1]]
        main = np.zeros(n_comp + 1, dtype=bool)
        main[order[last]] = True
        frag = ~main[comp] & (labels > 0)
        del comp
        if round_ == max_rounds:  # give up: background
            labels[frag] = 0
            return labels
        labels[frag] = 0
        pieces, _ = ndi.label(frag)
        for sl in ndi.find_objects(pieces):
            y0, y1 = max(0, sl[0].start - 3), min(labels.shape[0], sl[0].stop + 3)
            x0, x1 = max(0, sl[1].start - 3), min(labels.shape[1], sl[1].stop + 3)
            sub = labels[y0:y1, x0:x1]
            sub_frag = frag[y0:y1, x0:x1]
            if not (sub > 0).any():
                continue
            iy, ix = ndi.distance_transform_edt(sub == 0, return_distances=False,
                                                return_indices=True)
            sub[sub_frag] = sub[iy[sub_frag], ix[sub_frag]]
    return labels


def _inner_border(labels: np.ndarray) -> np.ndarray:
    """Pixels of an object with a 4-neighbour of a different label (background included)."""
    diff_v = labels[1:, :] != labels[:-1, :]
    diff_h = labels[:, 1:] != labels[:, :-1]
    border = np.zeros(labels.shape, dtype=bool)
    border[1:, :] |= diff_v
    border[:-1, :] |= diff_v
    border[:, 1:] |= diff_h
    border[:, :-1] |= diff_h
    border &= labels > 0
    return border


def _debris(rng: np.random.Generator, shape: tuple[int, int], p: PhenotypeParams) -> np.ndarray:
    """Debris in the DNA channel: Poisson(``debris_per_megapixel``) small disks per 10^6
    pixels, uniformly placed, radius log-uniform in [0.5, max(0.5, 0.4 * nucleus_radius)],
    brightness log-uniform in [0.2, 3] times ``dna_intensity`` (float32, shape (H, W))."""
    h, w = shape
    out = np.zeros(shape, dtype=np.float32)
    count = int(rng.poisson(p.debris_per_megapixel * h * w / 1e6))
    top = max(0.5, 0.4 * p.nucleus_radius)
    radii = np.exp(rng.uniform(np.log(0.5), np.log(top), count))
    bright = p.dna_intensity * np.exp(rng.uniform(np.log(0.2), np.log(3.0), count))
    ys, xs = rng.uniform(0, h, count), rng.uniform(0, w, count)
    for y, x, r, b in zip(ys, xs, radii, bright):
        r0, r1 = max(0, int(y - r - 1)), min(h, int(y + r + 2))
        c0, c1 = max(0, int(x - r - 1)), min(w, int(x + r + 2))
        yy, xx = np.mgrid[r0:r1, c0:c1]
        inside = (yy + 0.5 - y) ** 2 + (xx + 0.5 - x) ** 2 <= max(r, 0.7) ** 2
        out[r0:r1, c0:c1][inside] += np.float32(b)
    return out


def _defocus(signal: np.ndarray, sigma: float, angle: float) -> np.ndarray:
    """Blur growing linearly across the field: ``(1 - a) * signal + a * blurred``, ``a`` a
    ramp from 0 to 1 along the direction ``angle`` (radians from +x towards +y)."""
    h, w = signal.shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    along = np.float32(math.sin(angle)) * yy + np.float32(math.cos(angle)) * xx
    along -= along.min()
    along /= max(float(along.max()), 1.0)
    blurred = ndi.gaussian_filter(signal, sigma, mode="nearest")
    return signal + along * (blurred - signal)


def _illumination(rng, shape, falloff: float) -> np.ndarray:
    """Smooth multiplicative illumination field in (0, 1], float32 (H, W), max about 1."""
    h, w = shape
    if falloff == 0.0:
        return np.ones(shape, dtype=np.float32)
    # Centre shifted by up to 10 % of the field, quadratic falloff reaching `falloff` at the
    # farthest corner, times a faint large-scale modulation.
    y0 = h / 2.0 + rng.uniform(-0.1, 0.1) * h
    x0 = w / 2.0 + rng.uniform(-0.1, 0.1) * w
    ry = (np.arange(h, dtype=np.float32) - np.float32(y0))[:, None]
    rx = (np.arange(w, dtype=np.float32) - np.float32(x0))[None, :]
    rmax2 = max(y0, h - y0) ** 2 + max(x0, w - x0) ** 2
    field_ = 1.0 - np.float32(falloff / rmax2) * (ry * ry + rx * rx)
    modulation = _smooth_noise(rng, shape, max(h, w) / 8.0)
    field_ *= 1.0 + np.float32(0.1 * falloff) * np.clip(modulation, -3, 3)
    np.clip(field_, 0.05, None, out=field_)
    return field_.astype(np.float32, copy=False)


# --------------------------------------------------------------------------------------------
# Public generator
# --------------------------------------------------------------------------------------------


def synthetic_field(
    shape: tuple[int, int] = (2048, 2048),
    n_nuclei: int = 1500,
    seed: int = 0,
    *,
    phenotype: PhenotypeParams | None = None,
    imaging: ImagingParams | None = None,
) -> SyntheticField:
    """Render a realistic two-channel HCS field and its ground-truth nucleus and cell labels.

    See the module docstring (:mod:`pyhcs.datasets.synthetic`) for the rendering model: clustered
    and touching elliptical nuclei with chromatin texture (``DNA``), cells grown around them
    with bright membranes (``Actin``), uneven illumination, shot and read noise.

    Parameters
    ----------
    shape : tuple of 2 int, default (2048, 2048)
        Field size (H, W) in pixels.
    n_nuclei : int, default 1500
        Number of nuclei to place, >= 0. Nuclei are placed by rejection sampling; when the field
        is too crowded for the requested number (given ``phenotype.nucleus_radius`` and
        ``phenotype.nucleus_overlap``), fewer are placed, a :class:`RuntimeWarning` says so, and
        :attr:`SyntheticField.n_nuclei` is the number placed.
    seed : int, default 0
        Non-negative seed; the same seed and arguments give identical arrays.
    phenotype : PhenotypeParams, optional
        Cell appearance; ``PhenotypeParams()`` when omitted.
    imaging : ImagingParams, optional
        Acquisition model; ``ImagingParams()`` when omitted.

    Returns
    -------
    SyntheticField
        ``image`` (uint16, shape (C, H, W), channel-first, channels ``("DNA", "Actin")``),
        ``nuclei`` and ``cells`` (int32, shape (H, W), labels 1..n, cell ``k`` contains
        nucleus ``k``), ``truth`` (per-nucleus parameters) and the parameters used.

    Raises
    ------
    TypeError
        If ``shape``, ``n_nuclei`` or ``seed`` are not integers, or ``phenotype`` / ``imaging``
        are not :class:`PhenotypeParams` / :class:`ImagingParams`.
    ValueError
        If ``shape`` is not two positive integers, or ``n_nuclei`` or ``seed`` is negative.

    Notes
    -----
    Nuclei whose centre lies near the field edge are cut by it, as in real images. Labels are
    in placement order (clustered nuclei first), not raster order.

    Examples
    --------
    >>> from dataclasses import replace
    >>> f = synthetic_field((128, 128), n_nuclei=8, seed=1)
    >>> f.image.shape, f.image.dtype.name, f.channel_names
    ((2, 128, 128), 'uint16', ('DNA', 'Actin'))
    >>> int(f.nuclei.max()) == int(f.cells.max()) == f.n_nuclei
    True
    >>> bool(np.all(f.cells[f.nuclei > 0] == f.nuclei[f.nuclei > 0]))
    True
    >>> big = synthetic_field((128, 128), 8, seed=1,
    ...                       phenotype=replace(PhenotypeParams(), nucleus_radius=12.0))
    >>> int((big.nuclei > 0).sum()) > int((f.nuclei > 0).sum())
    True
    """
    shape = _check_shape(shape)
    n_nuclei = _check_int("n_nuclei", n_nuclei, 0)
    seed = _check_int("seed", seed, 0)
    if phenotype is None:
        phenotype = PhenotypeParams()
    elif not isinstance(phenotype, PhenotypeParams):
        raise TypeError(
            f"phenotype must be a PhenotypeParams or None, got {type(phenotype).__name__}"
        )
    if imaging is None:
        imaging = ImagingParams()
    elif not isinstance(imaging, ImagingParams):
        raise TypeError(f"imaging must be an ImagingParams or None, got {type(imaging).__name__}")
    p, im = phenotype, imaging
    h, w = shape
    n = n_nuclei

    ss = np.random.SeedSequence(seed)
    rng_attr, rng_place, rng_tex, rng_cell, rng_illum, rng_noise = (
        np.random.default_rng(s) for s in ss.spawn(6)
    )

    # ---- per-nucleus attributes (drawn for all requested nuclei, in a fixed order) ----------
    radius = _lognormal(rng_attr, p.nucleus_radius, p.nucleus_radius_cv, n)
    radius = np.clip(radius, max(0.4 * p.nucleus_radius, 1.5), 2.5 * p.nucleus_radius)
    ecc = np.clip(rng_attr.normal(p.nucleus_eccentricity, p.nucleus_eccentricity_sd, n),
                  0.0, 0.95)
    ratio = (1.0 - ecc**2) ** 0.25  # sqrt(b / a)
    semi_major = radius / ratio
    semi_minor = radius * ratio
    theta = rng_attr.uniform(0.0, math.pi, n)
    dna_int = _lognormal(rng_attr, p.dna_intensity, p.dna_intensity_cv, n)
    actin_int = _lognormal(rng_attr, p.actin_intensity, p.actin_intensity_cv, n)
    cell_r = _lognormal(rng_attr, p.cell_radius, p.cell_radius_cv, n)
    # mitotic (1) and apoptotic (2) nuclei, and debris, from their own stream (the other
    # streams, hence fields without them, do not change)
    rng_extra = np.random.default_rng(ss.spawn(1)[0])
    state = np.zeros(n, dtype=np.int8)
    if p.mitotic_fraction > 0 or p.apoptotic_fraction > 0:
        draw = rng_extra.random(n)
        state[draw < p.mitotic_fraction] = 1
        apoptotic = (draw >= p.mitotic_fraction) & (
            draw < p.mitotic_fraction + (1 - p.mitotic_fraction) * p.apoptotic_fraction)
        state[apoptotic] = 2
        shrink = np.where(state == 1, 0.65, np.where(state == 2, 0.75, 1.0))
        radius, semi_major, semi_minor = radius * shrink, semi_major * shrink, semi_minor * shrink
        dna_int = dna_int * np.where(state == 1, 2.5, np.where(state == 2, 0.35, 1.0))

    # ---- placement ---------------------------------------------------------------------------
    cy, cx, placed, cluster = _place(rng_place, shape, n, semi_major, semi_minor, theta, p)
    n_placed = int(placed.sum())
    if n_placed < n:
        warnings.warn(
            f"synthetic_field: placed {n_placed} of n_nuclei={n} nuclei; the field of shape "
            f"{shape} is too crowded for nucleus_radius={p.nucleus_radius} (returned labels are "
            f"1..{n_placed})",
            RuntimeWarning,
            stacklevel=2,
        )
    idx = np.flatnonzero(placed)
    cy, cx, cluster = cy[idx], cx[idx], cluster[idx]
    radius, ecc, semi_major, semi_minor, theta = (
        radius[idx], ecc[idx], semi_major[idx], semi_minor[idx], theta[idx])
    dna_int, actin_int, cell_r, state = dna_int[idx], actin_int[idx], cell_r[idx], state[idx]
    # renumber the clusters of the kept nuclei 1..k in order of their original ids
    if cluster.any():
        uniq, inv = np.unique(cluster, return_inverse=True)
        cluster = inv.astype(np.int32) + (0 if uniq[0] == 0 else 1)

    # ---- nuclei ------------------------------------------------------------------------------
    nuclei, q2 = _rasterise(shape, cy, cx, semi_major, semi_minor, theta)
    nuclei = _merge_fragments(nuclei)
    present = np.bincount(nuclei.ravel(), minlength=idx.size + 1)[1:] > 0
    if not present.all():  # a nucleus swallowed by its neighbours: drop it, relabel 1..n
        lut = np.zeros(idx.size + 1, dtype=np.int32)
        lut[1:][present] = np.arange(1, int(present.sum()) + 1, dtype=np.int32)
        nuclei = lut[nuclei]
        keep = present
        cy, cx, cluster, radius, ecc = cy[keep], cx[keep], cluster[keep], radius[keep], ecc[keep]
        semi_major, semi_minor, theta = semi_major[keep], semi_minor[keep], theta[keep]
        dna_int, actin_int, cell_r, state = dna_int[keep], actin_int[keep], cell_r[keep], state[keep]
    m = int(cy.size)
    in_nucleus = nuclei > 0

    # ---- cells: nearest-nucleus partition limited by the cell radius ----------------------------
    if m == 0:
        cells = np.zeros(shape, dtype=np.int32)
    else:
        # feature transform: (row, col) of the nearest nucleus pixel of every pixel
        iy, ix = ndi.distance_transform_edt(~in_nucleus, return_distances=False,
                                            return_indices=True)
        owner = nuclei[iy, ix]
        if max(h, w) > 32000:  # squared distances would overflow int32
            iy, ix = iy.astype(np.int64), ix.astype(np.int64)
        iy -= np.arange(h, dtype=iy.dtype)[:, None]
        ix -= np.arange(w, dtype=ix.dtype)[None, :]
        iy *= iy
        ix *= ix
        iy += ix
        dist2 = iy.astype(np.float32)  # squared distance to the nearest nucleus pixel
        del iy, ix
        reach = np.zeros(m + 1, dtype=np.float32)
        reach[1:] = np.maximum(cell_r - radius, 1.0) ** 2
        if p.cell_irregularity > 0:
            shape_noise = _smooth_noise(rng_cell, shape, max(p.cell_radius / 3.0, 1.0))
            np.clip(shape_noise, -3.0, 3.0, out=shape_noise)
            shape_noise *= np.float32(2.0 * p.cell_irregularity)
            dist2 *= np.exp(shape_noise)
            del shape_noise
        cells = np.where(dist2 <= reach[owner], owner, 0).astype(np.int32, copy=False)
        del dist2, owner
        # drop fragments of a cell that are not connected to its nucleus
        from skimage.measure import label as _cc_label

        comp = _cc_label(cells, connectivity=1, background=0)
        keep_comp = np.zeros(int(comp.max()) + 1, dtype=bool)
        keep_comp[comp[in_nucleus]] = True
        keep_comp[0] = False
        cells[~keep_comp[comp]] = 0
        del comp

    # ---- DNA channel ---------------------------------------------------------------------------
    texture = _bandpass_noise(rng_tex, shape, p.texture_scale)
    lut = np.zeros(m + 1, dtype=np.float32)
    lut[1:] = dna_int
    dna = lut[nuclei]
    q2[~in_nucleus] = 1.0
    dna *= 0.8 + 0.2 * (1.0 - q2)  # slightly domed nuclei
    del q2
    if state.any():  # mitotic nuclei are smooth, apoptotic ones fragmented
        contrast = np.full(m + 1, p.texture_contrast, dtype=np.float32)
        contrast[1:][state == 1] = p.texture_contrast / 3.0
        contrast[1:][state == 2] = min(2.0 * p.texture_contrast, 2.0)
        texture *= contrast[nuclei]
    else:
        texture *= np.float32(p.texture_contrast)
    texture += 1.0
    np.clip(texture, 0.05, None, out=texture)
    dna *= texture
    if p.debris_per_megapixel > 0:
        dna += _debris(rng_extra, shape, p)

    # ---- Actin channel -------------------------------------------------------------------------
    lut[1:] = actin_int
    cell_int = lut[cells]
    actin_tex = _smooth_noise(rng_tex, shape, 3.0)
    actin_tex *= np.float32(p.actin_texture_contrast)
    actin_tex += 1.0
    np.clip(actin_tex, 0.05, None, out=actin_tex)
    actin = cell_int * actin_tex
    del actin_tex
    actin[in_nucleus] *= np.float32(p.actin_nuclear_fraction)
    border = _inner_border(cells)
    actin[border] += np.float32(p.membrane_contrast) * cell_int[border]
    del cell_int, border

    # ---- acquisition -------------------------------------------------------------------------
    illum = _illumination(rng_illum, shape, im.illumination_falloff)
    if im.bleed_through > 0:
        dna = dna + np.float32(im.bleed_through) * actin
    defocus_angle = float(rng_extra.uniform(0, 2 * math.pi)) if im.defocus > 0 else 0.0
    image = np.empty((len(CHANNEL_NAMES), h, w), dtype=np.uint16)
    for c, signal in enumerate((dna, actin)):
        if im.psf_sigma > 0:
            signal = ndi.gaussian_filter(signal, im.psf_sigma, mode="nearest")
        if im.defocus > 0:
            signal = _defocus(signal, im.defocus, defocus_angle)
        signal += np.float32(im.background)
        signal *= illum
        if im.gain != 1.0:
            signal *= np.float32(1.0 / im.gain)
        counts = rng_noise.poisson(signal).astype(np.float32)
        if im.gain != 1.0:
            counts *= np.float32(im.gain)
        counts += np.float32(im.offset)
        if im.read_noise > 0:
            counts += np.float32(im.read_noise) * rng_noise.standard_normal(shape,
                                                                            dtype=np.float32)
        np.rint(counts, out=counts)
        np.clip(counts, 0, _UINT16_MAX, out=counts)
        image[c] = counts
    del dna, actin, illum

    truth = {
        "label": np.arange(1, m + 1, dtype=np.int32),
        "center_y": cy,
        "center_x": cx,
        "semi_major": semi_major,
        "semi_minor": semi_minor,
        "orientation": theta,
        "eccentricity": ecc,
        "dna_intensity": dna_int,
        "actin_intensity": actin_int,
        "cell_radius": cell_r,
        "cluster": cluster.astype(np.int32),
        "state": state.astype(np.int8),
    }
    return SyntheticField(
        image=image,
        channel_names=CHANNEL_NAMES,
        nuclei=nuclei,
        cells=cells,
        truth=truth,
        phenotype=p,
        imaging=im,
        seed=seed,
        n_requested=n,
    )


# --------------------------------------------------------------------------------------------
# Writing fields to disk
# --------------------------------------------------------------------------------------------


def _label_dtype(labels: np.ndarray) -> np.dtype:
    return np.dtype(np.uint16) if int(labels.max(initial=0)) <= _UINT16_MAX else np.dtype(np.uint32)


def write_synthetic_fields(
    out_dir: str | os.PathLike,
    n_fields: int = 1,
    *,
    shape: tuple[int, int] = (2048, 2048),
    n_nuclei: int = 1500,
    seed: int = 0,
    phenotype: PhenotypeParams | None = None,
    imaging: ImagingParams | None = None,
    prefix: str = "field",
    overwrite: bool = False,
    manifest_name: str = "manifest.json",
) -> dict[str, Any]:
    """Generate ``n_fields`` synthetic fields and write them as TIFF files plus a JSON manifest.

    Field ``i`` is ``synthetic_field(shape, n_nuclei, derive_seed(seed, i), ...)`` and is written
    to ``out_dir`` as

    - ``{prefix}_{i:04d}_{channel}.tif``: one uint16 (H, W) image per channel (``DNA``,
      ``Actin``),
    - ``{prefix}_{i:04d}_nuclei_labels.tif`` and ``{prefix}_{i:04d}_cells_labels.tif``: the
      ground-truth labels, uint16 (uint32 when a label exceeds 65535),

    and ``manifest_name`` (JSON) records the generator arguments, the phenotype and imaging
    parameters, every field's seed, nucleus count and file names.

    Parameters
    ----------
    out_dir : str or os.PathLike
        Output directory; created (with parents) if missing.
    n_fields : int, default 1
        Number of fields, >= 1.
    shape, n_nuclei, seed, phenotype, imaging
        As in :func:`synthetic_field`; ``seed`` is the base seed from which each field's seed is
        derived with :func:`derive_seed`.
    prefix : str, default "field"
        File-name prefix; letters, digits, ``-`` and ``_`` only.
    overwrite : bool, default False
        Overwrite existing files; otherwise an existing output file raises
        :class:`FileExistsError` before anything is written.
    manifest_name : str, default "manifest.json"
        File name of the manifest inside ``out_dir``.

    Returns
    -------
    dict
        The manifest (as written to the JSON file).

    Examples
    --------
    >>> import tempfile, tifffile
    >>> with tempfile.TemporaryDirectory() as d:
    ...     man = write_synthetic_fields(d, 1, shape=(64, 64), n_nuclei=3, seed=0)
    ...     img = tifffile.imread(os.path.join(d, man["fields"][0]["files"]["DNA"]))
    >>> img.shape, img.dtype.name
    ((64, 64), 'uint16')
    """
    import tifffile

    from .. import __version__

    n_fields = _check_int("n_fields", n_fields, 1)
    shape = _check_shape(shape)
    n_nuclei = _check_int("n_nuclei", n_nuclei, 0)
    seed = _check_int("seed", seed, 0)
    if not isinstance(prefix, str) or not prefix or not all(
        ch.isalnum() or ch in "-_" for ch in prefix
    ):
        raise ValueError(f"prefix must be a non-empty string of letters, digits, '-' or '_', "
                         f"got {prefix!r}")
    if not isinstance(manifest_name, str) or not manifest_name or os.sep in manifest_name:
        raise ValueError(f"manifest_name must be a plain file name, got {manifest_name!r}")
    phenotype = PhenotypeParams() if phenotype is None else phenotype
    imaging = ImagingParams() if imaging is None else imaging
    if not isinstance(phenotype, PhenotypeParams):
        raise TypeError(
            f"phenotype must be a PhenotypeParams or None, got {type(phenotype).__name__}"
        )
    if not isinstance(imaging, ImagingParams):
        raise TypeError(f"imaging must be an ImagingParams or None, got {type(imaging).__name__}")

    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise NotADirectoryError(f"out_dir {str(out)!r} exists and is not a directory")

    def names(i: int) -> dict[str, str]:
        stem = f"{prefix}_{i:04d}"
        files = {ch: f"{stem}_{ch}.tif" for ch in CHANNEL_NAMES}
        files["nuclei_labels"] = f"{stem}_nuclei_labels.tif"
        files["cells_labels"] = f"{stem}_cells_labels.tif"
        return files

    planned = [names(i) for i in range(n_fields)]
    if not overwrite and out.exists():
        existing = [fn for files in planned for fn in files.values() if (out / fn).exists()]
        if (out / manifest_name).exists():
            existing.append(manifest_name)
        if existing:
            raise FileExistsError(
                f"out_dir {str(out)!r} already holds {existing[0]!r}"
                + (f" and {len(existing) - 1} more output files" if len(existing) > 1 else "")
                + "; pass overwrite=True (--overwrite) to replace them"
            )
    out.mkdir(parents=True, exist_ok=True)

    fields = []
    for i, files in enumerate(planned):
        fseed = derive_seed(seed, i)
        f = synthetic_field(shape, n_nuclei, fseed, phenotype=phenotype, imaging=imaging)
        for c, ch in enumerate(f.channel_names):
            tifffile.imwrite(out / files[ch], f.image[c], photometric="minisblack")
        for key, lab in (("nuclei_labels", f.nuclei), ("cells_labels", f.cells)):
            tifffile.imwrite(out / files[key], lab.astype(_label_dtype(lab)),
                             photometric="minisblack")
        fields.append({"index": i, "seed": fseed, "n_nuclei": f.n_nuclei, "files": files})

    manifest = {
        "generator": "pyhcs.datasets.synthetic_field",
        "pyhcs_version": __version__,
        "shape": list(shape),
        "n_nuclei": n_nuclei,
        "n_fields": n_fields,
        "seed": seed,
        "seed_derivation": "field i uses pyhcs.datasets.derive_seed(seed, i)",
        "axes": "YX",
        "channel_names": list(CHANNEL_NAMES),
        "phenotype": dataclasses.asdict(phenotype),
        "imaging": dataclasses.asdict(imaging),
        "fields": fields,
    }
    with open(out / manifest_name, "w", encoding="utf-8") as fh:
        json.dump(manifest, fh, indent=2)
        fh.write("\n")
    return manifest
