"""Domain-randomised synthetic fields, with training and held-out parameter ranges.

A model trained on one rendering of the generator learns that rendering. Here every field
draws its appearance from wide ranges (:data:`FACTORS`), and each factor has a *held-out*
range that no training field comes from, so a model (or a classical pipeline) can be scored on
appearances it has never seen: larger nuclei, stronger texture, denser clumps, more noise,
more blur, more mitotic and apoptotic nuclei, more debris, more bleed-through.

``random_field(seed, shape)`` draws every factor from its training range;
``random_field(seed, shape, held_out=("noise",))`` draws the named factors from their held-out
ranges and the others from their training ranges. A quarter of the fields, in both sets, give
their DNA channel as 8-bit content (rescaled to 0-250 and rounded, uint8).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from .synthetic import ImagingParams, PhenotypeParams, SyntheticField, synthetic_field

__all__ = ["FACTORS", "RandomField", "random_field", "random_field_params"]

#: factor -> ((training low, high), (held-out low, high)). "radius" is the median nucleus
#: radius in pixels; "texture" the chromatin texture contrast; "clumping" the fraction of
#: nuclei in clusters (their overlap is drawn in 0-0.15 for training, 0.15-0.25 held out);
#: "noise" the camera gain in ADU per photon (log-uniform; more gain, fewer photons); "blur"
#: the PSF sigma in pixels (and the defocus, 0-2 and 2-4 pixels); "states" the mitotic and
#: the apoptotic fractions (each); "debris" particles per megapixel; "bleed_through" the
#: fraction of Actin in the DNA channel.
FACTORS: dict[str, tuple[tuple[float, float], tuple[float, float]]] = {
    "radius": ((5.0, 14.0), (16.0, 40.0)),
    "texture": ((0.05, 0.5), (0.5, 0.8)),
    "clumping": ((0.0, 0.6), (0.6, 0.9)),
    "noise": ((0.3, 4.0), (4.0, 10.0)),
    "blur": ((0.3, 2.0), (2.0, 3.0)),
    "states": ((0.0, 0.15), (0.15, 0.3)),
    "debris": ((0.0, 300.0), (300.0, 800.0)),
    "bleed_through": ((0.0, 0.1), (0.1, 0.2)),
}
_COMPANIONS = {"clumping": ((0.0, 0.15), (0.15, 0.25)), "blur": ((0.0, 2.0), (2.0, 4.0))}


@dataclass(frozen=True, eq=False)
class RandomField:
    """A domain-randomised field: the generator's output, the DNA image as a model sees it
    (8-bit content where ``eight_bit``) and the factors drawn from held-out ranges."""

    field: SyntheticField
    dna: np.ndarray
    eight_bit: bool
    held_out: tuple[str, ...]


def _check_held_out(held_out: Any) -> tuple[str, ...]:
    if isinstance(held_out, str):
        held_out = (held_out,)
    held_out = tuple(held_out)
    unknown = [f for f in held_out if f not in FACTORS]
    if unknown:
        raise ValueError(f"held_out must name factors among {sorted(FACTORS)}, got "
                         f"{unknown[0]!r}")
    return held_out


def random_field_params(rng: np.random.Generator, shape: tuple[int, int],
                        held_out: Any = ()) -> tuple[PhenotypeParams, ImagingParams, int]:
    """Phenotype, imaging and nucleus count of one randomised field.

    Parameters
    ----------
    rng : numpy.random.Generator
        The draws, in a fixed order (the same generator state gives the same parameters).
    shape : (int, int)
        Field shape; the nucleus count covers 3-35 % of it.
    held_out : str or sequence of str
        Factors of :data:`FACTORS` drawn from their held-out ranges.
    """
    held_out = _check_held_out(held_out)

    def draw(name: str, log: bool = False) -> float:
        low, high = FACTORS[name][1 if name in held_out else 0]
        if log:
            return float(math.exp(rng.uniform(math.log(low), math.log(high))))
        return float(rng.uniform(low, high))

    def companion(name: str) -> float:
        low, high = _COMPANIONS[name][1 if name in held_out else 0]
        return float(rng.uniform(low, high))

    radius = draw("radius")
    texture = draw("texture")
    clumping, overlap = draw("clumping"), companion("clumping")
    gain = draw("noise", log=True)
    psf, defocus = draw("blur"), companion("blur")
    mitotic, apoptotic = draw("states"), draw("states")
    debris = draw("debris")
    bleed = draw("bleed_through")
    phenotype = PhenotypeParams(
        nucleus_radius=radius,
        nucleus_radius_cv=float(rng.uniform(0.05, 0.3)),
        nucleus_eccentricity=float(rng.uniform(0.2, 0.8)),
        nucleus_eccentricity_sd=float(rng.uniform(0.05, 0.2)),
        nucleus_overlap=overlap,
        cluster_fraction=clumping,
        cluster_size=float(rng.uniform(2.0, 6.0)),
        texture_scale=float(rng.uniform(0.8, 3.0)) * max(1.0, radius / 9.0),
        texture_contrast=texture,
        dna_intensity=float(math.exp(rng.uniform(math.log(800), math.log(20000)))),
        dna_intensity_cv=float(rng.uniform(0.1, 0.6)),
        cell_radius=radius * float(rng.uniform(2.0, 4.0)),
        mitotic_fraction=mitotic,
        apoptotic_fraction=apoptotic,
        debris_per_megapixel=debris,
    )
    imaging = ImagingParams(
        background=float(rng.uniform(20.0, 800.0)),
        offset=float(rng.uniform(0.0, 500.0)),
        illumination_falloff=float(rng.uniform(0.0, 0.7)),
        gain=gain,
        read_noise=float(rng.uniform(0.5, 10.0)),
        psf_sigma=psf * max(1.0, radius / 14.0),
        defocus=defocus,
        bleed_through=bleed,
    )
    coverage = float(rng.uniform(0.03, 0.35))
    n_nuclei = max(1, int(coverage * shape[0] * shape[1] / (math.pi * radius * radius)))
    return phenotype, imaging, n_nuclei


def random_field(seed: int, shape: tuple[int, int] = (512, 512), held_out: Any = ()
                 ) -> RandomField:
    """One domain-randomised field (see the module docstring).

    Parameters
    ----------
    seed : int
        Non-negative; the parameters, the field and the 8-bit choice all derive from it.
    shape : (int, int), default (512, 512)
    held_out : str or sequence of str
        Factors of :data:`FACTORS` drawn from their held-out ranges.

    Examples
    --------
    >>> from pyhcs.datasets.randomized import random_field
    >>> sample = random_field(3, (128, 128), held_out="noise")
    >>> sample.dna.shape, sample.held_out
    ((128, 128), ('noise',))
    """
    held_out = _check_held_out(held_out)
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 0x5EED]))
    phenotype, imaging, n_nuclei = random_field_params(rng, shape, held_out)
    eight_bit = bool(rng.random() < 0.25)
    with warnings.catch_warnings():  # crowded fields place fewer nuclei: fine
        warnings.simplefilter("ignore", RuntimeWarning)
        field = synthetic_field(shape, n_nuclei, int(seed), phenotype=phenotype,
                                imaging=imaging)
    dna = field.channel("DNA")
    if eight_bit:
        top = max(1.0, float(np.percentile(dna, 99.99)))
        dna = np.clip(np.rint(dna.astype(np.float64) * (250.0 / top)), 0, 255).astype(np.uint8)
    return RandomField(field, dna, eight_bit, held_out)
