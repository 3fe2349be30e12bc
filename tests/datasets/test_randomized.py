"""Domain-randomised fields with training and held-out parameter ranges."""

from __future__ import annotations

import numpy as np
import pytest

from pyhcs.datasets.randomized import FACTORS, random_field, random_field_params

# factor -> the parameter (phenotype or imaging attribute) that carries it
CARRIERS = {
    "radius": ("phenotype", "nucleus_radius"),
    "texture": ("phenotype", "texture_contrast"),
    "clumping": ("phenotype", "cluster_fraction"),
    "noise": ("imaging", "gain"),
    "states": ("phenotype", "mitotic_fraction"),
    "debris": ("phenotype", "debris_per_megapixel"),
    "bleed_through": ("imaging", "bleed_through"),
}


@pytest.mark.parametrize("factor", sorted(CARRIERS))
def test_held_out_factors_come_from_their_held_out_range(factor):
    group, name = CARRIERS[factor]
    (train_low, train_high), (held_low, held_high) = FACTORS[factor]
    for seed in range(20):
        rng = np.random.default_rng(seed)
        phenotype, imaging, _ = random_field_params(rng, (256, 256))
        value = getattr(phenotype if group == "phenotype" else imaging, name)
        assert train_low <= value <= train_high
        rng = np.random.default_rng(seed)
        phenotype, imaging, _ = random_field_params(rng, (256, 256), held_out=factor)
        value = getattr(phenotype if group == "phenotype" else imaging, name)
        assert held_low <= value <= held_high


def test_training_and_held_out_ranges_do_not_overlap():
    for factor, ((_, train_high), (held_low, _)) in FACTORS.items():
        assert train_high <= held_low, factor


def test_fields_are_reproducible_and_some_are_8_bit():
    a, b = random_field(7, (96, 96)), random_field(7, (96, 96))
    np.testing.assert_array_equal(a.dna, b.dna)
    np.testing.assert_array_equal(a.field.nuclei, b.field.nuclei)
    kinds = {random_field(seed, (64, 64)).eight_bit for seed in range(16)}
    assert kinds == {True, False}
    for seed in range(16):
        sample = random_field(seed, (64, 64))
        assert sample.dna.dtype == (np.uint8 if sample.eight_bit else np.uint16)


def test_bad_held_out():
    with pytest.raises(ValueError, match="held_out"):
        random_field(0, (32, 32), held_out="size")
